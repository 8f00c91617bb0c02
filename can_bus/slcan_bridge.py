"""An SLCAN adapter in software: a byte stream (a pty) on one side, a `CanPort` on the other.

`vcar serve` puts the virtual car behind this so the unit opens the pty with python-can's `slcan`
interface exactly as it would a USB CAN adapter.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from can_bus.port import CanPort
from can_bus.slcan import SlcanDevice

if TYPE_CHECKING:
    from runtime import Loop, Stream

log = logging.getLogger(__name__)


class SlcanBridge:
    """Host bytes → `SlcanDevice` → frames onto `port`; frames from `port` → lines to the host."""

    def __init__(self, loop: Loop, stream: Stream, port: CanPort, device: SlcanDevice | None = None) -> None:
        self._loop = loop
        self.stream = stream
        self.port = port
        self.device = device or SlcanDevice()
        self.frames_to_host = 0
        self.frames_from_host = 0
        self.dropped_closed = 0
        stream.set_handlers(self._on_bytes, self._on_close)
        port.set_handler(self._on_frame, self._on_error)

    def _on_bytes(self, data: bytes) -> None:
        reply, frames = self.device.feed(data)
        if reply:
            self.stream.write(reply)
        for frame in frames:
            if frame.remote:
                continue  # nobody on our bus answers remote frames
            self.frames_from_host += 1
            self.port.send(frame.arbitration_id, frame.data)

    def _on_frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        line = self.device.encode_frame(arbitration_id, data, timestamp_ms=int(timestamp * 1000))
        if not line:
            self.dropped_closed += 1  # the host has not opened the channel: a real adapter drops too
            return
        self.frames_to_host += 1
        self.stream.write(line)

    def _on_error(self, text: str) -> None:
        log.warning("slcan bridge: bus error: %s", text)

    def _on_close(self) -> None:
        log.info("slcan bridge: host side closed")
