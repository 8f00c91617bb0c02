"""Who may command the car by SMS (sms-commands.md, "Who may command the car").

Fixes OVMS v2's prefix comparisons: numbers are compared whole after E.164 normalisation, passwords
whole and in constant time. Failed attempts are rate limited per number so an attacker can neither
brute-force the password nor spend the owner's SMS credit on `Permission denied` replies.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from tcu.phone import try_normalise

log = logging.getLogger(__name__)

WINDOW_S = 3600.0  # "at most once per number per hour", "5 failures in an hour"
MAX_FAILURES = 5
LOCKOUT_S = 3600.0


def password_matches(given: str, expected: str) -> bool:
    """Exact, constant-time comparison; an empty expected password matches nothing."""
    if not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def number_matches(caller: str, owner: str, default_cc: str | None = None) -> bool:
    """True if `caller` is the owner's number: both normalised to E.164, then compared whole."""
    if not owner:
        return False
    c, o = try_normalise(caller, default_cc), try_normalise(owner, default_cc)
    return c is not None and c == o


@dataclass
class _NumberState:
    failures: list[float] = field(default_factory=list)
    denied_reply_at: float | None = None
    ignored_until: float | None = None


@dataclass(frozen=True)
class Rejection:
    """What to do after a failed authentication: reply `Permission denied` or stay silent."""

    reply: bool
    locked_out: bool
    failures: int


class Guard:
    """Per-number failure counting, reply throttling and lockout (clock injected as `now`)."""

    def __init__(self) -> None:
        self._numbers: dict[str, _NumberState] = {}

    def is_ignored(self, number: str, now: float) -> bool:
        st = self._numbers.get(number)
        return bool(st and st.ignored_until is not None and now < st.ignored_until)

    def failed(self, number: str, command: str, now: float) -> Rejection:
        """Record a failed authentication (the caller must not pass the password here or anywhere)."""
        self._prune(now)
        st = self._numbers.setdefault(number, _NumberState())
        st.failures = [t for t in st.failures if now - t < WINDOW_S]
        st.failures.append(now)
        n = len(st.failures)
        if n >= MAX_FAILURES:
            st.ignored_until = now + LOCKOUT_S
            log.warning("SMS auth: %s failed %d times in an hour (%s); ignoring this number for %.0f min",
                        number, n, command, LOCKOUT_S / 60)
            return Rejection(reply=False, locked_out=True, failures=n)
        reply = st.denied_reply_at is None or now - st.denied_reply_at >= WINDOW_S
        if reply:
            st.denied_reply_at = now
        log.warning("SMS auth: permission denied for %s from %s (failure %d/%d this hour)%s",
                    command, number, n, MAX_FAILURES, "" if reply else "; no reply (already told this hour)")
        return Rejection(reply=reply, locked_out=False, failures=n)

    def _prune(self, now: float) -> None:
        if len(self._numbers) < 1000:
            return
        for number, st in list(self._numbers.items()):
            quiet = (not st.failures or now - st.failures[-1] >= WINDOW_S)
            if quiet and not self.is_ignored(number, now):
                del self._numbers[number]
