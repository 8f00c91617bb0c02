"""TPDU fields: semi-octet addresses, SCTS timestamps, user-data headers (TS 23.040 §9.1.2, §9.2.3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from . import gsm7
from .errors import SmsError
from .messages import ConcatInfo

# TS 23.040 §9.1.2.5 type-of-address values we produce.
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
_TON_INTERNATIONAL = 1
_TON_ALPHANUMERIC = 5

# TS 23.040 §9.1.2.3: semi-octet digits; 0xF is the filler.
_DIGITS = "0123456789*#abc"
_DIGIT_VALUE = {ch: i for i, ch in enumerate(_DIGITS)}

MAX_ADDRESS_DIGITS = 20  # TS 23.040 §9.1.2.5: address value at most 10 octets
MAX_ALPHA_SEPTETS = 11

# TS 23.040 §9.2.3.24: information element identifiers.
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


class Reader:
    """Cursor over PDU octets that raises SmsError instead of IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise SmsError(f"PDU ends before {what}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise SmsError(f"PDU ends inside {what} ({n} octets needed, {len(self.data) - self.pos} left)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def hex_to_bytes(text: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError as exc:
        raise SmsError(f"not a hex string: {exc}") from None


# --- semi-octets ---------------------------------------------------------


def encode_semi_octets(digits: str) -> bytes:
    out = bytearray()
    padded = digits + ("F" if len(digits) % 2 else "")
    for i in range(0, len(padded), 2):
        lo = _DIGIT_VALUE.get(padded[i])
        hi = 0xF if padded[i + 1] == "F" else _DIGIT_VALUE.get(padded[i + 1])
        if lo is None or hi is None:
            raise SmsError(f"address {digits!r} has a character that is not a phone digit")
        out.append(lo | (hi << 4))
    return bytes(out)


def decode_semi_octets(data: bytes, ndigits: int) -> str:
    out: list[str] = []
    for b in data:
        for nib in (b & 0xF, b >> 4):
            if len(out) == ndigits:
                break
            if nib == 0xF:
                raise SmsError("filler semi-octet inside an address")
            out.append(_DIGITS[nib])
    if len(out) != ndigits:
        raise SmsError("address shorter than its length field")
    return "".join(out)


# --- addresses -----------------------------------------------------------


_DIALLABLE = frozenset("0123456789*#")


def _is_numeric(address: str) -> bool:
    body = address[1:] if address.startswith("+") else address
    return bool(body) and all(ch in _DIALLABLE for ch in body)


def encode_address(address: str, *, allow_alphanumeric: bool = True) -> bytes:
    """TP-DA / TP-OA: length in useful semi-octets, TOA, value.

    Digits (with an optional leading "+") become a number; anything else an alphanumeric
    address, which only an originator may be.
    """
    if _is_numeric(address):
        international = address.startswith("+")
        digits = address[1:] if international else address
        if len(digits) > MAX_ADDRESS_DIGITS:
            raise SmsError(f"address {address!r} longer than {MAX_ADDRESS_DIGITS} digits")
        toa = TOA_INTERNATIONAL if international else TOA_UNKNOWN
        return bytes((len(digits), toa)) + encode_semi_octets(digits)
    if not address:
        raise SmsError("empty address")
    if address.startswith("+") or not allow_alphanumeric:
        raise SmsError(f"address {address!r} is not a phone number")
    septets = gsm7.encode_septets(address)
    if len(septets) > MAX_ALPHA_SEPTETS:
        raise SmsError(f"alphanumeric address {address!r} longer than {MAX_ALPHA_SEPTETS} septets")
    packed = gsm7.pack_septets(septets)
    nibbles = (7 * len(septets) + 3) // 4
    return bytes((nibbles, TOA_ALPHANUMERIC)) + packed


def decode_address(r: Reader) -> str:
    nibbles = r.byte("address length")
    toa = r.byte("type of address")
    if nibbles > 2 * 10:
        raise SmsError(f"address length {nibbles} semi-octets exceeds 20")
    value = r.take((nibbles + 1) // 2, "address")
    ton = (toa >> 4) & 0x7
    if ton == _TON_ALPHANUMERIC:
        count = nibbles * 4 // 7
        return gsm7.decode_septets(gsm7.unpack_septets(value, count))
    digits = decode_semi_octets(value, nibbles)
    return "+" + digits if ton == _TON_INTERNATIONAL and digits else digits


def encode_smsc(smsc: str | None) -> bytes:
    """SMSC information as used in PDU mode: 00 = the modem's stored SMSC."""
    if smsc is None or smsc == "":
        return b"\x00"
    if not _is_numeric(smsc):
        raise SmsError(f"SMSC {smsc!r} is not a phone number")
    international = smsc.startswith("+")
    digits = smsc[1:] if international else smsc
    if len(digits) > MAX_ADDRESS_DIGITS:
        raise SmsError(f"SMSC {smsc!r} too long")
    body = bytes((TOA_INTERNATIONAL if international else TOA_UNKNOWN,)) + encode_semi_octets(digits)
    return bytes((len(body),)) + body


def decode_smsc(r: Reader) -> str | None:
    length = r.byte("SMSC length")
    if length == 0:
        return None
    if length > 11:
        raise SmsError(f"SMSC length {length} exceeds 11 octets")
    body = r.take(length, "SMSC address")
    toa = body[0]
    value = body[1:]
    if not value:
        return None
    ndigits = 2 * len(value) - (1 if (value[-1] >> 4) == 0xF else 0)
    digits = decode_semi_octets(value, ndigits)
    return "+" + digits if ((toa >> 4) & 0x7) == _TON_INTERNATIONAL else digits


# --- SCTS ----------------------------------------------------------------


def _swap_bcd(value: int) -> int:
    """Two decimal digits as swapped semi-octets: tens in the low nibble, units in the high one."""
    return (value // 10) | ((value % 10) << 4)


def _unswap_bcd(b: int, what: str) -> int:
    lo, hi = b & 0xF, b >> 4
    if lo > 9 or hi > 9:
        raise SmsError(f"bad BCD {b:02X} in timestamp {what}")
    return lo * 10 + hi


def encode_scts(ts: datetime) -> bytes:
    """TS 23.040 §9.2.3.11: YYMMDDhhmmss + zone in quarter hours (sign bit 3 of the tens)."""
    offset = ts.utcoffset()
    if offset is None:
        raise SmsError("timestamp must be timezone-aware")
    seconds = int(offset.total_seconds())
    if seconds % 900:
        raise SmsError("timestamp zone is not a whole number of quarter hours")
    quarters = abs(seconds) // 900
    if quarters > 79:
        raise SmsError("timestamp zone out of range")
    if not 1970 <= ts.year <= 2069:
        raise SmsError("timestamp year must be in 1970..2069")
    tz = _swap_bcd(quarters) | (0x08 if seconds < 0 else 0)
    parts = (ts.year % 100, ts.month, ts.day, ts.hour, ts.minute, ts.second)
    return bytes(_swap_bcd(p) for p in parts) + bytes((tz,))


def decode_scts(data: bytes) -> datetime:
    names = ("year", "month", "day", "hour", "minute", "second")
    yy, mo, dd, hh, mi, ss = (_unswap_bcd(b, n) for b, n in zip(data[:6], names, strict=True))
    tzb = data[6]
    negative = bool(tzb & 0x08)
    quarters = _unswap_bcd(tzb & 0xF7, "zone")
    offset = timedelta(minutes=15 * quarters) * (-1 if negative else 1)
    year = 2000 + yy if yy < 70 else 1900 + yy
    try:
        return datetime(year, mo, dd, hh, mi, ss, tzinfo=timezone(offset))
    except ValueError as exc:
        raise SmsError(f"bad timestamp: {exc}") from None


# --- user data header ----------------------------------------------------


def encode_udh(concat: ConcatInfo | None) -> bytes:
    """UDH including its length octet, or b"" when there is nothing to say."""
    if concat is None:
        return b""
    if concat.ref_bits == 8:
        ie = bytes((IEI_CONCAT_8, 3, concat.ref, concat.total, concat.seq))
    else:
        ie = bytes((IEI_CONCAT_16, 4, concat.ref >> 8, concat.ref & 0xFF, concat.total, concat.seq))
    return bytes((len(ie),)) + ie


def decode_udh(udh: bytes) -> ConcatInfo | None:
    """Parse IEs (without the UDHL octet); unknown IEs and invalid concat values are skipped."""
    concat: ConcatInfo | None = None
    i = 0
    while i < len(udh):
        if i + 2 > len(udh):
            raise SmsError("truncated information element in UDH")
        iei, iedl = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + iedl]
        if len(data) != iedl:
            raise SmsError("information element overruns the UDH")
        i += 2 + iedl
        try:
            if iei == IEI_CONCAT_8 and iedl == 3:
                concat = ConcatInfo(ref=data[0], total=data[1], seq=data[2], ref_bits=8)
            elif iei == IEI_CONCAT_16 and iedl == 4:
                concat = ConcatInfo(ref=(data[0] << 8) | data[1], total=data[2], seq=data[3], ref_bits=16)
        except SmsError:
            # TS 23.040 §9.2.3.24.1: a receiver ignores a concat IE with seq 0 or seq > total.
            continue
    return concat
