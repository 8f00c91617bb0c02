"""Virtual modems on real ptys for tests: in a background thread (`ServedModem`, instant timing,
for our own logic) or as the `vmodem serve` process a tester runs (`VmodemServe`, default timing)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from modem.control_client import ControlClient
from modem.emulator import VirtualModem, VirtualNetwork
from modem.emulator.control import ControlServer
from runtime import RealLoop
from runtime.pty import PtyEndpoint


class ServedModem:
    def __init__(self, tmp: Path, **kw: Any) -> None:
        self.loop = RealLoop(seed=3)
        self.endpoint = PtyEndpoint(self.loop, link=str(tmp / "modem"))
        self.net = VirtualNetwork(self.loop)
        kw.setdefault("profile", "instant")
        self.modem = VirtualModem(self.loop, self.endpoint.stream, self.net, **kw)
        self.control_path = str(tmp / "modem.ctl")
        self.control = ControlServer(self.loop, self.modem, self.control_path)
        self.client = ControlClient(self.control_path)
        self.path = self.endpoint.client_path
        self._thread = threading.Thread(target=self.loop.run, daemon=True)

    def __enter__(self) -> ServedModem:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.control.close()
        self.modem.close()
        self.endpoint.close()
        self.loop.close()


VMODEM = str(Path(sys.executable).parent / "vmodem")  # the venv's entry point, as the README runs it


class VmodemServe:
    """`vmodem serve` started the way the README tells testers: a fresh process at default timing.

    `start()` returns at once (start several, they boot in parallel); `wait_ready()` returns the pty
    path the moment `vmodem: ready` is printed, the point from which the README says a client may
    use it. The control socket is driven through the `vmodem` command line, as a tester would.
    """

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.tmp = tmp
        self.link = str(tmp / "modem")
        self.control = str(tmp / "modem.ctl")
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.pty: str | None = None
        self._buf = b""

    def start(self) -> VmodemServe:
        log = open(self.tmp / "vmodem.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [VMODEM, "serve", "--link", self.link, "--control", self.control, *self.extra],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def read_line(self, deadline: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"vmodem serve printed no line in time; so far {self.lines}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"vmodem serve exited ({self.proc.poll()}); printed {self.lines}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode()
        self.lines.append(text)
        return text

    def wait_for(self, wanted: str, timeout: float = 60.0) -> float:
        """Read stdout until a line starting with `wanted`; return when it came (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline)
            if line.startswith("vmodem: pty "):
                self.pty = line.split("vmodem: pty ", 1)[1]
            if line.startswith(wanted):
                return time.monotonic()

    def wait_ready(self, timeout: float = 60.0) -> str:
        self.wait_for("vmodem: ready", timeout)
        assert self.pty is not None, self.lines
        return self.pty

    def tool(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        cmd, *rest = args
        return subprocess.run(
            [VMODEM, cmd, "--control", self.control, *rest], capture_output=True, text=True, timeout=timeout
        )

    def sms(self, sender: str, text: str) -> None:
        r = self.tool("sms", "--from", sender, text)
        assert r.returncode == 0 and "delivered" in r.stdout, (r.stdout, r.stderr)

    def outbox(self) -> list[dict[str, Any]]:
        r = self.tool("outbox", "--json")
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> VmodemServe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
