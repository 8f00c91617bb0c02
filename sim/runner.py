"""Running the simulated world in slices, so a screen can follow it and Ctrl-C can stop it between two.

`World.run()` runs the day in one call: nothing can be drawn while it runs and a Ctrl-C lands in the
middle of some component's callback. Here the same run (the weather period, the network restored,
the drain period) is cut into slices of simulated time. The virtual loop runs timers in (time,
scheduling order), so stopping it at a slice boundary and going on changes nothing: a sliced run gives
the same report as `World.run()` (tests/sim/test_sim_cli.py checks it).

At full speed a slice is sized to take about `SLICE_WALL_S` of wall time, so the per-slice work (the
progress bar, the stop check) costs well under a percent. Paced (`--speed FACTOR`), the real loop
wakes every `PACED_TICK_S` and runs the virtual world up to `factor` × the wall time elapsed.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Protocol

from runtime import Loop

SLICE_WALL_S = 0.05      # full speed: wall time one slice aims for
PACED_TICK_S = 0.1       # paced: how often the real loop advances the virtual one
_MIN_SLICE, _MAX_SLICE = 1.0, 6 * 3600.0   # simulated seconds


class _Config(Protocol):
    drain_s: float


class RunnableWorld(Protocol):
    """What the runner needs of `sim.world.World`."""

    @property
    def loop(self) -> Loop: ...
    @property
    def cfg(self) -> _Config: ...
    @property
    def end_time(self) -> float: ...
    def restore_network(self) -> None: ...


def total_seconds(world: RunnableWorld) -> float:
    """The loop time at which the run ends: the weather period, then the drain period."""
    return world.end_time + world.cfg.drain_s


class SliceRunner:
    """Advances one world to an end time, slice by slice. `step(target)` runs up to `target` (never
    past the end of the weather period before the network has been restored there)."""

    def __init__(self, world: RunnableWorld) -> None:
        self.world = world
        self.end_weather = world.end_time
        self.end = total_seconds(world)
        self.restored = False

    @property
    def done(self) -> bool:
        return self.world.loop.time() >= self.end

    def step(self, target: float) -> None:
        loop = self.world.loop
        target = min(target, self.end)
        if not self.restored:
            loop.run(until=min(target, self.end_weather))
            if loop.time() < self.end_weather:
                return
            # As `World.run()`: the weather period is over, the network comes back for the drain.
            self.world.restore_network()
            self.restored = True
        loop.run(until=target)


def run_full_speed(world: RunnableWorld, on_slice: Callable[[], None] | None = None,
                   stop: Callable[[], bool] = lambda: False) -> bool:
    """Run the world as fast as it goes. Returns True when it reached its end, False when `stop()`
    said so between two slices."""
    runner = SliceRunner(world)
    loop = world.loop
    chunk = 60.0
    while not runner.done:
        started = _time.perf_counter()
        runner.step(loop.time() + chunk)
        took = _time.perf_counter() - started
        if on_slice is not None:
            on_slice()
        if stop():
            return runner.done
        # Aim the next slice at SLICE_WALL_S of wall time; at most ×4 per slice so a quiet stretch
        # (nothing scheduled) does not make the next busy one run for seconds without a check.
        scale = SLICE_WALL_S / took if took > 0 else 4.0
        chunk = min(_MAX_SLICE, max(_MIN_SLICE, chunk * min(4.0, max(0.25, scale))))
    return True


def run_paced(world: RunnableWorld, factor: float, on_slice: Callable[[], None] | None = None,
              stop: Callable[[], bool] = lambda: False) -> bool:
    """Run the world at `factor` × real time, driven by the real loop's timers (no sleeps).
    Returns True when it reached its end, False when `stop()` said so."""
    from runtime import RealLoop

    runner = SliceRunner(world)
    real = RealLoop()
    start_real = real.time()
    start_sim = world.loop.time()
    finished = False

    def slice_() -> None:
        nonlocal finished
        runner.step(start_sim + (real.time() - start_real) * factor)
        if on_slice is not None:
            on_slice()
        if runner.done or stop():
            finished = runner.done
            real.stop()
            return
        real.call_later(PACED_TICK_S, slice_)

    real.call_soon(slice_)
    try:
        real.run()
    finally:
        real.close()
    return finished
