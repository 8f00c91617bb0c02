"""The SMS log: every SMS in and out, for the owner, the live view and the operator's messages.

Texts are stored with secrets masked (the caller passes the current secrets and, for commands, the
interpreter's own redaction of password arguments), so the log can be shown and copied safely.

A log line is never worth a reply: when the disk fails, `add` keeps the line in a small memory
buffer (written with the next write that succeeds, after the `StorageGuard`'s back-off) and returns
as usual — issue 12 saw a full disk stop SMS commands from being answered at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tcu.sqlite_store import open_db, storage_fault, transaction
from tcu.storage_guard import StorageGuard

SCHEMA = _SCHEMA = """
CREATE TABLE IF NOT EXISTS sms_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    direction TEXT NOT NULL,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
"""

MASK = "***"
UNWRITTEN_LIMIT = 200     # log lines kept in memory while the disk fails (the oldest go first)
TEXT_CAP = 1000           # characters of a text kept (4 SMS parts are at most 640; a 38,000-character
                          # concatenated SMS was stored whole, forever — issue 12 item 10)
NUMBER_CAP = 32           # a sender is at most 15 digits, or an 11-character alphanumeric name
KEEP_ROWS = 5000          # the newest rows kept; older ones are pruned as new ones come in
PRUNE_EVERY = 100         # prune once per this many lines written


def cap_text(text: str, limit: int = TEXT_CAP) -> str:
    """`text`, or its first `limit` characters and how long it really was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text)} characters, cut]"


@dataclass(frozen=True)
class SmsLogEntry:
    id: int
    at: float
    direction: str  # "in" or "out"
    number: str
    text: str
    note: str  # e.g. "operator", "ignored", "denied", "command"


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret (longest first) with `***`."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


class SmsLog:
    def __init__(self, db: sqlite3.Connection | str | Path, *, guard: StorageGuard | None = None) -> None:
        self.conn = db if isinstance(db, sqlite3.Connection) else open_db(db)
        self.conn.executescript(_SCHEMA)
        self.guard = guard or StorageGuard("sms_log.db")
        self._unwritten: list[SmsLogEntry] = []
        self.lost = 0    # lines dropped from a full memory buffer

    def add(self, direction: str, number: str, text: str, now: float,
            note: str = "", secrets: Iterable[str] = (), at: float | None = None) -> SmsLogEntry:
        """Log one SMS. `now` is the caller's loop time (the storage back-off runs on it); `at`, stored
        as the entry's time, is wall-clock epoch seconds when the caller knows them (`tcu state` is
        another process, and a monotonic time means nothing after a reboot), else `now`."""
        if direction not in ("in", "out"):
            raise ValueError(f"sms_log: direction must be 'in' or 'out', got {direction!r}")
        text = cap_text(mask_secrets(text, secrets), TEXT_CAP)     # masked first: a cut must not split a secret
        number = cap_text(number, NUMBER_CAP)
        at = now if at is None else at
        entry = SmsLogEntry(0, at, direction, number, text, note)
        if self.guard.may_try(now):
            try:
                with transaction(self.conn) as c:
                    for e in self._unwritten:
                        c.execute("INSERT INTO sms_log (at, direction, number, text, note) VALUES (?, ?, ?, ?, ?)",
                                  (e.at, e.direction, e.number, e.text, e.note))
                    cur = c.execute("INSERT INTO sms_log (at, direction, number, text, note) VALUES (?, ?, ?, ?, ?)",
                                    (at, direction, number, text, note))
                    if (cur.lastrowid or 0) % PRUNE_EVERY == 0:
                        c.execute("DELETE FROM sms_log WHERE id <= ?", ((cur.lastrowid or 0) - KEEP_ROWS,))
            except sqlite3.Error as e:
                self.guard.failed(e, now)     # re-raises our own bugs
            else:
                self._unwritten.clear()
                self.guard.succeeded(now)
                return SmsLogEntry(int(cur.lastrowid or 0), at, direction, number, text, note)
        self._unwritten.append(entry)
        if len(self._unwritten) > UNWRITTEN_LIMIT:
            del self._unwritten[0]
            self.lost += 1
        return entry

    def retry(self, now: float) -> bool:
        """Write the lines a failing disk refused, when the back-off allows. True: nothing left in memory."""
        if not self._unwritten and not self.guard.failing:
            return True
        if not self.guard.may_try(now):
            return False
        try:
            with transaction(self.conn) as c:
                c.executemany("INSERT INTO sms_log (at, direction, number, text, note) VALUES (?, ?, ?, ?, ?)",
                              [(e.at, e.direction, e.number, e.text, e.note) for e in self._unwritten])
        except sqlite3.Error as e:
            self.guard.failed(e, now)
            return False
        self._unwritten.clear()
        self.guard.succeeded(now)
        return True

    def recent(self, limit: int = 20) -> list[SmsLogEntry]:
        """The last `limit` entries, oldest first (lines not yet written included)."""
        try:
            rows = self.conn.execute(
                "SELECT id, at, direction, number, text, note FROM sms_log ORDER BY id DESC LIMIT ?",
                (limit,)).fetchall()
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            rows = []
        entries = [SmsLogEntry(*r) for r in reversed(rows)] + self._unwritten
        return entries[-limit:] if limit else []
