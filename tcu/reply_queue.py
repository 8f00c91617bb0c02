"""Command replies by SMS, retried with back-off while sending fails, dropped once they are stale.

A reply the modem failed to send (SMS centre down, modem port gone) used to be lost: the owner asked
STAT and heard nothing (issue 12 item 6). Here a reply waits in a small queue and is tried again after
a capped back-off (`runtime.backoff`: 10 s doubling to 5 min); a reply older than `max_age_s` is
dropped with a log line instead — the answer to a 10-minute-old question is no longer worth sending,
and the owner can ask again.

Sans-IO: the unit calls `take(now)` for the next reply to send (one at a time, oldest first, so the
modem is never asked twice at once), `result(...)` with what the modem said, and arms a timer for
`next_deadline()`. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass

from runtime.backoff import Backoff

log = logging.getLogger(__name__)

MAX_AGE_S = 600.0      # a reply not sent within 10 min is stale
RETRY_FIRST_S = 10.0
RETRY_CAP_S = 300.0
MAX_QUEUED = 50        # the reply budget keeps this far away; a hard stop all the same


@dataclass(frozen=True)
class Reply:
    id: int
    number: str
    text: str
    queued_at: float


class ReplyQueue:
    def __init__(self, max_age_s: float = MAX_AGE_S, rng: random.Random | None = None) -> None:
        self.max_age_s = max_age_s
        self.retry = Backoff(first=RETRY_FIRST_S, cap=RETRY_CAP_S, rng=rng)
        self._queue: deque[Reply] = deque()
        self._in_flight: Reply | None = None
        self._seq = 0
        self.last_failure = ""
        self.stats = {"sent": 0, "failed_attempts": 0, "expired": 0}

    def add(self, number: str, text: str, now: float) -> Reply:
        self._seq += 1
        reply = Reply(self._seq, number, text, now)
        self._queue.append(reply)
        while len(self._queue) > MAX_QUEUED:
            self._expire(self._queue.popleft(), now, "queue full")
        return reply

    def take(self, now: float) -> Reply | None:
        """The next reply to send now, or None (one in flight, back-off running, nothing queued)."""
        while self._queue and now - self._queue[0].queued_at >= self.max_age_s:
            self._expire(self._queue.popleft(), now, f"not sent within {self.max_age_s / 60:.0f} min")
        if self._in_flight is not None or not self._queue or not self.retry.ready(now):
            return None
        self._in_flight = self._queue.popleft()
        return self._in_flight

    def result(self, reply_id: int, ok: bool, now: float, reason: str = "") -> None:
        """What the modem said about the reply `take` handed out; a failed one goes back to the front."""
        reply, self._in_flight = self._in_flight, None
        if reply is None or reply.id != reply_id:
            raise ValueError(f"reply {reply_id} is not the one in flight")
        if ok:
            self.retry.succeeded()
            self.last_failure = ""
            self.stats["sent"] += 1
            return
        self.stats["failed_attempts"] += 1
        self.last_failure = reason or "send failed"
        self.retry.failed(now)     # the caller logs it (rate-limited) and reports the health
        self._queue.appendleft(reply)

    def next_deadline(self) -> float | None:
        """When `take` may have something to do (None: nothing queued, or waiting for a result)."""
        if not self._queue or self._in_flight is not None:
            return None
        expiry = self._queue[0].queued_at + self.max_age_s
        return min(expiry, self.retry.next_at) if self.retry.next_at is not None else self._queue[0].queued_at

    def _expire(self, reply: Reply, now: float, why: str) -> None:
        self.stats["expired"] += 1
        log.warning("SMS reply to %s dropped: %s (%d failed attempts; the question is stale)",
                    reply.number, why, self.retry.attempts)

    @property
    def pending(self) -> int:
        return len(self._queue) + (self._in_flight is not None)

    def status(self, now: float) -> dict[str, object]:
        """For DIAG / `tcu state` (times on the `now` clock)."""
        return {"pending": self.pending, "failures": self.retry.attempts,
                "next_try": self.retry.next_at if self.retry.attempts else None,
                "retry": self.retry.describe(now), "last_error": self.last_failure,
                "expired": self.stats["expired"]}
