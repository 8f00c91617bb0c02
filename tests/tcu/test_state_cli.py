"""`tcu state`: running, stale, dead and missing state directories, text and JSON, read-only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcu.outbox import Outbox
from tcu.state_cli import gather, render
from tcu.status_file import STALE_AFTER, StatusWriter

NOW = 1_800_000_000.0


def snapshot(pid: int, problems: list[dict] | None = None) -> dict[str, object]:
    return {"format": 1, "pid": pid, "vehicle_id": "CAR1", "started_at": NOW - 7200,
            "health": {"ok": not problems, "problems": problems or []},
            "link": {"state": "tcp_wait", "online": False, "offline_since": NOW - 300},
            "last_alert": {"at": NOW - 60, "text": "ALARM sounding #a7"},
            "sources": {"can": {"bus": "slcan:/dev/ttyACM0", "lost": 1, "garbled": 0},
                        "sms": {"attempts": 0}}}


def write(state: Path, doc: dict[str, object], written_at: float) -> None:
    StatusWriter(state / "status.json").update(doc, 0.0, written_at)


def test_running_unit_with_a_problem(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.add("alert", json.dumps({"text": "x"}), 0.0)
    outbox.add("history", "{}", 0.0)
    outbox.add("history", "{}", 0.0)
    outbox.close()
    problem = {"key": "can", "text": "CAN adapter slcan:/dev/ttyACM0 is gone: the car cannot be watched",
               "since": NOW - 600, "retries": 14, "next_try": NOW + 4, "owner_told": True}
    write(tmp_path, snapshot(os.getpid(), [problem]), NOW - 3)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, report = gather(tmp_path, now=NOW)
    assert code == 1 and report["running"] is True
    counts = {k: report["outbox"][k] for k in ("queued", "by_kind", "sent_unconfirmed")}
    assert counts == {"queued": 3, "by_kind": {"alert": 1, "history": 2}, "sent_unconfirmed": 0}
    out = io.StringIO()
    render(report, now=NOW, out=out)
    text = out.getvalue()
    assert "Unit: running (pid" in text and "up 2.0 h" in text
    assert "Health: 1 problem\n  can: CAN adapter slcan:/dev/ttyACM0 is gone" in text
    assert "(10 min), 14 retries, next try in 4 s, owner told by SMS" in text
    assert "Link: offline since" in text and "(5 min) (state tcp_wait)" in text
    assert "Outbox: 3 queued (alert 1, history 2), of which 0 sent but not confirmed" in text
    assert "ALARM sounding #a7" in text
    assert "  can: bus slcan:/dev/ttyACM0, lost 1\n  sms: nothing to report" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == before   # read-only: nothing created


def test_healthy_running_unit_exits_0(tmp_path: Path) -> None:
    write(tmp_path, snapshot(os.getpid()), NOW - 1)
    code, report = gather(tmp_path, now=NOW)
    assert code == 0 and report["running"] is True


@pytest.mark.parametrize("case", ["stale", "dead-pid"])
def test_unit_not_running(tmp_path: Path, case: str) -> None:
    if case == "stale":
        write(tmp_path, snapshot(os.getpid()), NOW - STALE_AFTER - 5)
    else:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        write(tmp_path, snapshot(child.pid), NOW - 1)
    code, report = gather(tmp_path, now=NOW)
    assert code == 1 and report["running"] is False
    out = io.StringIO()
    render(report, now=NOW, out=out)
    assert "Unit: NOT RUNNING" in out.getvalue()


def test_missing_and_empty_directories(tmp_path: Path) -> None:
    code, report = gather(tmp_path / "nope", now=NOW)
    assert code == 2 and "no state directory" in str(report["error"])
    code, report = gather(tmp_path, now=NOW)
    assert code == 2 and "no unit has run here" in str(report["error"])
    (tmp_path / "status.json").write_text("{not json")
    code, report = gather(tmp_path, now=NOW)
    assert code == 2 and "cannot read" in str(report["error"])


def test_command_line_text_and_json(tmp_path: Path) -> None:
    write(tmp_path, snapshot(os.getpid()), time.time())
    tcu = [sys.executable, "-m", "tcu.cli", "state", "--state-dir", str(tmp_path)]
    r = subprocess.run(tcu, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "Unit: running" in r.stdout and "Health: OK" in r.stdout, r.stderr
    r = subprocess.run([*tcu, "--json"], capture_output=True, text=True, timeout=30)
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["running"] is True and doc["status"]["vehicle_id"] == "CAR1"
    r = subprocess.run([*tcu[:-1], str(tmp_path / "missing"), "--json"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "no state directory" in json.loads(r.stdout)["error"]


def test_outbox_of_a_running_unit_is_read_through_its_wal(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")     # held open, as by the running unit
    try:
        outbox.add("alert", json.dumps({"text": "x"}), 0.0)
        write(tmp_path, snapshot(os.getpid()), NOW)
        before = sorted(p.name for p in tmp_path.iterdir())
        code, report = gather(tmp_path, now=NOW)
        assert report["outbox"]["queued"] == 1 and report["outbox"]["by_kind"] == {"alert": 1}
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    finally:
        outbox.close()
