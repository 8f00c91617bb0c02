"""The SMS log: every SMS in and out, for the owner, the live view and the operator's messages.

Texts are stored with secrets masked (the caller passes the current secrets and, for commands, the
interpreter's own redaction of password arguments), so the log can be shown and copied safely.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tcu.sqlite_store import open_db, transaction

_SCHEMA = """
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
    def __init__(self, db: sqlite3.Connection | str | Path) -> None:
        self.conn = db if isinstance(db, sqlite3.Connection) else open_db(db)
        self.conn.executescript(_SCHEMA)

    def add(self, direction: str, number: str, text: str, now: float,
            note: str = "", secrets: Iterable[str] = ()) -> SmsLogEntry:
        if direction not in ("in", "out"):
            raise ValueError(f"sms_log: direction must be 'in' or 'out', got {direction!r}")
        text = mask_secrets(text, secrets)
        with transaction(self.conn) as c:
            cur = c.execute("INSERT INTO sms_log (at, direction, number, text, note) VALUES (?, ?, ?, ?, ?)",
                            (now, direction, number, text, note))
        return SmsLogEntry(int(cur.lastrowid or 0), now, direction, number, text, note)

    def recent(self, limit: int = 20) -> list[SmsLogEntry]:
        """The last `limit` entries, oldest first."""
        rows = self.conn.execute(
            "SELECT id, at, direction, number, text, note FROM sms_log ORDER BY id DESC LIMIT ?", (limit,))
        return [SmsLogEntry(*r) for r in reversed(rows.fetchall())]
