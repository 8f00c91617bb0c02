"""`DirectModem`: a modem without AT commands, for fast simulation (`tcu sim --modem direct`).

It is the firmware's `ModemApi` straight onto the runtime's TCP and a tiny SMS centre (`Smsc`),
publishing the driver's own events: the unit's delivery logic is testable in milliseconds with it,
independently of the modem emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modem.driver.commands import REG_HOME, REG_NOT, ModemInfo, Registration, Signal
from modem.driver.events import (
    GprsLost,
    ModemActivity,
    ModemEvent,
    RegistrationChanged,
    SmsReceived,
    TcpClosed,
    TcpDataReceived,
)
from modem.driver.modem import NetworkInfo, SmsSent
from modem.driver.script import Callback, Failed, Ok, Result
from modem.gnss import GnssFix
from runtime import Loop, Stream

log = logging.getLogger(__name__)


@dataclass
class Smsc:
    """Delivers SMS between the unit and phones by number; keeps what each number received."""

    loop: Loop
    inboxes: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)  # number → (t, from, text)
    devices: dict[str, Callable[[str, str], None]] = field(default_factory=dict)
    sent_by: dict[str, int] = field(default_factory=dict)

    def submit(self, sender: str, to: str, text: str, delay: float = 2.0) -> None:
        self.sent_by[sender] = self.sent_by.get(sender, 0) + 1
        self.loop.call_later(delay, self._deliver, sender, to, text)

    def _deliver(self, sender: str, to: str, text: str) -> None:
        self.inboxes.setdefault(to, []).append((self.loop.time(), sender, text))
        dev = self.devices.get(to)
        if dev is not None:
            dev(sender, text)


class DirectModem:
    """A modem for fast simulation: switches instead of radio, the loop's TCP instead of CIPSTART.

    It has no AT commands, but it is a modem as far as the firmware can tell: the same operations
    (`tcu.server_link.ModemApi`) with `Ok`/`Failed` results, and the same events
    (`modem.driver.events`) to its subscribers, numbered TCP links included.
    """

    max_connections = 6

    def __init__(self, loop: Loop, smsc: Smsc, number: str = "+447700900999", step_delay: float = 0.2,
                 net_type: str = "2G") -> None:
        self.loop = loop
        self.net_type = net_type  # what `network_info` says on coverage: the technology of the modem it stands for
        self.smsc = smsc
        self.number = number
        self.step_delay = step_delay
        self._subscribers: list[Callable[[ModemEvent], None]] = []
        self.coverage = True      # GSM registration (SMS)
        self.gprs = True          # data bearer
        self.stall = False        # TCP up but nothing flows
        self.alive = True
        self._streams: dict[int, Stream] = {}   # open TCP links by number
        self._opening: set[int] = set()         # numbers handed out whose connect has not finished
        self.position: Callable[[], tuple[float, float, float, float]] | None = None  # lat, lon, course, speed
        smsc.devices[number] = self._sms_in

    # -- events ---------------------------------------------------------------------------------------
    def subscribe(self, handler: Callable[[ModemEvent], None]) -> Callable[[], None]:
        self._subscribers.append(handler)
        return lambda: self._subscribers.remove(handler) if handler in self._subscribers else None

    def _publish(self, ev: ModemEvent) -> None:
        for handler in list(self._subscribers):
            handler(ev)

    def _activity(self) -> None:
        self._publish(ModemActivity(self.loop.time()))

    @property
    def can_power_cycle(self) -> bool:
        return True

    # -- world controls -----------------------------------------------------------------------------
    def set_coverage(self, on: bool) -> None:
        self.coverage = on
        self._activity()
        self._publish(RegistrationChanged(_registration(on), gprs=False))
        if not on:
            self.set_gprs(False, keep_flag=True)

    def set_gprs(self, on: bool, keep_flag: bool = False) -> None:
        if not keep_flag:
            self.gprs = on
        if not on and self._streams:
            self._drop_tcp()
            self._publish(GprsLost())

    def remote_close(self) -> None:
        """The server side closes every open link (a `remote-close` outage)."""
        for conn in sorted(self._streams):
            self._drop_tcp(conn)
            self._publish(TcpClosed("CLOSED", conn))

    def _drop_tcp(self, conn: int | None = None) -> None:
        for c in ([conn] if conn is not None else list(self._streams)):
            s = self._streams.pop(c, None)
            if s is not None:
                s.set_handlers(lambda d: None, None)
                s.close()

    # -- operations -----------------------------------------------------------------------------------
    def _later(self, done: Callback, result: Result, delay: float | None = None, activity: bool = True) -> None:
        def fire() -> None:
            if activity and self.alive:
                self._activity()
            done(result)
        self.loop.call_later(self.step_delay if delay is None else delay, fire)

    def probe(self, on_done: Callback, tries: int = 10, interval: float = 1.0) -> None:
        if self.alive:
            self._later(on_done, Ok(None))
        else:
            self._later(on_done, Failed("modem silent", timeout=True), 3.0)

    def init(self, on_done: Callback) -> None:
        self._later(on_done, Ok(_INFO) if self.alive else Failed("modem silent", timeout=True))

    def sim_status(self, on_done: Callback) -> None:
        self._later(on_done, Ok("READY") if self.alive else Failed("modem silent", timeout=True))

    def registration(self, on_done: Callback, gprs: bool = False) -> None:
        on = self.coverage and (self.gprs or not gprs)
        self._later(on_done, Ok(_registration(on)), activity=True)

    def signal(self, on_done: Callback) -> None:
        self._later(on_done, Ok(Signal(99, 99, None)), activity=False)  # no radio: signal not known

    def select_operator_auto(self, on_done: Callback) -> None:
        self._later(on_done, Ok(None), activity=False)

    def network_info(self, on_done: Callback) -> None:
        info = NetworkInfo(self.net_type, "tcu-sim") if self.coverage else NetworkInfo("", "")
        self._later(on_done, Ok(info), activity=False)

    def radio_recover(self, on_done: Callback) -> None:
        self._later(on_done, Ok(""), activity=False)  # no radio technologies to be stuck between

    def gprs_attach(self, apn: str, on_done: Callback, user: str = "", password: str = "") -> None:
        self._drop_tcp()   # like CIPSHUT before an attach: a new bearer starts with no links
        ok = self.coverage and self.gprs
        self._later(on_done, Ok("10.0.0.2") if ok else Failed("AT+CIICR: ERROR"), 1.0)

    def gprs_shutdown(self, on_done: Callback) -> None:
        self._drop_tcp()
        self._later(on_done, Ok(None), activity=False)

    def tcp_connect(self, host: str, port: int, on_done: Callback) -> int:
        conn = next((c for c in range(self.max_connections) if c not in self._streams and c not in self._opening),
                    -1)
        if conn < 0:
            self._later(on_done, Failed(f"all {self.max_connections} TCP links in use"), activity=False)
            return conn
        if not (self.coverage and self.gprs):
            self._later(on_done, Failed("CONNECT FAIL"), 2.0)
            return conn
        self._opening.add(conn)

        def connected(stream: Stream | None, error: str | None) -> None:
            self._opening.discard(conn)
            if stream is None:
                on_done(Failed(error or "CONNECT FAIL"))
                return
            self._streams[conn] = stream
            stream.set_handlers(lambda data: self._tcp_in(conn, data), lambda: self._tcp_closed(conn, stream))
            on_done(Ok(None))

        self.loop.connect_tcp(host, port, connected)
        return conn

    def _tcp_in(self, conn: int, data: bytes) -> None:
        if self.stall:
            return
        self._activity()
        self._publish(TcpDataReceived(data, conn=conn))

    def _tcp_closed(self, conn: int, stream: Stream) -> None:
        if self._streams.get(conn) is stream:
            del self._streams[conn]
            self._publish(TcpClosed("CLOSED", conn))

    def tcp_send(self, data: bytes, on_done: Callback, conn: int = 0) -> None:
        stream = self._streams.get(conn)
        if stream is None:
            self.loop.call_soon(on_done, Failed(f"link {conn} not connected"))
            return
        if not self.stall:
            stream.write(data)
        self.loop.call_soon(on_done, Ok(None))

    def tcp_close(self, on_done: Callback, conn: int = 0) -> None:
        self._drop_tcp(conn)
        self.loop.call_soon(on_done, Ok(None))

    def soft_reset(self, on_done: Callback) -> None:
        self._drop_tcp()
        self._later(on_done, Ok(None), 3.0)

    def power_cycle(self, on_done: Callback) -> None:
        self._drop_tcp()
        self.alive = True
        self._later(on_done, Ok(None), 5.0)

    def send_sms(self, number: str, text: str, on_done: Callback) -> None:
        if not self.coverage:
            self._later(on_done, Failed("+CMS ERROR: 331"), 1.0)
            return
        self.smsc.submit(self.number, number, text)
        self._later(on_done, Ok(SmsSent((0,))), 1.0)

    def gnss_power(self, on: bool, on_done: Callback) -> None:
        self.loop.call_soon(on_done, Ok(None))

    def gnss_fix(self, on_done: Callback) -> None:
        def fire() -> None:
            if self.position is None:
                on_done(Failed("no position"))
                return
            lat, lon, course, speed = self.position()
            on_done(Ok(GnssFix(True, lat, lon, 35.0, speed, course, 1, 8, 12, 0.9, None)))
        self.loop.call_later(self.step_delay, fire)

    def _sms_in(self, sender: str, text: str) -> None:
        when = datetime.fromtimestamp(self.loop.wall(), tz=UTC)
        self._publish(SmsReceived(sender, text, when))


_INFO = ModemInfo("tcu-sim", "DirectModem", "1.0", "000000000000000", None, None)


def _registration(on: bool) -> Registration:
    return Registration(REG_HOME if on else REG_NOT)
