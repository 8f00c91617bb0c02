"""Sans-IO OVMS v2 connections (h11 style) for both ends of the "MP-" link (spec §2).

    conn.receive_data(data)      # bytes from the socket; b"" means the peer closed
    ev = conn.next_event()       # Welcomed | Message | Malformed | AuthFailed | ProtocolError
                                 # | ConnectionClosed | NEED_DATA
    wire = conn.send(msg)        # bytes to write (a Message or raw payload text)

The caller owns the socket and the clock. After AuthFailed or ProtocolError the connection is dead:
the caller closes the socket (the real server "just closes", spec §2/§6); further events are NEED_DATA.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from . import messages as m
from .crypto import (
    RC4,
    DecodeError,
    decrypt_line,
    digest,
    encrypt_line,
    make_ciphers,
    random_token,
    session_key,
)

# Longest line we accept from a peer. A 34-field S line is ~250 bytes of base64; H records can carry
# a few kB. Anything past this is a broken or hostile peer (issue 6: "a 1 MB line").
MAX_LINE_BYTES: Final = 16384
PREFIX: Final = "MP-0 "          # spec §2: every encrypted line decrypts to "MP-0 " + payload
ROLES: Final = frozenset("CAB")  # car, interactive app, batch client (server-to-server `S` refused)


class LocalProtocolError(RuntimeError):
    """We tried to do something the protocol does not allow (a bug in our code, not the peer's)."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


@dataclass(frozen=True)
class Welcomed:
    """Login completed. On the server, `reply` is the welcome line to write back to the client."""

    role: str
    vehicle_id: str
    scheme: int = 0
    reply: bytes = b""


@dataclass(frozen=True)
class Message:
    """A decoded payload from the peer; `payload` is the exact text (for storing and relaying)."""

    msg: m.Message
    payload: str


@dataclass(frozen=True)
class Malformed:
    """A line decrypted fine but its fields are unreadable; the link stays up."""

    payload: str
    reason: str


@dataclass(frozen=True)
class AuthFailed:
    reason: str


@dataclass(frozen=True)
class ProtocolError:
    reason: str


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed the stream (receive_data(b""))."""


Event = Welcomed | Message | Malformed | AuthFailed | ProtocolError | ConnectionClosed


class _Base:
    """Line splitting, the line-length cap and the encrypted-line layer shared by both roles."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._eof = False
        self._tx: RC4 | None = None
        self._rx: RC4 | None = None
        self._plaintext = False      # scheme 1: lines are "<code><data>" in clear
        self._dead = False
        self.welcomed = False
        self.vehicle_id = ""
        self.role = ""

    @property
    def dead(self) -> bool:
        return self._dead

    def receive_data(self, data: bytes) -> None:
        if data == b"":
            self._eof = True
        else:
            self._buf += data

    def _next_line(self) -> bytes | ProtocolError | None:
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > MAX_LINE_BYTES:
                return ProtocolError(f"line longer than {MAX_LINE_BYTES} bytes")
            return None
        if nl > MAX_LINE_BYTES:
            return ProtocolError(f"line longer than {MAX_LINE_BYTES} bytes")
        line = bytes(self._buf[:nl]).rstrip(b"\r")
        del self._buf[: nl + 1]
        return line

    def _fail(self, ev: AuthFailed | ProtocolError) -> AuthFailed | ProtocolError:
        self._dead = True
        self._buf.clear()
        return ev

    def next_event(self) -> Event | _NeedData:
        if self._dead:
            return NEED_DATA
        while True:
            line = self._next_line()
            if isinstance(line, ProtocolError):
                return self._fail(line)
            if line is None:
                if self._eof:
                    self._dead = True
                    if not self.welcomed:
                        return AuthFailed("peer closed the connection during login")
                    return ConnectionClosed()
                return NEED_DATA
            if not line:
                continue  # tolerate blank lines (a stray CRLF); they carry nothing
            if not self.welcomed:
                return self._on_welcome_line(line)
            return self._on_data_line(line)

    def _on_welcome_line(self, line: bytes) -> Event:
        raise NotImplementedError

    def _from_server(self) -> bool:
        return False

    def _on_data_line(self, line: bytes) -> Event:
        if self._plaintext:
            try:
                payload = line.decode("ascii")
            except UnicodeDecodeError:
                return self._fail(ProtocolError("non-ASCII line"))
        else:
            assert self._rx is not None
            try:
                text = decrypt_line(self._rx, line)
            except DecodeError as exc:
                return self._fail(ProtocolError(str(exc)))
            if not text.startswith(PREFIX):
                return self._fail(ProtocolError("line does not decrypt to 'MP-0 '"))
            payload = text[len(PREFIX):]
        try:
            return Message(m.decode(payload, from_server=self._from_server()), payload)
        except m.MessageError as exc:
            return Malformed(payload, str(exc))

    def send(self, msg: m.Message | str) -> bytes:
        """Encode one message (or raw payload text, for relaying) as a wire line with CRLF."""
        if not self.welcomed or self._dead:
            raise LocalProtocolError("cannot send before the welcome or after the connection failed")
        payload = msg if isinstance(msg, str) else msg.encode()
        if not payload or not payload.isascii() or "\n" in payload:
            raise LocalProtocolError(f"payload must be non-empty ASCII without LF: {payload[:40]!r}")
        if self._plaintext:
            if "\r" in payload:
                raise LocalProtocolError("CR in a plaintext (scheme 1) line")
            return payload.encode("ascii") + b"\r\n"
        assert self._tx is not None
        return encrypt_line(self._tx, PREFIX + payload) + b"\r\n"


class ClientConnection(_Base):
    """The car's (role "C") or an app's ("A" interactive, "B" batch) end, protection scheme 0."""

    def __init__(self, role: str, vehicle_id: str, password: str,
                 rng: random.Random | Callable[[], float] | None = None) -> None:
        super().__init__()
        if role not in ROLES:
            raise ValueError(f"role must be one of C, A, B, not {role!r}")
        if not vehicle_id or any(c.isspace() for c in vehicle_id) or not vehicle_id.isascii():
            raise ValueError("vehicle id must be non-empty ASCII without spaces")
        self.role = role
        self.vehicle_id = vehicle_id
        self._password = password
        self.token = random_token(rng)

    def initial_bytes(self) -> bytes:
        """The plaintext hello the client speaks first (spec §2; the server has no banner)."""
        return (f"MP-{self.role} 0 {self.token} {digest(self._password, self.token)} {self.vehicle_id}"
                .encode("ascii") + b"\r\n")

    def _from_server(self) -> bool:
        return True

    def _on_welcome_line(self, line: bytes) -> Event:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return self._fail(ProtocolError("non-ASCII server welcome"))
        parts = text.split(" ")
        if len(parts) < 4 or parts[0] != "MP-S" or parts[1] != "0":
            return self._fail(ProtocolError(f"not a scheme-0 server welcome: {text[:40]!r}"))
        server_token, server_digest = parts[2], parts[3]
        if server_token == self.token:
            return self._fail(AuthFailed("server welcome replays our own token"))
        if not hmac.compare_digest(server_digest.encode(), digest(self._password, server_token).encode()):
            return self._fail(AuthFailed("server digest does not match our password"))
        self._tx, self._rx = make_ciphers(session_key(self._password, server_token, self.token))
        self.welcomed = True
        return Welcomed(self.role, self.vehicle_id, 0)


class ServerConnection(_Base):
    """The server's end: checks the client's hello against `lookup_password(VEHICLE_ID)`.

    Scheme 0 is the real protocol. Scheme 1 (plaintext lines, meant for TLS) is accepted with the car
    password in place of the owner's account password, because this server has no owner accounts.
    """

    def __init__(self, lookup_password: Callable[[str], str | None],
                 rng: random.Random | Callable[[], float] | None = None) -> None:
        super().__init__()
        self._lookup = lookup_password
        self._rng = rng

    def _on_welcome_line(self, line: bytes) -> Event:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return self._fail(ProtocolError("non-ASCII client hello"))
        parts = text.split(" ")
        if len(parts) < 5 or len(parts[0]) != 4 or not parts[0].startswith("MP-"):
            return self._fail(ProtocolError(f"not a client hello: {text[:40]!r}"))
        role = parts[0][3]
        if role not in ROLES:
            return self._fail(AuthFailed(f"client type {role!r} not accepted"))
        vehicle_id = parts[4].upper()
        password = self._lookup(vehicle_id)
        if password is None:
            return self._fail(AuthFailed(f"unknown vehicle {vehicle_id[:32]!r}"))
        if parts[1] == "0":
            client_token, client_digest = parts[2], parts[3]
            if not hmac.compare_digest(client_digest.encode(), digest(password, client_token).encode()):
                return self._fail(AuthFailed(f"wrong password for {vehicle_id}"))
            server_token = random_token(self._rng)
            while server_token == client_token:
                server_token = random_token(self._rng)
            self._tx, self._rx = make_ciphers(session_key(password, server_token, client_token))
            reply = f"MP-S 0 {server_token} {digest(password, server_token)}\r\n".encode("ascii")
            scheme = 0
        elif parts[1] == "1":
            user, secret = parts[2], parts[3]
            if not hmac.compare_digest(secret.encode(), password.encode()):
                return self._fail(AuthFailed(f"wrong password for {vehicle_id}"))
            self._plaintext = True
            reply = f"MP-S 1 {user} {vehicle_id} {vehicle_id}\r\n".encode("ascii")
            scheme = 1
        else:
            return self._fail(ProtocolError(f"unsupported protection scheme {parts[1][:8]!r}"))
        self.role = role
        self.vehicle_id = vehicle_id
        self.welcomed = True
        return Welcomed(role, vehicle_id, scheme, reply)
