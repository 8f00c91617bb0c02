"""An in-process CAN link for the simulated world's hot path.

python-can's `virtual` bus deep-copies every message for every receiver (~30 µs a frame); here a
frame is a tuple handed over as is. Delivery is batched: the first frame of a burst schedules one
callback on the loop, later frames in the same instant join it; never re-entrant inside send().
A sender with whole bursts of frames it has checked once (the virtual car's cached encodings) hands
them over with `send_checked`, one call a burst instead of one a frame, and at the end of its loop
callback may have the burst delivered at once when the virtual loop would run nothing in between.
A receiver that takes whole bursts (`set_burst_handler`, the unit's CAN ingest) gets one call a burst
instead of one a frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from can_bus.port import CanPort, ErrorHandler, FrameHandler, StateHandler, check_frame

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

Frame = tuple[int, bytes]
# (frames, now): every frame of one burst, all received at `now`, in order. The handler guards each
# frame itself (a failing frame must not cost the others); if it raises anyway, the port logs it and
# the rest of that burst is lost to it.
BurstHandler = Callable[[Sequence[Frame], float], None]


class MemoryPort(CanPort):
    """One end of a `frame_link`; what one end sends, the other receives."""

    def __init__(self, loop: Loop, name: str, latency: float = 0.0) -> None:
        super().__init__()
        self.name = name
        self._loop = loop
        self._latency = latency
        self.peer: MemoryPort | None = None
        self._inbox: list[Frame] = []
        self._scheduled = False
        self._on_burst: BurstHandler | None = None
        # `VirtualLoop.idle_now` where a burst may be delivered inline (see `send_checked`): no latency.
        self._idle_now: Callable[[], float | None] | None = getattr(loop, "idle_now", None) if latency == 0 else None

    def set_handler(self, on_frame: FrameHandler, on_error: ErrorHandler | None = None,
                    on_state: StateHandler | None = None) -> None:
        """`CanPort.set_handler`; a burst handler set before is dropped (it was for the old receiver)."""
        super().set_handler(on_frame, on_error, on_state)
        self._on_burst = None

    def set_burst_handler(self, on_burst: BurstHandler | None) -> None:
        """Bursts to `on_burst` (one call for all frames received at one instant) instead of frame by
        frame to the frame handler: the same frames in the same order at the same time, one Python call
        fewer a frame. Set it after `set_handler`, which drops it."""
        self._on_burst = on_burst

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

    def send_checked(self, frames: Sequence[Frame], *, last: bool = False) -> None:
        """`send` each of `frames` in order, for frames the caller already passed through
        `check_frame` and whose data is immutable `bytes` (they are handed over without a copy).

        `last`: this is the calling loop callback's last action. If the link has no latency and the
        loop says nothing else is due now (`VirtualLoop.idle_now`), the burst is delivered right
        here: the very moment the loop would have run its delivery callback, minus the timer. This is
        the simulated world's commonest path (a car's every burst), so `_deliver_burst`'s burst-handler
        case is repeated here, one call fewer.
        """
        peer = self.peer
        n = len(frames)
        if self.closed or peer is None or peer.closed:
            self.stats.tx_errors += n
            return
        self.stats.tx += n
        if peer._scheduled:
            peer._inbox.extend(frames)
            return
        if last and self._idle_now is not None:
            now = self._idle_now()
            if now is not None:
                on_burst = peer._on_burst
                if on_burst is None or not n:
                    peer._deliver_burst(frames)
                    return
                peer.stats.rx += n
                try:
                    on_burst(frames, now)
                except Exception:  # a consumer bug must not stop the bus
                    log.exception("%s: burst handler failed", peer.name)
                return
        peer._inbox.extend(frames)
        peer._scheduled = True
        self._loop.call_later(self._latency, peer._flush)

    def _flush(self) -> None:
        self._scheduled = False
        inbox, self._inbox = self._inbox, []
        if not self.closed:
            self._deliver_burst(inbox)

    def _deliver_burst(self, inbox: Sequence[Frame]) -> None:
        """The burst to the handler: `CanPort._deliver` per frame, inlined (the handler is looked up
        once a burst)."""
        stats = self.stats
        stats.rx += len(inbox)
        on_burst = self._on_burst
        if on_burst is not None:
            if inbox:
                try:
                    on_burst(inbox, self._loop.time())
                except Exception:  # a consumer bug must not stop the bus
                    log.exception("%s: burst handler failed", self.name)
            return
        handler = self._on_frame
        if handler is None:
            stats.dropped += len(inbox)
            return
        now = self._loop.time()
        for arbitration_id, data in inbox:
            try:
                handler(arbitration_id, data, now)
            except Exception:  # a consumer bug must not stop the bus
                log.exception("%s: frame handler failed on 0x%X", self.name, arbitration_id)

    def close(self) -> None:
        self.closed = True
        self._inbox.clear()


def frame_link(loop: Loop, latency: float = 0.0, name: str = "link") -> tuple[MemoryPort, MemoryPort]:
    """Two connected ports (think: the car's CAN transceiver and the unit's)."""
    a = MemoryPort(loop, f"{name}:a", latency)
    b = MemoryPort(loop, f"{name}:b", latency)
    a.peer, b.peer = b, a
    return a, b
