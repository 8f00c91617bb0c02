"""`tcu-server alerts|messages|vehicles`: what the server stored, as an aligned table or one JSON document.

Tables are for people (local time, the zone in the header, a count at the end); `--json` is for
scripts (UTC ISO-8601 and epoch seconds, every field, one document even when nothing matched).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from tools.wording import count

from . import stored, timespec
from .stored import StoredAlert, StoredError, StoredMessage, StoredVehicle, TimeRange

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
COMMANDS = ("alerts", "messages", "vehicles")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The three inspection subcommands, sharing their options."""
    helps = {
        "alerts": ("the alerts (P messages) cars pushed, oldest first",
                   "Alerts the server stored: time received, vehicle, kind, text."),
        "messages": ("the history records and the latest message of each code the server stored",
                     "History records (h/H, at the car's time) and the latest stored S/D/L/W/F/V of each "
                     "vehicle (at the time it came), in time order."),
        "vehicles": ("the registered vehicles: last seen and what is stored for each",
                     "Each vehicle: when it was last heard from, how many alerts and records are stored, "
                     "which latest messages; with --since/--until the counts are those of the range."),
    }
    for name in COMMANDS:
        short, description = helps[name]
        p = sub.add_parser(name, help=short, description=description + " The database is opened read-only; "
                           "this works while the server runs.")
        p.add_argument("--db", required=True, metavar="FILE", help="the server's SQLite database (as given to serve)")
        p.add_argument("--vehicle", metavar="ID", help="only this vehicle (case does not matter)")
        p.add_argument("--since", metavar="TIME", help=f"from this time on; {timespec.HELP}")
        p.add_argument("--until", metavar="TIME", help=f"up to this time; {timespec.HELP}")
        p.add_argument("--json", action="store_true", help="one JSON document instead of a table")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
        now: float | None = None) -> int:
    now = time.time() if now is None else now
    try:
        span = TimeRange(None if args.since is None else timespec.parse_time(args.since, now),
                         None if args.until is None else timespec.parse_time(args.until, now))
    except ValueError as exc:
        print(f"tcu-server {args.command}: {exc}", file=err)
        return EXIT_USAGE
    if span.since is not None and span.until is not None and span.since > span.until:
        print(f"tcu-server {args.command}: --since ({args.since}) is after --until ({args.until})", file=err)
        return EXIT_USAGE
    try:
        conn = stored.open_readonly(args.db)
    except StoredError as exc:
        print(f"tcu-server {args.command}: {exc}", file=err)
        return EXIT_ERROR
    try:
        vehicle = args.vehicle.upper() if args.vehicle else None
        if vehicle is not None and vehicle not in stored.vehicle_ids(conn):
            known = ", ".join(stored.vehicle_ids(conn)) or "none"
            print(f"tcu-server {args.command}: no vehicle {vehicle} in {args.db} (vehicles: {known})", file=err)
            return EXIT_ERROR
        rows: Sequence[StoredAlert | StoredMessage | StoredVehicle]
        if args.command == "alerts":
            rows = stored.alerts(conn, vehicle, span)
        elif args.command == "messages":
            rows = stored.messages(conn, vehicle, span)
        else:
            rows = stored.vehicles(conn, vehicle, span)
    except Exception as exc:  # sqlite3.Error mostly: a damaged file must give a line, not a traceback
        print(f"tcu-server {args.command}: cannot read {args.db}: {exc}", file=err)
        return EXIT_ERROR
    finally:
        conn.close()
    if args.json:
        out.write(json.dumps(_document(args, vehicle, span, rows), indent=2) + "\n")
    else:
        out.write(_table(args.command, rows, vehicle, span))
    return EXIT_OK


# --- JSON --------------------------------------------------------------------------------------------
_TIME_FIELDS = ("time", "received", "last_seen")


def _document(args: argparse.Namespace, vehicle: str | None, span: TimeRange,
              rows: Sequence[StoredAlert | StoredMessage | StoredVehicle]) -> dict[str, object]:
    items = []
    for row in rows:
        d = stored.as_dict(row)
        for key in _TIME_FIELDS:
            if key in d:
                t = d[key]
                d[key] = None if t is None else timespec.iso_utc(float(t))  # type: ignore[arg-type]
                d[key + "_epoch"] = t
        if "latest" in d:
            d["latest"] = list(d["latest"])  # type: ignore[call-overload]
        items.append(d)
    return {"database": str(args.db), "vehicle": vehicle,
            "since": None if span.since is None else timespec.iso_utc(span.since),
            "until": None if span.until is None else timespec.iso_utc(span.until),
            args.command: items}


# --- tables ------------------------------------------------------------------------------------------
def _when(t: float | None, zones: set[str]) -> str:
    if t is None:
        return "never"
    text, zone = timespec.local(t)
    zones.add(zone)
    return text


def _table(command: str, rows: Sequence[StoredAlert | StoredMessage | StoredVehicle], vehicle: str | None,
           span: TimeRange) -> str:
    zones: set[str] = set()
    body: list[list[str]]
    if command == "alerts":
        head = ["time", "vehicle", "kind", "text"]
        body = [[_when(r.time, zones), r.vehicle, r.kind, r.text] for r in rows if isinstance(r, StoredAlert)]
        noun = count(len(body), "alert")
    elif command == "messages":
        head = ["time", "vehicle", "what", "data"]
        body = [[_when(r.time, zones), r.vehicle,
                 f"record {r.type} #{r.recno}" if r.kind == "record" else f"latest {r.type}", r.data]
                for r in rows if isinstance(r, StoredMessage)]
        n_rec = sum(1 for r in rows if isinstance(r, StoredMessage) and r.kind == "record")
        noun = f"{count(n_rec, 'record')}, {count(len(body) - n_rec, 'latest message')}"
    else:
        head = ["vehicle", "last seen", "alerts", "records", "latest messages"]
        body = [[r.vehicle, _when(r.last_seen, zones), str(r.alerts), str(r.records), " ".join(r.latest) or "-"]
                for r in rows if isinstance(r, StoredVehicle)]
        noun = count(len(body), "vehicle")
    where = _scope(vehicle, span, zones)
    if not body:
        return f"nothing stored{where}\n"
    zone = "/".join(sorted(zones))
    head = [f"{h} ({zone})" if h in ("time", "last seen") and zone else h for h in head]
    return _aligned([head, *body]) + f"{noun}{where}\n"


def _scope(vehicle: str | None, span: TimeRange, zones: set[str]) -> str:
    parts = []
    if vehicle:
        parts.append(f"for {vehicle}")
    if span.since is not None:
        parts.append(f"since {_when(span.since, zones)}")
    if span.until is not None:
        parts.append(f"until {_when(span.until, zones)}")
    return (" " + " ".join(parts)) if parts else ""


def _aligned(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded (free text)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]).rstrip() for r in rows]
    return "\n".join(lines) + "\n"
