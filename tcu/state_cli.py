"""`tcu state --state-dir DIR [--json]`: what a person needs at 3 a.m., without touching the unit.

It reads the running unit's `status.json` (health problems with their age, retries and next try; the
link; the last alert; every component's retry counters; every parameter with where its value comes
from) and the databases, read-only: the outbox item by item (queued, sent but not confirmed,
recently delivered, with ids, kinds, ages and, with several servers, each server's part), the SMS log
(texts masked as stored), and the changes SMS/server commands stored in `params.db`. It says plainly
when the unit is not running (a snapshot older than `status_file.STALE_AFTER`, or its process gone)
or the directory is not a state directory at all.

Read-only means no writes and no new files: a database with a WAL beside it (the unit is running, or
was killed) is read through it (`mode=ro`); without one the file is all there is and is opened
`immutable`, so reading creates no -wal/-shm in the unit's directory.

Exit status: 0 running and healthy, 1 running with problems or not running, 2 no usable state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tcu.params import SPEC_BY_NAME, read_stored
from tcu.plural import plural
from tcu.status_file import FILENAME, STALE_AFTER, read_status

OUTBOX = "outbox.db"
SMS_LOG = "sms_log.db"
PARAMS = "params.db"
ITEMS_SHOWN = 30          # undelivered outbox items listed one by one (the counts cover all)
DELIVERED_SHOWN = 10      # most recently delivered items listed
SMS_SHOWN = 15            # newest SMS log entries listed
TEXT_SHOWN = 70           # characters of an alert or SMS text in the listing


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


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """`path` opened for reading only, creating nothing (module doc)."""
    wal = path.with_name(path.name + "-wal").exists() and path.with_name(path.name + "-shm").exists()
    conn = sqlite3.connect(f"file:{path}?mode=ro" + ("" if wal else "&immutable=1"), uri=True, timeout=2.0)
    try:
        yield conn
    finally:
        conn.close()


def _payload(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _outbox_report(path: Path, now: float) -> dict[str, object]:
    """Counts by kind and state, and the items themselves: every undelivered one (up to ITEMS_SHOWN),
    the latest delivered ones, each with its age and, with several servers, each server's part."""
    if not path.exists():
        return {"error": f"no {path.name}"}
    try:
        with _read_only(path) as conn:
            rows = conn.execute("SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state").fetchall()
            undelivered = conn.execute(
                "SELECT id, kind, state, payload, via, delivered_at, attempts, sms_attempts FROM outbox "
                "WHERE state != 'delivered' ORDER BY id LIMIT ?", (ITEMS_SHOWN,)).fetchall()
            delivered = conn.execute(
                "SELECT id, kind, state, payload, via, delivered_at, attempts, sms_attempts FROM outbox "
                "WHERE state = 'delivered' ORDER BY delivered_at DESC, id DESC LIMIT ?",
                (DELIVERED_SHOWN,)).fetchall()
            ids = [r[0] for r in undelivered + delivered]
            per_server: dict[int, dict[str, str]] = {}
            try:
                marks = ",".join("?" * len(ids))
                for item_id, server, conn_no, at in conn.execute(
                        f"SELECT id, server, conn, delivered_at FROM outbox_server WHERE id IN ({marks})", ids):
                    per_server.setdefault(int(item_id), {})[str(server)] = \
                        "delivered" if at is not None else ("sent" if conn_no is not None else "queued")
            except sqlite3.OperationalError:    # an outbox written before several servers existed
                pass
    except sqlite3.Error as exc:
        return {"error": f"{path.name}: {exc}"}
    by_kind: dict[str, int] = {}
    counts = {"queued": 0, "sent": 0, "delivered": 0}
    for kind, state, n in rows:
        if state != "delivered":
            by_kind[str(kind)] = by_kind.get(str(kind), 0) + int(n)
        counts[str(state)] = counts.get(str(state), 0) + int(n)

    def item(r: tuple[object, ...]) -> dict[str, object]:
        item_id, kind, state, payload, via, delivered_at, attempts, sms_attempts = r
        data = _payload(str(payload))
        wall = data.get("wall")
        out: dict[str, object] = {"id": item_id, "kind": kind, "state": state,
                                  "age_s": round(now - wall, 1) if isinstance(wall, int | float) else None,
                                  "attempts": attempts, "sms_attempts": sms_attempts}
        if kind in ("alert", "info", "reply") and isinstance(data.get("text"), str):
            out["text"] = str(data["text"])
        if state == "delivered":
            out["via"] = via
            out["delivered_ago_s"] = round(now - float(delivered_at), 1) \
                if isinstance(delivered_at, int | float) else None
        if item_id in per_server:
            out["servers"] = per_server[int(str(item_id))]
        return out

    return {"queued": sum(by_kind.values()), "by_kind": by_kind, "sent_unconfirmed": counts["sent"],
            "delivered_kept": counts["delivered"], "items": [item(r) for r in undelivered],
            "delivered": [item(r) for r in delivered]}


