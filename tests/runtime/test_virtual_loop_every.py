"""`VirtualLoop.call_every`: the same runs, at the same times and in the same order among other timers,
as a callback that reschedules itself with `call_later` first thing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runtime import VirtualLoop


def _world(loop: VirtualLoop, trace: list, periodic: bool) -> Callable[[], None]:
    """Two 0.25 s chains (one periodic or self-rescheduling), one 0.5 s chain rescheduling itself, and
    one-shot timers landing on the same instants: ties are settled by scheduling order."""
    handle: list = []

    def tick(name: str) -> None:
        trace.append((loop.time(), name))
        if name == "a" and not periodic:
            handle[0] = loop.call_later(0.25, tick, "a")
        if name == "a" and loop.time() == 1.0:
            loop.call_later(0.0, trace.append, (loop.time(), "a's follow-up"))

    def half() -> None:
        loop.call_later(0.5, half)
        trace.append((loop.time(), "half"))

    if periodic:
        handle.append(loop.call_every(0.25, 0.25, tick, "a"))
    else:
        handle.append(loop.call_later(0.25, tick, "a"))
    loop.call_later(0.5, half)
    for t in (0.5, 0.75, 1.0, 1.5):
        loop.call_at(t, trace.append, (t, "one-shot"))

    def stop() -> None:
        handle[0].cancel()
    return stop


@pytest.mark.parametrize("stop_at", [1.6, 1.75])
def test_every_runs_as_a_callback_rescheduling_itself_first(stop_at: float) -> None:
    traces = []
    for periodic in (False, True):
        loop = VirtualLoop()
        trace: list = []
        stop = _world(loop, trace, periodic)
        loop.call_at(stop_at, stop)
        loop.run(until=3.0)
        traces.append(trace)
    assert traces[0] == traces[1]
    assert (1.5, "a") in traces[1] and not any(name == "a" and t > stop_at for t, name in traces[1])


def test_every_stops_when_cancelled_inside_its_callback_and_refuses_a_zero_period() -> None:
    loop = VirtualLoop()
    runs: list[float] = []

    def once() -> None:
        runs.append(loop.time())
        timer.cancel()

    timer = loop.call_every(1.0, 2.0, once)
    loop.run(until=10.0)
    assert runs == [1.0]
    with pytest.raises(ValueError):
        loop.call_every(0.0, 0.0, once)
