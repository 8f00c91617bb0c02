"""The link ladder's dialect rung (`recover_radio`, SIM7600: an AT+CNMP toggle or AT+CRESET) and the
`m.net.type`/`m.net.provider` metrics, above the seam: the supervisor on its own, then the whole unit."""

from __future__ import annotations

import random

from modem.driver.commands import Registration
from sim.world import World, WorldConfig
from tcu.link import (
    Action,
    LinkConfig,
    LinkSupervisor,
    ModemActivity,
    RadioTechnology,
    RegistrationChanged,
    StepDone,
)


def kinds(actions: list[Action]) -> list[str]:
    return [a.kind for a in actions]


def online_supervisor(now: float = 0.0) -> LinkSupervisor:
    sup = LinkSupervisor(LinkConfig(ping_interval=float("inf")), random.Random(1))  # as LinkDriver runs it
    sup.start(now)
    for step in ("probe", "init", "sim"):
        sup.handle(StepDone(step, True), now)
    sup.handle(RegistrationChanged(Registration(1), gprs=False), now)
    for step in ("gprs", "tcp", "login"):
        sup.handle(StepDone(step, True), now)
    assert sup.state == "online"
    return sup


def ticks(sup: LinkSupervisor, start: float, end: float) -> list[tuple[float, str]]:
    out = []
    t = start
    while t <= end:
        sup.handle(ModemActivity(t), t)  # a modem that talks: no silence watchdog
        out += [(t, k) for k in kinds(sup.tick(t)) if k == "recover_radio"]
        t += 1.0
    return out


def test_online_on_a_fallback_technology_runs_the_dialect_rung_after_a_while_and_not_too_often() -> None:
    sup = online_supervisor()
    sup.handle(RadioTechnology("2G", fallback=True), 10.0)
    got = ticks(sup, 11.0, 4000.0)
    cfg = sup.config
    assert [t for t, _ in got] == [10.0 + cfg.radio_stuck_after, 10.0 + cfg.radio_stuck_after
                                   + cfg.radio_recover_interval]


def test_back_on_the_best_technology_nothing_is_done() -> None:
    sup = online_supervisor()
    sup.handle(RadioTechnology("2G", fallback=True), 10.0)
    sup.handle(RadioTechnology("4G", fallback=False), 500.0)
    assert ticks(sup, 11.0, 4000.0) == []
    sup.handle(RadioTechnology("2G", fallback=False), 4001.0)  # a SIM800: 2G is its best
    assert ticks(sup, 4001.0, 8000.0) == []


def test_gprs_failing_while_registered_runs_the_dialect_rung_with_a_back_off() -> None:
    sup = online_supervisor()
    sup.handle(StepDone("login", True), 0.0)
    acts = []
    t = 100.0
    for _ in range(4):
        sup._enter("gprs", t, "test")  # the attach (NETOPEN) keeps failing
        acts.append(kinds(sup.handle(StepDone("gprs", False, "+NETOPEN: 1"), t)))
        t += 60.0
    # from the 2nd failure (t=160); again once the 60 s back-off is over (t=220), then not before 340
    assert ["recover_radio" in a for a in acts] == [False, True, True, False]


def test_not_registered_for_long_runs_the_dialect_rung_with_the_reselection() -> None:
    sup = LinkSupervisor(LinkConfig(), random.Random(1))
    sup.start(0.0)
    for step in ("probe", "init", "sim"):
        sup.handle(StepDone(step, True), 0.0)
    assert sup.state == "register"
    seen: list[str] = []
    t = 0.0
    while t < 200.0:
        sup.handle(ModemActivity(t), t)
        seen += kinds(sup.handle(StepDone("register", True), t)) if sup._pending else []
        seen += kinds(sup.tick(t))
        t += 1.0
    assert seen.count("reselect") == 1 and seen.count("recover_radio") == 2  # at ~131 s and 60 s later
    assert seen.index("recover_radio") == seen.index("reselect") + 1


def _net_metrics(dialect: str) -> tuple[object, object]:
    world = World(WorldConfig(seed=1, hours=0.1, incidents=False, outages=[], owner_script=(), drain_s=10.0,
                              modem="direct", dialect=dialect))
    try:
        world.loop.run(until=120.0)
        assert world.unit.link.online
        return world.unit.metrics.get("m.net.type"), world.unit.metrics.get("m.net.provider")
    finally:
        world.close()


def test_the_unit_sets_net_type_and_provider_as_ovms_does() -> None:
    assert _net_metrics("sim7600") == ("4G", "tcu-sim")
    assert _net_metrics("sim800") == ("2G", "tcu-sim")