def _sms_log_report(path: Path) -> dict[str, object]:
    """The newest SMS log entries, oldest first, as stored (secrets were masked on the way in)."""
    if not path.exists():
        return {"error": f"no {path.name}"}
    try:
        with _read_only(path) as conn:
            total = int(conn.execute("SELECT COUNT(*) FROM sms_log").fetchone()[0])
            rows = conn.execute("SELECT at, direction, number, text, note FROM sms_log ORDER BY id DESC LIMIT ?",
                                (SMS_SHOWN,)).fetchall()
    except sqlite3.Error as exc:
        return {"error": f"{path.name}: {exc}"}
    return {"total": total, "entries": [{"at": at, "direction": d, "number": n, "text": t, "note": note}
                                        for at, d, n, t, note in reversed(rows)]}


def _stored_params(path: Path) -> dict[str, object]:
    """The changes SMS/server commands stored (when no running unit says more); secrets as set/unset."""
    try:
        stored = read_stored(path)
    except sqlite3.Error as exc:
        return {"error": f"{path.name}: {exc}"}
    out = []
    for name, text, source, at, _fp in stored:
        spec = SPEC_BY_NAME.get(name)
        secret = spec is None or spec.secret     # an unknown name could be anything: not shown
        out.append({"name": name, "secret": secret, "value": ("set" if text else "unset") if secret else text,
                    "source": source or "SMS or server", "at": at})
    return {"stored": out}


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
    report["outbox"] = _outbox_report(state_dir / OUTBOX, now)
    report["sms_log"] = _sms_log_report(state_dir / SMS_LOG)
    if status is not None and isinstance(status.get("params"), list):
        report["params"] = {"all": status.pop("params")}
    else:   # no unit says where each value comes from: what SMS/server stored is all there is to show
        report["params"] = _stored_params(state_dir / PARAMS)
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
        _render_outbox(outbox, out)
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
    sms = report.get("sms_log")
    if isinstance(sms, dict):
        _render_sms_log(sms, out)
    params = report.get("params")
    if isinstance(params, dict):
        _render_params(params, out)


