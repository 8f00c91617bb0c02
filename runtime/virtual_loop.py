"""The virtual clock: a discrete-event scheduler where time jumps to the next deadline.

The whole world (car, unit, modem, network, server) runs in one process; the same seed gives the
same run, byte for byte, because nothing here consults the wall clock, thread timing or hash order.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from runtime.loop import AcceptHandler, ConnectHandler, Listener, Loop, Timer
from runtime.pipes import pipe_pair

log = logging.getLogger(__name__)

# 2026-01-01T00:00:00Z: a fixed calendar start so timestamps are reproducible.
DEFAULT_EPOCH = 1_767_225_600.0


class _Every(Timer):
    """A timer that comes back every `period` seconds until cancelled (`VirtualLoop.call_every`)."""

    __slots__ = ("period",)

    def __init__(self, when: float, seq: int, callback: Callable[..., Any], args: tuple, period: float) -> None:
        super().__init__(when, seq, callback, args)
        self.period = period


class VirtualLoop(Loop):
    """Deterministic loop for simulation and tests.

    Order is (time, scheduling order), as on the heap of `Loop`. A timer due *now* (`call_soon`,
    `call_later(0)`: a pipe's or a CAN link's delivery) skips the heap and waits in a FIFO: every
    heap entry due now was scheduled before the clock got here, so before anything in the FIFO, and
    the loop runs those first. Same order, no heap push and pop for the commonest timer of a world.
    """

    def __init__(self, seed: int = 0, epoch: float = DEFAULT_EPOCH, tcp_latency: float = 0.0) -> None:
        super().__init__(seed)
        self._now = 0.0
        self.epoch = epoch
        self.tcp_latency = tcp_latency
        self._listeners: dict[tuple[str, int], AcceptHandler] = {}
        self._next_port = 40000
        self.timers_run = 0
        self._ready: deque[Timer] = deque()  # due at `_now`, in scheduling order (see the class doc)

    def time(self) -> float:
        return self._now

    def wall(self) -> float:
        return self.epoch + self._now

    # -- timers: `Loop`'s, with the due-now FIFO; every component of a world calls these ------------------
    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        self._seq += 1
        timer = Timer(when, self._seq, callback, args)
        if when == self._now:
            self._ready.append(timer)
        else:
            heapq.heappush(self._timers, (when, self._seq, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        # Loop.call_later's `time() + max(0.0, delay)`, inlined: the hottest call of a world.
        now = self._now
        when = now + delay if delay > 0.0 else now
        self._seq += 1
        timer = Timer(when, self._seq, callback, args)
        if when == now:
            self._ready.append(timer)
        else:
            heapq.heappush(self._timers, (when, self._seq, timer))
        return timer

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Timer:
        self._seq += 1
        timer = Timer(self._now, self._seq, callback, args)
        self._ready.append(timer)
        return timer

    def call_every(self, delay: float, period: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """`callback(*args)` in `delay` seconds, then every `period` seconds until the timer is cancelled.

        Exactly a callback that calls `call_later(period, itself)` as its first act: the next run is
        scheduled (time and scheduling order) just before each run. The loop reuses the timer and moves
        it down the heap in one step (`heapreplace`) instead of a pop and a push: a virtual car's frame
        groups, the commonest timers of a world.
        """
        if not period > 0.0:
            raise ValueError(f"call_every: period must be > 0, not {period!r}")
        now = self._now
        when = now + delay if delay > 0.0 else now
        self._seq += 1
        timer = _Every(when, self._seq, callback, args, period)
        if when == now:
            self._ready.append(timer)
        else:
            heapq.heappush(self._timers, (when, self._seq, timer))
        return timer

    def _again(self, timer: _Every) -> tuple[float, int, Timer]:
        """The heap entry of a periodic timer's next run, from now."""
        self._seq += 1
        timer.when = when = self._now + timer.period
        return (when, self._seq, timer)

    def nothing_else_due(self) -> bool:
        """True when no other timer is due at this instant: a callback's zero-delay follow-up, done at
        the callback's very end instead of scheduled, would run exactly when the loop would run it."""
        if self._ready:
            return False
        timers = self._timers
        return not timers or timers[0][0] > self._now

    def idle_now(self) -> float | None:
        """The time now if no other timer is due at this instant (`nothing_else_due`), else None: one
        call for the CAN link's commonest question (may I deliver this burst inline, and when is it)."""
        if self._ready:
            return None
        timers = self._timers
        now = self._now
        return now if not timers or timers[0][0] > now else None

    def next_timer(self) -> float | None:
        ready = self._ready
        while ready and ready[0].cancelled:
            ready.popleft()
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if timers and (not ready or timers[0][0] < self._now):
            return timers[0][0]
        return self._now if ready else None

    def run(self, until: float | None = None) -> None:
        """Run timers in (time, scheduling order) until stop(), `until`, or nothing is left."""
        self._stopping = False
        if until is not None and until < self._now:
            self._run_overdue(until)
            return
        timers = self._timers
        ready = self._ready
        heappop = heapq.heappop
        heappush = heapq.heappush
        heapreplace = heapq.heapreplace
        popleft = ready.popleft
        again = self._again
        now = self._now
        while not self._stopping:
            if timers:
                head = timers[0]
                when = head[0]
                if when <= now:          # due now and scheduled before the FIFO's (or overdue)
                    heappop(timers)
                    timer = head[2]
                elif ready:
                    timer = popleft()
                else:
                    timer = head[2]
                    if timer.cancelled:
                        heappop(timers)
                        continue
                    if until is not None and when > until:
                        break
                    self._now = now = when
                    if timer.__class__ is _Every:  # its next run replaces this one: one heap step
                        self._seq = seq = self._seq + 1  # `_again`, inlined
                        timer.when = when = now + timer.period  # type: ignore[attr-defined]
                        heapreplace(timers, (when, seq, timer))
                    else:
                        heappop(timers)
                    self.timers_run += 1
                    try:
                        timer.callback(*timer.args)
                    except Exception:
                        log.exception("timer callback %r failed", timer)
                    now = self._now
                    continue
            elif ready:
                timer = popleft()
            else:
                break
            if timer.cancelled:
                continue
            if timer.__class__ is _Every:
                heappush(timers, again(timer))  # type: ignore[arg-type]
            self.timers_run += 1
            try:  # Loop._run_timer, inlined
                timer.callback(*timer.args)
            except Exception:
                # A failing component is logged, not allowed to stop every other component.
                log.exception("timer callback %r failed", timer)
            now = self._now
        if until is not None and not self._stopping and self._now < until:
            self._now = until

    def _run_overdue(self, until: float) -> None:
        """`run(until)` with `until` already past: only timers scheduled for before it (call_at in the
        past), in order; the clock stays where it is."""
        timers = self._timers
        while not self._stopping and timers:
            when, _seq, timer = timers[0]
            if when > until:
                break
            heapq.heappop(timers)
            if not timer.cancelled:
                if isinstance(timer, _Every):
                    heapq.heappush(timers, self._again(timer))
                self.timers_run += 1
                self._run_timer(timer)

    # -- TCP: an in-process table of listeners; nothing touches the OS -----------------------------
    def listen_tcp(self, host: str, port: int, on_accept: AcceptHandler) -> Listener:
        if port == 0:
            self._next_port += 1
            port = self._next_port
        key = (_norm_host(host), port)
        if key in self._listeners:
            raise OSError(f"address already in use: {host}:{port}")
        self._listeners[key] = on_accept

        def close() -> None:
            self._listeners.pop(key, None)

        return Listener(host, port, close)

    def connect_tcp(self, host: str, port: int, on_done: ConnectHandler) -> None:
        def attempt() -> None:
            on_accept = self._listeners.get((_norm_host(host), port))
            if on_accept is None:
                on_done(None, "connection refused")
                return
            client, server = pipe_pair(self, self.tcp_latency, name=f"tcp:{host}:{port}")
            on_accept(server)
            on_done(client, None)

        self.call_later(self.tcp_latency, attempt)


def _norm_host(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "0.0.0.0", "") else host
