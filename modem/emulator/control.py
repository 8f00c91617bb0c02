"""The control interface of a running `vmodem serve`: JSON lines over a UNIX socket.

Request  {"cmd": "sms", "from": "+447700900123", "text": "STAT"}
         {"cmd": "outbox"} | {"cmd": "status"} | {"cmd": "power-key"} | {"cmd": "faults"}
         {"cmd": "fault", "kind": "no-coverage", "for": 120}   ("for" optional: until cleared)
         {"cmd": "fault", "kind": "clear"}  or  {"cmd": "clear"}
         {"cmd": "stop-fault", "kind": "stall"}
Answer   {"ok": true, ...} or {"ok": false, "error": "..."}; one line per request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from modem.emulator.faults import FAULT_KINDS, UnknownFault

if TYPE_CHECKING:
    from modem.emulator.modem import VirtualModem
    from runtime import Loop

log = logging.getLogger(__name__)

MAX_REQUEST = 65536


class ControlError(RuntimeError):
    """The modem refused a control request (bad fault name, ...)."""


def handle_request(modem: VirtualModem, req: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request; pure function of the modem API (tests call it directly)."""
    cmd = req.get("cmd")
    try:
        if cmd == "sms":
            sender, text = str(req["from"]), str(req["text"])
            return {"ok": True, "delivered": modem.inject_sms(sender, text)}
        if cmd == "outbox":
            return {"ok": True, "outbox": [s.as_dict() for s in modem.outbox]}
        if cmd == "status":
            return {"ok": True, "status": modem.status()}
        if cmd == "power-key":
            modem.power_key()
            return {"ok": True, "powered": modem.powered}
        if cmd == "faults":
            return {"ok": True, "faults": FAULT_KINDS}
        if cmd == "clear" or (cmd == "fault" and req.get("kind") == "clear"):
            return {"ok": True, "cleared": modem.clear_faults()}
        if cmd == "fault":
            duration = req.get("for")
            modem.fault(str(req["kind"]), None if duration is None else float(duration))
            return {"ok": True}
        if cmd == "stop-fault":
            modem.stop_fault(str(req["kind"]))
            return {"ok": True}
    except UnknownFault as exc:
        return {"ok": False, "error": str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "error": f"bad request: {exc!r}"}
    return {"ok": False, "error": f"unknown cmd {cmd!r}"}


class ControlServer:
    """Listens on a UNIX socket on the real loop; each line in is one request."""

    def __init__(self, loop: Loop, modem: VirtualModem, path: str) -> None:
        from runtime.fdstream import FdStream

        self._FdStream = FdStream
        self.loop = loop
        self.modem = modem
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.setblocking(False)
        loop.add_reader(self.sock, self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        stream = self._FdStream(self.loop, conn)
        buf = bytearray()

        def on_data(data: bytes) -> None:
            buf.extend(data)
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                stream.write(self._answer(line))
            if len(buf) > MAX_REQUEST:
                stream.write(json.dumps({"ok": False, "error": "request too long"}).encode() + b"\n")
                stream.close()

        stream.set_handlers(on_data)

    def _answer(self, line: bytes) -> bytes:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            answer: dict[str, Any] = {"ok": False, "error": f"bad JSON: {exc}"}
        else:
            log.info("control: %s", req.get("cmd"))
            answer = handle_request(self.modem, req)
        return json.dumps(answer).encode() + b"\n"

    def close(self) -> None:
        self.loop.remove_reader(self.sock)
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class ControlClient:
    """Blocking client for scripts, tests and the driver's power-key adapter."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        req = {"cmd": cmd, **args}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        answer = json.loads(buf)
        if not answer.get("ok"):
            raise ControlError(answer.get("error", "refused"))
        return answer

    def sms(self, sender: str, text: str) -> bool:
        return bool(self.call("sms", **{"from": sender, "text": text})["delivered"])

    def outbox(self) -> list[dict[str, Any]]:
        return list(self.call("outbox")["outbox"])

    def fault(self, kind: str, duration: float | None = None) -> None:
        self.call("fault", kind=kind, **({} if duration is None else {"for": duration}))

    def clear_faults(self) -> list[str]:
        return list(self.call("clear")["cleared"])

    def status(self) -> dict[str, Any]:
        return dict(self.call("status")["status"])

    def power_key(self) -> bool:
        return bool(self.call("power-key")["powered"])
