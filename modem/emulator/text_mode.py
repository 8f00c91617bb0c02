"""Text-mode SMS and string parameters as the TE character set (`AT+CSCS`) and the DCS make them.

3GPP TS 27.007 §5.5 (+CSCS) says how string parameters such as numbers cross the serial line;
TS 27.005 §3.1 and §4.3 say how the text of a message does in text mode (`AT+CMGF=1`):
- the text typed after `AT+CMGS="<da>"`'s prompt: when the DCS of `AT+CSMP` selects GSM 7-bit, it is
  in the TE character set ("HEX": two hex digits per GSM 7-bit character); when the DCS selects
  8-bit or UCS2 data, it is the message's octets in hex, whatever the character set;
- the text of `+CMGR`/`+CMGL`/`+CMT`: GSM 7-bit messages converted to the TE character set ("HEX":
  each GSM character as two hex digits); 8-bit and UCS2 messages as their octets in hex.
Characters the target cannot show become '?', as on a handset.

Simplification: a part of a concatenated message is shown as its own body without the user-data
header (27.005 would show header and body in hex), so a text-mode client sees each part's text.
"""

from __future__ import annotations

from modem.sms import SmsError, gsm7
from modem.sms.pdu import DCS_GSM7, DCS_UCS2, alphabet_of, choose_encoding

# +CSCS values -> a Python codec for the 8-bit ones; "GSM", "HEX" and "UCS2" are handled apart.
CODECS = {"IRA": "ascii", "8859-1": "latin-1", "PCCP": "cp437", "PCCP437": "cp437", "PCDN": "cp865"}


class TextModeError(ValueError):
    """What the TE wrote cannot be read in the current character set (odd hex, bad digits)."""


def alphabet(dcs: int) -> str:
    """TS 23.038: 'gsm7', '8bit' or 'ucs2' (compressed or reserved groups count as GSM 7-bit)."""
    try:
        return alphabet_of(dcs)
    except SmsError:
        return "gsm7"


def _unhex(raw: bytes | str, unit: int = 1) -> bytes:
    text = (raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw).strip()
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise TextModeError(f"not hexadecimal: {text[:40]!r}") from None
    if len(data) % unit:
        raise TextModeError(f"{len(data)} octets are not whole {unit}-octet characters")
    return data


def _to_gsm(text: str) -> str:
    return "".join(ch if gsm7.is_gsm7(ch) else "?" for ch in text)


def _gsm_bytes(text: str) -> bytes:
    """GSM 7-bit default alphabet, one octet per septet (escape 0x1B before extension characters)."""
    return bytes(gsm7.encode_septets(_to_gsm(text)))


def _from_gsm_bytes(data: bytes) -> str:
    return gsm7.decode_septets(bytes(b & 0x7F for b in data))


def string_from_te(cscs: str, raw: str) -> str:
    """A string parameter as the TE wrote it (a number, an SMSC address) -> text (27.007 §5.5)."""
    if cscs == "UCS2":
        return _unhex(raw, 2).decode("utf-16-be", "replace")
    if cscs == "HEX":
        return _from_gsm_bytes(_unhex(raw))
    if cscs == "GSM":
        return _from_gsm_bytes(raw.encode("latin-1", "replace"))
    return raw


def string_to_te(cscs: str, text: str) -> str:
    """Text -> how the modem writes it to the TE in character set `cscs` (a str of 8-bit chars)."""
    if cscs == "UCS2":
        return text.encode("utf-16-be", "replace").hex().upper()
    if cscs == "HEX":
        return _gsm_bytes(text).hex().upper()
    if cscs == "GSM":
        return _gsm_bytes(text).decode("latin-1")
    codec = CODECS.get(cscs, "latin-1")
    return text.encode(codec, "replace").decode("latin-1")


def body_from_te(cscs: str, dcs: int, raw: bytes) -> str:
    """The text typed after the text-mode `> ` prompt -> the message text (27.005 §3.1 <data>)."""
    kind = alphabet(dcs)
    if kind == "ucs2":
        return _unhex(raw, 2).decode("utf-16-be", "replace")
    if kind == "8bit":
        return _unhex(raw).decode("latin-1")
    if cscs == "HEX":
        return _from_gsm_bytes(_unhex(raw))
    if cscs == "GSM":
        return _from_gsm_bytes(raw)
    if cscs == "UCS2":
        return _to_gsm(_unhex(raw, 2).decode("utf-16-be", "replace"))
    codec = CODECS.get(cscs, "latin-1")
    return _to_gsm(raw.decode(codec, "replace").replace("\ufffd", "?"))


def body_to_te(cscs: str, text: str) -> tuple[str, int, int]:
    """A received message's text -> (<data> as the TE sees it, <dcs>, <length>) for +CMGR/+CMGL/+CMT.

    <length> is in characters for GSM 7-bit (septets) and in octets for 8-bit and UCS2 data.
    """
    # The SMS centre sends what fits GSM 7-bit as such and the rest as UCS2 (modem.sms.encode_deliver).
    if choose_encoding(text, "auto") == "gsm7":
        return string_to_te(cscs, text), DCS_GSM7, len(gsm7.encode_septets(text))
    octets = text.encode("utf-16-be")
    return octets.hex().upper(), DCS_UCS2, len(octets)
