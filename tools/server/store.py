"""The local OVMS server's SQLite database: vehicles, last message per code, records, alerts.

WAL with synchronous=NORMAL: a commit is a WAL append, not an fsync, so 1,000 cars do not cause an
fsync storm. Telemetry (last S/D/L/…) is written in batches by the server; records and alerts are
committed before they are acknowledged, because the car deletes what we acknowledge.

Records are unique per (vehicle, type, recno, data): a car that resends a record it never saw
acknowledged (killed between our commit and its bookkeeping) does not create a second row. The data
is part of the key because real OVMS v3 firmware puts a constant (a format version) in the recno of
`*-LOG-Trip`/`*-LOG-Grid`; those records differ in their data and must all be kept.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS vehicles (
    vehicle_id TEXT PRIMARY KEY,
    password   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    vehicle_id TEXT NOT NULL,
    code       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    updated    REAL NOT NULL,
    PRIMARY KEY (vehicle_id, code)
);
CREATE TABLE IF NOT EXISTS records (
    id         INTEGER PRIMARY KEY,
    vehicle_id TEXT NOT NULL,
    rtype      TEXT NOT NULL,
    recno      INTEGER NOT NULL,
    lifetime   INTEGER NOT NULL,
    data       TEXT NOT NULL,
    time       REAL NOT NULL,
    received   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_vehicle ON records (vehicle_id, time);
CREATE TABLE IF NOT EXISTS alerts (
    id         INTEGER PRIMARY KEY,
    vehicle_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    text       TEXT NOT NULL,
    time       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_vehicle ON alerts (vehicle_id, time);
"""
RECORDS_UNIQUE = "records_unique"



@dataclass(frozen=True)
class Record:
    """A historical record (`H`/`h`) as stored: `time` is the server's wall clock + the car's timediff."""

    rtype: str
    recno: int
    lifetime: int
    data: str
    time: float


@dataclass(frozen=True)
class Alert:
    """A push alert (`P`) as received."""

    time: float
    kind: str
    text: str


def open_db(db: str | Path | sqlite3.Connection) -> sqlite3.Connection:
    """Open (or adopt) the database and make sure the schema exists."""
    conn = db if isinstance(db, sqlite3.Connection) else sqlite3.connect(str(db), isolation_level=None)
    conn.isolation_level = None  # explicit transactions only
    if not isinstance(db, sqlite3.Connection) and str(db) != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    _ensure_records_unique(conn)
    return conn


def _ensure_records_unique(conn: sqlite3.Connection) -> None:
    """Databases from before the unique index may hold retransmitted rows: keep the first of each."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                    (RECORDS_UNIQUE,)).fetchone() is not None:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = conn.execute("DELETE FROM records WHERE id NOT IN (SELECT min(id) FROM records "
                            "GROUP BY vehicle_id, rtype, recno, data)").rowcount
        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {RECORDS_UNIQUE} "
                     "ON records (vehicle_id, rtype, recno, data)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if gone:
        log.info("removed %d duplicate records while adding the unique index", gone)


def add_vehicle(conn: sqlite3.Connection, vehicle_id: str, password: str) -> str:
    """Create or update a vehicle; the id is upper-cased as the server does at login (spec §2)."""
    vid = vehicle_id.upper()
    if not vid or any(c.isspace() for c in vid) or not vid.isascii():
        raise ValueError("vehicle id must be non-empty ASCII without spaces")
    if not password:
        raise ValueError("password must not be empty")
    conn.execute("INSERT INTO vehicles(vehicle_id, password) VALUES (?, ?) "
                 "ON CONFLICT(vehicle_id) DO UPDATE SET password = excluded.password", (vid, password))
    return vid


def vehicle_password(conn: sqlite3.Connection, vehicle_id: str) -> str | None:
    row = conn.execute("SELECT password FROM vehicles WHERE vehicle_id = ?", (vehicle_id,)).fetchone()
    return None if row is None else str(row[0])


def list_vehicles(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT vehicle_id FROM vehicles ORDER BY vehicle_id")]


def load_messages(conn: sqlite3.Connection, vehicle_id: str) -> dict[str, tuple[str, float]]:
    rows = conn.execute("SELECT code, payload, updated FROM messages WHERE vehicle_id = ?", (vehicle_id,))
    return {code: (payload, updated) for code, payload, updated in rows}


def save_messages(conn: sqlite3.Connection, rows: list[tuple[str, str, str, float]]) -> None:
    """One transaction for a batch of (vehicle_id, code, payload, updated)."""
    if not rows:
        return
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO messages(vehicle_id, code, payload, updated) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(vehicle_id, code) DO UPDATE SET payload = excluded.payload, "
                         "updated = excluded.updated", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def delete_messages(conn: sqlite3.Connection, vehicle_id: str, code_prefix: str) -> None:
    conn.execute("DELETE FROM messages WHERE vehicle_id = ? AND substr(code, 1, ?) = ?",
                 (vehicle_id, len(code_prefix), code_prefix))


def save_record(conn: sqlite3.Connection, vehicle_id: str, rtype: str, recno: int, lifetime: int,
                data: str, time: float, received: float) -> bool:
    """Store a record; False when the same (vehicle, type, recno, data) is already stored."""
    cur = conn.execute("INSERT OR IGNORE INTO records(vehicle_id, rtype, recno, lifetime, data, time, received) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (vehicle_id, rtype, recno, lifetime, data, time, received))
    return cur.rowcount == 1


def load_records(conn: sqlite3.Connection, vehicle_id: str) -> list[Record]:
    rows = conn.execute("SELECT rtype, recno, lifetime, data, time FROM records WHERE vehicle_id = ? "
                        "ORDER BY id", (vehicle_id,))
    return [Record(*r) for r in rows]


def save_alert(conn: sqlite3.Connection, vehicle_id: str, kind: str, text: str, time: float) -> None:
    conn.execute("INSERT INTO alerts(vehicle_id, kind, text, time) VALUES (?, ?, ?, ?)",
                 (vehicle_id, kind, text, time))


def alert_stored_since(conn: sqlite3.Connection, vehicle_id: str, kind: str, text: str, since: float) -> bool:
    """Whether this exact alert was stored for the vehicle at or after `since` (index on vehicle, time)."""
    return conn.execute("SELECT 1 FROM alerts WHERE vehicle_id = ? AND time >= ? AND kind = ? AND text = ? "
                        "LIMIT 1", (vehicle_id, since, kind, text)).fetchone() is not None


def recent_alerts(conn: sqlite3.Connection, vehicle_id: str, since: float,
                  limit: int) -> list[tuple[str, str, float]]:
    """(kind, text, time) of the newest `limit` alerts stored at or after `since`, oldest first."""
    rows = conn.execute("SELECT kind, text, time FROM alerts WHERE vehicle_id = ? AND time >= ? "
                        "ORDER BY time DESC, id DESC LIMIT ?", (vehicle_id, since, limit)).fetchall()
    return [(str(k), str(t), float(tm)) for k, t, tm in reversed(rows)]


def load_alerts(conn: sqlite3.Connection, vehicle_id: str) -> list[Alert]:
    rows = conn.execute("SELECT time, kind, text FROM alerts WHERE vehicle_id = ? ORDER BY id", (vehicle_id,))
    return [Alert(*r) for r in rows]
