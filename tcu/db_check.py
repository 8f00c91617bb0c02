"""Opening a database that may be damaged: check it, and when it is, keep what can be read and go on.

One overwritten page in `outbox.db` used to stop the unit at start (`database disk image is
malformed`), and a damaged WAL made queued alerts vanish without a word (issue 12). A unit that
refuses to start leaves the car with no link at all, so instead:

1. before SQLite touches the file, the WAL is read (`tcu.wal_check`): SQLite would silently drop what
   follows a damaged frame;
2. `PRAGMA quick_check` (the fast form of integrity_check: every page and b-tree, no index contents)
   — once, at start; 2–9 ms for an outbox of 10,000 items (2.4 MB) on the project's machine:

       python -c "import sqlite3,time,tempfile;from tcu.outbox import Outbox;p=tempfile.mkdtemp()+'/outbox.db';\
       o=Outbox(p);[o.add_many([('alert','x'*190,None)]*100,0.0) for _ in range(100)];o.close();\
       c=sqlite3.connect(p);t=time.perf_counter();c.execute('PRAGMA quick_check').fetchall();\
       print(f'{(time.perf_counter()-t)*1e3:.1f} ms')"

3. on damage the file and its WAL/SHM are renamed `<name>.damaged-<UTC time>` (kept for a person),
   every row that can still be read is copied, row by row, skipping damaged stretches, into a fresh
   database, and the caller gets a `Damage` saying what was lost — for the log, the health and the owner.

Faults that are not damage (read-only, full, cannot open) are raised for the caller to decide.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tcu.plural import plural
from tcu.sqlite_store import SIDE_FILES, open_db, storage_fault, transaction
from tcu.wal_check import wal_damage

log = logging.getLogger(__name__)

MAX_SKIPS = 200      # damaged stretches a salvage steps over before it gives up on a table


@dataclass(frozen=True)
class Damage:
    """What was wrong with a database at start and what became of it."""

    db: str              # file name: "outbox.db"
    reason: str          # "database disk image is malformed", "WAL damaged at byte …"
    quarantined: str     # where the damaged file now is
    salvaged: int        # rows copied into the fresh database
    unreadable: int      # read errors stepped over while copying (0: every reachable row was read)

    def describe(self) -> str:
        if not self.quarantined:    # nothing left to set aside: the file was lost or emptied
            return f"{self.db} was {self.reason}: what it held is lost"
        skipped = f", {self.unreadable} read error{'s' if self.unreadable != 1 else ''} skipped" \
            if self.unreadable else ""
        return (f"{self.db} was damaged ({self.reason}); {plural(self.salvaged, 'row')} saved{skipped}; "
                f"the damaged file is {Path(self.quarantined).name}")


class _Damaged(Exception):
    pass


def open_checked(path: str | Path, schema: str, tables: Sequence[str], wall: float
                 ) -> tuple[sqlite3.Connection, Damage | None]:
    """Open `path` (creating it with `schema`), checking it first; a damaged file is replaced (see module doc).

    Raises `sqlite3.Error`/`OSError` for faults that are not damage (read-only, full, cannot open)."""
    path = Path(path)
    reason = wal_damage(path) if path.exists() else None
    conn: sqlite3.Connection | None = None
    if reason is None:
        try:
            conn = open_db(path)
            result = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if result != ["ok"]:
                reason = "quick_check: " + "; ".join(result[:3])
            else:
                conn.executescript(schema)
                return conn, None
        except sqlite3.DatabaseError as e:
            fault = storage_fault(e)
            if fault is None or not fault.startswith("damaged"):
                if conn is not None:
                    conn.close()
                raise
            reason = str(e)
        if conn is not None:
            conn.close()
    return _replace(path, schema, tables, wall, reason)


def _replace(path: Path, schema: str, tables: Sequence[str], wall: float, reason: str
             ) -> tuple[sqlite3.Connection, Damage]:
    log.error("%s is damaged (%s): moving it aside and starting a fresh one with what can be read",
              path, reason)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall))
    bad = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while bad.exists():
        n += 1
        bad = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, bad)
    for side in SIDE_FILES:   # SQLite finds a WAL by name: it follows the file it belongs to
        if Path(f"{path}{side}").exists():
            os.replace(f"{path}{side}", f"{bad}{side}")
    rows: dict[str, list[tuple[object, ...]]] = {}
    skipped = 0
    copy = bad.with_name(bad.name + ".salvage")   # the quarantined file itself stays as it was found
    try:
        shutil.copyfile(bad, copy)
        if Path(f"{bad}-wal").exists():
            shutil.copyfile(f"{bad}-wal", f"{copy}-wal")
        _fit_header(copy)
        src = sqlite3.connect(copy)
        try:
            for table in tables:
                rows[table], n_skipped = salvage_rows(src, table)
                skipped += n_skipped
        finally:
            src.close()
    except (OSError, sqlite3.Error) as e:
        log.error("%s: cannot be read at all (%s); nothing saved", bad, e)
    finally:
        for side in ("", *SIDE_FILES):
            Path(f"{copy}{side}").unlink(missing_ok=True)
    fresh = open_db(path)
    fresh.executescript(schema)
    saved = 0
    with transaction(fresh) as c:
        for table, table_rows in rows.items():
            for row in table_rows:
                try:
                    c.execute(f"INSERT OR IGNORE INTO {table} VALUES ({','.join('?' * len(row))})", row)
                    saved += 1
                except sqlite3.IntegrityError:   # a damaged value that breaks a constraint: lost
                    skipped += 1
    damage = Damage(path.name, reason, str(bad), saved, skipped)
    log.error("%s", damage.describe())
    return fresh, damage


def _fit_header(path: Path) -> None:
    """A truncated file whose header still counts the lost pages is refused whole ("malformed", even
    its schema); saying it has the pages it has lets SQLite read those (fileformat2 §1.3.7, offset 28)."""
    with open(path, "r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        pages = os.fstat(f.fileno()).st_size // page_size
        if pages and struct.unpack(">I", header[28:32])[0] > pages:
            f.seek(28)
            f.write(struct.pack(">I", pages))


def salvage_rows(src: sqlite3.Connection, table: str) -> tuple[list[tuple[object, ...]], int]:
    """Every row of `table` that can be read, in rowid order, stepping over damaged stretches.

    A read that fails is retried past the last rowid read, a step further each time the damage is
    still in the way (1, 2, 4, … rowids, at most 65,536 at once), `MAX_SKIPS` times at most."""
    rows: list[tuple[object, ...]] = []
    skips = 0
    after = -(1 << 63)
    step = 1
    while skips <= MAX_SKIPS and after < (1 << 62):
        try:
            for r in src.execute(f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (after,)):
                rows.append(tuple(r[1:]))
                after = r[0]
                step = 1
            return rows, skips
        except sqlite3.DatabaseError as e:
            if storage_fault(e) is None:   # no such table (an empty file, a WAL lost from its start)
                return rows, skips
            skips += 1
            after = max(after, 0) + step
            step = min(step * 2, 1 << 16)
    return rows, skips
