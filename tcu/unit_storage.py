"""The unit's state directory: its databases opened the safe way, and what happens when the disk fails.

Issue 12: a full disk threw alerts away, a damaged `outbox.db` stopped the unit at start, a lost state
directory made alert tags collide at the server, a read-only one gave a raw traceback. Here:

- every database is opened with the start-up check (`tcu.db_check`): damage is set aside and
  reported (log, health, the owner), what can be read is kept, the unit starts;
- a directory that cannot be used at all (read-only, full, no permission) gives in-memory databases:
  the car's only link still runs, and the health says loudly `state_dir: /x is read-only …` —
  refusing to start would leave the car unwatched, which is worse than state lost at a restart;
- write failures at run time are each store's `StorageGuard`'s business; here they become one
  health problem (`storage`) and one retry timer on the guards' back-off.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from runtime import Loop, Timer
from tcu.db_check import Damage, open_checked, salvage_rows
from tcu.outbox import SCHEMA as OUTBOX_SCHEMA
from tcu.outbox import Outbox
from tcu.params import Params
from tcu.plural import plural
from tcu.sms_log import SCHEMA as SMS_SCHEMA
from tcu.sms_log import SmsLog
from tcu.sqlite_store import open_db, private_dir, storage_fault, transaction
from tcu.storage_guard import StorageGuard

log = logging.getLogger(__name__)

DAMAGE_SHOWN_S = 3600.0     # damage found at start stays in the health this long
_UNIT_SCHEMA = "CREATE TABLE IF NOT EXISTS unit_state (k TEXT PRIMARY KEY, v TEXT NOT NULL);"


def _sequence(conn: sqlite3.Connection, table: str) -> int | None:
    """The AUTOINCREMENT high-water mark of `table` (ids handed out, purged ones included)."""
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
    except sqlite3.OperationalError:     # no AUTOINCREMENT table in this database
        return None
    return None if row is None else int(row[0])


class HealthSink(Protocol):
    """What storage needs of `tcu.health.Health`."""

    def report(self, key: str, text: str, now: float, *, retries: int = 0,
               next_try: float | None = None) -> object: ...

    def clear(self, key: str, now: float) -> object: ...


class UnitState:
    """The unit's small key/value store (boot counter). Counting never fails for the disk's sake."""

    def __init__(self, conn: sqlite3.Connection, guard: StorageGuard) -> None:
        self.conn = conn
        self.guard = guard
        self._memory: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        if key in self._memory:
            return self._memory[key]
        try:
            row = self.conn.execute("SELECT v FROM unit_state WHERE k=?", (key,)).fetchone()
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            return None
        return None if row is None else str(row[0])

    def put(self, key: str, value: str, now: float = 0.0) -> None:
        try:
            with transaction(self.conn) as c:
                c.execute("INSERT OR REPLACE INTO unit_state (k, v) VALUES (?, ?)", (key, value))
        except sqlite3.Error as e:
            self.guard.failed(e, now)
            self._memory[key] = value

    def bump(self, key: str, now: float = 0.0) -> int:
        try:
            with transaction(self.conn) as c:
                row = c.execute("SELECT v FROM unit_state WHERE k=?", (key,)).fetchone()
                n = int(row[0]) + 1 if row else 1
                c.execute("INSERT OR REPLACE INTO unit_state (k, v) VALUES (?, ?)", (key, str(n)))
        except sqlite3.Error as e:
            self.guard.failed(e, now)
            n = int(self._memory.get(key, "0")) + 1
            self._memory[key] = str(n)
            return n
        self.guard.succeeded(now)
        return n


class UnitStorage:
    """Opens outbox, SMS log and unit state under `state_dir`; watches them (and `params`) for faults."""

    def __init__(self, loop: Loop, state_dir: str | Path, health: HealthSink, params: Params | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.loop = loop
        self.dir = Path(state_dir)
        self.health = health
        self.notify = notify                       # tells the owner/app something once (the unit's push)
        self.damage: list[Damage] = []
        self.unusable: str | None = None            # "state_dir: /x is read-only" → databases in memory
        self.faults: dict[str, str] = {}             # database → current write fault
        self._timer: Timer | None = None
        self._damage_timer: Timer | None = None
        rng = loop.random("storage-retry")
        self.guards = {name: StorageGuard(name, rng, clock=loop.time)
                       for name in ("outbox.db", "sms_log.db", "unit.db")}
        wall = loop.wall()
        try:
            private_dir(self.dir)
        except OSError as e:
            self._cannot_use(e)
        self.outbox = Outbox(self._open("outbox.db", OUTBOX_SCHEMA, ("outbox",), wall),
                             rng=loop.random("alert-tag"), guard=self.guards["outbox.db"])
        self.sms_log = SmsLog(self._open("sms_log.db", SMS_SCHEMA, ("sms_log",), wall),
                              guard=self.guards["sms_log.db"])
        self.state = UnitState(self._open("unit.db", _UNIT_SCHEMA, ("unit_state",), wall), self.guards["unit.db"])
        self._check_outbox_lineage()
        self.params = params
        if params is not None:
            self.guards["params.db"] = params.guard
            if params.damage is not None:
                self.damage.append(params.damage)
            if params.store_fault is not None and self.unusable is None:
                self.unusable = params.store_fault
        for guard in self.guards.values():
            guard.listeners.append(self._changed)
            if guard.fault is not None:
                self.faults[guard.name] = guard.fault
        self._report(loop.time())

    def _check_outbox_lineage(self) -> None:
        """An outbox deleted or truncated to nothing opens as a fresh, empty file — indistinguishable
        from a first start, and queued alerts would vanish without a word. unit.db remembers which
        outbox file (its tag space) the unit last used: a different one means the old one was lost."""
        known = self.state.get("outbox_space")
        space = self.outbox.tag_space
        if known is not None and known != space and not any(d.db == "outbox.db" for d in self.damage):
            damage = Damage("outbox.db", "missing or empty although the unit ran here before", "", 0, 0)
            log.error("%s", damage.describe())
            self.damage.append(damage)
        if known != space:
            self.state.put("outbox_space", space, self.loop.time())

    def status(self) -> dict[str, object]:
        """For `tcu state`: what fails, what is held in memory, the next retry."""
        return {"problem": self.problem_text(), "memory_items": self.outbox.memory_items,
                "failing": {name: {"fault": g.fault, "retries": g.backoff.attempts,
                                   "next_try": None if g.backoff.next_at is None else
                                   round(self.loop.wall() + g.backoff.next_at - self.loop.time(), 1)}
                            for name, g in self.guards.items() if g.failing}}

    def _cannot_use(self, e: BaseException) -> None:
        fault = storage_fault(e)
        if fault is None:
            raise e
        if self.unusable is None:
            self.unusable = f"state_dir: {self.dir} is {fault}"
            log.error("%s (%s): running on in-memory state — queued alerts and SMS changes are lost at a "
                      "restart", self.unusable, e)

    def _open(self, name: str, schema: str, tables: tuple[str, ...], wall: float) -> sqlite3.Connection:
        if self.unusable is None:
            try:
                conn, damage = open_checked(self.dir / name, schema, tables, wall)
            except (sqlite3.Error, OSError) as e:
                self._cannot_use(e)
            else:
                if damage is not None:
                    self.damage.append(damage)
                return conn
        conn = open_db(":memory:")
        conn.executescript(schema)
        # the outbox keeps its tag space (and id sequence): its ids go on, so its tags may too
        self._carry_over(self.dir / name, conn, tables + (("outbox_meta",) if name == "outbox.db" else ()))
        return conn

    def _carry_over(self, path: Path, conn: sqlite3.Connection, tables: tuple[str, ...]) -> None:
        """A state directory that became read-only (an SD card the kernel remounted `ro` after errors)
        still holds readable databases: their rows — queued alerts above all — are copied into memory."""
        if not path.exists():
            return
        wal = Path(f"{path}-wal").exists() and Path(f"{path}-wal").stat().st_size > 0
        uri = f"file:{path}?{'mode=ro' if wal else 'immutable=1'}"
        try:
            src = sqlite3.connect(uri, uri=True)
            try:
                with transaction(conn) as c:
                    for table in tables:
                        rows, _ = salvage_rows(src, table)
                        for row in rows:
                            c.execute(f"INSERT OR IGNORE INTO {table} VALUES ({','.join('?' * len(row))})", row)
                        if rows:
                            log.warning("%s: %s of %s read into memory", path, plural(len(rows), "row"), table)
                        seq = _sequence(src, table)
                        if seq is not None:
                            c.execute("DELETE FROM sqlite_sequence WHERE name=?", (table,))
                            c.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq))
            finally:
                src.close()
        except sqlite3.Error as e:
            if storage_fault(e) is None:
                raise
            log.error("%s cannot be read either (%s): starting from nothing", path, e)

    # -- health --------------------------------------------------------------------------------------
    def _changed(self, name: str, fault: str | None, _now: float) -> None:
        now = self.loop.time()
        if fault is None:
            self.faults.pop(name, None)
        else:
            self.faults[name] = fault
        self._report(now)
        self._arm()

    def problem_text(self) -> str | None:
        """`state directory failing: disk full (outbox.db, sms_log.db)`, or None when storage is fine."""
        parts = []
        if self.unusable is not None:
            parts.append(f"{self.unusable}: running on in-memory state")
        by_fault: dict[str, list[str]] = {}
        for name, fault in sorted(self.faults.items()):
            by_fault.setdefault(fault, []).append(name)
        for fault, names in by_fault.items():
            parts.append(f"state directory failing: {fault} ({', '.join(names)})")
        if self.damage:
            parts.append("; ".join(d.describe() for d in self.damage))
        return "; ".join(parts) or None

    @property
    def failing(self) -> bool:
        """Writes are failing (or never reach a disk): what the owner's alert SMS mentions."""
        return self.unusable is not None or bool(self.faults)

    def _report(self, now: float) -> None:
        text = self.problem_text()
        if text is None:
            self.health.clear("storage", now)
            return
        guard = self.guards.get(next(iter(sorted(self.faults)), ""))
        self.health.report("storage", text, now, retries=guard.backoff.attempts if guard else 0,
                           next_try=guard.backoff.next_at if guard else None)

    def start(self) -> None:
        """Tell the owner about damage found at start (the health keeps it until then)."""
        if self.damage:
            if self.notify is not None:
                self.notify("Storage: " + "; ".join(d.describe() for d in self.damage))
            self._damage_timer = self.loop.call_later(DAMAGE_SHOWN_S, self._damage_shown)
        self._arm()

    def _damage_shown(self) -> None:
        """Damage found at start is news, not a lasting problem: after an hour (DIAG, `tcu state`, the
        owner's health SMS have shown it) it leaves the health."""
        self._damage_timer = None
        if self.damage:
            self.damage.clear()
            self._report(self.loop.time())

    # -- retries -------------------------------------------------------------------------------------
    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = [g.backoff.next_at for g in self.guards.values() if g.failing and g.backoff.next_at is not None]
        if due:
            self._timer = self.loop.call_at(max(min(due), self.loop.time()), self.retry)

    def retry(self) -> None:
        """Write what the memory tiers hold, for every failing database whose back-off is over."""
        self._timer = None
        now = self.loop.time()
        self.outbox.retry(now)
        if self.params is not None:
            self.params.retry(now)
        self.sms_log.retry(now)
        guard = self.guards["unit.db"]
        if guard.failing and guard.may_try(now):
            try:   # a no-op write: does the disk take one again?
                with transaction(self.state.conn) as c:
                    c.execute("CREATE TABLE IF NOT EXISTS _probe (x)")
                    c.execute("DROP TABLE _probe")
            except sqlite3.Error as e:
                guard.failed(e, now)
            else:
                guard.succeeded(now)
        self._arm()

    def close(self) -> None:
        """Close every database (after `stop`; e.g. before the directory is unmounted)."""
        self.stop()
        for conn in (self.outbox.conn, self.sms_log.conn, self.state.conn):
            conn.close()

    def stop(self) -> None:
        for t in (self._timer, self._damage_timer):
            if t is not None:
                t.cancel()
        self._timer = self._damage_timer = None
