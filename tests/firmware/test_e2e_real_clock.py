"""One real-clock session across separate processes, as in a car on a bench:
`vcar serve` (SLCAN on a pty) + `vmodem serve` (a SIM800, then a SIM7600, on a pty) + `tcu-server serve` + `tcu run`.

Checks: state reaches `tcu-app status`; `tcu-app lock`/`unlock` really lock and unlock the virtual
car (`vcar status`); an SMS `STAT` injected with `vmodem sms` is answered in `vmodem outbox`; after
`vmodem fault gprs-down` the next alert (`vcar do alarm`) arrives by SMS.
The virtual modem runs with `--timing instant` so this takes seconds; every wait is bounded.
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

BIN = Path(sys.executable).parent
OWNER = "+447700900123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _tool(name: str, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("dialect", ["sim800", "sim7600"])
def test_tcu_run_across_processes(tmp_path: Path, dialect: str) -> None:
    """The same unit on either modem model: `vmodem serve --dialect D` and `tcu run --modem D:<pty>`."""
    port = _free_port()
    db = tmp_path / "server.db"
    modem, car = tmp_path / "modem", tmp_path / "car"
    mctl, cctl = tmp_path / "modem.ctl", tmp_path / "car.ctl"
    assert _tool("tcu-server", "add-vehicle", "--db", str(db), "E2ECAR", "carpass123").returncode == 0
    procs: list[subprocess.Popen[bytes]] = []
    logs = {}

    def start(name: str, *args: str, console: bool = False) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        logs[name] = tmp_path / f"{name}.log"
        out = open(tmp_path / f"{name}.out", "wb") if console else log  # noqa: SIM115
        p = subprocess.Popen([str(BIN / name), *args], stdout=out, stderr=log,
                             stdin=subprocess.PIPE if console else subprocess.DEVNULL)
        procs.append(p)
        return p

    try:
        start("tcu-server", "serve", "--db", str(db), "--port", str(port))
        start("vmodem", "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant",
              "--number", "+447700900999", "--dialect", dialect)
        start("vcar", "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2")
        _wait("the ptys and control sockets", lambda: modem.exists() and car.exists() and mctl.exists()
              and cctl.exists())
        tcu = start("tcu", "run", "--console", "--modem", f"{dialect}:{modem}", "--can", f"slcan:{car}", "--profile", "demo-ev",
              "--server", f"127.0.0.1:{port}", "--vehicle-id", "E2ECAR", "--server-password", "carpass123",
              "--owner", OWNER, "--module-password", "modpass1", "--state-dir", str(tmp_path / "state"),
              "--power-key", f"virtual:{mctl}", console=True)
        _wait("the unit online", lambda: b"link: login" in (tmp_path / "tcu.log").read_bytes()
              and b"online (login ok)" in (tmp_path / "tcu.log").read_bytes(), 30)

        # 1. state reaches the app
        def app_status() -> str | None:
            r = _tool("tcu-app", "--server", f"127.0.0.1:{port}", "--vehicle", "E2ECAR",
                      "--password", "carpass123", "--timeout", "5", "status")
            return r.stdout if "car connected" in r.stdout and "State of charge" in r.stdout else None

        status = str(_wait("tcu-app status", app_status, 30))
        assert "NOT connected" not in status

        # 2. lock and unlock from the app reach the car's CAN bus and come back confirmed
        def car_locked() -> bool:
            r = _tool("vcar", "status", "--control", str(cctl))
            assert r.returncode == 0, r.stderr
            return bool(json.loads(r.stdout)["state"]["locked"])

        assert _tool("vcar", "command", "--control", str(cctl), "unlock").returncode == 0
        assert not car_locked()   # parked cars start locked: unlock first so LOCK has something to do
        for command, locked in (("lock", True), ("unlock", False)):
            r = _tool("tcu-app", "--server", f"127.0.0.1:{port}", "--vehicle", "E2ECAR", "--password",
                      "carpass123", "--timeout", "15", command, "1234", timeout=25)
            assert r.returncode == 0, (command, r.stdout, r.stderr)
            assert f"{command}: ok" in r.stdout, r.stdout
            assert car_locked() is locked

        def outbox() -> list[dict]:
            r = _tool("vmodem", "outbox", "--control", str(mctl), "--json")
            return json.loads(r.stdout or "[]")

        # the local console speaks the same command set
        assert tcu.stdin is not None
        tcu.stdin.write(b"STAT\n")
        tcu.stdin.flush()
        _wait("the console reply", lambda: b"SOC" in (tmp_path / "tcu.out").read_bytes())

        # 3. SMS STAT from the owner gets a correct reply
        assert _tool("vmodem", "sms", "--control", str(mctl), "--from", OWNER, "STAT").returncode == 0
        replies = _wait("the STAT reply", lambda: [m for m in outbox() if m["to"] == OWNER and "SOC" in m["text"]])
        text = replies[0]["text"]  # type: ignore[index]
        assert "Server: online" in text and "modpass1" not in text and "carpass123" not in text

        # 4. with GPRS down, the next alert arrives by SMS
        assert _tool("vmodem", "fault", "--control", str(mctl), "gprs-down").returncode == 0
        _wait("the unit offline", lambda: b"online \xe2\x86\x92" in (tmp_path / "tcu.log").read_bytes())
        assert _tool("vcar", "do", "--control", str(cctl), "alarm").returncode == 0
        alerts = _wait("the alarm by SMS", lambda: [m for m in outbox() if m["to"] == OWNER
                                                    and "ALARM" in m["text"]], 30)
        assert "#a" in alerts[0]["text"]  # type: ignore[index]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
