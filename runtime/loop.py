"""The one event-loop interface, shared by the real and the virtual clock (DESIGN.md §2).

Timers live here; `RealLoop` adds file descriptors and wall-clock waiting, `VirtualLoop` jumps
from deadline to deadline. Components only ever call the methods of `Loop`.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import random
from collections.abc import Callable
from typing import Any

from runtime.stream import Stream

log = logging.getLogger(__name__)

AcceptHandler = Callable[[Stream], None]
ConnectHandler = Callable[[Stream | None, str | None], None]


class Timer:
    """A scheduled callback; `cancel()` is cheap and idempotent."""

    __slots__ = ("when", "seq", "callback", "args", "cancelled")

    def __init__(self, when: float, seq: int, callback: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<Timer {name} at {self.when:.3f}{' cancelled' if self.cancelled else ''}>"


class Listener:
    """A listening TCP endpoint; `port` is the bound port (useful with port 0)."""

    def __init__(self, host: str, port: int, close: Callable[[], None]) -> None:
        self.host = host
        self.port = port
        self._close = close
        self.accept_failures = 0   # accepts that failed (out of fds, ...); each one backs off

    def close(self) -> None:
        self._close()


def derive_seed(seed: int, name: str) -> int:
    """Stable per-component seed: the same world seed and name give the same stream everywhere.

    sha256 rather than hash(): string hashing is randomised per process (PYTHONHASHSEED).
    """
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Loop:
    """Timers, RNGs and the run/stop protocol common to both clocks."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        # Heap of (when, seq, timer) tuples: tuple comparison runs in C, a Timer.__lt__ would not.
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._stopping = False
        self._rngs: dict[str, random.Random] = {}

    # -- time ------------------------------------------------------------------------------------
    def time(self) -> float:  # pragma: no cover - abstract
        """Monotonic seconds: deadlines and timeouts."""
        raise NotImplementedError

    def wall(self) -> float:  # pragma: no cover - abstract
        """Calendar time in epoch seconds: timestamps only, never deadlines."""
        raise NotImplementedError

    # -- timers ----------------------------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        self._seq += 1
        timer = Timer(when, self._seq, callback, args)
        heapq.heappush(self._timers, (when, self._seq, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.time() + max(0.0, delay), callback, *args)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.time(), callback, *args)

    def next_timer(self) -> float | None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def _run_timer(self, timer: Timer) -> None:
        try:
            timer.callback(*timer.args)
        except Exception:
            # A failing component is logged, not allowed to stop every other component.
            log.exception("timer callback %r failed", timer)

    # -- randomness --------------------------------------------------------------------------------
    def random(self, name: str) -> random.Random:
        """A per-component RNG derived from the world seed (same seed, same numbers)."""
        rng = self._rngs.get(name)
        if rng is None:
            rng = self._rngs[name] = random.Random(derive_seed(self.seed, name))
        return rng

    # -- run ---------------------------------------------------------------------------------------
    def run(self, until: float | None = None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_for(self, seconds: float) -> None:
        self.run(until=self.time() + seconds)

    def stop(self) -> None:
        self._stopping = True

    # -- file descriptors (real clock only) ---------------------------------------------------------
    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        raise TypeError(f"{type(self).__name__} has no file descriptors; use pipe_pair()")

    def remove_reader(self, fileobj: Any) -> None:
        raise TypeError(f"{type(self).__name__} has no file descriptors")

    def add_writer(self, fileobj: Any, callback: Callable[[], None]) -> None:
        raise TypeError(f"{type(self).__name__} has no file descriptors; use pipe_pair()")

    def remove_writer(self, fileobj: Any) -> None:
        raise TypeError(f"{type(self).__name__} has no file descriptors")

    # -- TCP ---------------------------------------------------------------------------------------
    def listen_tcp(self, host: str, port: int, on_accept: AcceptHandler) -> Listener:  # pragma: no cover
        raise NotImplementedError

    def connect_tcp(self, host: str, port: int, on_done: ConnectHandler) -> None:  # pragma: no cover
        raise NotImplementedError
