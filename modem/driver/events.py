"""The one vocabulary of modem events: what a modem publishes to its subscribers (frozen dataclasses).

Every modem the firmware can run on publishes these and only these: the AT driver
(`modem.driver.modem.Modem`, whatever its dialect) and the AT-less stand-in `sim.direct_modem.DirectModem`.
The link supervisor (`tcu.link`) consumes them as they are: there is one type per fact, with no
translation on the way. None of them carries a driver object, so a subscriber never needs to know
about the AT channel. TCP events carry the link number `conn` that `tcp_connect` returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modem.driver.commands import Registration
from modem.gnss import GnssFix


@dataclass(frozen=True)
class ModemEvent:
    """Base class of everything `Modem` publishes."""


@dataclass(frozen=True)
class ModemActivity(ModemEvent):
    """Bytes arrived from the modem (feeds a silence watchdog). Published at most once per second."""

    at: float | None = None


@dataclass(frozen=True)
class ModemRebooted(ModemEvent):
    """`RDY`: the modem restarted; GPRS, TCP, echo and SMS settings are gone. Pending operations failed."""


@dataclass(frozen=True)
class ModemPoweredDown(ModemEvent):
    """`NORMAL POWER DOWN` / `UNDER-VOLTAGE POWER DOWN`: silent until the power key is pulsed."""

    reason: str = "normal"


@dataclass(frozen=True)
class VoltageWarning(ModemEvent):
    reason: str


@dataclass(frozen=True)
class ModemSilent(ModemEvent):
    """`count` commands in a row timed out and not one byte came back meanwhile: the modem is hung."""

    reason: str = "AT commands time out"
    count: int = 0
    last_rx: float | None = None


@dataclass(frozen=True)
class ModemReady(ModemEvent):
    """`Call Ready` / `SMS Ready` after boot."""

    what: str


@dataclass(frozen=True)
class SimStatusChanged(ModemEvent):
    status: str


@dataclass(frozen=True)
class RegistrationChanged(ModemEvent):
    """`+CREG:` (gprs False) or `+CGREG:` (gprs True) URC."""

    registration: Registration
    gprs: bool = False


@dataclass(frozen=True)
class TcpClosed(ModemEvent):
    """TCP link `conn` is gone: the remote end closed it (`CLOSED`), or a send failed (`SEND FAIL`)."""

    reason: str = "closed"
    conn: int = 0


@dataclass(frozen=True)
class GprsLost(ModemEvent):
    """`+PDP: DEACT`: the GPRS context is gone (and with it every TCP link)."""


@dataclass(frozen=True)
class TcpDataReceived(ModemEvent):
    """Bytes from the peer of TCP link `conn`. `truncated`: the modem announced more than it gave."""

    data: bytes
    truncated: bool = False
    conn: int = 0


@dataclass(frozen=True)
class SmsReceived(ModemEvent):
    """A whole message (all parts of a concatenated one). `time` is the SMSC timestamp."""

    sender: str
    text: str
    time: datetime | None


@dataclass(frozen=True)
class IncomingCall(ModemEvent):
    """`RING`."""


@dataclass(frozen=True)
class NmeaReceived(ModemEvent):
    sentence: str


@dataclass(frozen=True)
class GnssFixReceived(ModemEvent):
    """A position from the NMEA stream (`gnss_stream(True)`), merged RMC+GGA by `NmeaAccumulator`."""

    fix: GnssFix


@dataclass(frozen=True)
class LineNoise(ModemEvent):
    """Bytes that were no protocol line (noise on the UART, a truncated line)."""

    data: bytes


@dataclass(frozen=True)
class Unsolicited(ModemEvent):
    """Any other unsolicited line (`+CFUN: 1`, `*PSUTTZ`, a late `CONNECT OK` ...)."""

    line: str


@dataclass(frozen=True)
class PortClosed(ModemEvent):
    """The serial stream closed under us (USB modem unplugged, pty gone): the modem cannot be reached.

    A `Modem` that can reopen its port publishes this when the port goes and again after every failed
    reopen (`retries`, `next_try` current; loop times), then `PortReopened`; one that cannot is closed.
    """

    port: str = ""
    reason: str = "serial stream closed"
    since: float = 0.0
    retries: int = 0
    next_try: float | None = None


@dataclass(frozen=True)
class PortReopened(ModemEvent):
    """The port is open again after `PortClosed`: what answers there may have rebooted (probe it)."""

    port: str = ""
    gone_for: float = 0.0
    retries: int = 0
