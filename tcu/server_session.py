"""The server seam: what the firmware needs from "a session with a server", whatever the protocol.

Why a seam: the unit used to be hard-wired to OVMS v2 (issue 18). A server session is sans-IO (the
h11 shape, STYLE.md): the link adapter (`tcu.server_link.LinkDriver`) opens a TCP link through the
modem, calls `connect(now)` and writes what it returns, feeds what the link receives to
`receive_data`, drains `events()`, calls `tick(metrics, now)` at `next_deadline()` and writes what that
returns, and calls `disconnected(reason)` when the link is gone. The session alone decides whether the
path is alive (OVMS v2: a ping `A` answered by `a`; MQTT: keep-alive PINGREQ/PINGRESP) and says so
with `LinkLost`: that is the link's one liveness mechanism.

Implementations: `tcu.ovms.car_client.CarSession` (OVMS v2) and the MQTT session (`tcu.mqtt`).

The events below are the seam's vocabulary; a protocol adds its own, which the unit reads where it
needs them: OVMS v2 `CommandRequest` (numbered commands) and `AppsChanged`; MQTT `TextCommand` (a
command line for the SMS interpreter, answered with `MqttSession.respond`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LoggedIn:
    """The server accepted us (OVMS welcome checked, MQTT CONNACK 0): telemetry starts flowing."""


@dataclass(frozen=True)
class LoginFailed:
    """Wrong password, unknown vehicle, forged/replayed welcome, refused CONNACK, or no answer in time."""

    reason: str


@dataclass(frozen=True)
class LinkLost:
    """The session is over (peer closed, bad bytes, liveness check unanswered); the firmware reconnects."""

    reason: str


@dataclass(frozen=True)
class Delivered:
    """The server has these item ids (OVMS `h<ack>` or the `a` of a later ping; MQTT PUBACK)."""

    ids: tuple[Hashable, ...]


class ServerSession(Protocol):
    """One server's session across TCP connections (sans-IO: bytes and time in, bytes and events out)."""

    logged_in: bool

    def connect(self, now: float) -> bytes:
        """A fresh TCP connection: forget the last one; the bytes to write first (hello / CONNECT)."""
        ...

    def disconnected(self, reason: str = "connection closed") -> None:
        """TCP is gone; unconfirmed ids stay unconfirmed (the outbox sends them again)."""
        ...

    def receive_data(self, data: bytes, now: float) -> bytes:
        """Bytes from the server; returns bytes to write at once (answers)."""
        ...

    def events(self) -> Sequence[object]:
        """Drain the events produced since the last call (the types above and the protocol's own)."""
        ...

    def tick(self, metrics: Mapping[str, object], now: float) -> bytes:
        """Report what changed, check liveness, time out a dead link; bytes to write."""
        ...

    def next_deadline(self) -> float | None:
        """When `tick` must run next (None without a connection)."""
        ...

    def send_alert(self, alert_id: Hashable, text: str, now: float, kind: str = "A") -> bytes:
        """An alert (`kind` "A") or an info notice ("I"); its confirmation comes as Delivered((alert_id,))."""
        ...

    def send_history(self, record_id: Hashable, rtype: str, data: str, now: float, *,
                     recno: int = 0, lifetime: int = 86400, timediff: int = 0) -> bytes:
        """A history record (OVMS `<vehtype>-LOG-<what>` type, comma-separated data), confirmed likewise."""
        ...


SessionEvent = LoggedIn | LoginFailed | LinkLost | Delivered
