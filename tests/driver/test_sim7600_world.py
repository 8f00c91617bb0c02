"""The unit on a virtual SIM7600 (the whole world on the virtual clock, `vmodem`'s sim7600 dialect at its
realistic timing): each LTE fault of issue 15 is recovered by the link ladder with the dialect's steps,
not by waiting, and no alert is lost."""

from __future__ import annotations

import pytest

from sim.weather import LTE_FAULTS, lte_weather, weather_schedule
from sim.world import World, WorldConfig

FAULT_AT = 1800.0  # the unit has been online for a while by then


def run_with_fault(kind: str, duration: float, until: float) -> tuple[World, list[str]]:
    world = World(WorldConfig(seed=3, hours=until / 3600, incidents=False, outages=[], owner_script=(),
                              drain_s=10.0, dialect="sim7600"))
    world.loop.call_at(FAULT_AT, world.vmodem.fault, kind, duration)
    world.loop.run(until=until)
    return world, [t.dst for t in world.unit.link.sup.history if t.at >= FAULT_AT]


def test_stuck_on_2g_after_the_fault_is_moved_back_to_lte_by_the_mode_toggle() -> None:
    world, _ = run_with_fault("rat-fallback-2g", 120.0, FAULT_AT + 3600)
    try:
        sup = world.unit.link.sup
        assert sup.radio_recoveries >= 1
        assert world.unit.link.online
        assert world.unit.metrics.get("m.net.type") == "4G"
        assert sup.fallback_since is None
    finally:
        world.close()


def test_no_service_online_loop_is_left_by_the_dialect_rung() -> None:
    """The module stays in NO SERVICE after the network is back (latched) until a mode toggle."""
    world, states = run_with_fault("no-service-online", 300.0, FAULT_AT + 900)
    try:
        assert "register" in states  # it lost registration...
        assert world.unit.link.online  # ...and the toggle after the fault brought it back
        assert world.unit.link.sup.radio_recoveries >= 2
    finally:
        world.close()


@pytest.mark.parametrize("seed_fault", ["netopen-fail"])
def test_netopen_failing_after_a_network_close_recovers_with_netclose(seed_fault: str) -> None:
    world, states = run_with_fault(seed_fault, 600.0, FAULT_AT + 300)
    try:
        assert "gprs" in states  # the network closed: a new attach (NETCLOSE first, then NETOPEN)
        assert world.unit.link.online  # well before the 600 s fault is over
    finally:
        world.close()


def test_a_harsh_day_on_a_sim7600_loses_nothing_and_recovers_every_lte_fault() -> None:
    """`tcu sim --hours 24 --seed 1 --weather harsh --dialect sim7600`, as the report sees it."""
    from sim.report import build_report

    world = World(WorldConfig(seed=1, hours=24.0, weather="harsh", dialect="sim7600"))
    try:
        world.run()
        report = build_report(world.observations(0.0))
    finally:
        world.close()
    assert report["alerts"]["lost"] == 0 and report["alerts"]["queued"] == 0
    assert report["duplicates"] == 0 and report["sms_duplicates"] == 0
    lte = [o for o in report["outages"] if o["kind"] in LTE_FAULTS]
    assert {o["kind"] for o in lte} == set(LTE_FAULTS)
    assert all(o["recovered_after_s"] is not None and o["recovered_after_s"] < 1800 for o in lte), lte


def test_lte_weather_keeps_the_base_schedule_and_fits_in_its_gaps() -> None:
    import random

    base = weather_schedule("harsh", 24.0, random.Random(5))
    both = lte_weather(base, 24.0, random.Random(6))
    assert [w for w in both if w.kind not in LTE_FAULTS] == base
    assert any(w.kind in LTE_FAULTS for w in both)
    for a, b in zip(both, both[1:], strict=False):
        assert a.end <= b.start
