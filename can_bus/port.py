"""`CanPort`: what every CAN bus looks like to the rest of the system, whichever backend carries it.

A port delivers frames to one handler as `(arbitration_id, data, timestamp)` where timestamp is the
loop's clock (`loop.time()`), and reports trouble (bus errors, a vanished adapter, bus-off, error
frames) as text to `on_error`; nothing a bus does is raised into the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

FrameHandler = Callable[[int, bytes, float], None]
ErrorHandler = Callable[[str], None]

# Standard (11-bit) identifiers stop here; anything above is sent as an extended (29-bit) frame.
MAX_STD_ID = 0x7FF
MAX_EXT_ID = 0x1FFFFFFF


class PortStats:
    """Counters for people and the benchmarks; plain ints so the hot path stays cheap."""

    __slots__ = ("rx", "tx", "errors", "error_frames", "remote_frames", "tx_errors", "dropped")

    def __init__(self) -> None:
        self.rx = 0
        self.tx = 0
        self.errors = 0
        self.error_frames = 0
        self.remote_frames = 0
        self.tx_errors = 0
        self.dropped = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"PortStats({self.as_dict()})"


class CanPort:
    """Base class: handler bookkeeping and error reporting shared by every backend."""

    name = "can"

    def __init__(self) -> None:
        self.stats = PortStats()
        self._on_frame: FrameHandler | None = None
        self._on_error: ErrorHandler | None = None
        self.closed = False
        self._errors_logged = 0

    def set_handler(self, on_frame: FrameHandler, on_error: ErrorHandler | None = None) -> None:
        self._on_frame = on_frame
        self._on_error = on_error

    def send(self, arbitration_id: int, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True

    # -- for subclasses ------------------------------------------------------------------------------
    def _deliver(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        self.stats.rx += 1
        handler = self._on_frame
        if handler is None:
            self.stats.dropped += 1
            return
        try:
            handler(arbitration_id, data, timestamp)
        except Exception:  # a consumer bug must not stop the bus
            log.exception("%s: frame handler failed on 0x%X", self.name, arbitration_id)

    def _error(self, text: str, *, count: bool = True) -> None:
        if count:
            self.stats.errors += 1
        # The first errors in full, then one line in a hundred: a bus in trouble repeats itself.
        self._errors_logged += 1
        if self._errors_logged <= 5 or self._errors_logged % 100 == 0:
            log.warning("%s: %s", self.name, text)
        if self._on_error is not None:
            try:
                self._on_error(text)
            except Exception:
                log.exception("%s: error handler failed", self.name)


def check_frame(arbitration_id: int, data: bytes) -> None:
    """Our own caller's mistake (a bug, so raise): ids and lengths a classic CAN frame cannot carry."""
    if not 0 <= arbitration_id <= MAX_EXT_ID:
        raise ValueError(f"CAN id {arbitration_id:#x} out of range")
    if len(data) > 8:
        raise ValueError(f"classic CAN frame carries at most 8 bytes, got {len(data)}")
