"""The virtual car's control socket: JSON lines over a UNIX socket (what `vcar do/status` talk to).

    {"cmd": "do", "event": "drive", "args": {"minutes": 10}}   → {"ok": true}
    {"cmd": "command", "name": "lock", "args": {}}             → {"ok": true}  (as if a frame came)
    {"cmd": "status"}                                          → {"ok": true, "state": {...}}
    {"cmd": "metrics"}                                         → {"ok": true, "metrics": {...}}
    {"cmd": "scenario", "name": "theft"}                       → {"ok": true}
Errors come back as {"ok": false, "error": "..."}; a bad line never stops the car.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.control import JsonLineServer, call

if TYPE_CHECKING:
    from can_bus.car.virtual_car import VirtualCar
    from runtime import Loop

log = logging.getLogger(__name__)


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


class ControlServer(JsonLineServer):
    """`vcar serve`'s control socket on the real loop."""

    def __init__(self, loop: Loop, car: VirtualCar, path: str,
                 extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self.car = car
        self.extra = extra
        super().__init__(loop, path, lambda req: handle_request(car, loop, req, extra), name="vcar control")


def request(path: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Client side (blocking; for the CLI and tests): send one request, read one reply.

    Raises `ControlError` (an OSError-free error) when the car cannot be reached."""
    return call(path, message, timeout)
