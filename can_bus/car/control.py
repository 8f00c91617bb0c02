"""The virtual car's control socket: JSON lines over a UNIX socket (what `vcar do/status` talk to).

    {"cmd": "do", "event": "drive", "args": {"minutes": 10}}   → {"ok": true}
    {"cmd": "command", "name": "lock", "args": {}}             → {"ok": true}  (as if a frame came)
    {"cmd": "status"}                                          → {"ok": true, "state": {...}}
    {"cmd": "metrics"}                                         → {"ok": true, "metrics": {...}}
    {"cmd": "scenario", "name": "theft"}                       → {"ok": true}
Errors come back as {"ok": false, "error": "..."}; a bad line never stops the car.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.fdstream import FdStream

if TYPE_CHECKING:
    from can_bus.car.virtual_car import VirtualCar
    from runtime import Loop

log = logging.getLogger(__name__)
MAX_LINE = 65536


def handle_request(car: VirtualCar, loop: Loop, request: dict[str, Any],
                   extra: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """One request → one reply (pure apart from steering the car; testable without a socket)."""
    cmd = request.get("cmd")
    try:
        if cmd == "do":
            car.do(str(request["event"]), **dict(request.get("args") or {}))
            return {"ok": True}
        if cmd == "command":
            car.command(str(request["name"]), dict(request.get("args") or {}))
            return {"ok": True}
        if cmd == "status":
            reply = {"ok": True, "state": car.state, "log": car.log[-20:]}
            if extra is not None:
                reply.update(extra())
            return reply
        if cmd == "metrics":
            return {"ok": True, "metrics": car.metrics()}
        if cmd == "scenario":
            from can_bus.car.scenarios import run_scenario

            run_scenario(car, str(request["name"]), loop)
            return {"ok": True}
    except (KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": False, "error": f"unknown cmd {cmd!r} (do, command, status, metrics, scenario)"}


class ControlServer:
    """Listens on a UNIX socket on the real loop."""

    def __init__(self, loop: Loop, car: VirtualCar, path: str,
                 extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self.loop = loop
        self.car = car
        self.extra = extra
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(16)
        self._sock.setblocking(False)
        loop.add_reader(self._sock, self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        stream = FdStream(self.loop, conn)
        buf = bytearray()

        def on_data(data: bytes) -> None:
            buf.extend(data)
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                stream.write(self._answer(line) + b"\n")
            if len(buf) > MAX_LINE:
                buf.clear()
                stream.write(json.dumps({"ok": False, "error": "line too long"}).encode() + b"\n")

        stream.set_handlers(on_data)

    def _answer(self, line: bytes) -> bytes:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return json.dumps({"ok": False, "error": f"bad JSON: {exc}"}).encode()
        return json.dumps(handle_request(self.car, self.loop, request, self.extra), default=str).encode()

    def close(self) -> None:
        self.loop.remove_reader(self._sock)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def request(path: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Client side (blocking; for the CLI and tests): send one request, read one reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
