"""The simulated world of `tcu sim`: car, unit, modem, network, server and the owner's phone on one loop.

This module also holds `DirectModem`, a modem stand-in without AT commands (`ModemOps` straight onto
the runtime's TCP and a tiny SMSC): the unit's delivery logic (outbox, fallback, catch-up,
exactly-once) is testable in milliseconds with it, independently of the modem emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime import Loop, Stream
from tcu.server_link import Done, ModemListener

log = logging.getLogger(__name__)


@dataclass
class Smsc:
    """Delivers SMS between the unit and phones by number; keeps what each number received."""

    loop: Loop
    inboxes: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)  # number → (t, from, text)
    devices: dict[str, Callable[[str, str], None]] = field(default_factory=dict)
    accepted: int = 0

    def submit(self, sender: str, to: str, text: str, delay: float = 2.0) -> None:
        self.accepted += 1
        self.loop.call_later(delay, self._deliver, sender, to, text)

    def _deliver(self, sender: str, to: str, text: str) -> None:
        self.inboxes.setdefault(to, []).append((self.loop.time(), sender, text))
        dev = self.devices.get(to)
        if dev is not None:
            dev(sender, text)


class DirectModem:
    """`ModemOps` for tests: switches instead of radio, the loop's TCP instead of CIPSTART."""

    def __init__(self, loop: Loop, smsc: Smsc, number: str = "+447700900999", step_delay: float = 0.2) -> None:
        self.loop = loop
        self.smsc = smsc
        self.number = number
        self.step_delay = step_delay
        self.listener: ModemListener | None = None
        self.coverage = True      # GSM registration (SMS)
        self.gprs = True          # data bearer
        self.stall = False        # TCP up but nothing flows
        self.alive = True
        self._stream: Stream | None = None
        smsc.devices[number] = self._sms_in

    def set_listener(self, listener: ModemListener) -> None:
        self.listener = listener

    # -- world controls -----------------------------------------------------------------------------
    def set_coverage(self, on: bool) -> None:
        self.coverage = on
        if self.listener is not None:
            self.listener.modem_activity()
            self.listener.registration(on)
        if not on:
            self.set_gprs(False, keep_flag=True)

    def set_gprs(self, on: bool, keep_flag: bool = False) -> None:
        if not keep_flag:
            self.gprs = on
        if not on and self._stream is not None:
            self._drop_tcp()
            if self.listener is not None:
                self.listener.gprs_lost()

    def _drop_tcp(self) -> None:
        s, self._stream = self._stream, None
        if s is not None:
            s.set_handlers(lambda d: None, None)
            s.close()

    # -- ModemOps -----------------------------------------------------------------------------------
    def _later(self, done: Done, ok: bool, reason: str = "", delay: float | None = None) -> None:
        def fire() -> None:
            if self.listener is not None and self.alive:
                self.listener.modem_activity()
            done(ok, reason)
        self.loop.call_later(self.step_delay if delay is None else delay, fire)

    def probe(self, done: Done) -> None:
        self._later(done, self.alive, "" if self.alive else "modem silent", 3.0 if not self.alive else None)

    def init(self, done: Done) -> None:
        self._later(done, self.alive)

    def check_sim(self, done: Done) -> None:
        self._later(done, self.alive)

    def query_registration(self, done: Callable[[bool | None, str], None]) -> None:
        def fire() -> None:
            if self.listener is not None:
                self.listener.modem_activity()
            done(self.coverage, "")
        self.loop.call_later(self.step_delay, fire)

    def attach_gprs(self, apn: str, user: str, password: str, done: Done) -> None:
        ok = self.coverage and self.gprs
        self._later(done, ok, "" if ok else "CIICR: ERROR", 1.0)

    def open_tcp(self, host: str, port: int, done: Done) -> None:
        self._drop_tcp()
        if not (self.coverage and self.gprs):
            self._later(done, False, "CONNECT FAIL", 2.0)
            return

        def connected(stream: Stream | None, error: str | None) -> None:
            if stream is None:
                done(False, error or "CONNECT FAIL")
                return
            self._stream = stream
            stream.set_handlers(self._tcp_in, lambda: self._tcp_closed(stream))
            done(True, "")

        self.loop.connect_tcp(host, port, connected)

    def _tcp_in(self, data: bytes) -> None:
        if self.stall or self.listener is None:
            return
        self.listener.modem_activity()
        self.listener.tcp_data(data)

    def _tcp_closed(self, stream: Stream) -> None:
        if self._stream is stream:
            self._stream = None
            if self.listener is not None:
                self.listener.tcp_closed("CLOSED")

    def tcp_send(self, data: bytes) -> None:
        if self._stream is not None and not self.stall:
            self._stream.write(data)

    def close_tcp(self) -> None:
        self._drop_tcp()

    def shut_gprs(self) -> None:
        self._drop_tcp()

    def soft_reset(self, done: Done) -> None:
        self._drop_tcp()
        self._later(done, True, "", 3.0)

    def power_cycle(self, done: Done) -> None:
        self._drop_tcp()
        self.alive = True
        self._later(done, True, "", 5.0)

    def send_sms(self, number: str, text: str, done: Done) -> None:
        if not self.coverage:
            self._later(done, False, "+CMS ERROR: 331", 1.0)
            return
        self.smsc.submit(self.number, number, text)
        self._later(done, True, "", 1.0)

    def _sms_in(self, sender: str, text: str) -> None:
        if self.listener is not None:
            self.listener.sms_received(sender, text, self.loop.wall())
