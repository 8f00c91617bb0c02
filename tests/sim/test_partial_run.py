"""A run stopped early (Ctrl-C) reports only the weather it had: outages not yet begun are left out, one
still going ends at the stop, unrecovered (the summary once said a future outage 'never' recovered)."""

from __future__ import annotations

from sim.report import build_report, summary_lines
from sim.world import World, demo_config


def _stopped_at(minutes: float) -> dict:
    cfg = demo_config(1)
    cfg.modem = "direct"
    world = World(cfg)
    try:
        world.loop.run(until=minutes * 60.0)
        return build_report(world.observations(0.0))
    finally:
        world.close()


def test_an_outage_not_yet_begun_is_not_reported() -> None:
    report = _stopped_at(10)   # the demo's outage is 40-60 min
    assert report["outages"] == []
    assert not any("gprs-down" in line for line in summary_lines(report))


def test_an_outage_still_going_ends_at_the_stop_unrecovered() -> None:
    report = _stopped_at(50)
    text = "\n".join(summary_lines(report))
    assert "gprs-down" in text
    assert "not back online by the end of the run" in text
