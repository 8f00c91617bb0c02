"""An OVMS v2 app client (role A or B) over the runtime contract: used by `tcu-app` and by tests."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from ovms_v2 import messages as m
from ovms_v2.connection import (
    NEED_DATA,
    AuthFailed,
    ClientConnection,
    ConnectionClosed,
    Malformed,
    Message,
    ProtocolError,
    Welcomed,
)
from runtime import Loop, Stream

log = logging.getLogger(__name__)


class AppClient:
    """Logs in as an app for one vehicle and keeps what the server tells it.

    `on_message(client, msg)` is called for every decoded message after login; `on_state(client)` when
    `state` changes ("connecting" → "open" → "closed"/"failed", with `error` set on failure).
    """

    def __init__(self, loop: Loop, host: str, port: int, vehicle_id: str, password: str, *,
                 role: str = "A", rng: random.Random | None = None,
                 on_message: Callable[[AppClient, m.Message], None] | None = None,
                 on_state: Callable[[AppClient], None] | None = None,
                 keepalive: float | None = 300.0) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.conn = ClientConnection(role, vehicle_id, password, rng)
        self.on_message = on_message
        self.on_state = on_state
        self.state = "new"
        self.error: str | None = None
        self.stream: Stream | None = None
        self.last: dict[str, m.Message] = {}        # latest message of each code seen
        self.car_connected: bool | None = None
        self.seconds_since_update: int | None = None
        self.received: list[tuple[float, m.Message]] = []
        # The server drops apps silent for 1200 s (spec §6): ping well inside that.
        self.keepalive = keepalive

    def connect(self) -> None:
        self._set_state("connecting")
        self.loop.connect_tcp(self.host, self.port, self._connected)

    def _set_state(self, state: str, error: str | None = None) -> None:
        self.state = state
        if error is not None:
            self.error = error
        if self.on_state is not None:
            self.on_state(self)

    def _connected(self, stream: Stream | None, error: str | None) -> None:
        if stream is None:
            self._set_state("failed", f"cannot connect to {self.host}:{self.port}: {error}")
            return
        self.stream = stream
        stream.set_handlers(self._on_data, self._on_close)
        stream.write(self.conn.initial_bytes())

    def _on_close(self) -> None:
        if self.state in ("closed", "failed"):
            return
        self._on_data(b"")

    def _on_data(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            ev = self.conn.next_event()
            if ev is NEED_DATA:
                return
            if isinstance(ev, Welcomed):
                self._set_state("open")
                if self.keepalive:
                    self.loop.call_later(self.keepalive, self._ping)
            elif isinstance(ev, Message):
                self._on_msg(ev.msg)
            elif isinstance(ev, Malformed):
                log.warning("unreadable message from server: %s", ev.reason)
            elif isinstance(ev, AuthFailed):
                self._fail(f"login failed: {ev.reason} (wrong vehicle id or password?)")
                return
            elif isinstance(ev, ProtocolError):
                self._fail(f"protocol error: {ev.reason}")
                return
            elif isinstance(ev, ConnectionClosed):
                self.stream = None
                self._set_state("closed", "server closed the connection")
                return

    def _ping(self) -> None:
        if self.state == "open" and self.stream is not None:
            self.send(m.Ping())
            self.loop.call_later(self.keepalive or 300.0, self._ping)

    def _fail(self, reason: str) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self._set_state("failed", reason)

    def _on_msg(self, msg: m.Message) -> None:
        self.received.append((self.loop.time(), msg))
        if isinstance(msg, m.Peers):
            self.car_connected = msg.count > 0
        elif isinstance(msg, m.Time):
            self.seconds_since_update = msg.seconds
        elif isinstance(msg, m.Ping):
            self.send(m.PingAck())
        code = msg.code if isinstance(msg, m.Unknown) else msg.CODE
        self.last[code] = msg
        if self.on_message is not None:
            self.on_message(self, msg)

    def send(self, msg: m.Message | str) -> None:
        if self.stream is None or self.state != "open":
            raise RuntimeError("app client is not logged in")
        self.stream.write(self.conn.send(msg))

    def command(self, cmd: int, params: str = "") -> None:
        self.send(m.Command(cmd, params))

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.state not in ("failed",):
            self.state = "closed"
