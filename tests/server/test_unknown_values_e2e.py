"""Unknown travels as unknown, end to end (issue 13): a unit that never read SOH, the real
`tcu-server serve` process storing what it sent as is, and `tcu-app status` as a process."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from car_link import CarLink
from real_server import ENV, PY, real_server, run_until

from runtime import RealLoop
from tcu.ovms.car_client import CarSession, LoggedIn

PASSWORD = "unknown-e2e-pw"



def _app_status(loop: RealLoop, port: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([PY, "-m", "tools.app.cli", "--server", f"127.0.0.1:{port}", "--vehicle", "UNK1",
                             "--password", PASSWORD, "--timeout", "5", "status", "--fresh", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    run_until(loop, lambda: proc.poll() is not None, timeout=20)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_soh_never_read_shows_unknown_not_zero(tmp_path: Path) -> None:
    # The demo profile polls SOH only while charging: a parked car has SOC and pack voltage, no SOH yet.
    metrics = {"v.b.soc": 64, "v.b.voltage": 371.2, "v.c.state": "stopped", "v.b.range.ideal": 250,
               "v.b.range.est": 210, "v.p.odometer": 1000.0, "v.b.12v.voltage": 12.5}
    with real_server(tmp_path, {"UNK1": PASSWORD}) as srv:
        loop = RealLoop()
        car = CarLink(loop, "127.0.0.1", srv.port, CarSession("UNK1", PASSWORD, None, loop.time()), lambda: metrics)
        car.connect()
        try:
            run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in car.events))
            loop.run_for(1.5)    # the first report, and the server's 1 s telemetry flush
            status = _app_status(loop, srv.port)
        finally:
            car.close()
            loop.close()
        stored = sqlite3.connect(f"file:{srv.db}?mode=ro", uri=True).execute(
            "SELECT payload FROM messages WHERE vehicle_id = 'UNK1' AND code = 'S'").fetchone()[0]
    assert status.returncode == 0, status.stderr
    assert "State of charge: 64 %" in status.stdout
    assert "SOH 0" not in status.stdout
    assert "Battery: 371.2 V, SOH unknown" in status.stdout
    assert "Temperatures: ambient unknown, battery unknown" in status.stdout
    assert stored.endswith(",371.2,")          # stored as sent: the SOH field is empty, not 0
