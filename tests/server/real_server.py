"""`tcu-server serve` as a process, started as the README tells a user to (plus `--port 0`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@dataclass
class RealServer:
    proc: subprocess.Popen[str]
    port: int
    log: Path
    db: Path

    def cpu_ticks(self) -> int:
        """utime + stime of the server process, in clock ticks (/proc/<pid>/stat fields 14 and 15)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []


def add_vehicle(db: Path, vehicle_id: str, password: str) -> None:
    subprocess.run([PY, "-m", "tools.server.cli", "add-vehicle", vehicle_id, password, "--db", str(db)],
                   check=True, capture_output=True, env=ENV)


@contextmanager
def real_server(tmp_path: Path, vehicles: dict[str, str], *, log_level: str = "INFO",
                preexec: Callable[[], None] | None = None) -> Iterator[RealServer]:
    db = tmp_path / "server.sqlite"
    for vid, password in vehicles.items():
        add_vehicle(db, vid, password)
    log = tmp_path / "server.log"
    proc = subprocess.Popen([PY, "-m", "tools.server.cli", "--log-level", log_level, "--log-file", str(log),
                             "serve", "--port", "0", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV,
                            preexec_fn=preexec)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "tcu-server listening on 127.0.0.1:PORT"
        assert "listening on" in line, line
        yield RealServer(proc, int(line.rsplit(":", 1)[1]), log, db)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_until(loop: Any, pred: Callable[[], bool], timeout: float = 15.0) -> None:
    """Turn the real loop until `pred()` holds; fail the test after `timeout` wall seconds."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        loop.run_for(0.02)
