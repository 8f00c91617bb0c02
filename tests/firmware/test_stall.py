"""A silent stall (TCP "up", no data either way) is noticed by ping/answer and repaired (DESIGN.md §3).

The world runs on the virtual clock with the emulated modem's `stall` fault. The unit must see the dead
session within a few minutes of the stall starting, whatever it happened to send just before, and be
online again soon after the stall ends.
"""

from __future__ import annotations

import pytest

from sim.weather import OutageWindow
from sim.world import World, WorldConfig
from tcu.ovms.car_client import LIVENESS_IDLE, PING_TIMEOUT

# Worst case: the last byte from the server came just before the stall; the keep-alive ping goes out
# LIVENESS_IDLE later and is declared dead PING_TIMEOUT after that (+ the 1 s link tick).
DETECT_BOUND = LIVENESS_IDLE + PING_TIMEOUT + 5.0
# After the stall: a login that went out just before it ended waits 30 s for its welcome, the reconnect
# period is capped at LinkConfig.backoff_cap (40 s, counted from the attempt's start), then CIPSTART and
# login (measured: 13..37 s; it was up to ~110 s with a back-off that grew to 60..120 s per attempt).
RECOVER_BOUND = 60.0


def _run(start: float, length: float, modem: str = "emulated") -> tuple[World, OutageWindow]:
    w = OutageWindow(start, start + length, "stall")
    world = World(WorldConfig(seed=5, hours=(start + length + 900) / 3600, modem=modem, incidents=False,
                              outages=[w], owner_script=(), drain_s=60.0))
    world.run()
    return world, w


@pytest.mark.parametrize(("start", "length", "modem"), [
    (1000.0, 400.0, "emulated"),    # a short stall: with pings only on our own silence, never seen
    (2311.0, 900.0, "emulated"),    # a long one at another phase of the report/ping cadence
    (1500.0, 600.0, "direct"),
])
def test_stall_is_detected_and_repaired(start: float, length: float, modem: str) -> None:
    world, w = _run(start, length, modem)
    try:
        hist = world.unit.link.sup.history
        went_down = [tr for tr in hist if tr.src == "online" and tr.at >= w.start]
        assert went_down, "the stall was never noticed"
        assert went_down[0].at - w.start <= DETECT_BOUND, went_down[0]
        assert went_down[0].at < w.end, "noticed only after the stall was over"
        back = [t for t in world.online_times if t >= w.end]
        assert back, "never online again"
        assert back[0] - w.end <= RECOVER_BOUND
        # And the session really works again: the server hears from the car after the stall.
        assert world.unit.link.online
        assert world.unit.outbox.pending() == []
    finally:
        world.close()
