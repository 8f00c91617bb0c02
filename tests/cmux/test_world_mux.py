"""`tcu sim --weather harsh --modem-mux on`: the whole unit on a multiplexed modem line (virtual clock).

Harsh weather reboots the virtual modem under the multiplexer (soft resets, brownouts): the driver
falls back to plain AT on each RDY and multiplexes again at the next init; nothing may be lost or
duplicated, and the run stays deterministic.
"""

from __future__ import annotations

from typing import Any

from sim.report import build_report
from sim.world import World, WorldConfig


def run(hours: float, mux: str = "on", seed: int = 1) -> tuple[dict[str, Any], World]:
    world = World(WorldConfig(seed=seed, hours=hours, weather="harsh", modem_mux=mux))
    try:
        world.run()
        report = build_report(world.observations(0.0))
    finally:
        world.close()
    report.pop("wall_seconds", None)
    return report, world


def test_a_harsh_day_multiplexed_loses_nothing_and_duplicates_nothing() -> None:
    report, world = run(24.0)
    assert world.driver is not None and world.driver.multiplexed  # it was (again) on CMUX at the end
    assert report["link"]["soft_reset"] > 0  # the weather rebooted it under the multiplexer
    assert report["alerts"]["lost"] == 0 and report["alerts"]["queued"] == 0
    assert report["duplicates"] == 0 and report["sms_duplicates"] == 0


def test_multiplexed_runs_are_deterministic() -> None:
    a, _ = run(4.0, seed=5)
    b, _ = run(4.0, seed=5)
    assert a == b