def _short(text: object, limit: int = TEXT_SHOWN) -> str:
    flat = " / ".join(str(text).splitlines())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _render_outbox(outbox: dict[str, object], out: TextIO) -> None:
    if "error" in outbox:
        print(f"Outbox: {outbox['error']}", file=out)
        return
    kinds = outbox.get("by_kind") or {}
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) if isinstance(kinds, dict) else ""
    sent = outbox.get("sent_unconfirmed") or 0
    kept = outbox.get("delivered_kept") or 0
    print(f"Outbox: {outbox.get('queued', 0)} queued" + (f" ({detail})" if detail else "")
          + f", of which {sent} sent but not confirmed; {kept} delivered (kept a week)", file=out)

    def line(item: dict[str, object]) -> str:
        age = item.get("age_s")
        text = f"  #{item.get('id')} {item.get('kind')}"
        if isinstance(age, int | float):
            text += f" ({_ago(age)} old)"
        state = item.get("state")
        text += ": " + {"queued": "queued", "sent": "sent, not confirmed"}.get(str(state), str(state))
        if state == "delivered":
            ago = item.get("delivered_ago_s")
            text += f" by {item.get('via')}" + (f" {_ago(ago)} ago" if isinstance(ago, int | float) else "")
        elif isinstance(item.get("attempts"), int) and item["attempts"]:
            text += f", written {plural(int(str(item['attempts'])), 'time')}"
        if isinstance(item.get("sms_attempts"), int) and item["sms_attempts"]:
            text += f", SMS tried {plural(int(str(item['sms_attempts'])), 'time')}"
        servers = item.get("servers")
        if isinstance(servers, dict) and servers:
            text += " [" + ", ".join(f"{k} {v}" for k, v in sorted(servers.items())) + "]"
        if "text" in item:
            text += f": {_short(item['text'])}"
        return text

    items = outbox.get("items")
    if isinstance(items, list) and items:
        for item in items:
            print(line(item), file=out)
        hidden = int(str(outbox.get("queued") or 0)) - len(items)
        if hidden > 0:
            print(f"  ... and {hidden} more", file=out)
    delivered = outbox.get("delivered")
    if isinstance(delivered, list) and delivered:
        print("  Recently delivered:", file=out)
        for item in delivered:
            print(line(item), file=out)


def _render_sms_log(sms: dict[str, object], out: TextIO) -> None:
    if "error" in sms:
        print(f"SMS log: {sms['error']}", file=out)
        return
    entries = sms.get("entries")
    if not isinstance(entries, list) or not entries:
        print("SMS log: empty", file=out)
        return
    total = int(str(sms.get("total") or len(entries)))
    print(f"SMS log: {plural(total, 'entry', 'entries')}"
          + (f", the newest {len(entries)}" if total > len(entries) else "") + " (texts masked as stored):", file=out)
    for e in entries:
        at = e.get("at")
        when = _clock(float(at)) if isinstance(at, int | float) and at > 1e9 else "time unknown"
        arrow = "from" if e.get("direction") == "in" else "to  "
        note = f"  [{e.get('note')}]" if e.get("note") else ""
        print(f"  {when} {arrow} {e.get('number')}: {_short(e.get('text'))}{note}", file=out)


def _render_params(params: dict[str, object], out: TextIO) -> None:
    if "error" in params:
        print(f"Parameters: {params['error']}", file=out)
        return

    def origin(p: dict[str, object]) -> str:
        text = str(p.get("source"))
        at = p.get("at")
        if isinstance(at, int | float):
            text += f" at {_clock(at)}"
        if p.get("overrides"):
            text += f"; overrides the {p['overrides']}"
        return text

    every = params.get("all")
    if isinstance(every, list):
        print("Parameters (value, where it comes from; secrets only set/unset):", file=out)
        width = max((len(str(p.get("name"))) for p in every), default=0)
        for p in every:
            value = str(p.get("value"))
            shown = value if p.get("secret") else (repr(value) if value == "" or " " in value else value)
            print(f"  {str(p.get('name')):<{width}}  {shown}  ({origin(p)})", file=out)
        return
    stored = params.get("stored")
    if isinstance(stored, list):
        if not stored:
            print("Parameters: none changed by SMS or server (file and flag values are known only to a "
                  "running unit)", file=out)
            return
        print("Parameters changed by SMS or server (file and flag values are known only to a running unit):",
              file=out)
        for p in stored:
            print(f"  {p.get('name')}  {p.get('value')}  ({origin(p)})", file=out)


def cmd_state(args: argparse.Namespace) -> int:
    code, report = gather(Path(args.state_dir))
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        render(report)
    return code
