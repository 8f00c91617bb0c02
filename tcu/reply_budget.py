"""A budget for SMS command replies, so that nobody can spend the owner's SMS credit (issue 12 item 9).

Alerts had a daily budget; replies had none: 50 `PARAMS?` cost 150 SMS parts, and 60 numbers taking
turns got 60 `Permission denied` replies. Every SMS reply (including `Permission denied`) now passes
this budget: a number gets at most `per_number_hour` parts in a rolling hour, all numbers together at
most `per_day` parts in a rolling 24 h, of which at most `denied_per_day` are `Permission denied`
(the per-number once-an-hour rule of `tcu.auth` alone does not stop rotating numbers). A reply over
budget is not sent; it is logged (rate-limited) and noted in the SMS log. Spending is recorded in a
`tcu.restart_memory.Ledger`, so a restart does not refill the budget.

Replies over the server link and the console cost nothing and are not counted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tcu.restart_memory import Ledger

HOUR_S = 3600.0
DAY_S = 86_400.0


@dataclass(frozen=True)
class ReplyBudgetSettings:
    per_number_hour: int = 12     # SMS parts: a few STAT / GPS / DIAG an hour, not a flood
    per_day: int = 60             # SMS parts, all numbers together
    denied_per_day: int = 10      # `Permission denied` replies, all numbers together


class ReplyBudget:
    def __init__(self, settings: ReplyBudgetSettings | None = None, ledger: Ledger | None = None,
                 now: float = 0.0) -> None:
        self.s = settings or ReplyBudgetSettings()
        self.ledger = ledger
        self._spent: deque[tuple[float, str, int, bool]] = deque()     # (when, number, parts, denied)
        if ledger is not None:
            denied = {(e.at, e.key) for e in ledger.since("reply_denied", now - DAY_S)}
            for e in ledger.since("reply", now - DAY_S):
                self._spent.append((e.at, e.key, e.n, (e.at, e.key) in denied))
        self.withheld = 0

    def _trim(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - DAY_S:
            self._spent.popleft()

    def check(self, number: str, parts: int, now: float, denied: bool = False) -> str | None:
        """None if the reply may go; else why not (for the log)."""
        self._trim(now)
        day = sum(p for _, _, p, _ in self._spent)
        if day + parts > self.s.per_day:
            return f"daily reply budget spent ({day}/{self.s.per_day} SMS parts)"
        mine = sum(p for t, n, p, _ in self._spent if n == number and t > now - HOUR_S)
        if mine + parts > self.s.per_number_hour:
            return f"hourly reply budget for this number spent ({mine}/{self.s.per_number_hour} SMS parts)"
        if denied:
            refusals = sum(1 for *_, d in self._spent if d)
            if refusals >= self.s.denied_per_day:
                return f"daily budget for 'Permission denied' replies spent ({refusals}/{self.s.denied_per_day})"
        return None

    def spend(self, number: str, parts: int, now: float, denied: bool = False) -> None:
        self._spent.append((now, number, parts, denied))
        if self.ledger is not None:
            self.ledger.record("reply", number, now, parts)
            if denied:
                self.ledger.record("reply_denied", number, now)

    def status(self, now: float) -> dict[str, object]:
        self._trim(now)
        return {"parts_24h": sum(p for _, _, p, _ in self._spent), "budget_24h": self.s.per_day,
                "withheld": self.withheld}
