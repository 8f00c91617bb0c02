"""In-memory byte pipes: what stands in for a serial line or a TCP socket in a one-process world.

Delivery is always a scheduled callback, never a call inside `write()`: a component that writes
in response to data must not be re-entered (the same guarantee a real fd gives).
"""

from __future__ import annotations

import logging

from runtime.loop import Loop
from runtime.stream import Stream

log = logging.getLogger(__name__)


class PipeStream(Stream):
    """One end of an in-memory pipe."""

    def __init__(self, loop: Loop, latency: float, name: str) -> None:
        super().__init__()
        self._loop = loop
        self._latency = latency
        self.name = name
        self.peer: PipeStream | None = None
        self._inbox: list[bytes] = []
        self._flush_pending = False
        self.bytes_written = 0

    def __repr__(self) -> str:
        return f"<PipeStream {self.name}{' closed' if self.closed else ''}>"

    def write(self, data: bytes) -> None:
        peer = self.peer
        if self.closed or peer is None or peer.closed or not data:
            return
        self.bytes_written += len(data)
        if self._latency > 0:
            self._loop.call_later(self._latency, peer._deliver_if_open, bytes(data))
            return
        # Zero latency: coalesce writes made within one callback into one delivery.
        peer._inbox.append(bytes(data))
        if not peer._flush_pending:
            peer._flush_pending = True
            self._loop.call_soon(peer._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self.closed:
            self._inbox.clear()
            return
        data = b"".join(self._inbox)
        self._inbox.clear()
        self._deliver(data)

    def _deliver_if_open(self, data: bytes) -> None:
        if not self.closed:
            self._deliver(data)

    def close(self) -> None:
        """Close this end; the peer's on_close fires after the data already in flight."""
        if self.closed:
            return
        self.closed = True
        self._close_seen = True
        peer = self.peer
        if peer is not None and not peer.closed:
            self._loop.call_later(self._latency, peer._peer_closed)


def pipe_pair(loop: Loop, latency: float = 0.0, name: str = "pipe") -> tuple[PipeStream, PipeStream]:
    """Two connected in-memory streams; works on the real and the virtual loop alike."""
    a = PipeStream(loop, latency, f"{name}/a")
    b = PipeStream(loop, latency, f"{name}/b")
    a.peer, b.peer = b, a
    return a, b
