"""`tcu-server serve` out of file descriptors: no spin, no log storm, existing peers served, recovery.

The server runs as a process with RLIMIT_NOFILE lowered; we flood it with loopback connections until
`accept` fails with EMFILE, and measure its CPU ticks (/proc/<pid>/stat) over the fault window.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
from pathlib import Path

from car_link import CarLink
from real_server import ENV, PY, real_server, run_until

from runtime import RealLoop
from tcu.ovms.car_client import CarSession, LoggedIn
from tools.server import store

PASSWORD = "emfile-secret"
NOFILE = 64
FLOOD = 400
WINDOW = 4.0



def low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def car(loop: RealLoop, port: int, vid: str, soc: int) -> CarLink:
    session = CarSession(vid, PASSWORD, None, loop.time())
    link = CarLink(loop, "127.0.0.1", port, session, lambda: {"v.b.soc": soc}, lambda lk, ev: None)
    link.connect()
    run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in link.events))
    return link


def test_emfile_backs_off_serves_existing_peers_and_recovers(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    with real_server(tmp_path, {"OLDCAR": PASSWORD, "NEWCAR": PASSWORD}, preexec=low_nofile) as server:
        loop = RealLoop()
        old = car(loop, server.port, "OLDCAR", 40)
        flood: list[socket.socket] = []
        try:
            for _ in range(FLOOD):                       # far more than the server has fds for
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
                flood.append(s)
            loop.run_for(1.0)                             # the server fills its fd table and hits EMFILE
            assert "Too many open files" in server.log.read_text()
            lines0, cpu0, t0 = len(server.log_lines()), server.cpu_ticks(), time.monotonic()
            # The car already connected is still served: an alert is stored and acknowledged meanwhile.
            old.write(old.session.send_alert("a1", "Alarm during the flood", loop.time()))
            loop.run_for(WINDOW)
            cpu = (server.cpu_ticks() - cpu0) / tick
            elapsed = time.monotonic() - t0
            lines = len(server.log_lines()) - lines0
        finally:
            for s in flood:
                s.close()
        print(f"out of fds: {cpu:.3f} s CPU, {lines} log lines in {elapsed:.1f} s")
        assert cpu < 0.15 * elapsed, f"server used {cpu:.2f} s of CPU in {elapsed:.1f} s while out of fds"
        assert lines <= elapsed + 2, f"{lines} log lines in {elapsed:.1f} s"
        db = store.open_db(server.db)
        assert [a.text for a in store.load_alerts(db, "OLDCAR")] == ["Alarm during the flood"]
        # After the flood: a new car and an app (the real tcu-app, as a process) log in and work.
        new = car(loop, server.port, "NEWCAR", 77)
        loop.run_for(0.3)
        app = subprocess.Popen([PY, "-m", "tools.app.cli", "--server", f"127.0.0.1:{server.port}", "--vehicle",
                                "NEWCAR", "--password", PASSWORD, "--timeout", "10", "status"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        run_until(loop, lambda: app.poll() is not None, timeout=30)
        out, err = app.communicate()
        assert app.returncode == 0, err
        assert "State of charge: 77 %" in out and "car connected" in out
        old.close()
        new.close()
        loop.close()
