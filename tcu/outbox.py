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

When the disk fails (full, read-only, I/O errors) nothing raises: the outbox keeps the items and
state changes it could not write in a small in-memory tier with the same ids and ordering (issue 12:
a full disk used to throw alerts away). Every write asks its `StorageGuard` whether to try the disk
again (capped back-off); the first write that succeeds also writes the memory tier, except items
already confirmed delivered, which no one needs any more. Reads merge both tiers. Of the memory tier
only history/info records are ever dropped (beyond `MEMORY_LIMIT`), never an alert or a reply.

Alert tags must stay unique at the server across state loss (its 24 h duplicate filter keys on the
text): each outbox file draws a random `tag_space` when it is created, and a new file — lost,
damaged, in memory — means a new space, so restarted ids never repeat an old tag.

Several servers (issue 18: OVMS v2 and an MQTT broker at once): each item records its delivery per
configured server in `outbox_server` (which connection it was last written on, when that server
confirmed it). `set_servers` names the configured ones; `mark_sent`/`confirm`/`to_send` given a
`server` work on that server's record, and an item is `delivered` once every configured server has
confirmed it. Without a `server` argument they work on the item as a whole, as before. A separate
table rather than new columns: an outbox file written by an older version opens unchanged, and the
start-up salvage of a damaged file copies `outbox` rows as they are.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from runtime.ratelog import RateLimitedLog
from tcu.db_check import Damage, open_checked
from tcu.sqlite_store import open_db, storage_fault, transaction
from tcu.storage_guard import StorageGuard

log = logging.getLogger(__name__)
T = TypeVar("T")
MEMORY_LIMIT = 2000          # undelivered items the memory tier holds before it drops history/info records
MEMORY_DELIVERED = 500       # delivered memory-only items remembered (for confirmations arriving late)
TAG_SPACE_LEN = 4            # 31^4 ≈ 920,000 spaces: two installations of one car colliding is negligible
_TAG_ALPHABET = "".join(c for c in string.ascii_lowercase + string.digits if c not in "l01o5")

KINDS = ("alert", "reply", "history", "info")
STATES = ("queued", "sent", "delivered")

