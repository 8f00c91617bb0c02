"""Replaying a recorded trace (candump .log, Vector .asc, .blf — python-can readers) as a bus.

Frames come out at their recorded spacing on the loop's clock, so the same trace drives the unit
in real time on a Pi or a hundred times faster on the virtual clock (`speed`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import can

from can_bus.port import CanPort, check_frame

if TYPE_CHECKING:
    from runtime import Loop, Timer

log = logging.getLogger(__name__)

# Frames due at the same moment are delivered in one callback, at most this many.
MAX_BATCH = 1000


class ReplayPort(CanPort):
    """A read-only bus fed from a log file; `send` counts and drops (there is no car to hear it)."""

    def __init__(self, loop: Loop, path: str | Path, speed: float = 1.0, repeat: bool = False,
                 on_end: Callable[[], None] | None = None) -> None:
        super().__init__()
        if speed <= 0:
            raise ValueError("replay speed must be positive")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no trace {self.path}")
        self.name = f"replay:{self.path.name}"
        self._loop = loop
        self.speed = speed
        self.repeat = repeat
        self.on_end = on_end
        self.finished = False
        self.passes = 0
        self._timer: Timer | None = None
        self._start()

    def _start(self) -> None:
        self._reader: Iterator[can.Message] = iter(can.LogReader(str(self.path)))
        self._t0: float | None = None
        self._start_at = self._loop.time()
        self._pending: can.Message | None = None
        self._pass_frames = 0
        self._advance()

    def _next_message(self) -> can.Message | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except Exception as exc:  # a truncated or corrupt file: play what was readable
            self._error(f"trace unreadable from here on: {exc}")
            return None

    def _advance(self) -> None:
        msg = self._next_message()
        if msg is None:
            self._end()
            return
        if self._t0 is None:
            self._t0 = msg.timestamp
        self._pending = msg
        when = self._start_at + (msg.timestamp - self._t0) / self.speed
        self._timer = self._loop.call_at(when, self._emit)

    def _emit(self) -> None:
        if self.closed:
            return
        now = self._loop.time()
        for _ in range(MAX_BATCH):
            msg = self._pending
            if msg is None:
                return
            self._play(msg, now)
            nxt = self._next_message()
            if nxt is None:
                self._pending = None
                self._end()
                return
            self._pending = nxt
            when = self._start_at + (nxt.timestamp - (self._t0 or 0.0)) / self.speed
            if when > now:
                self._timer = self._loop.call_at(when, self._emit)
                return
        self._timer = self._loop.call_soon(self._emit)

    def _play(self, msg: can.Message, now: float) -> None:
        self._pass_frames += 1
        if msg.is_error_frame:
            self.stats.error_frames += 1
            self._error(f"recorded error frame {msg.arbitration_id:#x}")
            return
        if msg.is_remote_frame:
            self.stats.remote_frames += 1
            return
        self._deliver(msg.arbitration_id, bytes(msg.data), now)

    def _end(self) -> None:
        self.passes += 1
        if self.repeat and not self.closed and self._pass_frames:
            self._start()
            return
        self.finished = True
        log.info("%s: end of trace after %d frames", self.name, self.stats.rx)
        if self.on_end is not None:
            self.on_end()

    def send(self, arbitration_id: int, data: bytes) -> None:
        check_frame(arbitration_id, data)
        self.stats.tx_errors += 1

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
