"""The world a chaos run drives: the real processes, started as the README's "For testers" block does.

`tcu-server serve`, `vmodem serve`, `vcar serve` and `tcu run`, each its own process with its own log
file, on ptys and loopback, in one work directory. The unit's state directory sits on a small tmpfs
when this machine lets us mount one (root), so that "disk full" is a real ENOSPC; otherwise the
disk-full scenarios report themselves skipped.

Alerts are counted where they arrive, never from the unit's own account: the server's database
(`tools/server/store.py`) and the virtual modem's SMS outbox (`vmodem outbox --json`). The outbox
lives in the `vmodem serve` process, so it is archived before that process is killed.

This is an outside driver, not a component: it waits on the wall clock (`time.sleep`) because the
processes it watches run on it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.control import ControlError, call
from tools.server import store

OWNER = "+447700900123"
VEHICLE = "CHAOS1"
SERVER_PASSWORD = "chaos-server-pw"
MODULE_PASSWORD = "chaos-module-pw"
MODEM_NUMBER = "+447700900999"
STATE_FS_SIZE = "4m"
BIN = Path(sys.executable).parent
# Fallback when the console scripts are not installed next to the interpreter.
MODULES = {"tcu-server": "tools.server.cli", "vmodem": "modem.emulator.cli", "vcar": "can_bus.car.cli",
           "tcu": "tcu.cli", "tcu-app": "tools.app.cli"}
TAG = re.compile(r"#a[0-9A-Za-z_-]+")


def command(name: str) -> list[str]:
    exe = BIN / name
    return [str(exe)] if exe.exists() else [sys.executable, "-m", MODULES[name]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], object], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    """One of the world's processes; restarts append to the same log file."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd)
        self.starts += 1

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process (SIGTERM: an orderly stop; SIGKILL: a device yanked) and reap it."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode

    def lines(self) -> int:
        try:
            with open(self.log, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass(frozen=True)
class Delivery:
    """One alert copy at a receiving end."""

    channel: str        # "server" or "sms"
    key: str            # the alert's tag (#a…), or its text when it has none
    text: str
    at: float           # wall clock of arrival


class ChaosWorld:
    """Starts, kills and restarts the processes; reads the receiving ends."""

    def __init__(self, workdir: Path, *, tmpfs: bool = True) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.db = workdir / "server.sqlite"
        self.modem_link, self.modem_ctl = workdir / "modem", workdir / "modem.ctl"
        self.car_link, self.car_ctl = workdir / "can", workdir / "car.ctl"
        self.state = workdir / "state"
        self.state.mkdir(exist_ok=True)
        self.state_fs = tmpfs and self._mount_state()
        self._sms_archive: list[dict[str, object]] = []
        logs = workdir
        self.server = Proc("tcu-server", [*command("tcu-server"), "serve", "--port", str(self.port), "--db",
                                          str(self.db)], logs / "server.log", workdir)
        self.vmodem = Proc("vmodem", [*command("vmodem"), "serve", "--link", str(self.modem_link), "--control",
                                      str(self.modem_ctl), "--timing", "instant", "--number", MODEM_NUMBER,
                                      "--gnss", "52.52,13.405"], logs / "vmodem.log", workdir)
        self.vcar = Proc("vcar", [*command("vcar"), "serve", "--link", str(self.car_link), "--profile", "demo-ev",
                                  "--control", str(self.car_ctl)], logs / "vcar.log", workdir)
        self.tcu = Proc("tcu", [*command("tcu"), "run", "--modem", str(self.modem_link), "--can",
                                f"slcan:{self.car_link}", "--profile", "demo-ev", "--server",
                                f"127.0.0.1:{self.port}", "--vehicle-id", VEHICLE, "--server-password",
                                SERVER_PASSWORD, "--owner", OWNER, "--module-password", MODULE_PASSWORD,
                                "--state-dir", str(self.state), "--power-key", f"virtual:{self.modem_ctl}"],
                        logs / "tcu.log", workdir)
        self.procs = [self.server, self.vmodem, self.vcar, self.tcu]

    # -- life ---------------------------------------------------------------------------------------------
    def _mount_state(self) -> bool:
        if os.geteuid() != 0:
            return False
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STATE_FS_SIZE},mode=0700", "tmpfs",
                            str(self.state)], capture_output=True, text=True)
        return r.returncode == 0

    def start(self, timeout: float = 30.0) -> None:
        r = subprocess.run([*command("tcu-server"), "add-vehicle", VEHICLE, SERVER_PASSWORD, "--db", str(self.db)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"tcu-server add-vehicle failed: {r.stderr.strip()}")
        self.server.start()
        self.start_vmodem()
        self.start_vcar()
        if not wait_for(lambda: self.modem_link.exists() and self.car_link.exists(), timeout):
            raise RuntimeError("vmodem/vcar did not create their ptys")
        logins = self.car_logins()
        self.tcu.start()
        if not self.wait_online(logins, timeout):
            code = self.tcu.popen.returncode if self.tcu.popen is not None else None
            how = f"exited with code {code}" if not self.tcu.alive \
                else f"still running but not logged in after {timeout:.0f} s"
            tail = "\n    ".join(self.tcu.text().splitlines()[-6:])
            raise RuntimeError(f"tcu run {how}; the end of {self.tcu.log}:\n    {tail}")

    def start_vmodem(self) -> None:
        self.vmodem.start()
        wait_for(lambda: self.modem_ctl.exists() and self._control_ok(self.modem_ctl), 20)

    def start_vcar(self) -> None:
        self.vcar.start()
        wait_for(lambda: self.car_ctl.exists() and self._control_ok(self.car_ctl), 20)

    def _control_ok(self, path: Path) -> bool:
        try:
            call(str(path), {"cmd": "status"}, timeout=2.0)
            return True
        except ControlError:
            return False

    def kill_vmodem(self, sig: int = signal.SIGKILL) -> None:
        """The modem vanishes: keep what its outbox held (it lives in that process)."""
        self._sms_archive.extend(self._outbox_now())
        self.vmodem.stop(sig)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.name == "vmodem" and proc.alive:
                self._sms_archive.extend(self._outbox_now())
            proc.stop()
        if self.state_fs:
            subprocess.run(["umount", "-l", str(self.state)], capture_output=True)
            self.state_fs = False

    def car_logins(self) -> int:
        return self.server.text().count(f" C {VEHICLE} logged in")

    def wait_online(self, logins_before: int, timeout: float) -> bool:
        """Until the server has seen one more login of our car than `logins_before`."""
        return wait_for(lambda: self.car_logins() > logins_before, timeout)

    def online(self) -> bool:
        """The server's view: our car's newest connection has not been closed since its login."""
        text = self.server.text()
        login = text.rfind(f" C {VEHICLE} logged in")
        return login >= 0 and text.find(f" C {VEHICLE}: ", login) < 0

    # -- the car ----------------------------------------------------------------------------------------------
    def vcar_do(self, *args: str) -> bool:
        r = subprocess.run([*command("vcar"), "do", "--control", str(self.car_ctl), *args],
                           capture_output=True, text=True, timeout=20)
        return r.returncode == 0

    # -- receiving ends ----------------------------------------------------------------------------------------
    def _outbox_now(self) -> list[dict[str, object]]:
        if not self.vmodem.alive:
            return []
        r = subprocess.run([*command("vmodem"), "outbox", "--control", str(self.modem_ctl), "--json"],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            return []
        try:
            data = json.loads(r.stdout or "[]")
        except ValueError:
            return []
        return [d for d in data if isinstance(d, dict)]

    def sms_sent(self) -> list[dict[str, object]]:
        """Every SMS the unit sent, across vmodem restarts."""
        return self._sms_archive + self._outbox_now()

    def deliveries(self) -> list[Delivery]:
        """Every alert copy at the server and every alert SMS to the owner, oldest first."""
        out: list[Delivery] = []
        if self.db.exists():
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)   # read-only: the server writes
            try:
                for a in store.load_alerts(conn, VEHICLE):
                    out.append(Delivery("server", _key(a.text), a.text, a.time))
            finally:
                conn.close()
        for sms in self.sms_sent():
            text = str(sms.get("text", ""))
            if sms.get("to") == OWNER and TAG.search(text):
                out.append(Delivery("sms", _key(text), text, float(str(sms.get("time", 0.0)))))
        return out

    def log_lines(self) -> dict[str, int]:
        return {p.name: p.lines() for p in self.procs}


def _key(text: str) -> str:
    tag = TAG.search(text)
    return tag.group(0) if tag else text
