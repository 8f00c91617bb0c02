"""Recording a bus to a file python-can can read back: candump `.log`, Vector `.asc`, `.blf`.

The writer is chosen by extension (python-can's `can.Logger`). A recorder sits between a port and
its consumer, so recording never changes what the unit sees.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import can

from can_bus.port import MAX_STD_ID, CanPort, ErrorHandler, FrameHandler

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)


class Recorder:
    """Tee a port into a trace file; timestamps are calendar time (`loop.wall()`) at recording."""

    def __init__(self, loop: Loop, port: CanPort | None, path: str | Path, channel: str = "can0") -> None:
        """With `port`, take its frames (and pass them on via `set_handler`); without, call `write`."""
        self.path = Path(path)
        self._loop = loop
        self._port = port
        self._writer = can.Logger(str(self.path))
        self._offset = loop.wall() - loop.time()
        self._channel = channel
        self.frames = 0
        self._on_frame: FrameHandler | None = None
        self._on_error: ErrorHandler | None = None
        if port is not None:
            port.set_handler(self._frame, self._error)

    def set_handler(self, on_frame: FrameHandler | None, on_error: ErrorHandler | None = None) -> None:
        """Who gets the frames after they are written (optional)."""
        self._on_frame, self._on_error = on_frame, on_error

    def write(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        msg = can.Message(timestamp=timestamp + self._offset, arbitration_id=arbitration_id,
                          is_extended_id=arbitration_id > MAX_STD_ID, data=data, channel=self._channel)
        self._writer.on_message_received(msg)
        self.frames += 1

    def _frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        self.write(arbitration_id, data, timestamp)
        if self._on_frame is not None:
            self._on_frame(arbitration_id, data, timestamp)

    def _error(self, text: str) -> None:
        if self._on_error is not None:
            self._on_error(text)

    def close(self) -> None:
        self._writer.stop()
        log.info("recorded %d frames to %s", self.frames, self.path)
