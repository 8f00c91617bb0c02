"""The unit's side of sending SMS that can fail: command replies retried, and failures made visible.

`SmsTrouble` turns every failed SMS (alert or reply) into one health problem (`sms`) and at most one
log line a minute, and clears it when an SMS gets through: the modem port gone or the SMS centre down
used to cost 171,000 log lines in 25 s and nobody was told (issue 12 items 2, 3).

`ReplySender` is the adapter around `tcu.reply_queue.ReplyQueue` (sans-IO): it sends the next reply
when the queue says so, reports each result back, and keeps one timer for the queue's next deadline.

`sms_status` is what `tcu state` shows of both paths (retry counts, next attempt, budgets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from runtime import Loop, Timer
from runtime.ratelog import RateLimitedLog
from tcu.alert_router import AlertRouter
from tcu.reply_budget import ReplyBudget
from tcu.reply_queue import ReplyQueue

log = logging.getLogger(__name__)

Done = Callable[[bool, str], None]
SendSms = Callable[[str, str, Done], None]      # (number, text, done(ok, reason))


class HealthSink(Protocol):
    """What this needs of `tcu.health.Health`."""

    def report(self, key: str, text: str, now: float, *, retries: int = 0,
               next_try: float | None = None) -> object: ...

    def clear(self, key: str, now: float) -> object: ...


class SmsTrouble:
    """SMS sending failing: the `sms` health problem and rate-limited log lines."""

    def __init__(self, health: HealthSink) -> None:
        self.health = health
        self._log = RateLimitedLog(log, 60.0)
        self.failing = False

    def failed(self, what: str, reason: str, now: float, retries: int, next_try: float | None) -> None:
        wait = "" if next_try is None else f"; next try in {max(0.0, next_try - now):.0f} s"
        self._log.warning(what, now, "%s failed (%s)%s", what, reason, wait)
        self.health.report("sms", "SMS cannot be sent", now, retries=retries, next_try=next_try)
        self.failing = True

    def sent(self, now: float) -> None:
        if self.failing:
            self.failing = False
            self.health.clear("sms", now)
            self._log.reset("alert SMS")
            self._log.reset("SMS reply")


class ReplySender:
    """Command replies by SMS, one at a time, retried with the queue's back-off."""

    def __init__(self, loop: Loop, send: SendSms, trouble: SmsTrouble, queue: ReplyQueue | None = None) -> None:
        self.loop = loop
        self.send = send
        self.trouble = trouble
        self.queue = queue or ReplyQueue(rng=loop.random("sms-reply-retry"))
        self._timer: Timer | None = None

    def reply(self, number: str, text: str) -> None:
        self.queue.add(number, text, self.loop.time())
        self._pump()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _pump(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        reply = self.queue.take(self.loop.time())
        if reply is None:
            self._arm()
            return

        def done(ok: bool, reason: str = "") -> None:
            now = self.loop.time()
            self.queue.result(reply.id, ok, now, reason)
            if ok:
                self.trouble.sent(now)
            else:
                self.trouble.failed("SMS reply", reason or "send failed", now, self.queue.retry.attempts,
                                    self.queue.retry.next_at)
            # never re-entrant: the modem may call `done` inside `send`
            self.loop.call_soon(self._pump)

        self.send(reply.number, reply.text, done)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.queue.next_deadline()
        if when is not None:
            self._timer = self.loop.call_at(max(when, self.loop.time()), self._pump)


def sms_status(router: AlertRouter, replies: ReplyQueue, budget: ReplyBudget, now: float,
               wall_of: Callable[[float], float]) -> dict[str, object]:
    """For `tcu state` (one flat table, like the other sources): alert SMS and reply retries, the next
    attempt as wall-clock seconds, and the budgets."""
    out: dict[str, object] = {}
    for prefix, status in (("alert", router.status(now)), ("reply", replies.status(now))):
        for key, value in status.items():
            if key == "retry":
                continue          # the human text; `tcu state` shows the numbers
            if key == "next_try":
                value = round(wall_of(value), 1) if isinstance(value, float) else None
            out[f"{prefix}_{key}"] = value
    spent = budget.status(now)
    out["reply_parts_24h"], out["replies_withheld"] = spent["parts_24h"], spent["withheld"]
    return out
