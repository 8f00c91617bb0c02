"""The frame check sequence of 3GPP TS 27.010 (GSM 07.10) §5.2.1.6, computed with crcmod.

27.010 defines the FCS as the one's complement of a CRC-8 with generator x^8 + x^2 + x + 1, sent
least significant bit first (a reflected CRC), with the register preset to all ones (Annex B).
crcmod's `initCrc` is the value *after* the final XOR, so "register preset to 0xFF, final one's
complement" is `initCrc=0x00, xorOut=0xFF` there (0xFF ^ 0xFF). The start-up SABM on DLCI 0,
`F9 03 3F 01 1C F9`, checks it: fcs(b"\\x03\\x3f\\x01") == 0x1C.
"""

from __future__ import annotations

import crcmod

_crc8 = crcmod.mkCrcFun(0x107, initCrc=0x00, rev=True, xorOut=0xFF)


def fcs(data: bytes) -> int:
    """The FCS octet for the checked fields of a frame (address, control, length; + information for UI)."""
    return int(_crc8(data))
