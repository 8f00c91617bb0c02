"""The link supervisor against a scripted modem: transitions, the escalation ladder, watchdogs."""

from __future__ import annotations

import random

from runtime import VirtualLoop
from tcu.link import (
    STATES,
    Action,
    GprsLost,
    LinkConfig,
    LinkSupervisor,
    ModemActivity,
    ModemRebooted,
    Registration,
    ServerAlive,
    StepDone,
    TcpClosed,
)


class ScriptedModem:
    """Answers the supervisor's actions from a few switches, after a short virtual delay."""

    def __init__(self, loop: VirtualLoop, sup: LinkSupervisor) -> None:
        self.loop = loop
        self.sup = sup
        self.alive = True
        self.registered = True
        self.gprs_ok = True
        self.tcp_ok = True
        self.answers_ping = True
        self.actions: list[str] = []
        self._tick()

    def feed(self, event) -> None:
        self.run(self.sup.handle(event, self.loop.time()))

    def run(self, actions: list[Action]) -> None:
        for a in actions:
            self.actions.append(a.kind)
            self.loop.call_later(0.2, self._answer, a.kind)

    def _answer(self, kind: str) -> None:
        if kind == "power_cycle":
            self.alive = True
            self.feed(StepDone("power_cycle", True))
            return
        if not self.alive:
            return
        self.feed(ModemActivity())
        if kind in ("probe", "init", "sim", "soft_reset"):
            self.feed(StepDone(kind, True))
        elif kind in ("register", "poll"):
            self.feed(Registration(self.registered))
            if kind == "register":
                self.feed(StepDone(kind, True))
        elif kind == "gprs":
            self.feed(StepDone(kind, self.gprs_ok, "" if self.gprs_ok else "CIICR ERROR"))
        elif kind == "tcp":
            self.feed(StepDone(kind, self.tcp_ok, "" if self.tcp_ok else "CONNECT FAIL"))
        elif kind == "login":
            self.feed(StepDone(kind, True))
        elif kind == "ping" and self.answers_ping:
            self.feed(ServerAlive())

    def _tick(self) -> None:
        self.run(self.sup.tick(self.loop.time()))
        self.loop.call_later(1.0, self._tick)


def make(seed: int = 1, **cfg) -> tuple[VirtualLoop, LinkSupervisor, ScriptedModem]:
    loop = VirtualLoop(seed=seed)
    sup = LinkSupervisor(LinkConfig(**cfg), loop.random("link"))
    sup.all = []  # type: ignore[attr-defined]
    sup.on_transition = sup.all.append  # type: ignore[attr-defined]
    modem = ScriptedModem(loop, sup)
    modem.run(sup.start(loop.time()))
    return loop, sup, modem


def path(sup: LinkSupervisor) -> list[str]:
    return [t.dst for t in sup.all]  # type: ignore[attr-defined]


def test_happy_path_reaches_online_in_order() -> None:
    loop, sup, _ = make()
    loop.run_for(30)
    assert sup.online and sup.gsm_registered and sup.offline_since is None
    assert path(sup) == ["probe", "init", "sim", "register", "gprs", "tcp", "login", "online"]


def test_every_table_target_is_a_state() -> None:
    for sdef in STATES.values():
        for target in (sdef.on_ok, sdef.on_timeout):
            assert target in STATES, (sdef.name, target)


def test_unregistered_modem_keeps_searching_then_soft_resets() -> None:
    loop, sup, modem = make()
    modem.registered = False
    loop.run_for(200)
    assert not sup.online and not sup.gsm_registered
    assert "soft_reset" in path(sup)
    modem.registered = True
    loop.run_for(60)
    assert sup.online


def test_escalation_ladder_tcp_then_gprs_then_soft_reset_then_power_cycle() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    assert sup.online
    modem.tcp_ok = False
    modem.gprs_ok = False
    modem.feed(TcpClosed("remote close"))
    loop.run_for(3600)
    p = path(sup)
    first = {name: p.index(name) for name in ("tcp_wait", "gprs_wait", "soft_reset", "power_cycle")}
    assert first["tcp_wait"] < first["gprs_wait"] < first["soft_reset"] < first["power_cycle"]
    assert not sup.online
    assert sup.gsm_registered or sup.state in ("probe", "init", "sim", "register", "soft_reset", "power_cycle")
    modem.tcp_ok = modem.gprs_ok = True
    loop.run_for(600)
    assert sup.online


def test_gprs_lost_reattaches_and_recovers() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.feed(GprsLost())
    assert sup.state == "gprs_wait" and sup.offline_since == loop.time()
    loop.run_for(300)
    assert sup.online
    assert sup.counters["gprs"] == 2


def test_silent_modem_is_power_cycled_by_the_watchdog() -> None:
    loop, sup, modem = make(silence_timeout=90, poll_interval=600, ping_interval=10_000)
    loop.run_for(30)
    assert sup.online
    modem.alive = False
    loop.run_for(100)
    assert sup.counters["power_cycle"] == 1
    loop.run_for(60)
    assert sup.online


def test_unanswered_ping_is_a_stall_and_reconnects() -> None:
    loop, sup, modem = make(ping_interval=60, ping_timeout=20)
    loop.run_for(30)
    assert sup.online
    modem.answers_ping = False
    loop.run_for(90)
    assert sup.counters["stall"] == 1
    assert "tcp_wait" in path(sup)
    modem.answers_ping = True
    loop.run_for(120)
    assert sup.online


def test_unexpected_reboot_restarts_from_probe() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.feed(ModemRebooted())
    assert sup.state == "probe" and not sup.online
    loop.run_for(30)
    assert sup.online


def test_backoff_is_capped_exponential_with_deterministic_jitter() -> None:
    a = LinkSupervisor(LinkConfig(backoff_base=5, backoff_cap=60), random.Random(7))
    b = LinkSupervisor(LinkConfig(backoff_base=5, backoff_cap=60), random.Random(7))
    delays = [a.backoff() for _ in range(10)]
    assert delays == [b.backoff() for _ in range(10)]
    assert 2.5 <= delays[0] <= 5
    assert all(30 <= d <= 60 for d in delays[4:])
    assert delays[3] > delays[0]


def test_after_a_power_cycle_a_long_outage_does_not_keep_resetting_the_modem() -> None:
    loop, sup, modem = make(reset_cooldown=1800)
    loop.run_for(30)
    modem.gprs_ok = False
    modem.feed(GprsLost())
    loop.run_for(4 * 3600)
    cycles = [t.at for t in sup.all if t.dst == "power_cycle"]  # type: ignore[attr-defined]
    resets = [t.at for t in sup.all if t.dst in ("power_cycle", "soft_reset")]  # type: ignore[attr-defined]
    assert 2 <= len(cycles) <= 4 * 3600 / 1800 + 1
    assert all(b - a >= 1800 for a, b in zip(cycles, cycles[1:], strict=False))
    # between the cool-down's start and end nothing resets the modem: GPRS retries only
    assert not [t for t in resets if cycles[0] < t < cycles[0] + 1800]
    modem.gprs_ok = True
    loop.run_for(600)
    assert sup.online
