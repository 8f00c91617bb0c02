"""A modem port that is not there when `tcu run` starts is waited for, not a stop (issue 12, H15).

A USB modem enumerates after the unit's service started, or `vmodem serve` is started after `tcu run`:
the unit used to stop with "modem: cannot open ...". Now it runs on with the port gone, as it does for
a vanished port: health `modem` says so (`tcu state`), the port is tried again with back-off (a log
line a minute at most), and once the modem appears the link comes online. A bad spec (unknown dialect,
malformed URL) still stops the unit at start with a message naming the setting.

Through the front door: `tcu-server`, `vcar serve`, `tcu run` and then `vmodem serve`, as the README
runs them (no `--power-key virtual:...`: that one is checked against a running `vmodem` at start).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modem.driver.events import PortClosed, PortReopened
from modem.driver.open import open_modem
from runtime import RealLoop
from runtime.pty import PtyEndpoint

BIN = Path(sys.executable).parent
OWNER = "+447700900123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.mark.timeout(30)
def test_open_modem_waits_for_a_port_that_appears_later(tmp_path: Path) -> None:
    loop = RealLoop(seed=1)
    path = tmp_path / "modem"
    modem = open_modem(loop, str(path), wait_for_device=True)
    events: list[object] = []
    modem.subscribe(events.append)
    pty: PtyEndpoint | None = None
    try:
        assert modem.port_gone is not None and modem.port_gone.port == str(path)
        loop.run_for(0.2)
        assert [type(e) for e in events] == [PortClosed]      # subscribers hear of it from the loop
        pty = PtyEndpoint(loop, str(path))                    # the device appears
        deadline = loop.time() + 15
        while loop.time() < deadline and not any(isinstance(e, PortReopened) for e in events):
            loop.run_for(0.1)
        assert modem.port_gone is None, events
        got: list[bytes] = []
        pty.stream.set_handlers(got.append)
        modem.probe(lambda _r: None, tries=1)
        loop.run_for(0.3)
        assert b"AT\r" in b"".join(got)                       # commands reach the port once it is there
    finally:
        modem.close()
        if pty is not None:
            pty.close()
        loop.close()


def test_a_bad_modem_spec_still_stops_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_modem(RealLoop(seed=1), "nosuchscheme://x", wait_for_device=True)
    base = ["run", "--can", "virtual:x", "--profile", "demo-ev", "--server", "127.0.0.1:9", "--vehicle-id", "X",
            "--server-password", "carpass123", "--owner", OWNER, "--state-dir", str(tmp_path / "s")]
    for spec in ("sim900:/dev/ttyUSB9", "nosuchscheme://x"):
        r = _tool("tcu", *base, "--modem", spec)
        assert r.returncode != 0 and "modem:" in r.stderr, (spec, r)


@pytest.mark.timeout(180)
def test_tcu_run_started_before_vmodem_serve_comes_online(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "server.db"
    modem, car = tmp_path / "modem", tmp_path / "car"
    mctl, cctl = tmp_path / "modem.ctl", tmp_path / "car.ctl"
    state_dir = tmp_path / "state"
    assert _tool("tcu-server", "add-vehicle", "--db", str(db), "LATEMODEM", "carpass123").returncode == 0
    procs: list[subprocess.Popen[bytes]] = []
    tcu_log = tmp_path / "tcu.log"

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - closed right after the fork
        p = subprocess.Popen([str(BIN / name), *args], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        procs.append(p)
        return p

    try:
        start("tcu-server", "serve", "--db", str(db), "--port", str(port))
        start("vcar", "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2")
        _wait("vcar serve", lambda: car.exists() and cctl.exists())
        (tmp_path / "server.pw").write_text("carpass123\n")
        (tmp_path / "server.pw").chmod(0o600)
        tcu = start("tcu", "run", "--modem", str(modem), "--can", f"slcan:{car}", "--profile", "demo-ev",
                    "--server", f"127.0.0.1:{port}", "--vehicle-id", "LATEMODEM",
                    "--server-password-file", str(tmp_path / "server.pw"), "--owner", OWNER,
                    "--state-dir", str(state_dir), "--log-level", "INFO")
        _wait("the unit to say the modem is missing", lambda: b"is not there" in tcu_log.read_bytes(), 30)

        def state() -> subprocess.CompletedProcess[str]:
            return _tool("tcu", "state", "--state-dir", str(state_dir))
        r = _wait("tcu state to show the missing modem", lambda: (r := state()) and "modem port" in r.stdout and r, 30)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 1, r
        time.sleep(15)                                       # the modem stays away a while: the unit runs on
        assert tcu.poll() is None, tcu_log.read_text()
        lines_waiting = tcu_log.read_text().splitlines()

        start("vmodem", "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant",
              "--number", "+447700900999")
        _wait("the unit online", lambda: b"online (login ok)" in tcu_log.read_bytes(), 90)
        _wait("tcu state healthy again", lambda: state().returncode == 0, 30)
        modem_lines = [line for line in lines_waiting if "modem port" in line]
        assert len(modem_lines) <= 4, modem_lines    # not there, link to port_gone, health ERROR, 1 still gone a minute
        tcu.send_signal(signal.SIGTERM)
        tcu.wait(timeout=20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
