"""SMS PDU codec (3GPP TS 23.040 / 23.038): pure functions, no I/O.

Shared by the modem driver and the virtual modem; checked against PDUs produced by gammu.
"""

from . import gsm7
from .errors import SmsError, SmsTooLong
from .messages import ConcatInfo, EncodedPdu, SmsDeliver, SmsSubmit
from .pdu import decode_deliver, decode_pdu, decode_submit, encode_deliver, encode_submit
from .reassembly import Reassembler
from .split import make_delivers, make_submits, split_text

__all__ = [
    "ConcatInfo",
    "EncodedPdu",
    "Reassembler",
    "SmsDeliver",
    "SmsError",
    "SmsSubmit",
    "SmsTooLong",
    "decode_deliver",
    "decode_pdu",
    "decode_submit",
    "encode_deliver",
    "encode_submit",
    "gsm7",
    "make_delivers",
    "make_submits",
    "split_text",
]
