"""The CAN adapter's lifecycle as the unit lives it (issue 12 item 1, "device lifecycle").

1. One stray non-UTF-8 byte on the SLCAN line used to end CAN monitoring until restart: an alarm right
   after it raised nothing. Here the adapter is the virtual car behind a real pty, in this process (so
   the test can put the byte on the wire), and the unit reads it with python-can as in a car.
2. Through the front door: `tcu-server`, `vmodem serve`, `vcar serve` and `tcu run` as the README runs
   them; `tcu run` starts before `vcar serve` is there and waits for it; `vcar serve` is killed (the
   USB adapter pulled) and started again on the same link. `tcu state`
   shows the problem with its retries while the adapter is gone, the unit reopens it by itself, STAT
   shows the restarted car's values, and `tcu state` says when the unit is not running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from can_bus.bus import open_bus
from can_bus.car.virtual_car import VirtualCar
from can_bus.memory import frame_link
from can_bus.slcan_bridge import SlcanBridge
from runtime import RealLoop
from runtime.pty import PtyEndpoint
from sim.direct_modem import DirectModem, Smsc
from tcu.params import Params
from tcu.unit import Unit

BIN = Path(sys.executable).parent
OWNER = "+447700900123"


def _run_until(loop: RealLoop, cond: Callable[[], object], timeout: float) -> bool:
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        loop.run(until=min(deadline, loop.time() + 0.05))
        if cond():
            return True
    return False


@pytest.mark.timeout(60)
def test_stray_byte_on_the_slcan_line_then_an_alarm_still_raises_the_alert(tmp_path: Path) -> None:
    loop = RealLoop(seed=1)
    car_port, bridge_port = frame_link(loop, name="vcar")
    car = VirtualCar(loop, car_port, "demo-ev", name="vcar", rate=0.2)
    pty = PtyEndpoint(loop, str(tmp_path / "can"))
    SlcanBridge(loop, pty.stream, bridge_port)
    params = Params({"owner": OWNER, "server": "127.0.0.1:9", "server_password": "carpass123",
                     "vehicle_id": "TESTCAR", "module_password": "modpass1", "profile": "demo-ev"},
                    tmp_path / "unit" / "params.db")
    port = open_bus(f"slcan:{tmp_path / 'can'}", loop)
    alerts: list[str] = []
    unit = Unit(loop, params, DirectModem(loop, Smsc(loop)), port, tmp_path / "unit", profile=car.profile,
                gnss=False)
    unit.hooks.alert_raised = lambda item_id, alert: alerts.append(alert.text)
    unit.start()
    try:
        assert _run_until(loop, lambda: unit.metrics.get("v.vin") is not None, 10)
        pty.stream.write(b"\xff\r")            # line noise on the adapter's USB serial line
        loop.run_for(0.5)
        car.do("alarm")
        assert _run_until(loop, lambda: any("ALARM" in a.upper() for a in alerts), 15), alerts
        assert port.gone is None and port.stats.garbled == 1 and unit.health.ok
        assert unit.can_errors == 1
    finally:
        unit.stop()
        port.close()
        car.close()
        pty.close()
        loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0, step: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _tool(name: str, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(180)
def test_vcar_killed_and_restarted_the_unit_reopens_can_and_tcu_state_tells(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "server.db"
    modem, car = tmp_path / "modem", tmp_path / "car"
    mctl, cctl = tmp_path / "modem.ctl", tmp_path / "car.ctl"
    state_dir = tmp_path / "state"
    assert _tool("tcu-server", "add-vehicle", "--db", str(db), "CANCAR", "carpass123").returncode == 0
    procs: list[subprocess.Popen[bytes]] = []
    tcu_log = tmp_path / "tcu.log"

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - closed right after the fork
        p = subprocess.Popen([str(BIN / name), *args], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        procs.append(p)
        return p

    def start_vcar() -> subprocess.Popen[bytes]:
        p = start("vcar", "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2")
        _wait("vcar serve", lambda: car.exists() and cctl.exists())
        return p

    def outbox() -> list[dict]:
        r = _tool("vmodem", "outbox", "--control", str(mctl), "--json")
        return json.loads(r.stdout or "[]")

    def stat_says(text: str, tries: int = 6) -> str:
        """Ask STAT by SMS until the reply contains `text` (the car's frames come every few seconds)."""
        reply = ""
        for _ in range(tries):
            seen = len(outbox())
            assert _tool("vmodem", "sms", "--control", str(mctl), "--from", OWNER, "STAT").returncode == 0
            found = _wait("the STAT reply", lambda: [m["text"] for m in outbox()[seen:]  # noqa: B023
                                                     if m["to"] == OWNER and "SOC" in m["text"]], 30)
            reply = str(found[0])  # type: ignore[index]
            if text in reply:
                return reply
            time.sleep(2)
        raise AssertionError(f"STAT never said {text!r}; last reply: {reply!r}")

    def state(*extra: str) -> subprocess.CompletedProcess[str]:
        return _tool("tcu", "state", "--state-dir", str(state_dir), *extra)

    try:
        start("tcu-server", "serve", "--db", str(db), "--port", str(port))
        start("vmodem", "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant",
              "--number", "+447700900999")
        _wait("the modem pty", lambda: modem.exists() and mctl.exists())
        # the unit starts before its CAN adapter is there (a USB adapter enumerating late): it waits for it
        tcu = start("tcu", "run", "--modem", str(modem), "--can", f"slcan:{car}", "--profile", "demo-ev",
                    "--server", f"127.0.0.1:{port}", "--vehicle-id", "CANCAR", "--server-password", "carpass123",
                    "--owner", OWNER, "--module-password", "modpass1", "--state-dir", str(state_dir),
                    "--power-key", f"virtual:{mctl}", "--log-level", "INFO")
        _wait("the unit online", lambda: b"online (login ok)" in tcu_log.read_bytes(), 60)
        r = _wait("tcu state to show the missing adapter", lambda: (r := state()) and "can: CAN adapter" in r.stdout
                  and r, 15)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 1, r
        vcar = start_vcar()
        _wait("the adapter found", lambda: b"adapter back after" in tcu_log.read_bytes(), 20)

        r = _wait("tcu state to show the link online", lambda: (r := state()) and "Link: online" in r.stdout
                  and r, 15)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r
        assert "Unit: running" in r.stdout and "Health: OK" in r.stdout and "Link: online" in r.stdout

        # the owner unlocks the car; STAT says so
        assert _tool("vcar", "command", "--control", str(cctl), "unlock").returncode == 0
        stat_says("Locked: no")

        # the adapter is pulled: the unit keeps running, tcu state names the problem and its retries
        lines_before = len(tcu_log.read_text().splitlines())
        vcar.send_signal(signal.SIGKILL)
        vcar.wait(timeout=10)
        pulled = time.monotonic()

        def can_problem() -> dict | None:
            doc = json.loads(state("--json").stdout)
            problems = doc.get("status", {}).get("health", {}).get("problems", [])
            return next((p for p in problems if p["key"] == "can" and p["retries"] >= 1), None)

        problem = _wait("tcu state to show the CAN problem", can_problem, 20)
        assert "CAN adapter slcan:" in problem["text"]  # type: ignore[index]
        r = state()
        assert r.returncode == 1 and "can: CAN adapter slcan:" in r.stdout and "retries" in r.stdout, r.stdout
        assert "next try" in r.stdout
        time.sleep(max(0.0, 20 - (time.monotonic() - pulled)))   # 20 s without the adapter

        # plugged in again: a fresh car (parked cars start locked) at the same link
        lines_gone = tcu_log.read_text().splitlines()[lines_before:]
        start_vcar()
        restarted = time.monotonic()
        _wait("CAN reopened", lambda: tcu_log.read_bytes().count(b"adapter back after") == 2, 20, step=0.05)
        recovery = time.monotonic() - restarted
        assert recovery < 12
        stat_says("Locked: yes")
        _wait("tcu state healthy again", lambda: state().returncode == 0, 15)
        print(f"CAN recovery after vcar restart: {recovery:.2f} s; "
              f"{len(lines_gone)} log lines over {restarted - pulled:.0f} s without the adapter")
        assert len(lines_gone) <= 4, lines_gone   # gone, health ERROR, one 'still gone' a minute

        # the unit stops: tcu state says it is not running
        tcu.send_signal(signal.SIGTERM)
        tcu.wait(timeout=15)
        r = state()
        assert r.returncode == 1 and "NOT RUNNING" in r.stdout, r.stdout
        doc = json.loads(state("--json").stdout)
        assert doc["running"] is False and "outbox" in doc

        r = _tool("tcu", "state", "--state-dir", str(tmp_path / "nowhere"))
        assert r.returncode == 2 and "no state directory" in r.stdout
    finally:
        for name in ("tcu", "vcar", "vmodem"):   # shown by pytest only when the test failed
            log_file = tmp_path / f"{name}.log"
            if log_file.exists():
                print(f"--- {name}.log (tail)\n{log_file.read_text(errors='replace')[-4000:]}")
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
