"""Unsolicited result lines, typed: what a dialect's URC table makes of one line from the modem.

These are records of the wire (each keeps its `line`), produced by `ATChannel` with the help of a
dialect's `UrcTable` (`modem.driver.dialects.<name>`). They never leave the driver: `Modem` turns each
into the one vocabulary the rest of the unit sees, `modem.driver.events`, adding what a line alone
cannot know (whether a power-down was our own, the whole SMS after reassembly, a position fix).

The record types are dialect-neutral facts (a modem restarted, a TCP link closed, data arrived on a
link); which line means which fact is the dialect's business. Two class attributes tell the channel
what a fact does to the command queue, so the channel needs no list of SIMCom lines:
`resets` (the modem restarted or went dark: what was in flight or queued is moot) and `echo_restored`
(after power-up command echo is on again, V.250 §6.2.4 default E1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Urc:
    """An unsolicited line. Subclasses are the facts the driver acts on; plain `Urc` is the rest."""

    line: str
    resets: ClassVar[bool] = False
    echo_restored: ClassVar[bool] = False


@dataclass(frozen=True)
class Ring(Urc):
    pass


@dataclass(frozen=True)
class ModemBooted(Urc):
    """The modem (re)started and forgot everything (echo is on again). SIM800: `RDY`."""

    resets: ClassVar[bool] = True
    echo_restored: ClassVar[bool] = True


@dataclass(frozen=True)
class CallReady(Urc):
    pass


@dataclass(frozen=True)
class SmsReady(Urc):
    pass


@dataclass(frozen=True)
class PowerDown(Urc):
    """The modem switched itself off (`NORMAL POWER DOWN`, `UNDER-VOLTAGE POWER DOWN` ...)."""

    reason: str = "normal"
    resets: ClassVar[bool] = True


@dataclass(frozen=True)
class VoltageWarning(Urc):
    """`UNDER-VOLTAGE WARNNING` (sic, SIM800 manual) / `OVER-VOLTAGE WARNNING`."""

    reason: str = "under-voltage"


@dataclass(frozen=True)
class SimStatus(Urc):
    """`+CPIN: READY` / `NOT READY` / `SIM PIN` outside an `AT+CPIN?`."""

    status: str = ""


@dataclass(frozen=True)
class RegistrationChanged(Urc):
    """`+CREG: <stat>` (gprs False) or `+CGREG: <stat>` (gprs True), TS 27.007 §7.2 stat values."""

    stat: int = 0
    gprs: bool = False
    lac: str | None = None
    ci: str | None = None


@dataclass(frozen=True)
class SmsStored(Urc):
    """`+CMTI: "SM",<index>`: a new SMS is in storage; read it with CMGR."""

    store: str = "SM"
    index: int = 0


@dataclass(frozen=True)
class SmsDirect(Urc):
    """`+CMT: ...` and its body line: text (text mode) or PDU hex (PDU mode), TS 27.005 §3.4.1."""

    header: str = ""
    text: str = ""


@dataclass(frozen=True)
class SmsStatusReport(Urc):
    """PDU-mode `+CDS: <length>` and its PDU line (a delivery report, with `AT+CNMI=...,1`)."""

    pdu: str = ""


@dataclass(frozen=True)
class TcpData(Urc):
    """A length-prefixed payload (SIM800: `+IPD,<n>:`) on link `conn`. `truncated`: it stopped early."""

    data: bytes = b""
    truncated: bool = False
    conn: int = 0


@dataclass(frozen=True)
class TcpClosed(Urc):
    """The remote end closed link `conn` (SIM800: `CLOSED`, or `<n>, CLOSED` in multi-connection mode)."""

    conn: int = 0


@dataclass(frozen=True)
class PdpDeactivated(Urc):
    """The network dropped the GPRS context (SIM800: `+PDP: DEACT`)."""


@dataclass(frozen=True)
class NmeaSentence(Urc):
    """An NMEA line streamed by the GNSS engine (SIM868: `AT+CGNSTST=1`)."""
