"""`tcu run` reporting to a real Mosquitto, across processes and on the real clock (issue 18):
`vcar serve` (SLCAN on a pty) + `vmodem serve` (a SIM800 on a pty, TCP to loopback) + `mosquitto` +
`tcu run --servers mqtt`, with `mosquitto_sub`/`mosquitto_pub` as the owner's independent ends.

Checks: a car state change (`vcar command unlock`) appears on the retained metric topic, and the Home
Assistant discovery configs are retained; an alarm (`vcar do alarm`) arrives on the notify topic
exactly once; `mosquitto_pub` of `LOCK` on the command topic locks the virtual car (`vcar status`) and
the response topic says so. The virtual modem runs with `--timing instant`; every wait is bounded.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
if not os.path.exists(MOSQUITTO) or not shutil.which("mosquitto_sub"):
    pytest.skip("mosquitto and mosquitto-clients are not installed", allow_module_level=True)

BIN = Path(sys.executable).parent
OWNER = "+447700900123"
USER, PASSWORD = "owner", "mqtt-pa55"
VID = "E2ECAR"
PREFIX = f"ovms/{USER}/{VID}/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)     # test harness: polling outside processes
    raise AssertionError(f"timed out waiting for {what}")


def _tool(name: str, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=timeout)


def _retained(port: int, topic: str) -> str | None:
    """The retained message on `topic` as a fresh `mosquitto_sub` sees it (None if there is none)."""
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD,
                        "-t", topic, "-C", "1", "-W", "2", "--retained-only"],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip() if r.returncode == 0 and r.stdout else None


def _received(path: Path) -> list[tuple[str, str]]:
    """(topic, payload) lines a running `mosquitto_sub -v` wrote so far."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        topic, _, payload = line.partition(" ")
        out.append((topic, payload))
    return out


@pytest.mark.timeout(180)
def test_tcu_run_reports_to_mosquitto_and_takes_commands_from_it(tmp_path: Path) -> None:
    port = _free_port()
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), USER, PASSWORD], check=True, capture_output=True)
    pwfile.chmod(0o600)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pwfile}\npersistence false\n")
    secret = tmp_path / "mqtt.pw"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    modem, car = tmp_path / "modem", tmp_path / "car"
    mctl, cctl = tmp_path / "modem.ctl", tmp_path / "car.ctl"
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(p)
        return p

    try:
        start([MOSQUITTO, "-c", str(conf), "-v"], "mosquitto")
        start([str(BIN / "vmodem"), "serve", "--link", str(modem), "--control", str(mctl), "--timing", "instant",
               "--number", "+447700900999"], "vmodem")
        start([str(BIN / "vcar"), "serve", "--link", str(car), "--control", str(cctl), "--rate", "0.2"], "vcar")
        _wait("the ptys and control sockets", lambda: modem.exists() and car.exists() and mctl.exists()
              and cctl.exists())
        start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD, "-v",
               "-t", PREFIX + "notify/#", "-t", PREFIX + "client/+/response/#"], "sub")
        start([str(BIN / "tcu"), "run", "--modem", f"sim800:{modem}", "--can", f"slcan:{car}",
               "--profile", "demo-ev", "--servers", "mqtt", "--mqtt-server", f"127.0.0.1:{port}",
               "--mqtt-username", USER, "--mqtt-password-file", str(secret), "--vehicle-id", VID,
               "--owner", OWNER, "--module-password", "modpass1", "--state-dir", str(tmp_path / "state"),
               "--power-key", f"virtual:{mctl}"], "tcu")
        tcu_log = tmp_path / "tcu.log"
        _wait("the unit online", lambda: b"online (login ok)" in tcu_log.read_bytes(), 40)

        # 1. a state change on the retained metric topic; the discovery configs retained. While the car
        # sleeps the session reports changes on OVMS v3's idle cadence (600 s), and every metric again
        # after each CONNACK: the server closing the link (`vmodem fault remote-close`) makes that now.
        assert _tool("vcar", "command", "--control", str(cctl), "unlock").returncode == 0
        time.sleep(3)       # the car's next frames carry it to the unit
        assert _tool("vmodem", "fault", "--control", str(mctl), "--for", "1", "remote-close").returncode == 0
        _wait("v.e.locked = no, retained", lambda: _retained(port, PREFIX + "metric/v/e/locked") == "no", 60)
        _wait("SOC retained", lambda: _retained(port, PREFIX + "metric/v/b/soc"), 10)
        lock_config = json.loads(str(_wait("the lock's discovery config",
                                           lambda: _retained(port, f"homeassistant/lock/{VID}/lock/config"))))
        assert lock_config["state_topic"] == PREFIX + "metric/v/e/locked"

        # 2. an alarm on the notify topic, exactly once
        assert _tool("vcar", "do", "--control", str(cctl), "alarm").returncode == 0
        sub_out = tmp_path / "sub.log"

        def alarms() -> list[str]:
            return [p for t, p in _received(sub_out) if t.startswith(PREFIX + "notify/alert/") and "ALARM" in p]

        first = str(_wait("the alarm at the broker", alarms, 30)[0])  # type: ignore[index]
        tag = re.search(r"#a\d+-?\w*", first)
        assert tag, first
        time.sleep(5)       # anything sent twice would have arrived by now
        assert len([p for p in alarms() if tag.group(0) in p]) == 1, alarms()

        # 3. LOCK from mosquitto_pub locks the car, and the response topic says so
        def car_locked() -> bool:
            r = _tool("vcar", "status", "--control", str(cctl))
            return bool(json.loads(r.stdout)["state"]["locked"])

        assert _tool("vcar", "command", "--control", str(cctl), "unlock").returncode == 0
        _wait("the car unlocked", lambda: not car_locked())
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD, "-q", "1",
                        "-t", PREFIX + "client/app1/command/7", "-m", "LOCK"], check=True, timeout=10)
        _wait("the car locked", car_locked, 30)
        response = _wait("the response", lambda: [p for t, p in _received(sub_out)
                                                  if t == PREFIX + "client/app1/response/7"], 30)
        assert "lock" in response[0].lower(), response  # type: ignore[index]
        assert PASSWORD not in tcu_log.read_text(errors="replace")
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
