"""SMS-SUBMIT and SMS-DELIVER PDUs (3GPP TS 23.040 §9.2.2), as hex for AT+CMGS / +CMGR in PDU mode."""

from __future__ import annotations

from . import gsm7
from .errors import SmsError, SmsTooLong
from .fields import (
    Reader,
    decode_address,
    decode_scts,
    decode_smsc,
    decode_udh,
    encode_address,
    encode_scts,
    encode_smsc,
    encode_udh,
    hex_to_bytes,
)
from .messages import ConcatInfo, EncodedPdu, SmsDeliver, SmsSubmit

# TS 23.040 §9.2.3.1 TP-MTI
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02

# First-octet flags (TS 23.040 §9.2.3.2, .3, .5, .23)
FO_RD = 0x04  # SUBMIT: reject duplicates
FO_MMS = 0x04  # DELIVER: set = no more messages waiting
FO_VPF_MASK = 0x18
FO_VPF_RELATIVE = 0x10
FO_SRR = 0x20  # SUBMIT: status report request
FO_SRI = 0x20  # DELIVER: status report indication
FO_UDHI = 0x40
FO_RP = 0x80

VP_4_DAYS = 0xAA  # TS 23.040 §9.2.3.12.1: relative VP, (0xAA - 166) days = 4 days

# TS 23.038 §4 DCS values we produce.
DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

MAX_UD_OCTETS = 140
MAX_UD_SEPTETS = 160


# --- data coding scheme --------------------------------------------------


