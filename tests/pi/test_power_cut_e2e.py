"""Power cut, end to end: `tcu run` against `vmodem serve` + `vcar serve`, the car's alarm goes off and
the unit is SIGKILLed the instant its `unit.db` says the alarm was raised — the worst moment. Restarted
on the same state directory, it still texts the owner the alarm.

SIGKILL is the nearest a test gets to pulling the 12 V: it loses the process, not the page cache, so it
cannot show a write that the kernel accepted but the SD card never stored. That part rests on SQLite's
`synchronous=FULL` (an fsync of the WAL at every commit, README "Power cuts")."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
OWNER = "+447700900123"


def _wait(what: str, check: Callable[[], object], timeout: float = 30.0, every: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=15)


def _remembered_alarm(state: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{state / 'unit.db'}?mode=ro", uri=True, timeout=0.05) as c:
            return bool(c.execute("SELECT 1 FROM raised_conditions WHERE kind = 'alarm'").fetchall())
    except sqlite3.Error:
        return False


@pytest.mark.timeout(150)
def test_alarm_raised_just_before_a_kill_reaches_the_owner(tmp_path: Path) -> None:
    modem, car, mctl, cctl, state = (tmp_path / n for n in ("modem", "car", "modem.ctl", "car.ctl", "state"))
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen([str(BIN / name), *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        procs.append(p)
        return p

    def run_unit() -> subprocess.Popen[bytes]:
        return start("tcu", "run", "--modem", str(modem), "--can", f"slcan:{car}", "--profile", "demo-ev",
                     "--server", "127.0.0.1:9", "--vehicle-id", "CUTCAR", "--server-password-file",
                     str(tmp_path / "pw"), "--owner", OWNER, "--state-dir", str(state), "--no-gnss")

    def alarms_to_owner() -> list[str]:
        import json
        r = _tool("vmodem", "outbox", "--control", str(mctl), "--json")
        return [m["text"] for m in json.loads(r.stdout or "[]") if m["to"] == OWNER and "ALARM" in m["text"]]

    (tmp_path / "pw").write_text("carpass123\n")
    try:
        start("vmodem", "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant")
        start("vcar", "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2")
        _wait("the ptys", lambda: modem.exists() and car.exists() and mctl.exists() and cctl.exists())
        tcu = run_unit()
        _wait("the unit's state", lambda: (state / "unit.db").exists() and (state / "outbox.db").exists())
        time.sleep(3)                                   # CAN frames decoded, the modem registered
        assert _tool("vcar", "do", "--control", str(cctl), "alarm").returncode == 0
        _wait("unit.db: alarm raised", lambda: _remembered_alarm(state), every=0.002)
        os.kill(tcu.pid, signal.SIGKILL)                # the 12 V goes ...
        tcu.wait(5)
        # ... and with it the modem HAT, powered from the same supply. (A modem that kept its power
        # while the unit died at its `> ` SMS prompt swallows the next unit's AT as message text; with
        # no power key it is never heard again — reported, the driver's to fix, not this test's.)
        assert _tool("vmodem", "fault", "--control", str(mctl), "reboot").returncode == 0
        sent_before = alarms_to_owner()

        run_unit()                                      # power back, the alarm still sounding
        _wait("the alarm SMS to the owner", lambda: len(alarms_to_owner()) > len(sent_before) or sent_before, 60)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