SCHEMA = _SCHEMA = """
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
CREATE TABLE IF NOT EXISTS outbox_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_server (
    id INTEGER NOT NULL,
    server TEXT NOT NULL,
    conn INTEGER,
    delivered_at REAL,
    PRIMARY KEY (id, server)
);
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
    """Durable queue of items for the server (and the SMS fallback). All methods are one transaction.

    `rng` draws the tag space of a new file (the loop's `random("alert-tag")` in the unit, so a seeded
    virtual world stays deterministic); `wall` stamps a quarantined file's name."""

    def __init__(self, db: sqlite3.Connection | str | Path, *, rng: random.Random | None = None,
                 guard: StorageGuard | None = None) -> None:
        self.conn = db if isinstance(db, sqlite3.Connection) else open_db(db)
        self.guard = guard or StorageGuard("outbox.db")
        self._over: dict[int, OutboxItem] = {}     # items whose newest state is only in memory
        self._srv_over: dict[tuple[int, str], tuple[int | None, float | None]] = {}   # … per-server records
        self.servers: tuple[str, ...] = ()         # the configured servers (set_servers)
        self._mem_only: set[int] = set()           # … of which never written at all
        self._dropped_log = RateLimitedLog(log, 60.0)
        self.dropped = 0                           # history/info records dropped from a full memory tier
        self._now = 0.0                            # the latest time a caller gave (for reads that fail)
        self._space_saved = True
        self.conn.executescript(_SCHEMA)
        self.tag_space = self._tag_space(rng or random.Random())
        self._hi = self._disk_max_id()

    @classmethod
    def open(cls, path: str | Path, wall: float, *, rng: random.Random | None = None,
             guard: StorageGuard | None = None) -> tuple[Outbox, Damage | None]:
        """Open with the start-up check (`tcu.db_check`): a damaged file is set aside, what can be read kept."""
        conn, damage = open_checked(path, _SCHEMA, ("outbox",), wall)
        return cls(conn, rng=rng, guard=guard), damage

    def _tag_space(self, rng: random.Random) -> str:
        row = self.conn.execute("SELECT v FROM outbox_meta WHERE k='tag_space'").fetchone()
        if row:
            return str(row[0])
        space = "".join(rng.choice(_TAG_ALPHABET) for _ in range(TAG_SPACE_LEN))
        try:
            with transaction(self.conn) as c:
                c.execute("INSERT INTO outbox_meta (k, v) VALUES ('tag_space', ?)", (space,))
        except sqlite3.Error as e:   # a full disk at start: written with the first write that succeeds
            self.guard.failed(e, 0.0)
            self._space_saved = False
        return space

    def _disk_max_id(self) -> int:
        try:
            row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            top = self.conn.execute("SELECT MAX(id) FROM outbox").fetchone()
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            return 0
        return max(int(row[0]) if row else 0, int(top[0] or 0))

    def close(self) -> None:
        self.conn.close()

    @property
    def memory_items(self) -> int:
        """Items (or state changes) held only in memory because the disk failed."""
        return len(self._over)

    # -- the two tiers -------------------------------------------------------------------------------
    def _write(self, now: float, disk: Callable[[sqlite3.Connection], T], memory: Callable[[], T]) -> T:
        """Run `disk` in one transaction (writing the memory tier first); on a storage fault, `memory`."""
        self._now = max(self._now, now)
        if self.guard.may_try(now):
            try:
                with transaction(self.conn) as c:
                    self._flush(c)
                    result = disk(c)
            except sqlite3.Error as e:
                self.guard.failed(e, now)     # re-raises our own bugs
            else:
                self._over.clear()
                self._mem_only.clear()
                self._srv_over.clear()
                self._space_saved = True
                self.guard.succeeded(now)
                return result
        return memory()

    def _flush(self, c: sqlite3.Connection) -> None:
        rows = [(i.id, i.kind, i.payload, i.ref, i.created, i.state, i.via, i.conn, i.line, i.attempts,
                 i.sms_attempts, i.sent_at, i.delivered_at)
                for i in sorted(self._over.values(), key=lambda i: i.id)
                if not (i.id in self._mem_only and i.state == "delivered")]
        if not self._space_saved:
            c.execute("INSERT OR IGNORE INTO outbox_meta (k, v) VALUES ('tag_space', ?)", (self.tag_space,))
        if self._over:   # ids handed out from memory are never handed out again, written or not
            row = c.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            if row is None:
                c.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (self._hi,))
            elif int(row[0]) < self._hi:
                c.execute("UPDATE sqlite_sequence SET seq=? WHERE name='outbox'", (self._hi,))
        if rows:
            c.executemany(f"INSERT OR REPLACE INTO outbox ({_COLS}) VALUES ({','.join('?' * 13)})", rows)
        if self._srv_over:
            c.executemany("INSERT OR REPLACE INTO outbox_server (id, server, conn, delivered_at) VALUES (?, ?, ?, ?)",
                          [(i, srv, conn, at) for (i, srv), (conn, at) in sorted(self._srv_over.items())])

    def retry(self, now: float) -> bool:
        """Try to write the memory tier now (the unit's back-off timer calls this). True when all is on disk."""
        if not self._over and not self._srv_over and not self.guard.failing and self._space_saved:
            return True
        return self._write(now, lambda c: True, lambda: False)

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[OutboxItem]:
        try:
            return [OutboxItem(*r) for r in self.conn.execute(sql, args)]
        except sqlite3.Error as e:   # an unreadable disk: what is in memory is all there is
            if storage_fault(e) is None:
                raise
            self.guard.failed(e, self._now)
            return []

    def _current(self, item_id: int) -> OutboxItem | None:
        item = self._over.get(item_id)
        if item is not None:
            return item
        rows = self._rows(f"SELECT {_COLS} FROM outbox WHERE id=?", (item_id,))
        return rows[0] if rows else None

    def _merged(self, sql: str, args: Sequence[object], keep: Callable[[OutboxItem], bool],
                limit: int | None = None) -> list[OutboxItem]:
        """Disk rows from `sql` (which must filter as `keep` does), overridden and completed by memory."""
        if not self._over:
            if limit is not None:
                return self._rows(sql + " LIMIT ?", [*args, limit])
            return self._rows(sql, args)
        items = {i.id: i for i in self._rows(sql, args) if i.id not in self._over}
        items.update((i.id, i) for i in self._over.values() if keep(i))
        out = [items[k] for k in sorted(items)]
        return out if limit is None else out[:limit]

    def _put(self, item: OutboxItem, new: bool = False) -> None:
        self._over[item.id] = item
        if new:
            self._mem_only.add(item.id)
        self._trim()

    def _trim(self) -> None:
        mem = [self._over[i] for i in sorted(self._mem_only)]
        done = [i for i in mem if i.state == "delivered"]
        for item in done[:max(0, len(done) - MEMORY_DELIVERED)]:
            del self._over[item.id]
            self._mem_only.discard(item.id)
        waiting = [i for i in mem if i.state != "delivered"]
        excess = len(waiting) - MEMORY_LIMIT
        for item in [i for i in waiting if i.kind in ("history", "info")][:max(0, excess)]:
            del self._over[item.id]
            self._mem_only.discard(item.id)
            self.dropped += 1
            self._dropped_log.error("dropped", item.created, "outbox: memory tier full while the disk fails: "
                                    "dropped %s record %d (%d dropped so far; alerts are kept)",
                                    item.kind, item.id, self.dropped)

    # -- writing -----------------------------------------------------------------------------------
    def add(self, kind: str, payload: str, now: float, ref: str | None = None) -> OutboxItem:
        """Persist a new item (committed when this returns, or held in memory while the disk fails)."""
        return self.add_many([(kind, payload, ref)], now)[0]

    def add_many(self, items: Iterable[tuple[str, str, str | None]], now: float) -> list[OutboxItem]:
        """Persist several items in one transaction, in order; their ids are final either way."""
        batch = list(items)
        for kind, _, _ in batch:
            if kind not in KINDS:
                raise ValueError(f"outbox: unknown kind {kind!r}")

        def disk(c: sqlite3.Connection) -> list[int]:
            ids = []
            for kind, payload, ref in batch:
                cur = c.execute("INSERT INTO outbox (kind, payload, ref, created) VALUES (?, ?, ?, ?)",
                                (kind, payload, ref, now))
                ids.append(int(cur.lastrowid or 0))
            return ids

        def memory() -> list[int]:
            self._hi = max(self._hi, self._disk_max_id(), max(self._over, default=0))
            ids = []
            for kind, payload, ref in batch:
                self._hi += 1
                self._put(OutboxItem(self._hi, kind, payload, ref, now, "queued", None, None, None, 0, 0,
                                     None, None), new=True)
                ids.append(self._hi)
            return ids

        ids = self._write(now, disk, memory)
        self._hi = max([self._hi, *ids])
        return [self._get(i) for i in ids]

    def mark_sent(self, ids: Sequence[int], conn_no: int, first_line: int, now: float,
                  server: str | None = None) -> None:
        """Record that `ids` were written, in this order, on server connection `conn_no` at line
        positions `first_line`, `first_line + 1`, … (the caller's line counter for that connection);
        with `server`, also that server's record (sent on `conn_no`).

        Delivered items are left alone (a late duplicate send does not undo a confirmation)."""
        def disk(c: sqlite3.Connection) -> None:
            for k, item_id in enumerate(ids):
                cur = c.execute(
                    "UPDATE outbox SET state='sent', via='server', conn=?, line=?, sent_at=?, "
                    "attempts=attempts+1 WHERE id=? AND state!='delivered'",
                    (conn_no, first_line + k, now, item_id),
                )
                if server is not None and cur.rowcount:
                    c.execute("INSERT INTO outbox_server (id, server, conn) VALUES (?, ?, ?) "
                              "ON CONFLICT (id, server) DO UPDATE SET conn=excluded.conn WHERE delivered_at IS NULL",
                              (item_id, server, conn_no))

        def memory() -> None:
            for k, item_id in enumerate(ids):
                item = self._current(item_id)
                if item is not None and item.state != "delivered":
                    self._put(replace(item, state="sent", via="server", conn=conn_no, line=first_line + k,
                                      sent_at=now, attempts=item.attempts + 1))
                    if server is not None:
                        _, at = self._server_record(item_id, server)
                        if at is None:
                            self._srv_over[(item_id, server)] = (conn_no, None)

        self._write(now, disk, memory)

    def confirm_upto(self, conn_no: int, line: int, now: float) -> list[int]:
        """The server has read every line up to and including `line` on `conn_no` (a ping answered).

        Returns the ids that became delivered."""
        def disk(c: sqlite3.Connection) -> list[int]:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM outbox WHERE state='sent' AND conn=? AND line<=? ORDER BY id",
                (conn_no, line))]
            c.execute(
                "UPDATE outbox SET state='delivered', delivered_at=? WHERE state='sent' AND conn=? AND line<=?",
                (now, conn_no, line),
            )
            return ids

        def memory() -> list[int]:
            items = self._merged(f"SELECT {_COLS} FROM outbox WHERE state='sent' AND conn=? AND line<=? "
                                 "ORDER BY id", (conn_no, line),
                                 lambda i: i.state == "sent" and i.conn == conn_no and (i.line or 0) <= line)
            for item in items:
                self._put(replace(item, state="delivered", delivered_at=now))
            return [i.id for i in items]

        return self._write(now, disk, memory)

    def confirm(self, ids: Iterable[int], via: str, now: float, server: str | None = None) -> list[int]:
        """Mark items delivered by `via` ("server" for an `h` ack, "sms" once the modem accepted the SMS).

        With `server` (one of several configured, `set_servers`): that server has them; an item is
        delivered once every configured server has confirmed it. Idempotent; returns the ids that
        became delivered now."""
        if via not in ("server", "sms", "dropped"):
            raise ValueError(f"outbox: unknown channel {via!r}")
        wanted = list(ids)
        if server is not None:
            return self._confirm_server(wanted, server, now)

        def disk(c: sqlite3.Connection) -> list[int]:
            done: list[int] = []
            for item_id in wanted:
                cur = c.execute(
                    "UPDATE outbox SET state='delivered', via=?, delivered_at=? WHERE id=? AND state!='delivered'",
                    (via, now, item_id),
                )
                if cur.rowcount:
                    done.append(item_id)
            return done

        def memory() -> list[int]:
            done: list[int] = []
            for item_id in wanted:
                item = self._current(item_id)
                if item is not None and item.state != "delivered":
                    self._put(replace(item, state="delivered", via=via, delivered_at=now))
                    done.append(item_id)
            return done

        return self._write(now, disk, memory)

    def set_servers(self, servers: Sequence[str], now: float) -> None:
        """The configured servers. Items every one of them has confirmed become delivered (a server
        dropped from the configuration no longer holds them back)."""
        self.servers = tuple(servers)
        if not self.servers:
            return
        marks = ",".join("?" * len(self.servers))

        def disk(c: sqlite3.Connection) -> None:
            c.execute(f"UPDATE outbox SET state='delivered', via='server', delivered_at=? WHERE state!='delivered' "
                      f"AND id IN (SELECT id FROM outbox_server WHERE server IN ({marks}) "
                      f"AND delivered_at IS NOT NULL GROUP BY id HAVING COUNT(*)=?)",
                      (now, *self.servers, len(self.servers)))

        self._write(now, disk, lambda: None)

    def _server_record(self, item_id: int, server: str) -> tuple[int | None, float | None]:
        """(connection last written on, confirmed at) of `item_id` at `server`; (None, None) if never sent."""
        rec = self._srv_over.get((item_id, server))
        if rec is not None:
            return rec
        try:
            row = self.conn.execute("SELECT conn, delivered_at FROM outbox_server WHERE id=? AND server=?",
                                    (item_id, server)).fetchone()
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            self.guard.failed(e, self._now)
            return None, None
        return (row[0], row[1]) if row else (None, None)

    def server_records(self, server: str) -> dict[int, tuple[int | None, float | None]]:
        """id → (connection, confirmed at) at `server`, for the undelivered items."""
        out: dict[int, tuple[int | None, float | None]] = {}
        try:
            for item_id, conn, at in self.conn.execute(
                    "SELECT s.id, s.conn, s.delivered_at FROM outbox_server s JOIN outbox o ON o.id = s.id "
                    "WHERE s.server=? AND o.state!='delivered'", (server,)):
                out[int(item_id)] = (conn, at)
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            self.guard.failed(e, self._now)
        out.update((i, rec) for (i, srv), rec in self._srv_over.items() if srv == server)
        return out

    def _confirm_server(self, wanted: list[int], server: str, now: float) -> list[int]:
        others = [srv for srv in self.servers if srv != server]

        def complete(item_id: int) -> bool:
            return all(self._server_record(item_id, srv)[1] is not None for srv in others)

        def disk(c: sqlite3.Connection) -> list[int]:
            done: list[int] = []
            for item_id in wanted:
                c.execute("INSERT INTO outbox_server (id, server, delivered_at) VALUES (?, ?, ?) "
                          "ON CONFLICT (id, server) DO UPDATE SET delivered_at=excluded.delivered_at "
                          "WHERE delivered_at IS NULL", (item_id, server, now))
                if complete(item_id):
                    cur = c.execute("UPDATE outbox SET state='delivered', via='server', delivered_at=? "
                                    "WHERE id=? AND state!='delivered'", (now, item_id))
                    if cur.rowcount:
                        done.append(item_id)
            return done

        def memory() -> list[int]:
            done: list[int] = []
            for item_id in wanted:
                item = self._current(item_id)
                if item is None:
                    continue
                conn, at = self._server_record(item_id, server)
                if at is None:
                    self._srv_over[(item_id, server)] = (conn, now)
                if item.state != "delivered" and complete(item_id):
                    self._put(replace(item, state="delivered", via="server", delivered_at=now))
                    done.append(item_id)
            return done

        return self._write(now, disk, memory)

    def note_sms_attempt(self, ids: Iterable[int], now: float | None = None) -> None:
        """Count an SMS attempt without finishing the item (e.g. the server should still get it)."""
        wanted = list(ids)
        at = self._now if now is None else now

        def disk(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE outbox SET sms_attempts=sms_attempts+1 WHERE id=?", [(i,) for i in wanted])

        def memory() -> None:
            for item_id in wanted:
                item = self._current(item_id)
                if item is not None:
                    self._put(replace(item, sms_attempts=item.sms_attempts + 1))

        self._write(at, disk, memory)

    def purge(self, older_than: float, now: float | None = None) -> int:
        """Delete delivered items delivered before `older_than`; ids are never reused.

        While the disk fails nothing is purged (the delete could not be written either)."""
        def disk(c: sqlite3.Connection) -> int:
            cur = c.execute("DELETE FROM outbox WHERE state='delivered' AND delivered_at < ?", (older_than,))
            c.execute("DELETE FROM outbox_server WHERE id NOT IN (SELECT id FROM outbox)")
            return cur.rowcount

        return self._write(self._now if now is None else now, disk, lambda: 0)

    # -- reading -----------------------------------------------------------------------------------
    def to_send(self, conn_no: int, limit: int | None = None, kinds: Sequence[str] | None = None,
                server: str | None = None) -> list[OutboxItem]:
        """Undelivered items not yet written on `conn_no`, oldest first: what to send on this connection.

        With `server`: the items that server has not confirmed and that were not written on `conn_no`
        (its current connection)."""
        if server is not None:
            records = self.server_records(server)
            out = []
            for item in self.pending():
                conn, at = records.get(item.id, (None, None))
                if at is None and conn != conn_no and (not kinds or item.kind in kinds):
                    out.append(item)
                    if limit is not None and len(out) >= limit:
                        break
            return out
        sql = f"SELECT {_COLS} FROM outbox WHERE state!='delivered' AND (conn IS NULL OR conn!=?)"
        args: list[object] = [conn_no]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY id"
        return self._merged(sql, args, lambda i: i.state != "delivered" and i.conn != conn_no
                            and (not kinds or i.kind in kinds), limit)

    def pending(self) -> list[OutboxItem]:
        """All undelivered items, oldest first."""
        return self._merged(f"SELECT {_COLS} FROM outbox WHERE state!='delivered' ORDER BY id", (),
                            lambda i: i.state != "delivered")

    def get(self, item_id: int) -> OutboxItem | None:
        return self._current(item_id)

    def _get(self, item_id: int) -> OutboxItem:
        item = self.get(item_id)
        assert item is not None
        return item

    def find_ref(self, ref: str) -> OutboxItem | None:
        """The latest item with this `ref` (e.g. an alert id), for `server_confirmed(alert_id)`."""
        found = self._merged(f"SELECT {_COLS} FROM outbox WHERE ref=? ORDER BY id DESC LIMIT 1", (ref,),
                             lambda i: i.ref == ref)
        return max(found, key=lambda i: i.id) if found else None

    def refs(self, ids: Iterable[int]) -> dict[int, str | None]:
        """id -> ref (e.g. to turn confirmed outbox ids into `AlertRouter.server_confirmed(alert_id)`)."""
        out: dict[int, str | None] = {}
        for item_id in ids:
            item = self._current(item_id)
            if item is not None:
                out[item_id] = item.ref
        return out

    def queued_count(self) -> int:
        if self._over:
            return len(self.pending())
        try:
            return int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE state!='delivered'").fetchone()[0])
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            return 0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        try:
            for state, n in self.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                out[state] = n
            if self._over:
                marks = ",".join("?" * len(self._over))
                for _, state in self.conn.execute(f"SELECT id, state FROM outbox WHERE id IN ({marks})",
                                                  list(self._over)):
                    out[state] -= 1
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
        for item in self._over.values():
            out[item.state] += 1
        return out