def alphabet_of(dcs: int) -> str:
    """TS 23.038 §4: the alphabet a DCS octet selects ("gsm7", "8bit" or "ucs2")."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding / automatic deletion groups
        if dcs & 0x20:
            raise SmsError(f"compressed user data (DCS {dcs:02X}) is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x3]
    if group in (0xC, 0xD):  # message waiting, GSM-7
        return "gsm7"
    if group == 0xE:  # message waiting, UCS-2
        return "ucs2"
    if group == 0xF:  # data coding / message class
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # reserved groups: TS 23.038 says treat as GSM-7


def choose_encoding(text: str, encoding: str) -> str:
    if encoding == "auto":
        return "gsm7" if gsm7.is_gsm7(text) else "ucs2"
    return encoding


# --- user data -----------------------------------------------------------


def encode_user_data(text: str, encoding: str, concat: ConcatInfo | None) -> tuple[int, int, bytes]:
    """-> (DCS, TP-UDL, TP-UD) for `text`; SmsTooLong if it does not fit one PDU."""
    udh = encode_udh(concat)
    if encoding == "gsm7":
        septets = gsm7.encode_septets(text)
        fill = (7 - (len(udh) * 8) % 7) % 7
        header_septets = (len(udh) * 8 + fill) // 7
        udl = header_septets + len(septets)
        if udl > MAX_UD_SEPTETS:
            raise SmsTooLong(f"{len(septets)} septets do not fit one message")
        return DCS_GSM7, udl, udh + gsm7.pack_septets(septets, fill)
    if encoding == "ucs2":
        try:
            body = text.encode("utf-16-be")
        except UnicodeEncodeError as exc:
            raise SmsError(f"text cannot be sent as UCS-2: {exc}") from None
        dcs = DCS_UCS2
    elif encoding == "8bit":
        try:
            body = text.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise SmsError(f"text cannot be sent as 8-bit latin-1: {exc}") from None
        dcs = DCS_8BIT
    else:
        raise SmsError(f"unknown encoding {encoding!r}")
    ud = udh + body
    if len(ud) > MAX_UD_OCTETS:
        raise SmsTooLong(f"{len(body)} octets do not fit one message")
    return dcs, len(ud), ud


def decode_user_data(r: Reader, dcs: int, udhi: bool) -> tuple[str, ConcatInfo | None, str]:
    """Read TP-UDL and TP-UD -> (text, concat, alphabet). The UD must end the PDU exactly."""
    alphabet = alphabet_of(dcs)
    udl = r.byte("TP-UDL")
    data = r.rest()
    if alphabet == "gsm7":
        if udl > MAX_UD_SEPTETS:
            raise SmsError(f"TP-UDL {udl} septets exceeds {MAX_UD_SEPTETS}")
        expected = gsm7.packed_length(udl)
    else:
        if udl > MAX_UD_OCTETS:
            raise SmsError(f"TP-UDL {udl} octets exceeds {MAX_UD_OCTETS}")
        expected = udl
    if len(data) != expected:
        raise SmsError(f"user data is {len(data)} octets, TP-UDL {udl} needs {expected}")
    concat = None
    header_len = 0
    if udhi:
        if not data:
            raise SmsError("UDHI set but no user data")
        header_len = 1 + data[0]
        if header_len > len(data):
            raise SmsError("UDH longer than the user data")
        concat = decode_udh(data[1:header_len])
    if alphabet == "gsm7":
        fill = (7 - (header_len * 8) % 7) % 7
        header_septets = (header_len * 8 + fill) // 7
        if header_septets > udl:
            raise SmsError("UDH longer than TP-UDL")
        septets = gsm7.unpack_septets(data[header_len:], udl - header_septets, fill)
        return gsm7.decode_septets(septets), concat, alphabet
    body = data[header_len:]
    if alphabet == "ucs2":
        if len(body) % 2:
            raise SmsError("UCS-2 user data has an odd number of octets")
        return body.decode("utf-16-be", errors="replace"), concat, alphabet
    return body.decode("latin-1"), concat, alphabet


# --- SMS-SUBMIT ----------------------------------------------------------


def encode_submit(msg: SmsSubmit) -> EncodedPdu:
    """SMS-SUBMIT with relative validity 4 days; RD off; SRR from request_status."""
    encoding = choose_encoding(msg.text, msg.encoding)
    dcs, udl, ud = encode_user_data(msg.text, encoding, msg.concat)
    fo = MTI_SUBMIT | FO_VPF_RELATIVE
    if msg.request_status:
        fo |= FO_SRR
    if msg.concat is not None:
        fo |= FO_UDHI
    tpdu = (
        bytes((fo, msg.reference))
        + encode_address(msg.number, allow_alphanumeric=False)
        + bytes((0x00, dcs, VP_4_DAYS, udl))
        + ud
    )
    smsc = encode_smsc(msg.smsc)
    return EncodedPdu(hex=(smsc + tpdu).hex().upper(), tpdu_length=len(tpdu))


def _decode_submit_tpdu(r: Reader, smsc: str | None) -> SmsSubmit:
    fo = r.byte("first octet")
    if fo & 0x03 != MTI_SUBMIT:
        raise SmsError(f"not an SMS-SUBMIT (MTI {fo & 0x03})")
    mr = r.byte("TP-MR")
    number = decode_address(r)
    r.byte("TP-PID")
    dcs = r.byte("TP-DCS")
    vpf = fo & FO_VPF_MASK
    if vpf == FO_VPF_RELATIVE:
        r.take(1, "TP-VP")
    elif vpf:
        r.take(7, "TP-VP")  # enhanced or absolute: 7 octets, value not kept
    text, concat, alphabet = decode_user_data(r, dcs, bool(fo & FO_UDHI))
    return SmsSubmit(
        number=number,
        text=text,
        reference=mr,
        concat=concat,
        request_status=bool(fo & FO_SRR),
        encoding=alphabet,
        smsc=smsc,
    )


def decode_submit(hex_pdu: str, *, smsc_included: bool = True) -> SmsSubmit:
    """Parse an SMS-SUBMIT; `encoding` in the result is the alphabet actually used."""
    r = Reader(hex_to_bytes(hex_pdu))
    smsc = decode_smsc(r) if smsc_included else None
    return _decode_submit_tpdu(r, smsc)


# --- SMS-DELIVER ---------------------------------------------------------


def encode_deliver(msg: SmsDeliver) -> EncodedPdu:
    """SMS-DELIVER as an SMSC would send it (TP-MMS set: no more messages waiting)."""
    encoding = choose_encoding(msg.text, "auto")
    dcs, udl, ud = encode_user_data(msg.text, encoding, msg.concat)
    fo = MTI_DELIVER | FO_MMS
    if msg.concat is not None:
        fo |= FO_UDHI
    tpdu = (
        bytes((fo,))
        + encode_address(msg.originator)
        + bytes((0x00, dcs))
        + encode_scts(msg.timestamp)
        + bytes((udl,))
        + ud
    )
    smsc = encode_smsc(msg.smsc)
    return EncodedPdu(hex=(smsc + tpdu).hex().upper(), tpdu_length=len(tpdu))


def _decode_deliver_tpdu(r: Reader, smsc: str | None) -> SmsDeliver:
    fo = r.byte("first octet")
    if fo & 0x03 != MTI_DELIVER:
        raise SmsError(f"not an SMS-DELIVER (MTI {fo & 0x03})")
    originator = decode_address(r)
    r.byte("TP-PID")
    dcs = r.byte("TP-DCS")
    timestamp = decode_scts(r.take(7, "TP-SCTS"))
    text, concat, _ = decode_user_data(r, dcs, bool(fo & FO_UDHI))
    return SmsDeliver(originator=originator, text=text, timestamp=timestamp, concat=concat, smsc=smsc)


def decode_deliver(hex_pdu: str, *, smsc_included: bool = True) -> SmsDeliver:
    """Parse an SMS-DELIVER as read with AT+CMGR / +CMT in PDU mode."""
    r = Reader(hex_to_bytes(hex_pdu))
    smsc = decode_smsc(r) if smsc_included else None
    return _decode_deliver_tpdu(r, smsc)


def decode_pdu(hex_pdu: str, *, smsc_included: bool = True) -> SmsSubmit | SmsDeliver:
    """Dispatch on TP-MTI: 0 -> SmsDeliver, 1 -> SmsSubmit; status reports are not supported."""
    r = Reader(hex_to_bytes(hex_pdu))
    smsc = decode_smsc(r) if smsc_included else None
    if r.pos >= len(r.data):
        raise SmsError("PDU has no TPDU")
    mti = r.data[r.pos] & 0x03
    if mti == MTI_DELIVER:
        return _decode_deliver_tpdu(r, smsc)
    if mti == MTI_SUBMIT:
        return _decode_submit_tpdu(r, smsc)
    raise SmsError(f"unsupported TP-MTI {mti} (status report or reserved)")
