"""One database's writes when the disk fails: count, back off, say so once, and say when it is over.

A full, read-only or failing state directory must not stop the unit (issue 12): the outbox keeps
items in memory and delivers them, the SMS log drops a line rather than a reply. Each store owns a
`StorageGuard`; it decides when the next write may touch the disk again (`runtime.backoff`, so a full
disk is not hammered at every metric change), logs at most one line a minute per database, and tells
its listener (the unit's health) when a fault starts, changes and ends.

Sans-IO: the caller passes the time in, or gives the guard its loop's clock (`clock=loop.time`)
when the times its store is called with are something else (the outbox stamps deliveries with
wall-clock time); nothing here touches a file.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from runtime.backoff import Backoff
from runtime.ratelog import RateLimitedLog
from tcu.plural import plural
from tcu.sqlite_store import storage_fault

log = logging.getLogger(__name__)

# (database name, fault text or None when recovered, now)
StorageListener = Callable[[str, "str | None", float], None]


class StorageGuard:
    """Whether `name`'s writes may try the disk now, and the bookkeeping of its failures."""

    def __init__(self, name: str, rng: random.Random | None = None, *, first: float = 2.0,
                 cap: float = 120.0, clock: Callable[[], float] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.fault: str | None = None        # "disk full", "read-only", … while writes fail
        self.backoff = Backoff(first=first, cap=cap, rng=rng)
        self.listeners: list[StorageListener] = []
        self._log = RateLimitedLog(log, 60.0)

    @property
    def failing(self) -> bool:
        return self.fault is not None

    def may_try(self, now: float) -> bool:
        """True when a write should go to the disk (healthy, or the back-off wait is over)."""
        return self.fault is None or self.backoff.ready(self._t(now))

    def _t(self, now: float) -> float:
        return self.clock() if self.clock is not None else now

    def failed(self, error: BaseException, now: float) -> str:
        """A write failed. Re-raises `error` when it is our bug, not the disk's; returns the fault text."""
        fault = storage_fault(error)
        if fault is None:
            raise error
        now = self._t(now)
        new = fault != self.fault
        self.fault = fault
        delay = self.backoff.failed(now)
        self._log.error(self.name, now, "%s: write failed (%s: %s); kept in memory, next try in %.0f s",
                        self.name, fault, error, delay)
        if new:
            for cb in tuple(self.listeners):
                cb(self.name, fault, now)
        return fault

    def succeeded(self, now: float) -> None:
        """A write reached the disk: the fault (if any) is over."""
        if self.fault is None:
            return
        now = self._t(now)
        log.warning("%s: writes reach the disk again after %s", self.name, plural(self.backoff.attempts, "failure"))
        self.fault = None
        self.backoff.succeeded()
        self._log.reset(self.name)
        for cb in tuple(self.listeners):
            cb(self.name, None, now)
