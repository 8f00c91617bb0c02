"""A thin adapter: a `CarSession` over a runtime TCP stream (loopback tests, benchmarks, fleets).

The firmware drives `CarSession` through the modem instead; this adapter is for places where the unit
talks TCP directly (tests and in-process fleets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from runtime import Loop, Stream, Timer
from tcu.ovms.car_client import CarEvent, CarSession, CommandRequest

log = logging.getLogger(__name__)

MetricsSource = Callable[[], Mapping[str, object]]


class CarLink:
    """Connects `session` to host:port on `loop`, ticks it at its deadlines, reports its events.

    `on_event(link, event)` receives every CarEvent; a CommandRequest left unanswered by the callback is
    not replied to automatically (the caller owns command semantics).
    """

    def __init__(self, loop: Loop, host: str, port: int, session: CarSession, metrics: MetricsSource,
                 on_event: Callable[[CarLink, CarEvent], None] | None = None) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.session = session
        self.metrics = metrics
        self.on_event = on_event
        self.stream: Stream | None = None
        self._timer: Timer | None = None
        self.error: str | None = None
        self.events: list[CarEvent] = []

    def connect(self) -> None:
        self.loop.connect_tcp(self.host, self.port, self._connected)

    def _connected(self, stream: Stream | None, error: str | None) -> None:
        if stream is None:
            self.error = error
            log.warning("car %s cannot reach %s:%d: %s", self.session.vehicle_id, self.host, self.port, error)
            return
        self.stream = stream
        stream.set_handlers(self._on_data, self._on_close)
        stream.write(self.session.connect(self.loop.time()))
        self._arm()

    def _on_data(self, data: bytes) -> None:
        self.write(self.session.receive_data(data, self.loop.time()))
        self._after()

    def _on_close(self) -> None:
        self.session.disconnected("server closed the connection")
        self.stream = None
        self._after()

    def write(self, data: bytes) -> None:
        if data and self.stream is not None and not self.stream.closed:
            self.stream.write(data)

    def tick(self, force: bool = False) -> None:
        """Report now (e.g. metrics changed); otherwise the link ticks itself at the deadline."""
        self.write(self.session.tick(self.metrics(), self.loop.time(), force=force))
        self._after()

    def _after(self) -> None:
        for ev in self.session.events():
            self.events.append(ev)
            if self.on_event is not None:
                self.on_event(self, ev)
            elif isinstance(ev, CommandRequest):
                log.info("no command handler: command %d ignored", ev.cmd)
        if self.session.next_deadline() is None and self.stream is not None:
            self.stream.close()
            self.stream = None
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.session.next_deadline()
        if when is not None:
            self._timer = self.loop.call_at(when, self.tick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self.session.disconnected("closed by us")
