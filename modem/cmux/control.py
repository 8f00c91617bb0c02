"""Multiplexer control messages on DLCI 0 (3GPP TS 27.010 §5.4.6): encode and decode.

Each message is `type | length | value` inside the information field of a UIH frame on DLCI 0
(§5.4.6.1). The type octet carries EA, a C/R bit (1: command, 0: response; §5.4.6.2) and the type;
the length uses EA-extended octets. The values we give meaning to:

- MSC (§5.4.6.3.7): DLCI octet, V.24 signals octet (FC, RTC, RTR, IC = ring, DV = data valid/DCD),
  an optional break octet;
- Test (§5.4.6.3.4): any pattern, echoed in the response;
- PSC (§5.4.6.3.5): optional power-saving parameter octet;
- NSC (§5.4.6.3.6): the type octet of the command that was not understood;
- CLD, FCon, FCoff (§5.4.6.3.3/.8/.9): no value.
Anything else (PN, RPN, RLS, SNC or an unknown type) decodes as `ControlMessage` with its raw type,
so the multiplexer can answer NSC for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from modem.cmux.frame import CR, EA


class ControlType(IntEnum):
    """Type octets with C/R clear (§5.4.6.3)."""

    PN = 0x81  # DLC parameter negotiation
    PSC = 0x41  # power saving control
    CLD = 0xC1  # multiplexer close down
    TEST = 0x21  # test command
    FCON = 0xA1  # flow control on (all channels may send)
    FCOFF = 0x61  # flow control off (stop sending on all channels)
    MSC = 0xE1  # modem status command
    NSC = 0x11  # non supported command response
    RPN = 0x91  # remote port negotiation
    RLS = 0x51  # remote line status
    SNC = 0xD1  # service negotiation


# V.24 signals octet of MSC (§5.4.6.3.7, table 6)
FC = 0x02  # flow control: 1 = the sender of this MSC cannot accept frames on the DLCI
RTC = 0x04  # ready to communicate (DTR/DSR)
RTR = 0x08  # ready to receive (RTS/CTS)
IC = 0x40  # incoming call indicator (RI)
DV = 0x80  # data valid (DCD)


class ControlError(ValueError):
    """The information field of a DLCI 0 frame is not a well-formed control message (peer's fault)."""


@dataclass(frozen=True)
class ControlMessage:
    """One control message; `type` is the octet with C/R and EA cleared to the table's value."""

    type: int
    command: bool
    value: bytes = b""

    def encode(self) -> bytes:
        t = (self.type & ~CR) | EA | (CR if self.command else 0)
        n = len(self.value)
        length = bytearray()
        while True:
            octet = (n & 0x7F) << 1
            n >>= 7
            length.append(octet | (EA if n == 0 else 0))
            if n == 0:
                break
        return bytes([t]) + bytes(length) + self.value


@dataclass(frozen=True)
class ModemStatus:
    """The MSC value: which DLCI, its V.24 signals, optional break octet."""

    dlci: int
    signals: int = RTC | RTR | EA
    brk: int | None = None

    @property
    def flow_stopped(self) -> bool:
        return bool(self.signals & FC)

    def value(self) -> bytes:
        out = bytes([(self.dlci << 2) | CR | EA, self.signals | EA])
        return out if self.brk is None else out + bytes([self.brk | EA])

    @classmethod
    def parse(cls, value: bytes) -> ModemStatus:
        if len(value) < 2:
            raise ControlError(f"MSC value too short: {value.hex(' ')}")
        return cls(dlci=value[0] >> 2, signals=value[1], brk=value[2] if len(value) > 2 else None)


def decode_messages(info: bytes) -> list[ControlMessage]:
    """Every control message in one DLCI 0 information field (§5.4.6.1 allows several)."""
    out: list[ControlMessage] = []
    i = 0
    while i < len(info):
        t = info[i]
        i += 1
        n = shift = 0
        while True:
            if i >= len(info):
                raise ControlError(f"control message cut short: {info.hex(' ')}")
            octet = info[i]
            i += 1
            n |= (octet >> 1) << shift
            shift += 7
            if octet & EA:
                break
            if shift > 14:
                raise ControlError(f"control message length field too long: {info.hex(' ')}")
        if i + n > len(info):
            raise ControlError(f"control message value cut short: {info.hex(' ')}")
        out.append(ControlMessage(type=(t & ~CR) | EA, command=bool(t & CR), value=bytes(info[i:i + n])))
        i += n
    return out
