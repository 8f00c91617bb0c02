"""The link adapter's side of the escalation: reselection, signal and driver silence reach the supervisor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modem.driver.commands import Registration, Signal
from modem.driver.events import ModemActivity, ModemEvent, ModemSilent
from modem.driver.modem import NetworkInfo
from modem.driver.script import Callback, Failed, Ok
from runtime import VirtualLoop
from tcu.ovms.car_client import CarSession
from tcu.server_link import LinkDriver


class FakeOps:
    """A modem (`ModemApi`) that answers at once; registration and signal come from two switches."""

    can_power_cycle = True

    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop
        self.registered = True
        self.dbm: float | None = -71.0
        self.gprs_ok = True
        self.calls: list[str] = []
        self.subscribers: list[Callable[[ModemEvent], None]] = []

    def subscribe(self, handler: Callable[[ModemEvent], None]) -> Callable[[], None]:
        self.subscribers.append(handler)
        return lambda: None

    def publish(self, ev: ModemEvent) -> None:
        for h in self.subscribers:
            h(ev)

    def _answer(self, done: Callback, result: Any) -> None:
        def fire() -> None:
            self.publish(ModemActivity(self.loop.time()))   # the modem answers: the watchdog is fed
            done(result)
        self.loop.call_later(0.1, fire)

    def _ok(self, name: str, done: Callback, ok: bool = True) -> None:
        self.calls.append(name)
        self._answer(done, Ok(None) if ok else Failed("ERROR"))

    def probe(self, on_done: Callback, tries: int = 10, interval: float = 1.0) -> None: self._ok("probe", on_done)
    def init(self, on_done: Callback) -> None: self._ok("init", on_done)
    def sim_status(self, on_done: Callback) -> None:
        self.calls.append("sim")
        self._answer(on_done, Ok("READY"))
    def gprs_attach(self, apn: str, on_done: Callback, user: str = "", password: str = "") -> None:
        self._ok("gprs", on_done, self.gprs_ok)
    def gprs_shutdown(self, on_done: Callback) -> None: self.calls.append("shut_gprs")

    def tcp_connect(self, host: str, port: int, on_done: Callback) -> int:
        self._ok("tcp", on_done, False)
        return 0

    def tcp_send(self, data: bytes, on_done: Callback, conn: int = 0) -> None: self.calls.append("send")
    def tcp_close(self, on_done: Callback, conn: int = 0) -> None: self.calls.append("close_tcp")
    def soft_reset(self, on_done: Callback) -> None: self._ok("soft_reset", on_done)
    def power_cycle(self, on_done: Callback) -> None: self._ok("power_cycle", on_done)
    def send_sms(self, number: str, text: str, on_done: Callback) -> None: self._ok("sms", on_done)
    def select_operator_auto(self, on_done: Callback) -> None: self._ok("select_operator", on_done)
    def radio_recover(self, on_done: Callback) -> None: self._ok("recover_radio", on_done)
    def network_info(self, on_done: Callback) -> None:
        self.calls.append("network_info")
        self._answer(on_done, Ok(NetworkInfo("2G", "test")))
    def gnss_power(self, on: bool, on_done: Callback) -> None: self.calls.append("gnss_power")
    def gnss_fix(self, on_done: Callback) -> None: self._ok("gnss_fix", on_done, False)

    def registration(self, on_done: Callback, gprs: bool = False) -> None:
        self.calls.append("creg")
        self._answer(on_done, Ok(Registration(1 if self.registered else 0)))

    def signal(self, on_done: Callback) -> None:
        self.calls.append("csq")
        dbm = self.dbm
        self._answer(on_done, Ok(Signal(99 if dbm is None else int((dbm + 113) // 2), 0, dbm)))


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
    ops.publish(ModemSilent("3 AT commands unanswered"))
    loop.run_for(1)
    assert ops.calls.count("power_cycle") == 1
