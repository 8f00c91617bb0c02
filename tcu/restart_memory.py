"""What the SMS protections and the alert rules must remember across a restart (issue 12 item 9, 10).

A restart used to forget: the wrong-password lockout (so an attacker restarts the count by cutting
the power, or simply waits for the watchdog), the alert-SMS budget and the reply budget (so a unit
that reboots in a loop texts without limit), and which conditions it had already told the owner
about (so a still-sounding alarm or a still-low 12 V battery was raised again as a new alert after
every restart).

Both stores live in the unit's state database (`unit.db`), each in its own small table, written
through `tcu.sqlite_store.transaction`. Callers speak loop time (`now`); the ledger stores wall-clock
seconds (loop time restarts with the process) and converts back with `offset()` = wall − loop time.
A write the disk refuses is kept in memory and logged (rate-limited): the protections then hold until
the next restart, and the storage health (H5's `tcu.unit_storage`) already tells the owner.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from runtime.ratelog import RateLimitedLog
from tcu.sqlite_store import storage_fault, transaction

log = logging.getLogger(__name__)

KEEP_S = 2 * 86_400.0     # ledger rows older than this are pruned (the longest window is 24 h)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sms_ledger (
    kind TEXT NOT NULL,      -- auth_fail[_owner], denied_reply[_owner], reply, alert_sms
    key TEXT NOT NULL,       -- the phone number ('' when none applies)
    at REAL NOT NULL,        -- wall clock, epoch seconds
    n INTEGER NOT NULL       -- how many (SMS parts for reply / alert_sms, else 1)
);
CREATE INDEX IF NOT EXISTS sms_ledger_kind_at ON sms_ledger (kind, at);
CREATE TABLE IF NOT EXISTS raised_conditions (
    kind TEXT PRIMARY KEY,   -- a vehicle-logic condition the owner was told about and that still holds
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    kind: str
    key: str
    at: float     # loop time (may be negative: before this process started)
    n: int


class Ledger(Protocol):
    """What the SMS protections record and read back (implemented by `SmsLedger`, faked in tests)."""

    def record(self, kind: str, key: str, now: float, n: int = 1) -> None: ...

    def since(self, kind: str, start: float) -> list[LedgerEntry]: ...


class _Failing:
    """One rate-limited log line for refused writes; never raises for the disk's sake."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._log = RateLimitedLog(log, 60.0)

    def handle(self, e: sqlite3.Error, now: float) -> None:
        fault = storage_fault(e)
        if fault is None:
            raise e                       # our own bug (bad SQL, closed connection): let it raise
        self._log.error(self.what, now, "%s not saved (%s): kept in memory until the next restart", self.what, fault)


def _open(conn: sqlite3.Connection | None, what: str) -> sqlite3.Connection | None:
    if conn is None:
        return None
    try:
        conn.executescript(_SCHEMA)
    except sqlite3.Error as e:
        if storage_fault(e) is None:
            raise
        log.error("%s: cannot create its tables (%s): kept in memory only", what, storage_fault(e))
        return None
    return conn


class SmsLedger:
    """Timestamped counts for the SMS protections: failures, lockouts, replies and alert SMS sent."""

    def __init__(self, conn: sqlite3.Connection | None, offset: Callable[[], float] = lambda: 0.0) -> None:
        """`conn`: the unit's state database (None: memory only). `offset()`: wall − loop time now."""
        self.conn = _open(conn, "SMS ledger")
        self.offset = offset
        self._fail = _Failing("SMS ledger")
        self._rows: list[tuple[str, str, float, int]] = []      # wall times
        if self.conn is not None:
            try:
                cutoff = offset() - KEEP_S
                self._rows = [(str(k), str(key), float(at), int(n)) for k, key, at, n in self.conn.execute(
                    "SELECT kind, key, at, n FROM sms_ledger WHERE at >= ? ORDER BY at", (cutoff,))]
            except sqlite3.Error as e:
                self._fail.handle(e, 0.0)

    def record(self, kind: str, key: str, now: float, n: int = 1) -> None:
        wall = now + self.offset()
        self._rows.append((kind, key, wall, n))
        if self.conn is None:
            return
        try:
            with transaction(self.conn) as c:
                c.execute("INSERT INTO sms_ledger (kind, key, at, n) VALUES (?, ?, ?, ?)", (kind, key, wall, n))
                c.execute("DELETE FROM sms_ledger WHERE at < ?", (wall - KEEP_S,))
        except sqlite3.Error as e:
            self._fail.handle(e, now)
        if len(self._rows) > 2000:
            self._rows = [r for r in self._rows if r[2] >= wall - KEEP_S]

    def since(self, kind: str, start: float) -> list[LedgerEntry]:
        """Entries of `kind` at or after loop time `start`, oldest first, in loop time."""
        off = self.offset()
        return [LedgerEntry(k, key, at - off, n) for k, key, at, n in self._rows if k == kind and at - off >= start]


class ConditionMemory:
    """Conditions (alarm sounding, 12 V low, SOC low) the owner was told about and that still hold."""

    def __init__(self, conn: sqlite3.Connection | None, offset: Callable[[], float] = lambda: 0.0) -> None:
        self.conn = _open(conn, "raised conditions")
        self.offset = offset
        self._fail = _Failing("raised conditions")
        self._active: set[str] = set()
        if self.conn is not None:
            try:
                self._active = {str(k) for (k,) in self.conn.execute("SELECT kind FROM raised_conditions")}
            except sqlite3.Error as e:
                self._fail.handle(e, 0.0)

    def active(self) -> frozenset[str]:
        return frozenset(self._active)

    def set(self, kind: str, active: bool, now: float) -> None:
        if (kind in self._active) == active:
            return
        if active:
            self._active.add(kind)
        else:
            self._active.discard(kind)
        if self.conn is None:
            return
        try:
            with transaction(self.conn) as c:
                if active:
                    c.execute("INSERT OR REPLACE INTO raised_conditions (kind, at) VALUES (?, ?)",
                              (kind, now + self.offset()))
                else:
                    c.execute("DELETE FROM raised_conditions WHERE kind = ?", (kind,))
        except sqlite3.Error as e:
            self._fail.handle(e, now)
