"""The link supervisor against a scripted modem: transitions, the escalation ladder, watchdogs."""

from __future__ import annotations

import random

from modem.driver.commands import Registration
from runtime import VirtualLoop
from tcu.link import (
    STATES,
    Action,
    GprsLost,
    LinkConfig,
    LinkSupervisor,
    ModemActivity,
    ModemPoweredDown,
    ModemRebooted,
    ModemSilent,
    RegistrationChanged,
    ServerAlive,
    SignalQuality,
    StepDone,
    TcpClosed,
)


def registration(registered: bool) -> RegistrationChanged:
    """`+CREG` as the modem reports it: home network or not registered."""
    return RegistrationChanged(Registration(1 if registered else 0), gprs=False)


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
        self.welcome = True           # False: a stalled bearer, the login's welcome never comes
        self.creg_errors = False      # AT+CREG? answers ERROR (modem-side trouble)
        self.dbm: float | None = -70.0
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
        elif kind == "register" and self.creg_errors:
            self.feed(StepDone(kind, False, "AT+CREG?: ERROR"))
        elif kind in ("register", "poll"):
            self.feed(registration(self.registered))
            if kind == "register":
                self.feed(StepDone(kind, True))
            else:
                self.feed(SignalQuality(self.dbm))
        elif kind == "gprs":
            self.feed(StepDone(kind, self.gprs_ok, "" if self.gprs_ok else "CIICR ERROR"))
        elif kind == "tcp":
            self.feed(StepDone(kind, self.tcp_ok, "" if self.tcp_ok else "CONNECT FAIL"))
        elif kind == "login" and self.welcome:
            self.feed(StepDone(kind, True))
        elif kind == "login":   # the session gives up after 30 s without a welcome
            self.loop.call_later(30.0, self.feed, StepDone(kind, False, "no welcome from the server"))
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


def resets(sup: LinkSupervisor) -> list[str]:
    return [d for d in path(sup) if d in ("soft_reset", "power_cycle")]


def test_unregistered_but_answering_modem_is_waited_for_and_reselects_the_operator() -> None:
    loop, sup, modem = make()
    modem.registered = False
    loop.run_for(400)
    assert not sup.online and not sup.gsm_registered and sup.state == "register"
    assert resets(sup) == []
    assert modem.actions.count("reselect") == 1        # after ~120 s, not again within 600 s
    # polls slow down to the cap: far fewer than one every 5 s
    assert 10 <= modem.actions.count("register") <= 25
    modem.registered = True
    loop.run_for(40)
    assert sup.online


def test_escalation_ladder_tcp_then_gprs_then_one_reinit_never_the_power_key() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    assert sup.online
    modem.tcp_ok = False
    modem.gprs_ok = False
    modem.feed(TcpClosed("remote close"))
    loop.run_for(3600)
    p = path(sup)
    first = {name: p.index(name) for name in ("tcp_wait", "gprs_wait", "soft_reset")}
    assert first["tcp_wait"] < first["gprs_wait"] < first["soft_reset"]
    assert resets(sup) == ["soft_reset"]               # one re-init per outage, no power cycle
    assert not sup.online and sup.gsm_registered
    modem.tcp_ok = modem.gprs_ok = True
    loop.run_for(120)
    assert sup.online


