"""`CanPort`: what every CAN bus looks like to the rest of the system, whichever backend carries it.

A port delivers frames to one handler as `(arbitration_id, data, timestamp)` where timestamp is the
loop's clock (`loop.time()`), reports trouble (bus errors, garbled lines, bus-off, error frames) as
text to `on_error`, and the adapter's lifecycle (gone, back) as typed events to `on_state`; nothing a
bus does is raised into the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from runtime.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

# A bus in trouble repeats itself: one log line per kind of trouble per this many seconds, with a count.
LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class BusGone:
    """The adapter vanished (unplugged, emulator stopped, interface down) and is being reopened.

    Sent when it goes and again after every failed reopen, so `retries` and `next_try` stay current.
    """

    name: str                # the bus spec, e.g. slcan:/tmp/can
    reason: str              # what the backend said
    since: float             # loop time the adapter went
    retries: int             # reopen attempts that failed so far
    next_try: float | None   # loop time of the next reopen attempt


@dataclass(frozen=True)
class BusBack:
    """The adapter is open again after being gone; frames flow from now on."""

    name: str
    gone_for: float          # seconds without the adapter
    retries: int             # failed reopen attempts before this one worked


BusEvent = BusGone | BusBack
FrameHandler = Callable[[int, bytes, float], None]
ErrorHandler = Callable[[str], None]
StateHandler = Callable[[BusEvent], None]

# Standard (11-bit) identifiers stop here; anything above is sent as an extended (29-bit) frame.
MAX_STD_ID = 0x7FF
MAX_EXT_ID = 0x1FFFFFFF


class PortStats:
    """Counters for people and the benchmarks; plain ints so the hot path stays cheap."""

    __slots__ = ("rx", "tx", "errors", "error_frames", "remote_frames", "tx_errors", "dropped", "garbled",
                 "lost", "reopened")

    def __init__(self) -> None:
        self.garbled = 0       # lines the adapter sent that were not a frame (rejected, reading goes on)
        self.lost = 0          # times the adapter vanished
        self.reopened = 0      # times it came back
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
        self._on_state: StateHandler | None = None
        self.closed = False
        self._errors_logged = 0
        self._ratelog = RateLimitedLog(log, LOG_INTERVAL)

    def set_handler(self, on_frame: FrameHandler, on_error: ErrorHandler | None = None,
                    on_state: StateHandler | None = None) -> None:
        """Frames to `on_frame`; trouble as text to `on_error`; gone/back events (ports whose adapter can
        vanish) to `on_state`."""
        self._on_frame = on_frame
        self._on_error = on_error
        self._on_state = on_state

    @property
    def gone(self) -> BusGone | None:
        """The adapter's current absence (None while it is there). Ports that cannot vanish: None."""
        return None

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

    def _error(self, text: str, *, count: bool = True, now: float | None = None, key: str = "error") -> None:
        """Count, log (rate-limited per `key` when the time is given) and hand `text` to `on_error`."""
        if count:
            self.stats.errors += 1
        if now is not None:
            self._ratelog.warning(key, now, "%s: %s", self.name, text)
        else:
            # No clock: the first errors in full, then one line in a hundred.
            self._errors_logged += 1
            if self._errors_logged <= 5 or self._errors_logged % 100 == 0:
                log.warning("%s: %s", self.name, text)
        if self._on_error is not None:
            try:
                self._on_error(text)
            except Exception:
                log.exception("%s: error handler failed", self.name)

    def _state(self, event: BusEvent) -> None:
        if self._on_state is not None:
            try:
                self._on_state(event)
            except Exception:  # a consumer bug must not stop the reopening
                log.exception("%s: state handler failed", self.name)


def check_frame(arbitration_id: int, data: bytes) -> None:
    """Our own caller's mistake (a bug, so raise): ids and lengths a classic CAN frame cannot carry."""
    if not 0 <= arbitration_id <= MAX_EXT_ID:
        raise ValueError(f"CAN id {arbitration_id:#x} out of range")
    if len(data) > 8:
        raise ValueError(f"classic CAN frame carries at most 8 bytes, got {len(data)}")
