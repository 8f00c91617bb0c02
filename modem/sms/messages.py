"""The messages the codec speaks: frozen dataclasses, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import SmsError

ENCODINGS = ("auto", "gsm7", "ucs2", "8bit")


@dataclass(frozen=True)
class ConcatInfo:
    """One part of a concatenated message (TS 23.040 §9.2.3.24.1 / .8).

    `ref_bits` is 8 for IEI 0x00 and 16 for IEI 0x08.
    """

    ref: int
    total: int
    seq: int
    ref_bits: int = 8

    def __post_init__(self) -> None:
        if self.ref_bits not in (8, 16):
            raise SmsError(f"concat ref_bits must be 8 or 16, got {self.ref_bits}")
        if not 0 <= self.ref < (1 << self.ref_bits):
            raise SmsError(f"concat ref {self.ref} does not fit {self.ref_bits} bits")
        if not 1 <= self.total <= 255:
            raise SmsError(f"concat total {self.total} not in 1..255")
        if not 1 <= self.seq <= self.total:
            raise SmsError(f"concat seq {self.seq} not in 1..{self.total}")


@dataclass(frozen=True)
class SmsSubmit:
    """A mobile-originated message (what we send with AT+CMGS).

    `number` is "+<digits>" for international (TOA 0x91), else digits (TOA 0x81).
    `encoding` is "auto" (GSM-7 when possible, else UCS-2), "gsm7", "ucs2" or "8bit"
    (latin-1); decoding reports the encoding actually found. `smsc` None means "00":
    the modem's stored SMSC.
    """

    number: str
    text: str
    reference: int = 0
    concat: ConcatInfo | None = None
    request_status: bool = False
    encoding: str = "auto"
    smsc: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.reference <= 255:
            raise SmsError(f"TP-MR {self.reference} not in 0..255")
        if self.encoding not in ENCODINGS:
            raise SmsError(f"unknown encoding {self.encoding!r}")


@dataclass(frozen=True)
class SmsDeliver:
    """A mobile-terminated message (what +CMT / +CMGR give us).

    `originator` is "+<digits>" (TOA 0x91), digits (TOA 0x81 or other numeric types), or an
    alphanumeric sender such as "Vodafone" (TOA 0xD0). `timestamp` is the SC timestamp,
    timezone-aware; the PDU carries whole seconds (microseconds are dropped when encoding) and
    quarter-hour zones (other offsets are rejected). Two-digit years: 70-99 -> 19xx, else 20xx.
    Encoding always picks the alphabet automatically (GSM-7 if possible, else UCS-2).
    """

    originator: str
    text: str
    timestamp: datetime
    concat: ConcatInfo | None = None
    smsc: str | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise SmsError("SmsDeliver.timestamp must be timezone-aware")


@dataclass(frozen=True)
class EncodedPdu:
    """What the driver writes after `AT+CMGS=<tpdu_length>`: hex includes the SMSC part."""

    hex: str
    tpdu_length: int
