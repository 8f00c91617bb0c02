"""A virtual modem on a real pty, its RealLoop in a background thread (tests only)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from modem.emulator import VirtualModem, VirtualNetwork
from modem.emulator.control import ControlClient, ControlServer
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
