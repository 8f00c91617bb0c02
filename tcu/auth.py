"""Who may command the car by SMS (sms-commands.md, "Who may command the car").

Fixes OVMS v2's prefix comparisons: numbers are compared whole after E.164 normalisation, passwords
whole and in constant time. Failed attempts are rate limited per number so an attacker can neither
brute-force the password nor spend the owner's SMS credit on `Permission denied` replies.

Issue 12 item 9: the counts survive a restart (a `tcu.restart_memory.Ledger` records each failure and
each `Permission denied` reply; a new `Guard` replays them), and the owner's own number is never
locked out by failures — caller ID is spoofable, so five `REGISTER <wrong>` "from the owner" would
let anyone lock the owner out of the car. Failures from the owner's number are counted apart
(`owner=True`): they are answered at most once an hour and, past the limit, only the failing
command (REGISTER, the one thing the owner needs a password for) is ignored, never the number.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from runtime.ratelog import RateLimitedLog
from tcu.phone import try_normalise
from tcu.restart_memory import Ledger

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

    def __init__(self, ledger: Ledger | None = None, now: float = 0.0) -> None:
        """`ledger`: where failures are recorded, and replayed from at `now` (a restart keeps them)."""
        self._numbers: dict[str, _NumberState] = {}
        self._owner: dict[str, _NumberState] = {}
        self.ledger = ledger
        # rejections are logged, a line a minute per kind with a count: an SMS flood from rotating
        # numbers wrote one line per SMS
        self._log = RateLimitedLog(log, 60.0)
        if ledger is not None:
            self._replay(ledger, now)

    def _replay(self, ledger: Ledger, now: float) -> None:
        start = now - WINDOW_S - LOCKOUT_S
        events = sorted([(e.at, 0, e.key, False) for e in ledger.since("auth_fail", start)]
                        + [(e.at, 0, e.key, True) for e in ledger.since("auth_fail_owner", start)]
                        + [(e.at, 1, e.key, False) for e in ledger.since("denied_reply", start)]
                        + [(e.at, 1, e.key, True) for e in ledger.since("denied_reply_owner", start)])
        for at, what, number, owner in events:
            table = self._owner if owner else self._numbers
            st = table.setdefault(number, _NumberState())
            if what == 1:
                st.denied_reply_at = at
                continue
            st.failures = [t for t in st.failures if at - t < WINDOW_S] + [at]
            if len(st.failures) >= MAX_FAILURES:
                st.ignored_until = at + LOCKOUT_S
        for table in (self._numbers, self._owner):      # whatever can no longer matter goes
            for number, st in list(table.items()):
                if now - (st.failures[-1] if st.failures else -1e18) >= WINDOW_S and not (
                        st.ignored_until is not None and now < st.ignored_until) and not (
                        st.denied_reply_at is not None and now - st.denied_reply_at < WINDOW_S):
                    del table[number]
        locked = [n for n in self._numbers if self.is_ignored(n, now)]
        if locked:
            log.warning("SMS auth: %d number(s) still locked out after the restart", len(locked))

    def is_ignored(self, number: str, now: float) -> bool:
        """The number is locked out (never true for the owner's failures, which are counted apart)."""
        st = self._numbers.get(number)
        return bool(st and st.ignored_until is not None and now < st.ignored_until)

    def owner_command_ignored(self, number: str, now: float) -> bool:
        """The owner's number failed REGISTER too often: further REGISTER attempts get no reply."""
        st = self._owner.get(number)
        return bool(st and st.ignored_until is not None and now < st.ignored_until)

    def failed(self, number: str, command: str, now: float, *, owner: bool = False) -> Rejection:
        """Record a failed authentication (the caller must not pass the password here or anywhere).

        `owner`: the failure came from the owner's number; it never locks the number out."""
        self._prune(now)
        st = (self._owner if owner else self._numbers).setdefault(number, _NumberState())
        st.failures = [t for t in st.failures if now - t < WINDOW_S]
        st.failures.append(now)
        if self.ledger is not None:
            self.ledger.record("auth_fail_owner" if owner else "auth_fail", number, now)
        n = len(st.failures)
        if n >= MAX_FAILURES:
            st.ignored_until = now + LOCKOUT_S
            if owner:
                self._log.warning("owner-limit", now,
                                  "SMS auth: the owner's number %s failed %s %d times in an hour; %s attempts from it "
                                  "get no reply for %.0f min (its other commands still work)",
                                  number, command, n, command, LOCKOUT_S / 60)
            else:
                self._log.warning("lockout", now,
                                  "SMS auth: %s failed %d times in an hour (%s); ignoring this number for %.0f min",
                                  number, n, command, LOCKOUT_S / 60)
            return Rejection(reply=False, locked_out=True, failures=n)
        reply = st.denied_reply_at is None or now - st.denied_reply_at >= WINDOW_S
        if reply:
            st.denied_reply_at = now
            if self.ledger is not None:
                self.ledger.record("denied_reply_owner" if owner else "denied_reply", number, now)
        self._log.warning("denied", now, "SMS auth: permission denied for %s from %s%s (failure %d/%d this hour)%s",
                          command, "the owner's number " if owner else "", number, n, MAX_FAILURES,
                          "" if reply else "; no reply (already told this hour)")
        return Rejection(reply=reply, locked_out=False, failures=n)

    def _prune(self, now: float) -> None:
        for table in (self._numbers, self._owner):
            if len(table) < 1000:
                continue
            for number, st in list(table.items()):
                quiet = (not st.failures or now - st.failures[-1] >= WINDOW_S)
                locked = st.ignored_until is not None and now < st.ignored_until
                if quiet and not locked:
                    del table[number]
