"""GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet and 7-bit packing.

Characters outside the default table but in the extension table are sent as
ESC (0x1B) followed by the extension code, so they cost two septets.
"""

from __future__ import annotations

from .errors import SmsError

# TS 23.038 §6.2.1, default alphabet, index = septet value. 0x1B is the escape to the extension table.
_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_DEFAULT) == 128

ESC = 0x1B

# TS 23.038 §6.2.1.1, extension table (reached via ESC).
_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_ENCODE_DEFAULT = {ch: i for i, ch in enumerate(_DEFAULT) if i != ESC}
_ENCODE_EXTENSION = {ch: code for code, ch in _EXTENSION.items()}


def is_gsm7(text: str) -> bool:
    """True if every character of `text` is in the default alphabet or its extension table."""
    return all(ch in _ENCODE_DEFAULT or ch in _ENCODE_EXTENSION for ch in text)


def septet_length(ch: str) -> int:
    """Septets one character costs (1, 2 for extension characters); SmsError if not GSM-7."""
    if ch in _ENCODE_DEFAULT:
        return 1
    if ch in _ENCODE_EXTENSION:
        return 2
    raise SmsError(f"character {ch!r} is not in the GSM 7-bit alphabet")


def encode_septets(text: str) -> list[int]:
    """Text -> septet values; extension characters become [ESC, code]."""
    out: list[int] = []
    for ch in text:
        code = _ENCODE_DEFAULT.get(ch)
        if code is not None:
            out.append(code)
            continue
        code = _ENCODE_EXTENSION.get(ch)
        if code is None:
            raise SmsError(f"character {ch!r} is not in the GSM 7-bit alphabet")
        out.extend((ESC, code))
    return out


def decode_septets(septets: list[int] | bytes) -> str:
    """Septet values -> text.

    Per TS 23.038 an escape followed by a code with no extension character shows the
    default-table character for that code; a lone ESC at the very end is shown as a space.
    """
    out: list[str] = []
    i = 0
    n = len(septets)
    while i < n:
        s = septets[i]
        if not 0 <= s < 128:
            raise SmsError(f"septet value {s} out of range")
        if s == ESC:
            if i + 1 >= n:
                out.append(" ")
                break
            nxt = septets[i + 1]
            if not 0 <= nxt < 128:
                raise SmsError(f"septet value {nxt} out of range")
            if nxt in _EXTENSION:
                out.append(_EXTENSION[nxt])
            elif nxt == ESC:
                out.append(" ")
            else:
                out.append(_DEFAULT[nxt])
            i += 2
            continue
        out.append(_DEFAULT[s])
        i += 1
    return "".join(out)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets after `fill_bits` zero bits (the UDH padding)."""
    if not 0 <= fill_bits <= 6:
        raise SmsError(f"fill_bits must be 0..6, got {fill_bits}")
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        if not 0 <= s < 128:
            raise SmsError(f"septet value {s} out of range")
        acc |= s << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def packed_length(count: int, fill_bits: int = 0) -> int:
    """Octets needed for `count` septets after `fill_bits` padding bits."""
    return (fill_bits + 7 * count + 7) // 8


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Inverse of pack_septets: read `count` septets after skipping `fill_bits` bits."""
    if not 0 <= fill_bits <= 6:
        raise SmsError(f"fill_bits must be 0..6, got {fill_bits}")
    if count < 0:
        raise SmsError("negative septet count")
    if len(data) * 8 < fill_bits + 7 * count:
        raise SmsError(f"{len(data)} octets cannot hold {count} septets after {fill_bits} fill bits")
    value = int.from_bytes(data, "little")
    value >>= fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]
