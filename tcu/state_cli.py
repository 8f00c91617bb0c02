"""`tcu state --state-dir DIR [--json]`: what a person needs at 3 a.m., without touching the unit.

It reads the running unit's `status.json` (health problems with their age, retries and next try; the
link; the last alert; every component's retry counters) and the outbox database, read-only, and says
plainly when the unit is not running (a snapshot older than `status_file.STALE_AFTER`, or its process
gone) or the directory is not a state directory at all.

Exit status: 0 running and healthy, 1 running with problems or not running, 2 no usable state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import TextIO

from tcu.plural import plural
from tcu.status_file import FILENAME, STALE_AFTER, read_status

OUTBOX = "outbox.db"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", required=True, help="the unit's state directory (tcu run's state_dir)")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts instead of text")


def _pid_alive(pid: object) -> bool | None:
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _outbox_counts(path: Path) -> dict[str, object]:
    """Undelivered items by kind, from the database opened read-only (never created, never locked)."""
    if not path.exists():
        return {"error": f"no {path.name}"}
    # With a WAL beside it (the unit is running, or was killed) read through it; without one the file is
    # all there is: open it immutable, so that reading creates no -wal/-shm files in the unit's directory.
    wal = path.with_name(path.name + "-wal").exists() and path.with_name(path.name + "-shm").exists()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro" + ("" if wal else "&immutable=1"), uri=True, timeout=2.0)
        try:
            rows = conn.execute("SELECT kind, state, COUNT(*) FROM outbox WHERE state != 'delivered' "
                                "GROUP BY kind, state").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"error": f"{path.name}: {exc}"}
    by_kind: dict[str, int] = {}
    sent = 0
    for kind, state, n in rows:
        by_kind[str(kind)] = by_kind.get(str(kind), 0) + int(n)
        if state == "sent":
            sent += int(n)
    return {"queued": sum(by_kind.values()), "by_kind": by_kind, "sent_unconfirmed": sent}


def gather(state_dir: Path, now: float | None = None) -> tuple[int, dict[str, object]]:
    """(exit status, report) for `state_dir`; `now` is epoch seconds (tests pass their own)."""
    now = time.time() if now is None else now
    report: dict[str, object] = {"state_dir": str(state_dir)}
    if not state_dir.is_dir():
        report["error"] = f"no state directory {state_dir}" if not state_dir.exists() else \
            f"{state_dir} is not a directory"
        return 2, report
    status_path = state_dir / FILENAME
    status: dict[str, object] | None = None
    try:
        status = read_status(status_path)
    except FileNotFoundError:
        report["error"] = (f"no {FILENAME} in {state_dir}: no unit has run here"
                           if not (state_dir / OUTBOX).exists() else
                           f"no {FILENAME} in {state_dir}: the unit never wrote its status (an older version?)")
    except (OSError, ValueError) as exc:
        report["error"] = f"cannot read {status_path}: {exc}"
    report["outbox"] = _outbox_counts(state_dir / OUTBOX)
    if status is None:
        report["running"] = False
        return (2 if not (state_dir / OUTBOX).exists() else 1), report
    written = status.get("written_at")
    age = now - written if isinstance(written, int | float) else None
    alive = _pid_alive(status.get("pid"))
    running = age is not None and age <= STALE_AFTER and alive is not False
    report.update(running=running, status_age_s=None if age is None else round(age, 1), status=status)
    health = status.get("health")
    ok = isinstance(health, dict) and bool(health.get("ok"))
    return (0 if running and ok else 1), report


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _clock(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def render(report: dict[str, object], now: float | None = None, out: TextIO = sys.stdout) -> None:
    """The report for people."""
    now = time.time() if now is None else now
    print(f"State directory: {report['state_dir']}", file=out)
    status = report.get("status")
    if "error" in report:
        print(f"  {report['error']}", file=out)
    if isinstance(status, dict):
        age_v = report.get("status_age_s")
        age = float(age_v) if isinstance(age_v, int | float) else 0.0
        pid = status.get("pid")
        if report.get("running"):
            started = status.get("started_at")
            up = f", up {_ago(now - started)}" if isinstance(started, int | float) else ""
            print(f"Unit: running (pid {pid}{up}; status written {_ago(age)} ago)", file=out)
        else:
            print(f"Unit: NOT RUNNING: its last status was written {_ago(age)} ago by pid {pid}, "
                  "which is gone or stopped writing; what follows is as it was then", file=out)
        health = status.get("health")
        problems = health.get("problems", []) if isinstance(health, dict) else []
        if not problems:
            print("Health: OK", file=out)
        else:
            print(f"Health: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=out)
            for p in problems:
                since = float(p.get("since") or now)
                line = f"  {p.get('key')}: {p.get('text')}, since {_clock(since)} ({_ago(now - since)})"
                line += f", {plural(int(p.get('retries') or 0), 'retry', 'retries')}"
                nxt = p.get("next_try")
                if isinstance(nxt, int | float):
                    line += f", next try {'in ' + _ago(nxt - now) if nxt > now else 'due'}"
                if p.get("owner_told"):
                    line += ", owner told by SMS"
                print(line, file=out)
        link = status.get("link")
        if isinstance(link, dict):
            text = "online" if link.get("online") else "offline"
            off = link.get("offline_since")
            if not link.get("online") and isinstance(off, int | float):
                text += f" since {_clock(off)} ({_ago(now - off)})"
            print(f"Link: {text} (state {link.get('state')})", file=out)
    outbox = report.get("outbox")
    if isinstance(outbox, dict):
        if "error" in outbox:
            print(f"Outbox: {outbox['error']}", file=out)
        else:
            kinds = outbox.get("by_kind") or {}
            detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) if isinstance(kinds, dict) else ""
            print(f"Outbox: {outbox.get('queued', 0)} queued" + (f" ({detail})" if detail else ""), file=out)
    if isinstance(status, dict):
        last = status.get("last_alert")
        if isinstance(last, dict):
            print(f"Last alert: {_clock(float(last.get('at') or 0))} {last.get('text')}", file=out)
        else:
            print("Last alert: none since the unit started", file=out)
        sources = status.get("sources")
        if isinstance(sources, dict) and sources:
            print("Retry counters:", file=out)
            for name, values in sorted(sources.items()):
                if isinstance(values, dict):
                    # zeros are the normal case: show what happened, not the whole table
                    shown = [f"{k} {v}" for k, v in values.items() if v not in (0, None, "", False)]
                    body = ", ".join(shown) if shown else "nothing to report"
                else:
                    body = str(values)
                print(f"  {name}: {body}", file=out)


def cmd_state(args: argparse.Namespace) -> int:
    code, report = gather(Path(args.state_dir))
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        render(report)
    return code
