"""Log lines that cannot storm: a fault repeated a thousand times is one line with a count.

A modem port that vanished wrote 171,000 lines (32 MB) in 25 s; a server out of file descriptors
617,000 lines in 45 s. Logs are for people at 3 a.m. and for a Pi's SD card: a repeated fault
must cost about one line per interval, saying how often it happened meanwhile.

    limited = RateLimitedLog(log, interval=60.0)
    limited.warning("sms-retry", now, "alert SMS failed: %s", reason)

The first occurrence of a key logs at once; repeats within `interval` are counted, and the next
one after the interval logs with `(repeated N times in the last 60 s)`. Keys are independent.
Time comes in as an argument (virtual clock friendly); nothing here reads a clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass


@dataclass
class _Slot:
    last_logged: float
    suppressed: int = 0


class RateLimitedLog:
    """At most one line per key per `interval` seconds, carrying the number of lines it stood for."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._slots: dict[str, _Slot] = {}

    def log(self, level: int, key: str, now: float, msg: str, *args: object) -> bool:
        """Log (or count) one occurrence; returns True if a line was written."""
        slot = self._slots.get(key)
        if slot is not None and now - slot.last_logged < self.interval:
            slot.suppressed += 1
            return False
        if slot is not None and slot.suppressed:
            msg = f"{msg} (repeated {slot.suppressed} times in the last {now - slot.last_logged:.0f} s)"
        self._slots[key] = _Slot(now)
        self.logger.log(level, msg, *args)
        return True

    def error(self, key: str, now: float, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, now, msg, *args)

    def warning(self, key: str, now: float, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, now, msg, *args)

    def info(self, key: str, now: float, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, now, msg, *args)

    def suppressed(self, key: str) -> int:
        """How many occurrences of `key` were counted but not written since its last line."""
        slot = self._slots.get(key)
        return slot.suppressed if slot is not None else 0

    def reset(self, key: str) -> None:
        """The fault is over: its next occurrence logs at once."""
        self._slots.pop(key, None)
