"""What the server stored, read back for people and scripts (`tcu-server alerts|messages|vehicles`).

The database is opened read-only (`mode=ro`): inspecting must never change what a running server
relies on, and WAL lets a reader see every committed row while the server keeps writing. Nothing here
reads the password column.

Times: alerts carry the server's wall clock at receipt; history records the car's time of the event
(server time + the car's timediff) and `received`; the latest message of each code its `updated`.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path

TABLES = frozenset({"vehicles", "messages", "records", "alerts"})
_CODE_ORDER = {c: i for i, c in enumerate("SDLWFV")}     # the spec's order of the stored codes


class StoredError(Exception):
    """The file cannot be read as a tcu-server database; the text says why, for the user."""


@dataclass(frozen=True)
class TimeRange:
    """[since, until] in seconds since the epoch; None = open on that side."""

    since: float | None = None
    until: float | None = None

    def sql(self, column: str) -> tuple[str, list[float]]:
        """` AND column >= ? AND column <= ?` for the bounds that are set."""
        clause = ""
        args: list[float] = []
        if self.since is not None:
            clause += f" AND {column} >= ?"
            args.append(self.since)
        if self.until is not None:
            clause += f" AND {column} <= ?"
            args.append(self.until)
        return clause, args


@dataclass(frozen=True)
class StoredAlert:
    time: float
    vehicle: str
    kind: str
    text: str


@dataclass(frozen=True)
class StoredMessage:
    """A history record (`kind` "record", `type` its record type) or the latest car message of a code
    (`kind` "latest", `type` the code, e.g. "S"): the two things the server keeps of a car's messages."""

    time: float
    vehicle: str
    kind: str
    type: str
    data: str
    recno: int | None = None
    received: float | None = None


@dataclass(frozen=True)
class StoredVehicle:
    vehicle: str
    last_seen: float | None
    alerts: int
    records: int
    latest: tuple[str, ...]     # codes whose latest message is stored (S, D, L, …)


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """The database at `path`, read-only; StoredError when it is missing or not a server database."""
    p = Path(path)
    if not p.exists():
        raise StoredError(f"{path}: no such file (give the --db the server was started with)")
    if not p.is_file():
        raise StoredError(f"{path}: not a file")
    uri = f"file:{urllib.parse.quote(str(p.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        tables = _tables(conn)
    except sqlite3.OperationalError as exc:
        # A WAL database in a directory we may not write (no -shm yet) cannot be opened plainly; with no
        # -wal file no server is writing it, so reading it as immutable is safe.
        if Path(str(p) + "-wal").exists():
            raise StoredError(f"{path}: cannot open read-only: {exc}") from None
        try:
            conn = sqlite3.connect(uri + "&immutable=1", uri=True)
            tables = _tables(conn)
        except sqlite3.Error as exc2:
            raise StoredError(f"{path}: cannot open read-only: {exc2}") from None
    except sqlite3.DatabaseError as exc:
        raise StoredError(f"{path}: not a tcu-server database (not an SQLite file: {exc})") from None
    missing = TABLES - tables
    if missing:
        conn.close()
        raise StoredError(f"{path}: not a tcu-server database (no table {', '.join(sorted(missing))})")
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def vehicle_ids(conn: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT vehicle_id FROM vehicles ORDER BY vehicle_id")]


def _vehicle(vehicle: str | None) -> tuple[str, list[str]]:
    return ("", []) if vehicle is None else (" AND vehicle_id = ?", [vehicle.upper()])


def alerts(conn: sqlite3.Connection, vehicle: str | None = None, span: TimeRange = TimeRange()) -> list[StoredAlert]:
    """Alerts in the order they arrived."""
    vc, va = _vehicle(vehicle)
    tc, ta = span.sql("time")
    rows = conn.execute(f"SELECT time, vehicle_id, kind, text FROM alerts WHERE 1 = 1{vc}{tc} ORDER BY time, id",
                        [*va, *ta])
    return [StoredAlert(float(t), str(v), str(k), str(x)) for t, v, k, x in rows]


def messages(conn: sqlite3.Connection, vehicle: str | None = None,
             span: TimeRange = TimeRange()) -> list[StoredMessage]:
    """History records (by the car's time) and the latest message of each code (by when it came), merged
    in time order."""
    vc, va = _vehicle(vehicle)
    tc, ta = span.sql("time")
    out = [StoredMessage(float(t), str(v), "record", str(rt), str(d), int(n), float(rx))
           for t, v, rt, n, d, rx in conn.execute(
               f"SELECT time, vehicle_id, rtype, recno, data, received FROM records WHERE 1 = 1{vc}{tc} "
               "ORDER BY time, id", [*va, *ta])]
    uc, ua = span.sql("updated")
    out += [StoredMessage(float(t), str(v), "latest", str(c), str(p))
            for t, v, c, p in conn.execute(
                f"SELECT updated, vehicle_id, code, payload FROM messages WHERE 1 = 1{vc}{uc} ORDER BY updated",
                [*va, *ua])]
    out.sort(key=lambda s: (s.time, s.vehicle))
    return out


def vehicles(conn: sqlite3.Connection, vehicle: str | None = None,
             span: TimeRange = TimeRange()) -> list[StoredVehicle]:
    """Every registered vehicle (or one) with what was stored for it in the range and when it was last
    heard from (the newest row of any kind, by the server's clock)."""
    ids = vehicle_ids(conn) if vehicle is None else [vehicle.upper()]
    at, aa = span.sql("time")
    rt, ra = span.sql("received")
    ut, ua = span.sql("updated")
    out = []
    for vid in ids:
        n_alerts, last_alert = conn.execute(f"SELECT count(*), max(time) FROM alerts WHERE vehicle_id = ?{at}",
                                            [vid, *aa]).fetchone()
        n_records, last_record = conn.execute(
            f"SELECT count(*), max(received) FROM records WHERE vehicle_id = ?{rt}", [vid, *ra]).fetchone()
        latest = conn.execute(f"SELECT code, updated FROM messages WHERE vehicle_id = ?{ut} ORDER BY code",
                              [vid, *ua]).fetchall()
        times = [t for t in (last_alert, last_record, *(u for _, u in latest)) if t is not None]
        codes = sorted((str(c) for c, _ in latest), key=lambda c: (_CODE_ORDER.get(c, len(_CODE_ORDER)), c))
        out.append(StoredVehicle(vid, max(times) if times else None, int(n_alerts), int(n_records), tuple(codes)))
    return out


def as_dict(row: StoredAlert | StoredMessage | StoredVehicle) -> dict[str, object]:
    return asdict(row)
