"""Real clock, real sockets: `tcu-server serve` and `tcu-app` as processes, a CarSession over loopback TCP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from car_link import CarLink
from real_server import run_until

from ovms_v2 import messages as m
from runtime import RealLoop
from tcu.ovms.car_client import CarEvent, CarSession, CommandRequest, LoggedIn

PY = sys.executable
PASSWORD = "e2e-secret-pw"



@pytest.fixture
def server(tmp_path: Path):
    db = tmp_path / "server.db"
    subprocess.run([PY, "-m", "tools.server.cli", "add-vehicle", "e2ecar", PASSWORD, "--db", str(db)],
                   check=True, capture_output=True)
    log = tmp_path / "server.log"
    proc = subprocess.Popen([PY, "-m", "tools.server.cli", "--log-file", str(log), "serve", "--port", "0",
                             "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "tcu-server listening on 127.0.0.1:PORT"
    assert "listening on" in line, line
    port = int(line.rsplit(":", 1)[1])
    yield port, log
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert PASSWORD not in log.read_text()       # secrets never in logs


def app(loop: RealLoop, port: int, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """Run tcu-app as a process while our loop keeps the car alive."""
    proc = subprocess.Popen([PY, "-m", "tools.app.cli", "--server", f"127.0.0.1:{port}", "--vehicle", "E2ECAR",
                             "--password", password, "--timeout", "5", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    run_until(loop, lambda: proc.poll() is not None, timeout=20)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_car_server_app_end_to_end(server) -> None:
    port, _ = server
    loop = RealLoop()
    metrics = {"v.b.soc": 80, "v.c.state": "stopped", "v.b.range.ideal": 350, "v.b.range.est": 300,
               "v.e.locked": False, "v.d.trunk": True, "v.p.odometer": 12345.6, "v.b.12v.voltage": 12.6,
               "v.p.latitude": 52.520008, "v.p.longitude": 13.404954, "v.p.gpslock": True}
    commands: list[CommandRequest] = []

    def on_event(link: CarLink, ev: CarEvent) -> None:
        if isinstance(ev, CommandRequest):
            commands.append(ev)
            if ev.cmd == m.CMD_LOCK and ev.params == ("1234",):
                metrics["v.e.locked"] = True
                link.write(link.session.reply(ev.cmd, m.RESULT_OK))
                link.tick(force=True)
            elif ev.cmd == m.CMD_SMS:
                link.write(link.session.reply(ev.cmd, m.RESULT_OK, "SOC 80%,\nrange 300 km"))
            else:
                link.write(link.session.reply(ev.cmd, m.RESULT_UNIMPLEMENTED))

    session = CarSession("E2ECAR", PASSWORD, None, loop.time())
    car = CarLink(loop, "127.0.0.1", port, session, lambda: metrics, on_event)
    car.connect()
    run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in car.events))
    loop.run_for(0.3)

    status = app(loop, port, "status")
    assert status.returncode == 0, status.stderr
    assert "car connected" in status.stdout
    assert "State of charge: 80 %" in status.stdout
    assert "Locked: no" in status.stdout and "open: trunk" in status.stdout
    assert "Odometer: 12345.6 km" in status.stdout and "12 V battery: 12.6 V" in status.stdout
    assert "Location: 52.520008, 13.404954 (GPS lock)" in status.stdout

    lock = app(loop, port, "lock", "1234")
    assert lock.returncode == 0, lock.stderr
    assert "lock: ok" in lock.stdout
    assert commands[-1] == CommandRequest(m.CMD_LOCK, ("1234",))
    loop.run_for(0.3)
    assert "Locked: yes" in app(loop, port, "status").stdout

    stat = app(loop, port, "cmd", "7", "STAT")
    assert stat.returncode == 0 and "SMS command: ok: SOC 80%;\nrange 300 km" in stat.stdout

    charge = app(loop, port, "charge", "start")
    assert charge.returncode == 1 and "start charge: unimplemented" in charge.stdout

    watch = subprocess.Popen([PY, "-m", "tools.app.cli", "--server", f"127.0.0.1:{port}", "--vehicle", "e2ecar",
                              "--password", PASSWORD, "watch", "--count", "8", "--seconds", "15"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_until(loop, lambda: session.apps == 1)
    car.write(session.send_alert("a1", "Vehicle alarm is sounding!", loop.time()))
    run_until(loop, lambda: watch.poll() is not None, timeout=10)
    out = watch.communicate()[0]
    assert watch.returncode == 0
    assert "watching E2ECAR (car connected)" in out and "ALERT (A): Vehicle alarm is sounding!" in out

    bad = app(loop, port, "status", password="wrong")
    assert bad.returncode == 3 and "login failed" in bad.stderr
    car.close()
    loop.run_for(0.3)
    offline = app(loop, port, "unlock", "1234")
    assert offline.returncode == 4 and "not connected" in offline.stderr
    loop.close()
