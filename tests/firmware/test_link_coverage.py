"""The link adapter's side of the escalation: reselection, signal and driver silence reach the supervisor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime import VirtualLoop
from tcu.ovms.car_client import CarSession
from tcu.server_link import Done, LinkDriver, ModemListener


class FakeOps:
    """A `ModemOps` that answers at once; registration and signal come from two switches."""

    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop
        self.registered = True
        self.dbm: float | None = -71.0
        self.gprs_ok = True
        self.calls: list[str] = []
        self.listener: ModemListener | None = None

    def set_listener(self, listener: ModemListener) -> None:
        self.listener = listener

    def _answer(self, done: Callable[..., None], *result: Any) -> None:
        def fire() -> None:
            if self.listener is not None:
                self.listener.modem_activity()   # the modem answers: the watchdog is fed
            done(*result)
        self.loop.call_later(0.1, fire)

    def _ok(self, name: str, done: Done, ok: bool = True) -> None:
        self.calls.append(name)
        self._answer(done, ok, "")

    def probe(self, done: Done) -> None: self._ok("probe", done)
    def init(self, done: Done) -> None: self._ok("init", done)
    def check_sim(self, done: Done) -> None: self._ok("sim", done)
    def attach_gprs(self, apn: str, user: str, password: str, done: Done) -> None:
        self._ok("gprs", done, self.gprs_ok)

    def open_tcp(self, host: str, port: int, done: Done) -> None: self._ok("tcp", done, False)
    def tcp_send(self, data: bytes) -> None: self.calls.append("send")
    def close_tcp(self) -> None: self.calls.append("close_tcp")
    def shut_gprs(self) -> None: self.calls.append("shut_gprs")
    def soft_reset(self, done: Done) -> None: self._ok("soft_reset", done)
    def power_cycle(self, done: Done) -> None: self._ok("power_cycle", done)
    def send_sms(self, number: str, text: str, done: Done) -> None: self._ok("sms", done)
    def select_operator(self, done: Done) -> None: self._ok("select_operator", done)

    def query_registration(self, done: Callable[[bool | None, str], None]) -> None:
        self.calls.append("creg")
        self._answer(done, self.registered, "")

    def signal(self, done: Callable[[float | None], None]) -> None:
        self.calls.append("csq")
        self._answer(done, self.dbm)


def make() -> tuple[VirtualLoop, FakeOps, LinkDriver]:
    loop = VirtualLoop(seed=3)
    ops = FakeOps(loop)
    settings: dict[str, Any] = {"apn": "internet", "server": "127.0.0.1:6867"}
    drv = LinkDriver(loop, ops, CarSession("TEST1", "secret"), lambda: settings, lambda: {})
    return loop, ops, drv


def test_unregistered_modem_gets_operator_reselection_not_a_reset() -> None:
    loop, ops, drv = make()
    ops.registered = False
    drv.start()
    loop.run_for(300)
    assert ops.calls.count("select_operator") == 1
    assert "soft_reset" not in ops.calls and "power_cycle" not in ops.calls
    assert drv.sup.state == "register"


def test_gprs_failure_polls_signal_and_weak_signal_prevents_the_reinit() -> None:
    for dbm, reinits in ((-109.0, 0), (-60.0, 1)):
        loop, ops, drv = make()
        seen: list[float | None] = []
        drv.on_signal = seen.append
        ops.dbm = dbm
        ops.gprs_ok = False
        drv.start()
        loop.run_for(1200)   # registered, attach keeps failing: the ladder, then (maybe) one re-init
        assert "csq" in ops.calls and seen and seen[-1] == dbm
        assert drv.sup.signal_dbm == dbm
        assert ops.calls.count("soft_reset") == reinits and "power_cycle" not in ops.calls


def test_driver_silence_power_cycles() -> None:
    loop, ops, drv = make()
    drv.start()
    loop.run_for(5)
    drv.modem_silent("3 AT commands unanswered")
    loop.run_for(1)
    assert ops.calls.count("power_cycle") == 1
