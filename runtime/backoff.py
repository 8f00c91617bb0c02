"""Capped exponential back-off: the one retry pacing every component uses (issue 12).

A retry that fires at once after a failure turns one fault into a storm: 870 `AT+CMGS` a second
while the SMS centre is down, a critical alert re-queued with no delay after the modem port
vanished. Every retry in the unit therefore asks a `Backoff` how long to wait.

Sans-IO: the caller passes the current time in and gets the delay (and the deadline) out; the
caller's own timer waits. Jitter comes from an injected `random.Random` (the loop's per-component
stream), so a seeded virtual world stays deterministic.

    b = Backoff(first=2.0, cap=300.0, rng=loop.random("sms-retry"))
    delay = b.failed(now)     # 2, 4, 8 … capped, ±jitter; b.attempts counts the failures
    b.succeeded()             # next failure starts over at `first`
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays `first`, `first·factor`, … capped at `cap`, each scaled by a jitter in [1-j, 1+j]."""

    first: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: random.Random | None = None
    attempts: int = 0                       # failures since the last success
    next_at: float | None = None            # when the caller may try again (None: at once)
    last_delay: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError(f"bad back-off parameters first={self.first} cap={self.cap} "
                             f"factor={self.factor} jitter={self.jitter}")

    def peek(self) -> float:
        """The delay the next failure will get, before jitter."""
        return min(self.cap, self.first * self.factor ** min(self.attempts, 64))

    def failed(self, now: float) -> float:
        """Count a failure at `now`; returns how long to wait before the next attempt."""
        delay = self.peek()
        if self.jitter and self.rng is not None:
            delay *= 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)
        self.attempts += 1
        self.last_delay = delay
        self.next_at = now + delay
        return delay

    def succeeded(self) -> None:
        """The operation worked: the next failure waits `first` again."""
        self.attempts = 0
        self.next_at = None
        self.last_delay = 0.0

    def ready(self, now: float) -> bool:
        """True when no wait is pending (never failed, or the wait is over)."""
        return self.next_at is None or now >= self.next_at

    def describe(self, now: float) -> str:
        """For DIAG and `tcu state`: `ok` or `3 failures, next try in 16 s`."""
        if not self.attempts:
            return "ok"
        wait = "" if self.next_at is None else f", next try in {max(0.0, self.next_at - now):.0f} s"
        return f"{self.attempts} failure{'s' if self.attempts != 1 else ''}{wait}"