def test_gprs_back_off_is_5_10_up_to_45_seconds() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.gprs_ok = False
    modem.feed(GprsLost())
    loop.run_for(600)
    trs = sup.all  # type: ignore[attr-defined]
    waits = [b.at - a.at for a, b in zip(trs, trs[1:], strict=False) if a.dst == "gprs_wait" and b.dst == "gprs"]
    # the back-off ends on the next one-second tick
    expected = [5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert all(e <= w < e + 1.01 for e, w in zip(expected, waits[:9], strict=True)), waits
    assert path(sup).count("soft_reset") == 1          # the re-init after the ladder
    assert path(sup).index("soft_reset") > [i for i, d in enumerate(path(sup)) if d == "gprs_wait"][8]


def test_long_gprs_outage_reinits_once_and_never_power_cycles() -> None:
    loop, sup, modem = make(reinit_interval=1800)
    loop.run_for(30)
    modem.gprs_ok = False
    modem.feed(GprsLost())
    loop.run_for(4 * 3600)
    assert resets(sup) == ["soft_reset"]
    assert sup.gsm_registered                          # SMS fallback stays available throughout
    modem.gprs_ok = True
    loop.run_for(60)
    assert sup.online


def test_reinit_at_most_once_per_interval_across_outages() -> None:
    loop, sup, modem = make(reinit_interval=1800)
    loop.run_for(30)
    for _ in range(2):
        modem.gprs_ok = False
        modem.feed(GprsLost())
        loop.run_for(600)
        modem.gprs_ok = True
        loop.run_for(60)
        assert sup.online
    assert resets(sup) == ["soft_reset"]
    loop.run_for(1800)
    modem.gprs_ok = False
    modem.feed(GprsLost())
    loop.run_for(600)
    assert resets(sup) == ["soft_reset", "soft_reset"]


def test_gprs_failing_with_weak_signal_is_not_the_modems_fault() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.dbm = -111
    modem.gprs_ok = False
    modem.feed(GprsLost())
    loop.run_for(3600)
    assert resets(sup) == [] and sup.gsm_registered
    modem.gprs_ok = True
    loop.run_for(60)
    assert sup.online


def test_no_coverage_for_30_minutes_with_answering_modem_needs_no_reset() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    assert sup.online
    modem.registered = False
    modem.gprs_ok = False
    modem.tcp_ok = False
    modem.feed(GprsLost())
    loop.run_for(1800)
    assert not sup.online and not sup.gsm_registered
    assert sup.counters["soft_reset"] == 0 and sup.counters["power_cycle"] == 0
    assert 2 <= modem.actions.count("reselect") <= 4
    modem.registered = modem.gprs_ok = modem.tcp_ok = True
    back = loop.time()
    while not sup.online and loop.time() - back < 120:
        loop.run_for(1)
    assert sup.online and loop.time() - back <= 45


def test_registration_query_errors_are_modem_trouble_and_reset_it() -> None:
    loop, sup, modem = make()
    modem.creg_errors = True
    loop.run_for(60)
    assert resets(sup)[:1] == ["soft_reset"]
    modem.creg_errors = False
    loop.run_for(60)
    assert sup.online


def test_modem_silent_and_powered_down_still_power_cycle() -> None:
    for event in (ModemSilent("3 AT commands unanswered"), ModemPoweredDown()):
        loop, sup, modem = make()
        loop.run_for(30)
        modem.feed(event)
        assert sup.state == "power_cycle" and sup.counters["power_cycle"] == 1
        assert not sup.online and not sup.gsm_registered
        loop.run_for(60)
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


def attempt_starts(sup: LinkSupervisor, since: float = 0.0) -> list[float]:
    return [t.at for t in sup.all if t.dst == "tcp" and t.at >= since]  # type: ignore[attr-defined]


def test_stalled_bearer_login_back_off_is_capped_and_recovery_is_quick() -> None:
    # TCP connects but nothing flows (the emulator's `stall`): every login waits 30 s for a welcome.
    # The back-off is the period between attempts, so it must not add 60..120 s on top of that.
    loop, sup, modem = make()
    loop.run_for(30)
    assert sup.online
    modem.answers_ping = modem.welcome = False
    since = loop.time()
    loop.run_for(1800)
    starts = attempt_starts(sup, since)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 30, gaps
    # each period: the 30 s login, at most the back-off cap in all (or the 5 s GPRS rung), one tick
    assert all(30 <= g <= sup.config.backoff_cap + 7 for g in gaps), gaps
    assert resets(sup) == []                           # a stall is no modem trouble
    # Worst case: the network recovers just after a login went out into the void.
    while sup.state != "login":
        loop.run_for(0.1)
    modem.answers_ping = modem.welcome = True
    back = loop.time()
    while not sup.online and loop.time() - back < 200:
        loop.run_for(0.5)
    assert sup.online and loop.time() - back <= 45


def test_fast_connect_failures_still_wait_out_the_back_off_period() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.tcp_ok = False                               # CONNECT FAIL at once, the bearer is fine
    modem.feed(TcpClosed("remote close"))
    since = loop.time()
    loop.run_for(1800)
    starts = attempt_starts(sup, since)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert 30 <= len(gaps) <= 90, len(gaps)            # not one every floor (2 s): no hammering
    assert max(gaps) <= sup.config.backoff_cap + 7
    assert sum(g >= sup.config.backoff_cap / 2 for g in gaps) >= len(gaps) // 2, gaps


def test_back_off_starts_over_when_registration_returns() -> None:
    loop, sup, modem = make()
    loop.run_for(30)
    modem.tcp_ok = False
    modem.feed(TcpClosed("remote close"))
    loop.run_for(600)
    assert sup.backoff_step >= 4
    modem.registered = False
    modem.feed(registration(False))
    loop.run_for(60)
    assert sup.state == "register" and sup.backoff_step >= 4
    modem.registered = modem.tcp_ok = True
    modem.feed(registration(True))
    assert sup.backoff_step == 0
    loop.run_for(20)
    assert sup.online
