"""The SMS fallback policy for alerts (DESIGN.md §3): a sans-IO decision object.

Every alert goes to the server path (the outbox delivers it whenever a connection exists). The router
decides which alerts *also* go to the owner by SMS:
- raised while the server link is down, or not confirmed by the server within its deadline;
- critical ones (alarm, theft) at once when the link is down, ignoring the minimum gap between SMS;
- the others wait a short coalescing window and the minimum gap, so a burst becomes one SMS with one
  line per alert (at most 4 concatenated parts per SMS);
- a rolling 24-hour budget of SMS parts protects the owner's bill; critical alerts have a small reserve
  beyond it. An alert the budget cannot pay for is dropped from the SMS path (it still reaches the
  server when the link returns) and reported with `Drop`.
SMS needs GSM registration only; without it, SMS wait (nothing is dropped for lack of coverage).

An SMS the modem fails to send (SMS centre down, modem port gone) is queued again and retried after a
capped back-off (`runtime.backoff`, 10 s doubling to 10 min), critical alerts included: a retry at once
turned one failing SMS centre into ~870 `AT+CMGS` a second (issue 12). Alerts raised meanwhile join the
queue; none is dropped for the failures, and the failed attempts are refunded to the budget.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from modem.sms import SmsError, split_text
from runtime.backoff import Backoff
from tcu.plural import plural
from tcu.vehicle_logic import Alert

log = logging.getLogger(__name__)

MAX_PARTS = 4  # sms-commands.md: longer texts as a concatenated SMS of at most 4 parts
DAY_S = 86_400.0
RETRY_FIRST_S = 10.0   # a failed alert SMS is tried again after 10 s, 20 s, 40 s ...
RETRY_CAP_S = 600.0    # ... at most 10 min apart while the SMS centre or the modem keeps failing


@dataclass(frozen=True)
class SendToServer:
    alert: Alert


@dataclass(frozen=True)
class SendSms:
    number: str
    text: str
    alert_ids: tuple[str, ...]


@dataclass(frozen=True)
class Drop:
    alert_id: str
    reason: str


Action = SendToServer | SendSms | Drop


class ParamSource(Protocol):
    """What the settings need of `tcu.params.Params`."""

    def get(self, name: str) -> object: ...


@dataclass(frozen=True)
class RouterSettings:
    server_deadline_s: float = 60.0
    sms_per_day: int = 20  # SMS parts per rolling 24 h for alerts
    critical_reserve: int = 5  # extra parts per 24 h for critical alerts once the budget is spent
    sms_min_interval_s: float = 60.0
    coalesce_s: float = 5.0

    @classmethod
    def from_params(cls, params: ParamSource) -> RouterSettings:
        get = params.get
        return cls(
            server_deadline_s=_num(get("alert.server_deadline_s")),
            sms_per_day=int(_num(get("alert.sms_per_day"))),
            sms_min_interval_s=_num(get("alert.sms_min_interval_s")),
            coalesce_s=_num(get("alert.coalesce_s")),
        )


def _num(value: object) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def sms_parts(text: str) -> int:
    """How many SMS parts `text` costs (GSM-7 160/153, else UCS-2 70/67)."""
    try:
        return len(split_text(text, max_parts=1000)[1])
    except SmsError:
        return 1000


class AlertRouter:
    def __init__(self, owner: str, settings: RouterSettings | None = None,
                 server_up: bool = False, gsm_registered: bool = True,
                 sent_history: Iterable[tuple[float, int]] = (), rng: random.Random | None = None) -> None:
        """`sent_history`: (time, parts) of alert SMS already sent (kept by the unit across restarts),
        on the same clock as `now`, so the daily budget survives restarts. `rng`: the retry jitter."""
        self.owner = owner
        self.s = settings or RouterSettings()
        self.server_up = server_up
        self.gsm_registered = gsm_registered
        self._awaiting: dict[str, tuple[Alert, float]] = {}  # alert id -> (alert, server deadline)
        self._sms_queue: dict[str, tuple[Alert, float]] = {}  # alert id -> (alert, queued at)
        self._sent_times: deque[tuple[float, int]] = deque(sorted(sent_history))  # (when, parts), 24 h
        self._last_sms: float | None = None
        self._in_flight: dict[tuple[str, ...], tuple[list[Alert], tuple[float, int]]] = {}
        self._actions: list[Action] = []
        self.retry = Backoff(first=RETRY_FIRST_S, cap=RETRY_CAP_S, rng=rng)
        self.last_failure = ""
        self.stats = {"sms_sent": 0, "sms_parts": 0, "dropped": 0, "server_confirmed": 0}

    # -- inputs ------------------------------------------------------------------------------------
    def alert_raised(self, alert: Alert, now: float) -> list[Action]:
        self._actions.append(SendToServer(alert))
        if self.server_up:
            self._awaiting[alert.id] = (alert, now + self.s.server_deadline_s)
        else:
            self._sms_queue[alert.id] = (alert, now)
        return self.tick(now)

    def alert_restored(self, alert: Alert, now: float) -> list[Action]:
        """After a restart: an alert that is still undelivered in the outbox (no SendToServer, it is
        already queued there). It is treated as if raised now, so the server gets a fresh deadline."""
        if self.server_up:
            self._awaiting[alert.id] = (alert, now + self.s.server_deadline_s)
        else:
            self._sms_queue[alert.id] = (alert, now)
        return self.tick(now)

    def server_confirmed(self, alert_id: str) -> None:
        """The server acknowledged the alert: no SMS is needed for it any more (if not already sent)."""
        if self._awaiting.pop(alert_id, None) is not None or self._sms_queue.pop(alert_id, None) is not None:
            self.stats["server_confirmed"] += 1

    def link_changed(self, up: bool, now: float) -> list[Action]:
        """The server link went up or down."""
        if up == self.server_up:
            return self.tick(now)
        self.server_up = up
        if up:
            # the link is back before the SMS left: give the server a fresh chance for non-critical ones
            for aid, (alert, _queued) in list(self._sms_queue.items()):
                if not alert.critical:
                    del self._sms_queue[aid]
                    self._awaiting[aid] = (alert, now + self.s.server_deadline_s)
        else:
            for aid, (alert, _deadline) in list(self._awaiting.items()):
                if alert.critical:
                    del self._awaiting[aid]
                    self._sms_queue[aid] = (alert, now)
        return self.tick(now)

    def gsm_changed(self, registered: bool, now: float) -> list[Action]:
        self.gsm_registered = registered
        return self.tick(now)

    def sms_result(self, alert_ids: tuple[str, ...], ok: bool, now: float, reason: str = "") -> list[Action]:
        """The modem accepted (`ok`) or failed to send a `SendSms`; a failed one is queued again, its
        parts are refunded to the budget, and no alert SMS leaves before the retry back-off is over."""
        flight = self._in_flight.pop(tuple(alert_ids), None)
        if ok:
            self.retry.succeeded()
            self.last_failure = ""
        elif self.retry.ready(now):   # several SMS failing together are one failure, not several
            self.retry.failed(now)
            self.last_failure = reason or "send failed"
        if flight is not None and not ok:
            alerts, entry = flight
            if entry in self._sent_times:
                self._sent_times.remove(entry)
            for a in alerts:
                self._sms_queue[a.id] = (a, now)
            self.stats["sms_sent"] -= 1
            self.stats["sms_parts"] -= entry[1]
        return self.tick(now)

    # -- time --------------------------------------------------------------------------------------
    def tick(self, now: float) -> list[Action]:
        for aid, (alert, deadline) in list(self._awaiting.items()):
            if now >= deadline:
                del self._awaiting[aid]
                log.info("alert %s not confirmed by the server within %.0f s; falling back to SMS",
                         aid, self.s.server_deadline_s)
                self._sms_queue[aid] = (alert, now)
        if self._sms_queue and self.gsm_registered and self.owner:
            self._flush_sms(now)
        out, self._actions = self._actions, []
        return out

    def next_deadline(self) -> float | None:
        cands = [d for _, d in self._awaiting.values()]
        if self._sms_queue:
            cands.append(self._next_sms_time())
        return min(cands) if cands else None

    @property
    def pending_sms(self) -> int:
        return len(self._sms_queue)

    def status(self, now: float) -> dict[str, object]:
        """Retry state and budget for DIAG / `tcu state` (times on the `now` clock)."""
        return {
            "pending": len(self._sms_queue), "in_flight": len(self._in_flight),
            "failures": self.retry.attempts, "next_try": self.retry.next_at if self.retry.attempts else None,
            "last_error": self.last_failure, "retry": self.retry.describe(now),
            "parts_24h": self._parts_used(now), "budget_24h": self.s.sms_per_day,
            "dropped": self.stats["dropped"],
        }

    # -- the SMS decision --------------------------------------------------------------------------
    def _next_sms_time(self) -> float:
        if any(a.critical for a, _ in self._sms_queue.values()):
            return self._after_retry(min(t for a, t in self._sms_queue.values() if a.critical))
        t = min(q for _, q in self._sms_queue.values()) + self.s.coalesce_s
        if self._last_sms is not None:
            t = max(t, self._last_sms + self.s.sms_min_interval_s)
        return self._after_retry(t)

    def _after_retry(self, t: float) -> float:
        return t if self.retry.next_at is None else max(t, self.retry.next_at)

    def _parts_used(self, now: float) -> int:
        while self._sent_times and self._sent_times[0][0] <= now - DAY_S:
            self._sent_times.popleft()
        return sum(p for _, p in self._sent_times)

    def _flush_sms(self, now: float) -> None:
        if now < self._next_sms_time():
            return
        items = sorted(self._sms_queue.values(), key=lambda x: (x[0].raised_at, x[0].id))
        self._sms_queue.clear()
        # pack lines into SMS of at most MAX_PARTS parts, critical alerts first
        items.sort(key=lambda x: not x[0].critical)
        batches: list[list[Alert]] = []
        for alert, _ in items:
            if batches and sms_parts("\n".join([a.text for a in batches[-1]] + [alert.text])) <= MAX_PARTS:
                batches[-1].append(alert)
            else:
                batches.append([alert])
        for batch in batches:
            text = "\n".join(a.text for a in batch)
            if sms_parts(text) > MAX_PARTS:
                text = text[:600]
            parts = sms_parts(text)
            used = self._parts_used(now)
            critical = any(a.critical for a in batch)
            limit = self.s.sms_per_day + (self.s.critical_reserve if critical else 0)
            if used + parts > limit:
                for a in batch:
                    self.stats["dropped"] += 1
                    log.warning("alert %s not sent by SMS: daily SMS budget spent (%s)", a.id, plural(used, "part"))
                    self._actions.append(Drop(a.id, f"daily SMS budget spent ({used}/{plural(limit, 'part')})"))
                continue
            entry = (now, parts)
            self._sent_times.append(entry)
            self._in_flight[tuple(a.id for a in batch)] = (batch, entry)
            self._last_sms = now
            self.stats["sms_sent"] += 1
            self.stats["sms_parts"] += parts
            self._actions.append(SendSms(self.owner, text, tuple(a.id for a in batch)))
