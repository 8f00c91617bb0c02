"""Choosing the alphabet and splitting long texts into concatenated parts (TS 23.040 §9.2.3.24.1)."""

from __future__ import annotations

from datetime import datetime

from . import gsm7
from .errors import SmsError, SmsTooLong
from .messages import ConcatInfo, SmsDeliver, SmsSubmit

# Capacity of one message, and of one part once the concat UDH takes its share
# (6 octets with an 8-bit reference, 7 with a 16-bit one).
GSM7_SINGLE = 160
GSM7_PART = {8: 153, 16: 152}
UCS2_SINGLE = 70  # UTF-16 code units
UCS2_PART = {8: 67, 16: 66}


def _cost(ch: str, encoding: str) -> int:
    if encoding == "gsm7":
        return gsm7.septet_length(ch)
    return 2 if ord(ch) > 0xFFFF else 1


def split_text(text: str, max_parts: int = 4, *, ref_bits: int = 8) -> tuple[str, list[str]]:
    """-> (encoding, parts). Splits on character boundaries so escape and surrogate pairs stay whole.

    `ref_bits` (8 or 16) is the concat reference size the parts will carry; it sets the part size.
    """
    if ref_bits not in (8, 16):
        raise SmsError(f"ref_bits must be 8 or 16, got {ref_bits}")
    encoding = "gsm7" if gsm7.is_gsm7(text) else "ucs2"
    if encoding == "gsm7":
        single, part = GSM7_SINGLE, GSM7_PART[ref_bits]
    else:
        single, part = UCS2_SINGLE, UCS2_PART[ref_bits]
    costs = [_cost(ch, encoding) for ch in text]
    if sum(costs) <= single:
        return encoding, [text]
    parts: list[str] = []
    start = 0
    used = 0
    for i, c in enumerate(costs):
        if used + c > part:
            parts.append(text[start:i])
            start, used = i, 0
            if len(parts) >= max_parts:
                raise SmsTooLong(f"text needs more than {max_parts} parts")
        used += c
    parts.append(text[start:])
    if len(parts) > max_parts:
        raise SmsTooLong(f"text needs more than {max_parts} parts")
    return encoding, parts


def _ref_bits(concat_ref: int) -> int:
    return 8 if 0 <= concat_ref < 256 else 16


def _concat_for(concat_ref: int, total: int, seq: int) -> ConcatInfo | None:
    if total == 1:
        return None
    return ConcatInfo(ref=concat_ref, total=total, seq=seq, ref_bits=_ref_bits(concat_ref))


def make_submits(
    number: str, text: str, *, reference: int = 0, concat_ref: int = 0, max_parts: int = 4
) -> list[SmsSubmit]:
    """SmsSubmit parts for `text`; TP-MR counts up from `reference` (mod 256) per part.

    `concat_ref` < 256 uses 8-bit references (IEI 0x00), otherwise 16-bit (IEI 0x08).
    """
    encoding, parts = split_text(text, max_parts, ref_bits=_ref_bits(concat_ref))
    total = len(parts)
    return [
        SmsSubmit(
            number=number,
            text=chunk,
            reference=(reference + i) % 256,
            concat=_concat_for(concat_ref, total, i + 1),
            encoding=encoding,
        )
        for i, chunk in enumerate(parts)
    ]


def make_delivers(
    originator: str, text: str, timestamp: datetime, *, concat_ref: int = 0, max_parts: int = 255
) -> list[SmsDeliver]:
    """SmsDeliver parts for `text`, as the virtual SMSC hands a long message to the unit."""
    _, parts = split_text(text, max_parts, ref_bits=_ref_bits(concat_ref))
    total = len(parts)
    return [
        SmsDeliver(
            originator=originator,
            text=chunk,
            timestamp=timestamp,
            concat=_concat_for(concat_ref, total, i + 1),
        )
        for i, chunk in enumerate(parts)
    ]
