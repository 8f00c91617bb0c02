"""`tcu doctor` as a person debugging a car install runs it, against `tcu-server serve` +
`vmodem serve` + `vcar serve`: all green on a healthy bench, then each fault injected names its remedy
(no SIM, no coverage, a silent modem, a wrong server password, no CAN traffic, a missing port)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _tool(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)


class Bench:
    def __init__(self, d: Path, port: int) -> None:
        self.d, self.port = d, port
        self.mctl = d / "modem.ctl"
        (d / "pw").write_text("docpass1\n")
        (d / "wrong").write_text("not-the-password\n")

    def doctor(self, *extra: str, car: str = "car", password: str = "pw", modem: str = "modem",
               ) -> tuple[int, dict[str, dict[str, str]], str]:
        r = _tool("tcu", "doctor", "--json", "--modem", str(self.d / modem), "--can", f"slcan:{self.d / car}",
                  "--server", f"127.0.0.1:{self.port}", "--vehicle-id", "DOCCAR", "--server-password-file",
                  str(self.d / password), "--state-dir", str(self.d / "state"), "--apn", "internet",
                  "--wait", "3", "--listen", "2", *extra)
        steps = {s["name"]: s for s in json.loads(r.stdout)}
        return r.returncode, steps, r.stdout

    def fault(self, *args: str) -> None:
        assert _tool("vmodem", "fault", "--control", str(self.mctl), *args).returncode == 0


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    d = tmp_path_factory.mktemp("doctor")
    b = Bench(d, _free_port())
    assert _tool("tcu-server", "add-vehicle", "--db", str(d / "s.db"), "DOCCAR", "docpass1").returncode == 0
    procs: list[subprocess.Popen[bytes]] = []
    for name, *args in (("tcu-server", "serve", "--db", str(d / "s.db"), "--port", str(b.port)),
                        ("vmodem", "serve", "--link", str(d / "modem"), "--control", str(b.mctl), "--timing", "instant"),
                        ("vcar", "serve", "--link", str(d / "car"), "--control", str(d / "car.ctl"), "--rate", "0.2"),
                        ("vcar", "serve", "--link", str(d / "asleep"), "--control", str(d / "asleep.ctl"),
                         "--sleep-after", "0.5")):
        log = open(d / f"{name}-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([str(BIN / name), *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL))
    try:
        _wait("the benches", lambda: all((d / n).exists() for n in ("modem", "car", "asleep", "modem.ctl")))
        _wait("the car asleep", lambda: b"went to sleep" in (d / "vcar-3.log").read_bytes())
        yield b
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)


@pytest.mark.timeout(120)
def test_healthy_bench_passes(bench: Bench) -> None:
    rc, steps, out = bench.doctor()
    assert rc == 0, out
    for name in ("config", "serial port", "modem", "SIM", "network", "data", "server", "CAN interface",
                 "CAN frames", "clock", "free space", "state databases"):
        assert steps[name]["verdict"] == "ok", (name, out)
    assert "logged in as DOCCAR" in steps["server"]["detail"]
    assert "decoded by profile demo-ev" in steps["CAN frames"]["detail"]
    assert steps["power key"]["verdict"] == "warn" and "gpio" in steps["power key"]["remedy"]
    assert "docpass1" not in out


@pytest.mark.timeout(120)
def test_power_key(bench: Bench) -> None:
    _, steps, out = bench.doctor("--power-key", f"virtual:{bench.mctl}")
    assert steps["power key"]["verdict"] == "ok", out
    _, steps, out = bench.doctor("--power-key", f"virtual:{bench.d / 'no-such.ctl'}")
    assert steps["power key"]["verdict"] == "fail" and "no virtual modem answers" in steps["power key"]["detail"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("fault", "step", "remedy"), [
    ("no-sim", "SIM", "insert the SIM"),
    ("no-coverage", "network", "antenna"),
    ("brownout", "modem", "power key"),
])
def test_modem_faults_name_their_remedy(bench: Bench, fault: str, step: str, remedy: str) -> None:
    bench.fault(fault)
    try:
        rc, steps, out = bench.doctor()
    finally:
        bench.fault("clear")
        if fault == "brownout":
            assert _tool("vmodem", "power-key", "--control", str(bench.mctl)).returncode == 0
            _tool("vmodem", "wait", "--control", str(bench.mctl))
    assert rc == 1, out
    assert steps[step]["verdict"] == "fail" and remedy in steps[step]["remedy"], out
    assert steps["server"]["verdict"] == "skip"          # not blamed on the server
    assert steps["CAN frames"]["verdict"] == "ok"        # the rest is still walked


@pytest.mark.timeout(120)
def test_wrong_server_password(bench: Bench) -> None:
    rc, steps, out = bench.doctor(password="wrong")
    assert rc == 1
    assert steps["data"]["verdict"] == "ok" and steps["server"]["verdict"] == "fail", out
    assert "login refused" in steps["server"]["detail"] and "password" in steps["server"]["remedy"]
    assert "not-the-password" not in out


@pytest.mark.timeout(120)
def test_no_can_traffic(bench: Bench) -> None:
    rc, steps, out = bench.doctor(car="asleep")
    assert rc == 1
    assert steps["CAN frames"]["verdict"] == "fail" and "0 frames" in steps["CAN frames"]["detail"], out
    assert "ignition" in steps["CAN frames"]["remedy"] and "CAN-H/CAN-L" in steps["CAN frames"]["remedy"]
    assert steps["server"]["verdict"] == "ok"


@pytest.mark.timeout(120)
def test_silent_pty_and_missing_port(bench: Bench) -> None:
    import pty

    master, slave = pty.openpty()           # a port that exists but nothing answers on
    try:
        (bench.d / "silent").symlink_to(os.ttyname(slave))
        rc, steps, out = bench.doctor(modem="silent")
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 1 and steps["serial port"]["verdict"] == "ok"
    assert steps["modem"]["verdict"] == "fail" and "baud rate" in steps["modem"]["remedy"], out
    rc, steps, out = bench.doctor(modem="nothing-here")
    assert rc == 1 and steps["serial port"]["verdict"] == "fail"
    assert "enable_uart=1" in steps["serial port"]["remedy"] and steps["modem"]["verdict"] == "skip"


def test_human_output_and_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "tcu.toml"
    cfg.write_text('modem = "/dev/x"\n')
    r = _tool("tcu", "doctor", "--config", str(cfg), "--state-dir", str(tmp_path / "s"))
    assert r.returncode == 1
    assert "[FAIL] config: not set: can, server, vehicle_id, server_password" in r.stdout
    assert "→ set can, server" in r.stdout and "[skip] modem" in r.stdout


@pytest.mark.timeout(120)
def test_a_running_unit_keeps_its_modem(bench: Bench) -> None:
    """With the service running, the doctor does not fight it for the port: it says how to stop it."""
    log = open(bench.d / "tcu-run.log", "wb")  # noqa: SIM115 - closed with the process
    unit = subprocess.Popen([str(BIN / "tcu"), "run", "--modem", str(bench.d / "modem"), "--can",
                             f"slcan:{bench.d / 'asleep'}", "--profile", "demo-ev", "--server",
                             f"127.0.0.1:{bench.port}", "--vehicle-id", "DOCCAR", "--server-password-file",
                             str(bench.d / "pw"), "--owner", "+447700900123", "--state-dir",
                             str(bench.d / "state"), "--no-gnss"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        _wait("the unit's status file", lambda: (bench.d / "state" / "status.json").exists())
        rc, steps, out = bench.doctor(car="car")
        assert steps["serial port"]["verdict"] == "warn", out
        assert "systemctl stop tcu" in steps["serial port"]["remedy"]
        assert steps["modem"]["verdict"] == "skip" and steps["server"]["verdict"] == "skip"
        assert steps["state databases"]["verdict"] == "ok" and "outbox.db" in steps["state databases"]["detail"]
    finally:
        unit.send_signal(signal.SIGTERM)
        try:
            unit.wait(10)
        except subprocess.TimeoutExpired:
            unit.kill()
            unit.wait(5)
        log.close()
