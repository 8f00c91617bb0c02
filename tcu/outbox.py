"""The store-and-forward outbox: everything the unit must deliver, written before it is sent.

Why SQLite WAL with one transaction per state change: a power cut or SIGKILL at any instant must leave
each item either as it was or as it became — never half-sent, never with a new id. Ids come from
`AUTOINCREMENT`, so they are never reused even after delivered items are purged; the server dedups by
id, which makes a resend after a crash harmless.

Delivery confirmation is the caller's protocol knowledge (DESIGN.md §3): TCP only says the modem took
the bytes. The caller tells the outbox on which server connection and at which line position it sent
an item (`mark_sent`), and later "everything up to line L on connection N arrived" (`confirm_upto`, after
a ping answered) or "these ids arrived" (`confirm`, for `h` acks or an SMS the modem accepted).
Items sent on an earlier connection and never confirmed come back from `to_send` for the new one, in
their original order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tcu.sqlite_store import open_db, transaction

KINDS = ("alert", "reply", "history", "info")
STATES = ("queued", "sent", "delivered")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    ref TEXT,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    via TEXT,
    conn INTEGER,
    line INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    sms_attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, id);
"""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str
    payload: str
    ref: str | None
    created: float
    state: str
    via: str | None
    conn: int | None
    line: int | None
    attempts: int
    sms_attempts: int
    sent_at: float | None
    delivered_at: float | None


_COLS = "id, kind, payload, ref, created, state, via, conn, line, attempts, sms_attempts, sent_at, delivered_at"


class Outbox:
    """Durable queue of items for the server (and the SMS fallback). All methods are one transaction."""

    def __init__(self, db: sqlite3.Connection | str | Path) -> None:
        self.conn = db if isinstance(db, sqlite3.Connection) else open_db(db)
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # -- writing -----------------------------------------------------------------------------------
    def add(self, kind: str, payload: str, now: float, ref: str | None = None) -> OutboxItem:
        """Persist a new item (committed when this returns); its id is final."""
        return self.add_many([(kind, payload, ref)], now)[0]

    def add_many(self, items: Iterable[tuple[str, str, str | None]], now: float) -> list[OutboxItem]:
        """Persist several items in one transaction, in order."""
        ids: list[int] = []
        with transaction(self.conn) as c:
            for kind, payload, ref in items:
                if kind not in KINDS:
                    raise ValueError(f"outbox: unknown kind {kind!r}")
                cur = c.execute(
                    "INSERT INTO outbox (kind, payload, ref, created) VALUES (?, ?, ?, ?)",
                    (kind, payload, ref, now),
                )
                ids.append(int(cur.lastrowid or 0))
        return [self._get(i) for i in ids]

    def mark_sent(self, ids: Sequence[int], conn_no: int, first_line: int, now: float) -> None:
        """Record that `ids` were written, in this order, on server connection `conn_no` at line
        positions `first_line`, `first_line + 1`, … (the caller's line counter for that connection).

        Delivered items are left alone (a late duplicate send does not undo a confirmation)."""
        with transaction(self.conn) as c:
            for k, item_id in enumerate(ids):
                c.execute(
                    "UPDATE outbox SET state='sent', via='server', conn=?, line=?, sent_at=?, "
                    "attempts=attempts+1 WHERE id=? AND state!='delivered'",
                    (conn_no, first_line + k, now, item_id),
                )

    def confirm_upto(self, conn_no: int, line: int, now: float) -> list[int]:
        """The server has read every line up to and including `line` on `conn_no` (a ping answered).

        Returns the ids that became delivered."""
        with transaction(self.conn) as c:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM outbox WHERE state='sent' AND conn=? AND line<=? ORDER BY id",
                (conn_no, line))]
            c.execute(
                "UPDATE outbox SET state='delivered', delivered_at=? WHERE state='sent' AND conn=? AND line<=?",
                (now, conn_no, line),
            )
        return ids

    def confirm(self, ids: Iterable[int], via: str, now: float) -> list[int]:
        """Mark items delivered by `via` ("server" for an `h` ack, "sms" once the modem accepted the SMS).

        Idempotent; returns the ids that became delivered now."""
        if via not in ("server", "sms", "dropped"):
            raise ValueError(f"outbox: unknown channel {via!r}")
        done: list[int] = []
        with transaction(self.conn) as c:
            for item_id in ids:
                cur = c.execute(
                    "UPDATE outbox SET state='delivered', via=?, delivered_at=? WHERE id=? AND state!='delivered'",
                    (via, now, item_id),
                )
                if cur.rowcount:
                    done.append(item_id)
        return done

    def note_sms_attempt(self, ids: Iterable[int]) -> None:
        """Count an SMS attempt without finishing the item (e.g. the server should still get it)."""
        with transaction(self.conn) as c:
            c.executemany("UPDATE outbox SET sms_attempts=sms_attempts+1 WHERE id=?", [(i,) for i in ids])

    def purge(self, older_than: float) -> int:
        """Delete delivered items delivered before `older_than`; ids are never reused."""
        with transaction(self.conn) as c:
            cur = c.execute("DELETE FROM outbox WHERE state='delivered' AND delivered_at < ?", (older_than,))
            return cur.rowcount

    # -- reading -----------------------------------------------------------------------------------
    def to_send(self, conn_no: int, limit: int | None = None, kinds: Sequence[str] | None = None) -> list[OutboxItem]:
        """Undelivered items not yet written on `conn_no`, oldest first: what to send on this connection."""
        sql = f"SELECT {_COLS} FROM outbox WHERE state!='delivered' AND (conn IS NULL OR conn!=?)"
        args: list[object] = [conn_no]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [OutboxItem(*r) for r in self.conn.execute(sql, args)]

    def pending(self) -> list[OutboxItem]:
        """All undelivered items, oldest first."""
        return [OutboxItem(*r) for r in self.conn.execute(
            f"SELECT {_COLS} FROM outbox WHERE state!='delivered' ORDER BY id")]

    def get(self, item_id: int) -> OutboxItem | None:
        r = self.conn.execute(f"SELECT {_COLS} FROM outbox WHERE id=?", (item_id,)).fetchone()
        return OutboxItem(*r) if r else None

    def _get(self, item_id: int) -> OutboxItem:
        item = self.get(item_id)
        assert item is not None
        return item

    def find_ref(self, ref: str) -> OutboxItem | None:
        """The latest item with this `ref` (e.g. an alert id), for `server_confirmed(alert_id)`."""
        r = self.conn.execute(f"SELECT {_COLS} FROM outbox WHERE ref=? ORDER BY id DESC LIMIT 1", (ref,)).fetchone()
        return OutboxItem(*r) if r else None

    def refs(self, ids: Iterable[int]) -> dict[int, str | None]:
        """id -> ref (e.g. to turn confirmed outbox ids into `AlertRouter.server_confirmed(alert_id)`)."""
        out: dict[int, str | None] = {}
        for item_id in ids:
            r = self.conn.execute("SELECT ref FROM outbox WHERE id=?", (item_id,)).fetchone()
            if r is not None:
                out[item_id] = r[0]
        return out

    def queued_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE state!='delivered'").fetchone()[0])

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, n in self.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            out[state] = n
        return out
