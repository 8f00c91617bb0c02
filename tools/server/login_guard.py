"""Password-guessing protection for the server's logins: sans-IO, time in, decisions and log notices out.

Why this shape. Scheme 0 checks an HMAC of the car password (spec §2); with no limit a client can try
about 1,500 passwords a second. Two keys are watched, because each one alone fails someone:

- Per **peer address**: failures make that address's answers slower, and after `lockout_after`
  failures the address is locked out (closed before any check) for a growing, capped time. An address
  may also hold only `max_pending` logins waiting for their answer, so parallel connections do not
  multiply its guessing rate.
- Per **vehicle**: failures only slow its logins down (capped at `max_delay`); they never lock the
  vehicle out, so an attacker with many addresses cannot keep the real car (right password, another
  address) off the server: it gets in after at most `max_delay`.

Every answer — right password or wrong — is held for the same delay, computed before the outcome is
recorded. A client that gives up early therefore learns nothing: an early answer would otherwise mean
"right password". A car behind the same address as the attacker (carrier NAT) shares its lockout;
that is the price of stopping a single-address attacker, and the lockout is capped.

Counts decay: a key with no failure (and no lockout) for `window` seconds starts again from zero. Log notices are once
per burst: when a vehicle starts being slowed down, then a summary at most every `summary_interval`
while its burst lasts; address lockouts at most one line per `lockout_notice_interval`, with a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tools.wording import count


@dataclass(frozen=True)
class GuardPolicy:
    slow_after: int = 3              # failures before answers are delayed
    base_delay: float = 0.5          # first delay; doubles with each further failure
    max_delay: float = 8.0           # a car's login timeout is 30 s: the real car still gets in
    lockout_after: int = 10          # failures from one address before it is locked out
    lockout: float = 60.0            # first lockout; doubles with each further lockout in a burst
    max_lockout: float = 900.0
    max_pending: int = 4             # logins one address may have waiting for their answer
    window: float = 600.0            # quiet time after which a key's count starts from zero
    summary_interval: float = 60.0       # per vehicle, while its burst lasts
    lockout_notice_interval: float = 10.0  # for all addresses together


DEFAULT_POLICY: Final = GuardPolicy()


@dataclass(frozen=True)
class Notice:
    """A line worth logging (at WARNING): what happened, to what, what happens next."""

    text: str


@dataclass
class _Key:
    failures: int = 0
    last_failure: float = float("-inf")
    burst_failures: int = 0          # since the last notice about this key
    noticed_at: float = float("-inf")
    locked_until: float = float("-inf")
    lockouts: int = 0
    pending: int = 0


class LoginGuard:
    """The failure bookkeeping of one server; the caller counts what it does with the answers."""

    def __init__(self, policy: GuardPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self.lockouts = 0
        self._addresses: dict[str, _Key] = {}
        self._vehicles: dict[str, _Key] = {}
        self._lockout_noticed_at = float("-inf")
        self._lockouts_unreported = 0

    # -- before the check ------------------------------------------------------------------------------
    def refusal(self, address: str, now: float) -> str | None:
        """Why a login from `address` is closed without a check, or None to check it."""
        key = self._addresses.get(address)
        if key is None:
            return None
        if now < key.locked_until:
            return f"address locked out for {key.locked_until - now:.0f} s more"
        if key.pending >= self.policy.max_pending:
            return f"{count(key.pending, 'login')} from this address already waiting"
        return None

    def delay(self, address: str, vehicle: str | None, now: float) -> float:
        """How long to hold the answer to a login just checked (the same for a right or wrong password)."""
        return max(self._delay(self._addresses.get(address), now),
                   self._delay(self._vehicles.get(vehicle) if vehicle else None, now))

    def _delay(self, key: _Key | None, now: float) -> float:
        if key is None or now - key.last_failure >= self.policy.window:
            return 0.0
        over = key.failures - self.policy.slow_after
        if over < 0:
            return 0.0
        return min(self.policy.max_delay, self.policy.base_delay * 2.0 ** min(over, 30))

    # -- answers being held -----------------------------------------------------------------------------
    def hold(self, address: str) -> None:
        self._addresses.setdefault(address, _Key()).pending += 1

    def release(self, address: str) -> None:
        key = self._addresses.get(address)
        if key is not None and key.pending > 0:
            key.pending -= 1

    # -- outcomes ----------------------------------------------------------------------------------------
    def failed(self, address: str, vehicle: str | None, now: float) -> list[Notice]:
        """Record a failed login (`vehicle` None when the id is unknown); notices to log, if any."""
        notices: list[Notice] = []
        akey = self._bump(self._addresses.setdefault(address, _Key()), now)
        if akey.failures >= self.policy.lockout_after and now >= akey.locked_until:
            akey.lockouts += 1
            self.lockouts += 1
            span = min(self.policy.max_lockout, self.policy.lockout * 2.0 ** (akey.lockouts - 1))
            akey.locked_until = now + span
            # Many addresses (a botnet) must not mean many lines: one lockout line per interval.
            if now - self._lockout_noticed_at >= self.policy.lockout_notice_interval:
                others = f" (and {count(self._lockouts_unreported, 'other lockout')} since the last report)" \
                    if self._lockouts_unreported else ""
                notices.append(Notice(f"{count(akey.failures, 'failed login')} from {address}: address locked out for "
                                      f"{span:.0f} s (lockout {akey.lockouts} of this burst){others}"))
                self._lockout_noticed_at, self._lockouts_unreported = now, 0
            else:
                self._lockouts_unreported += 1
        if vehicle:
            vkey = self._bump(self._vehicles.setdefault(vehicle, _Key()), now)
            if (n := self._summary(vkey, now)) is not None:
                notices.append(Notice(f"{count(n, 'failed login')} for vehicle {vehicle} since the last report "
                                      f"(last from {address}); its logins are answered after "
                                      f"{self._delay(vkey, now):.1f} s, never refused"))
        return notices

    def _bump(self, key: _Key, now: float) -> _Key:
        if now - max(key.last_failure, key.locked_until) >= self.policy.window:
            key.failures = 0
            key.lockouts = 0
            key.noticed_at = float("-inf")
        key.failures += 1
        key.burst_failures += 1
        key.last_failure = now
        return key

    def _summary(self, key: _Key, now: float) -> int | None:
        """Failures to report now: when the key starts being slowed, then once per summary interval."""
        if key.failures < self.policy.slow_after:
            return None
        if now - key.noticed_at < self.policy.summary_interval:
            return None
        n, key.burst_failures, key.noticed_at = key.burst_failures, 0, now
        return n

    # -- housekeeping ------------------------------------------------------------------------------------
    def locked_out(self, now: float) -> list[str]:
        return sorted(a for a, k in self._addresses.items() if now < k.locked_until)

    def prune(self, now: float) -> None:
        """Forget keys that are quiet, unlocked and hold nothing (called by the server's sweep)."""
        for table in (self._addresses, self._vehicles):
            for name in [n for n, k in table.items()
                         if k.pending == 0 and now - max(k.last_failure, k.locked_until) >= self.policy.window]:
                del table[name]

    def tracked(self) -> int:
        return len(self._addresses) + len(self._vehicles)
