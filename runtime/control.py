"""JSON-lines control sockets: how testers steer a running `vmodem serve` or `vcar serve`.

One request per line (`{"cmd": ...}`), one answer per line (`{"ok": true, ...}` or
`{"ok": false, "error": ...}`). The server side runs on the real loop; the client is a small
blocking call for CLIs, scripts and tests. Both devices share this so they behave alike.
A path another live instance serves is refused (`runtime.claim.PathInUse`), never taken over.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.claim import SocketClaim
from runtime.fdstream import FdStream

if TYPE_CHECKING:
    from runtime.loop import Loop

log = logging.getLogger(__name__)

MAX_REQUEST = 65536

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(RuntimeError):
    """The device refused a control request, or did not answer."""


class JsonLineServer:
    """Listens on a UNIX socket; every line in is handed to `handler` and its answer written back."""

    def __init__(self, loop: Loop, path: str, handler: Handler, name: str = "control") -> None:
        self.loop = loop
        self.path = path
        self.handler = handler
        self.name = name
        # Raises PathInUse if another live process serves `path`; a stale socket file is taken over.
        self._claim = SocketClaim(path)
        self.sock = self._claim.sock
        self.sock.setblocking(False)
        loop.add_reader(self.sock, self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        stream = FdStream(self.loop, conn)
        buf = bytearray()

        def on_data(data: bytes) -> None:
            buf.extend(data)
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                stream.write(self.answer(line))
            if len(buf) > MAX_REQUEST:
                buf.clear()
                stream.write(_dump({"ok": False, "error": "request too long"}))
                stream.close()

        stream.set_handlers(on_data)

    def answer(self, line: bytes) -> bytes:
        """One request line → one answer line (a bad request is an answer, never an exception)."""
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return _dump({"ok": False, "error": f"bad JSON: {exc}"})
        log.info("%s: %s", self.name, req.get("cmd"))
        try:
            return _dump(self.handler(req))
        except Exception as exc:  # a handler bug answers the tester instead of killing the device
            log.exception("%s request %r failed", self.name, req.get("cmd"))
            return _dump({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def close(self) -> None:
        self.loop.remove_reader(self.sock)
        self._claim.release()  # removes the socket file only if it is still the one we bound


def _dump(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, default=str).encode() + b"\n"


def call(path: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request and return the raw answer (`ok` may be false); raises ControlError if
    the device cannot be reached or answers nothing readable."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise ControlError(f"cannot reach control socket {path}: {exc}") from exc
    try:
        answer = json.loads(buf)
    except ValueError as exc:
        raise ControlError(f"unreadable answer from {path}: {buf[:80]!r}") from exc
    if not isinstance(answer, dict):
        raise ControlError(f"unreadable answer from {path}: {buf[:80]!r}")
    return answer
