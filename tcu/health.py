"""The unit's health: what it cannot do right now, since when, and what it is doing about it.

"Never silently" (issue 12) is a property of this one place. Whatever keeps the unit from its job —
the CAN adapter gone, the modem port gone, the state directory failing, SMS that cannot be sent —
is reported here under a key; the first report logs at ERROR, the recovery at WARNING with how long
it lasted, and everything in between is state, not log lines. DIAG, `tcu state`, the live view and
the service watchdog's status all read `summary()`; the unit tells the owner by SMS (once per
problem) when one has lasted longer than its `notify_after` setting (`due_for_owner`).

Sans-IO: callers pass the current (loop) time in; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One thing the unit cannot do. `key` names the device or duty (`can`, `modem`, `storage`, `sms`)."""

    key: str
    text: str                       # for people: "CAN adapter slcan:/tmp/can is gone"
    since: float                    # loop time of the first report
    retries: int = 0                # attempts to recover so far
    next_try: float | None = None   # loop time of the next attempt, if one is scheduled
    owner_told: bool = False        # an SMS about it went to the owner

    def describe(self, now: float) -> str:
        """`CAN adapter … is gone for 5 min (3 retries, next in 20 s)`."""
        extra = []
        if self.retries:
            extra.append(f"{self.retries} retr{'ies' if self.retries != 1 else 'y'}")
        if self.next_try is not None:
            extra.append(f"next in {max(0.0, self.next_try - now):.0f} s")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.text} for {_duration(now - self.since)}{tail}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Health:
    """Open problems by key. One instance per unit; components report into it."""

    def __init__(self) -> None:
        self._problems: dict[str, Problem] = {}

    def report(self, key: str, text: str, now: float, *, retries: int = 0,
               next_try: float | None = None) -> Problem:
        """Something is wrong (again). Logs at ERROR only when the problem is new or its text changed."""
        old = self._problems.get(key)
        if old is None:
            log.error("health: %s (the unit keeps trying)", text)
            problem = Problem(key, text, now, retries, next_try)
        else:
            if old.text != text:
                log.error("health: %s (since %s ago)", text, _duration(now - old.since))
            problem = replace(old, text=text, retries=retries, next_try=next_try)
        self._problems[key] = problem
        return problem

    def clear(self, key: str, now: float) -> Problem | None:
        """The problem is over; returns it (None if there was none)."""
        problem = self._problems.pop(key, None)
        if problem is not None:
            log.warning("health: recovered from '%s' after %s", problem.text, _duration(now - problem.since))
        return problem

    def get(self, key: str) -> Problem | None:
        return self._problems.get(key)

    @property
    def ok(self) -> bool:
        return not self._problems

    def problems(self) -> list[Problem]:
        """Oldest first (the order people read them in)."""
        return sorted(self._problems.values(), key=lambda p: (p.since, p.key))

    def summary(self, now: float) -> str:
        """One line: `OK`, or every problem with its age — for DIAG, `tcu state`, the watchdog status."""
        if not self._problems:
            return "OK"
        return "; ".join(p.describe(now) for p in self.problems())

    def due_for_owner(self, now: float, notify_after: float) -> list[Problem]:
        """Problems older than `notify_after` the owner has not been told about; marks them told.

        The caller sends the SMS; a problem that clears and comes back is a new problem and is told again.
        """
        due = [p for p in self.problems() if not p.owner_told and now - p.since >= notify_after]
        for p in due:
            self._problems[p.key] = replace(p, owner_told=True)
        return due
