"""OVMS v2 "MP-" cryptography: HMAC-MD5 tokens, session key, RC4 with 1024-byte discard, base64 lines.

RC4 is written here because it *is* the protocol (spec §2); it is not used for anything else.
Both ends (car/app client and server) use these functions, so a vector test pins them both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
from collections.abc import Callable

# Spec §2: tokens are 22 characters from the base64 alphabet.
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
TOKEN_LENGTH = 22
# Spec §2: both RC4 instances throw away the first 1024 keystream bytes.
RC4_DISCARD = 1024


class RC4:
    """A continuous RC4 keystream (one per direction per connection, spec §2)."""

    __slots__ = ("_s", "_i", "_j")

    def __init__(self, key: bytes, discard: int = 0) -> None:
        if not key:
            raise ValueError("RC4 key must not be empty")
        s = list(range(256))  # a list: ~30% faster to index than a bytearray here
        j = 0
        klen = len(key)
        for i in range(256):
            j = (j + s[i] + key[i % klen]) & 0xFF
            s[i], s[j] = s[j], s[i]
        self._s = s
        self._i = 0
        self._j = 0
        if discard:
            self.discard(discard)

    def discard(self, n: int) -> None:
        """Advance the stream by `n` bytes without producing output (the 1024-byte drop)."""
        s = self._s
        i = self._i
        j = self._j
        for _ in range(n):
            i = (i + 1) & 0xFF
            si = s[i]
            j = (j + si) & 0xFF
            s[i] = s[j]
            s[j] = si
        self._i = i
        self._j = j

    def copy(self) -> RC4:
        """An independent stream in the same state (both directions share a key, spec §2)."""
        other = RC4.__new__(RC4)
        other._s = list(self._s)
        other._i = self._i
        other._j = self._j
        return other

    def crypt(self, data: bytes) -> bytes:
        """Encrypt or decrypt (the same operation), advancing the stream."""
        s = self._s
        i = self._i
        j = self._j
        ks = bytearray(len(data))
        for n in range(len(data)):
            i = (i + 1) & 0xFF
            si = s[i]
            j = (j + si) & 0xFF
            sj = s[j]
            s[i] = sj
            s[j] = si
            ks[n] = s[(si + sj) & 0xFF]
        self._i = i
        self._j = j
        # One big-int XOR instead of a Python-level XOR per byte.
        return (int.from_bytes(data, "big") ^ int.from_bytes(ks, "big")).to_bytes(len(data), "big")


def digest(password: str | bytes, token: str) -> str:
    """base64(HMAC-MD5(password, token)) with '=' padding: the welcome digest of spec §2."""
    key = password.encode() if isinstance(password, str) else password
    return base64.b64encode(hmac.new(key, token.encode("ascii"), hashlib.md5).digest()).decode("ascii")


def session_key(password: str | bytes, server_token: str, client_token: str) -> bytes:
    """HMAC-MD5(carpass, server_token + client_token): SERVER token first (spec §2, verified live)."""
    key = password.encode() if isinstance(password, str) else password
    return hmac.new(key, (server_token + client_token).encode("ascii"), hashlib.md5).digest()


def make_ciphers(key: bytes) -> tuple[RC4, RC4]:
    """The (tx, rx) pair: two independent streams on the same key, each after the 1024 discard."""
    tx = RC4(key, RC4_DISCARD)
    return tx, tx.copy()


def random_token(rng: random.Random | Callable[[], float] | None = None, length: int = TOKEN_LENGTH) -> str:
    """A welcome token; `rng` is injectable so simulated runs are reproducible.

    `rng` may be a random.Random, a zero-argument callable returning a float in [0, 1), or None
    (then the OS's SystemRandom is used, which is what a real unit wants).
    """
    if rng is None:
        rng = random.SystemRandom()
    if isinstance(rng, random.Random):
        return "".join(rng.choice(TOKEN_ALPHABET) for _ in range(length))
    return "".join(TOKEN_ALPHABET[int(rng() * len(TOKEN_ALPHABET)) % len(TOKEN_ALPHABET)] for _ in range(length))


class DecodeError(ValueError):
    """A line from the peer that is not valid base64 or does not decrypt to a protocol line."""


def encrypt_line(tx: RC4, text: str) -> bytes:
    """One wire line (without CRLF): base64(RC4(text))."""
    return base64.b64encode(tx.crypt(text.encode("ascii")))


def decrypt_line(rx: RC4, line: bytes) -> str:
    """Inverse of encrypt_line; raises DecodeError on bad base64 or non-ASCII plaintext.

    The RC4 stream advances only when the base64 is valid, so a rejected line leaves the stream where
    it was (the connection is dropped anyway).
    """
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"bad base64 ({exc})") from None
    plain = rx.crypt(raw)
    try:
        return plain.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("line does not decrypt to ASCII") from None


class ParanoidCipher:
    """Paranoid mode (spec §3 `E`): RC4 keyed with HMAC-MD5(module password, ptoken), 1024 discard,
    and a FRESH cipher for every message — so every message reuses the same keystream (weak, but it is
    what the firmware and apps do). The post-discard state is computed once and copied per message.
    """

    def __init__(self, module_password: str | bytes, ptoken: str) -> None:
        key = module_password.encode() if isinstance(module_password, str) else module_password
        self._base = RC4(hmac.new(key, ptoken.encode("ascii"), hashlib.md5).digest(), RC4_DISCARD)

    def encrypt(self, text: str) -> str:
        return base64.b64encode(self._base.copy().crypt(text.encode("ascii"))).decode("ascii")

    def decrypt(self, data: str) -> str:
        """Raises DecodeError on bad base64 or non-ASCII plaintext."""
        return decrypt_line(self._base.copy(), data.encode("ascii", "replace"))
