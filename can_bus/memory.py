"""An in-process CAN link for the simulated world's hot path.

python-can's `virtual` bus deep-copies every message for every receiver (~30 µs a frame); here a
frame is a tuple handed over as is. Delivery is batched: the first frame of a burst schedules one
callback on the loop, later frames in the same instant join it; never re-entrant inside send().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from can_bus.port import CanPort, check_frame

if TYPE_CHECKING:
    from runtime import Loop


class MemoryPort(CanPort):
    """One end of a `frame_link`; what one end sends, the other receives."""

    def __init__(self, loop: Loop, name: str, latency: float = 0.0) -> None:
        super().__init__()
        self.name = name
        self._loop = loop
        self._latency = latency
        self.peer: MemoryPort | None = None
        self._inbox: list[tuple[int, bytes]] = []
        self._scheduled = False

    def send(self, arbitration_id: int, data: bytes) -> None:
        check_frame(arbitration_id, data)
        peer = self.peer
        if self.closed or peer is None or peer.closed:
            self.stats.tx_errors += 1
            return
        self.stats.tx += 1
        peer._inbox.append((arbitration_id, bytes(data)))
        if not peer._scheduled:
            peer._scheduled = True
            self._loop.call_later(self._latency, peer._flush)

    def _flush(self) -> None:
        self._scheduled = False
        inbox, self._inbox = self._inbox, []
        if self.closed:
            return
        now = self._loop.time()
        for arbitration_id, data in inbox:
            self._deliver(arbitration_id, data, now)

    def close(self) -> None:
        self.closed = True
        self._inbox.clear()


def frame_link(loop: Loop, latency: float = 0.0, name: str = "link") -> tuple[MemoryPort, MemoryPort]:
    """Two connected ports (think: the car's CAN transceiver and the unit's)."""
    a = MemoryPort(loop, f"{name}:a", latency)
    b = MemoryPort(loop, f"{name}:b", latency)
    a.peer, b.peer = b, a
    return a, b
