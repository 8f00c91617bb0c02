"""`tcu sim` from the front door (issue 13, "The report" and "The demo"): the summary is always printed,
progress only on a terminal, Ctrl-C ends a run (demo or not) with the partial report and status 130,
`--demo` refuses the world options it would ignore, and the sliced run is the same run."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.report import build_report
from sim.runner import run_full_speed
from sim.world import World, WorldConfig
from tcu.cli import main

TCU = [sys.executable, "-m", "tcu.cli"]


@pytest.mark.parametrize("extra", [["--hours", "2"], ["--weather", "harsh"], ["--scenario", "theft", "--drain", "60"],
                                   ["--no-incidents"], ["--incidents-per-hour", "3"]])
def test_demo_refuses_the_world_options_it_would_ignore(capsys: pytest.CaptureFixture[str],
                                                        extra: list[str]) -> None:
    assert main(["sim", "--demo", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcu sim: --demo plays a fixed 95-minute story and does not take")
    for flag in extra:
        if flag.startswith("--"):
            assert flag in err


def test_sliced_run_is_the_same_run() -> None:
    """Cut into slices (the progress bar, Ctrl-C) the world gives the report `World.run()` gives."""
    cfg = dict(seed=3, hours=0.5, drain_s=300.0, modem="direct", weather="harsh", incidents_per_hour=4.0)
    whole = World(WorldConfig(**cfg))     # type: ignore[arg-type]
    whole.run()
    sliced = World(WorldConfig(**cfg))    # type: ignore[arg-type]
    slices = 0

    def count() -> None:
        nonlocal slices
        slices += 1

    assert run_full_speed(sliced, count) is True
    a, b = build_report(whole.observations(0.0)), build_report(sliced.observations(0.0))
    whole.close()
    sliced.close()
    assert slices > 1
    assert a == b
    assert a["sim_seconds"] == 0.5 * 3600 + 300


def test_summary_printed_also_with_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert main(["sim", "--hours", "0.25", "--drain", "60", "--modem", "direct", "--report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("seed 1: 0:16:00 simulated")
    assert f"JSON report: {out}" in printed
    assert json.loads(out.read_text())["sim_seconds"] == 960.0
    assert "\x1b[" not in printed and "ETA" not in printed     # not a terminal: no progress bar


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_gives_the_partial_report(tmp_path: Path) -> None:
    """A real process, a real SIGINT: the summary of what ran, the JSON and HTML files, status 130,
    no traceback."""
    state, report, html = tmp_path / "state", tmp_path / "r.json", tmp_path / "r.html"
    proc = subprocess.Popen([*TCU, "sim", "--hours", "240", "--weather", "harsh", "--modem", "direct",
                             "--state-dir", str(state), "--report", str(report), "--html", str(html)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(state / "server.db")
    time.sleep(1.5)                      # well into the run, far from its end (240 h take minutes)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert out.startswith("stopped by Ctrl-C at "), out
    assert "Network:" in out and f"JSON report: {report}" in out and f"HTML report: {html}" in out
    r = json.loads(report.read_text())
    assert 0 < r["interrupted_at"] == r["sim_seconds"] < 240 * 3600
    assert "<svg" in html.read_text()


def test_ctrl_c_ends_the_demo(tmp_path: Path) -> None:
    """The paced demo without a terminal (plain lines): Ctrl-C ends it at once, with its summary."""
    proc = subprocess.Popen([*TCU, "sim", "--demo", "--modem", "direct"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()        # the demo is running: its log has begun
    assert "link" in first, first
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "stopped by Ctrl-C at 0:0" in out


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (a real pty) a full-speed run shows rich's bar: simulated time, speed, ETA."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen([*TCU, "sim", "--hours", "12", "--modem", "direct", "--drain", "60"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:      # the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-2000:]
    assert "ETA" in text and "simulated" in text and "× real time" in text, text[:2000]
    assert "seed 1: 12:01:00 simulated" in text
