"""`tcu run` under a pretend systemd: a real datagram NOTIFY_SOCKET, `WATCHDOG_USEC`, and the unit as a
process against `vmodem serve` + `vcar serve` (as systemd would start it, with its front-door flags).

READY comes only after the modem answers (a browned-out modem is silent until its power key), the
watchdog pings at half WATCHDOG_USEC, none arrive while the process is stopped (SIGSTOP: a loop that
runs nothing), and SIGTERM says STOPPING=1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


class NotifySocket:
    """systemd's side: a bound AF_UNIX datagram socket; every message with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self, prefix: str, since: float = 0.0, until: float = float("inf")) -> list[tuple[float, str]]:
        return [(t, m) for t, m in list(self.messages) if m.startswith(prefix) and since <= t <= until]

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=15)


@pytest.mark.timeout(120)
def test_ready_after_modem_answers_watchdog_rate_no_ping_when_stopped(tmp_path: Path) -> None:
    modem, car, mctl, cctl = (tmp_path / n for n in ("modem", "car", "modem.ctl", "car.ctl"))
    notify = NotifySocket(tmp_path / "notify")
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen([str(BIN / name), *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             env={**os.environ, **(env or {})})
        procs.append(p)
        return p

    try:
        start("vmodem", "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant")
        start("vcar", "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2")
        _wait("the ptys", lambda: modem.exists() and car.exists() and mctl.exists() and cctl.exists())
        _tool("vmodem", "wait", "--control", str(mctl))
        # silent until its power key is pressed; the unit has no power key
        assert _tool("vmodem", "fault", "--control", str(mctl), "brownout").returncode == 0
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000", "TCU_SERVER_PASSWORD": "pw123"}
        tcu = start("tcu", "run", "--modem", str(modem), "--can", f"slcan:{car}", "--profile", "demo-ev",
                    "--server", "127.0.0.1:9", "--vehicle-id", "PICAR", "--owner", "+447700900123",
                    "--state-dir", str(tmp_path / "state"), "--no-gnss", env=env)
        _wait("the first STATUS", lambda: notify.lines("STATUS=link"))
        t0 = time.monotonic()
        time.sleep(4.0)
        assert notify.lines("READY=1") == [], notify.messages      # the modem has not answered
        pings = notify.lines("WATCHDOG=1", t0, t0 + 4.0)
        assert 6 <= len(pings) <= 9, pings                         # every 0.5 s while alive
        assert tcu.poll() is None

        pressed = time.monotonic()
        assert _tool("vmodem", "power-key", "--control", str(mctl)).returncode == 0
        ready = _wait("READY=1", lambda: notify.lines("READY=1"), 40)
        assert ready[0][0] > pressed                               # type: ignore[index]
        assert len(notify.lines("READY=1")) == 1

        # a stopped process (a wedged loop) sends nothing; it resumes when it runs again
        os.kill(tcu.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        time.sleep(2.5)
        os.kill(tcu.pid, signal.SIGCONT)
        resumed = time.monotonic()
        assert notify.lines("WATCHDOG=1", stopped + 0.05, resumed) == []
        _wait("pings again", lambda: notify.lines("WATCHDOG=1", resumed + 0.01))

        tcu.send_signal(signal.SIGTERM)
        assert tcu.wait(10) == 0
        assert notify.lines("STOPPING=1")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        notify.close()
