"""The virtual clock: a discrete-event scheduler where time jumps to the next deadline.

The whole world (car, unit, modem, network, server) runs in one process; the same seed gives the
same run, byte for byte, because nothing here consults the wall clock, thread timing or hash order.
"""

from __future__ import annotations

import heapq
import logging

from runtime.loop import AcceptHandler, ConnectHandler, Listener, Loop
from runtime.pipes import pipe_pair

log = logging.getLogger(__name__)

# 2026-01-01T00:00:00Z: a fixed calendar start so timestamps are reproducible.
DEFAULT_EPOCH = 1_767_225_600.0


class VirtualLoop(Loop):
    """Deterministic loop for simulation and tests."""

    def __init__(self, seed: int = 0, epoch: float = DEFAULT_EPOCH, tcp_latency: float = 0.0) -> None:
        super().__init__(seed)
        self._now = 0.0
        self.epoch = epoch
        self.tcp_latency = tcp_latency
        self._listeners: dict[tuple[str, int], AcceptHandler] = {}
        self._next_port = 40000
        self.timers_run = 0

    def time(self) -> float:
        return self._now

    def wall(self) -> float:
        return self.epoch + self._now

    def run(self, until: float | None = None) -> None:
        """Run timers in (time, scheduling order) until stop(), `until`, or nothing is left."""
        self._stopping = False
        timers = self._timers
        heappop = heapq.heappop
        run_timer = self._run_timer
        while not self._stopping and timers:
            when, _seq, timer = timers[0]
            if timer.cancelled:
                heappop(timers)
                continue
            if until is not None and when > until:
                break
            heappop(timers)
            if when > self._now:
                self._now = when
            self.timers_run += 1
            run_timer(timer)
        if until is not None and not self._stopping and self._now < until:
            self._now = until

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
