"""The unit's MQTT 3.1.1 client session, sans-IO, laid out as OVMS v3 does it (see `topics.py`).

It has the shape of the OVMS v2 `CarSession`, so the firmware's server seam drives both alike:

    out = s.connect(now)              # TCP is up: write the CONNECT
    out = s.receive_data(data, now)   # bytes from the broker in; bytes to write out (PUBACK, SUBSCRIBE...)
    s.events()                        # LoggedIn (CONNACK accepted), LoginFailed (refused / none in time),
                                      # LinkLost, Delivered(ids) (broker's PUBACK), TextCommand
    out = s.tick(metrics, now)        # at next_deadline() or when metrics change: changed metrics,
                                      # keep-alive PINGREQ, timeouts
    s.next_deadline()                 # when tick must run next (None: no connection)
    s.disconnected(reason)            # TCP dropped
    out = s.send_alert(id, text, now) # QoS 1 on <prefix>notify/alert/<subtype>; Delivered((id,)) on PUBACK
    out = s.send_history(id, rtype, data, now, recno=, timediff=)   # QoS 1 on notify/data/...
    out = s.respond(ref, text, now)   # QoS 1 on <prefix>client/<id>/response/<n> for TextCommand(ref, ...)
    out = s.close(now)                # clean goodbye: online state `no`, DISCONNECT

It implements the server seam `tcu.server_session.ServerSession` and speaks its events (one type per
fact): LoggedIn, LoginFailed, LinkLost and Delivered; MQTT adds `TextCommand`, a command line for the
same interpreter as SMS and server command 7, whose `ref` (`<client>/<n>`) `respond` answers.

Delivery (issue 18): a QoS 1 PUBLISH stays in flight, across connections, until the broker's PUBACK;
after a reconnect every unacknowledged one is sent again with DUP set (MQTT §4.4). The session takes an
alert or record while offline and sends it after the next CONNACK; offering an id that is already in
flight again is a no-op, so an outbox that re-offers its unconfirmed items never makes a duplicate.
A subscriber may still see one twice (PUBACK lost with the link): it dedups by the alert's tag.

Liveness (DESIGN.md §3, as `CarSession`): only bytes from the broker prove the path. After
LIVENESS_IDLE s without one we send PINGREQ; PING_TIMEOUT s later without any byte the link is dead.
We also send a PINGREQ when we have sent nothing for most of the keep-alive, so the broker (which drops
a client silent for 1.5 x keep-alive, §3.1.2.10) never drops a healthy unit.

After each CONNACK: SUBSCRIBE to the command topics, the online state `yes`, and the Home Assistant
discovery configs followed by a PINGREQ whose PINGRESP proves the broker has them; they are sent again
only when the broker says it lost our session (CONNACK session present 0) or that proof never came.

Metrics: retained, QoS 0, change-only, on OVMS v3's cadence (5 s with ignition on, 10 s charging, 60 s
awake, 600 s asleep), all of them after each CONNACK (the broker may have lost its retained store).
A stale metric (per the injected `is_stale`) is not published: a retained topic keeps the last fresh
value rather than be overwritten by a stale one that Home Assistant would show as current.

Determinism: the first packet id comes from the injected random source; nothing reads a clock.
"""

from __future__ import annotations

import json
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Final

from mqtt311 import packets as p
from tcu.plural import plural
from tcu.server_session import Delivered, LinkLost, LoggedIn, LoginFailed, ServerSession

from .discovery import discovery_messages
from .topics import CONNECTED_METRIC, Topics, default_prefix, format_value, safe_level

log = logging.getLogger(__name__)

KEEP_ALIVE: Final = 300             # s, CONNECT keep-alive (OVMS uses 29 min; cellular NATs forget sooner)
LIVENESS_IDLE: Final = 180.0        # s without a byte from the broker: PINGREQ
PING_TIMEOUT: Final = 60.0          # s after a PINGREQ without any byte from the broker: dead
TX_PING_FRACTION: Final = 0.8       # ping when we have been silent for this share of the keep-alive
CONNACK_TIMEOUT: Final = 30.0
MAX_IN_FLIGHT: Final = 1000         # queued + unacknowledged QoS 1 publishes we hold
# OVMS v3 `updatetime.*` defaults (ovms_server_v3.cpp): seconds between change reports.
UPDATE_ON: Final = 5.0
UPDATE_CHARGING: Final = 10.0
UPDATE_AWAKE: Final = 60.0
UPDATE_IDLE: Final = 600.0
_RECENT_COMMANDS: Final = 64        # (client, ref) remembered to drop a DUP redelivery


@dataclass(frozen=True)
class TextCommand:
    """A command line an app published on `<prefix>client/<client>/command/<n>`, for the same interpreter
    as SMS and OVMS server command 7; `ref` is `<client>/<n>`, which `respond` answers."""

    ref: str
    text: str


MqttEvent = LoggedIn | LoginFailed | LinkLost | Delivered | TextCommand


@dataclass(frozen=True)
class _Pending:
    """A QoS 1 publish we owe the broker: `item` is the outbox id to confirm (None: a reply)."""

    item: Hashable | None
    publish: p.Publish
    sent: bool


def update_interval(metrics: Mapping[str, object]) -> float:
    """OVMS v3's report cadence from the car's state."""
    if metrics.get("v.e.on") is True:
        return UPDATE_ON
    if metrics.get("v.c.charging") is True:
        return UPDATE_CHARGING
    if metrics.get("v.e.awake") is True:
        return UPDATE_AWAKE
    return UPDATE_IDLE


class MqttSession:
    """One unit's MQTT session state across TCP connections (see the module docstring)."""

    def __init__(self, vehicle_id: str, rng: random.Random, now: float = 0.0, *,
                 username: str | None = None, password: str | None = None,
                 client_id: str | None = None, prefix: str | None = None,
                 keep_alive: int = KEEP_ALIVE, firmware: str = "0.1.0/TCU1/V1/tcu-sim",
                 is_stale: Callable[[str, float], bool] | None = None,
                 alert_subtype: str = "tcu", discovery: bool = True) -> None:
        self.vehicle_id = vehicle_id
        # OVMS v3: client id defaults to the vehicle id; a stable id keeps the broker's session.
        self.client_id = client_id or vehicle_id
        if prefix and not prefix.endswith("/"):
            prefix += "/"              # OVMS v3 wants the slash; an owner may well leave it out
        # A prefix with a wildcard raises ValueError here: a configuration error, said at start-up.
        self.topics = Topics(prefix if prefix else default_prefix(username or "", vehicle_id))
        self._username = username
        self._password = password
        self._keep_alive = keep_alive
        self._firmware = firmware
        self._is_stale = is_stale
        self._alert_subtype = alert_subtype
        self._discovery = discovery
        self._next_pid = rng.randrange(1, 0x10000)
        self._reader = p.PacketReader()
        self._events: deque[MqttEvent] = deque()
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._suback_pid: int | None = None
        self._recent_commands: deque[tuple[str, str]] = deque(maxlen=_RECENT_COMMANDS)
        self._last_sent: dict[str, bytes] = {}
        self._connected = False           # TCP up (CONNECT written)
        self.logged_in = False               # CONNACK accepted
        self._connected_at = now
        self._last_rx = now
        self._last_tx = now
        self._ping_at: float | None = None
        self._next_report = now
        # Discovery configs are static: once a PINGRESP has proven that the broker took them (it handles a
        # connection's packets in order), a reconnect to a broker that kept our session skips the ~7 KB.
        self._discovery_stored = False
        self._discovery_probe = False

    # -- connection lifecycle ------------------------------------------------------------------------
    def connect(self, now: float) -> bytes:
        """A fresh TCP connection: the CONNECT with the retained last will `no` on the online topic."""
        self._reader = p.PacketReader()
        self._connected = True
        self.logged_in = False
        self._connected_at = self._last_rx = self._last_tx = now
        self._ping_at = None
        self._suback_pid = None
        pw = self._password.encode() if self._password else None
        user = self._username or ("" if pw is not None else None)   # OVMS: an empty one is not sent
        return p.encode(p.Connect(
            self.client_id, self._keep_alive, clean_session=False, username=user, password=pw,
            will_topic=self.topics.connected, will_message=b"no", will_qos=1, will_retain=True))

    def disconnected(self, reason: str = "connection closed") -> None:
        """TCP is gone; QoS 1 publishes stay in flight and go again after the next CONNACK."""
        if not self._connected:
            return
        self._events.append(LinkLost(reason) if self.logged_in
                            else LoginFailed(f"{reason} before the broker's CONNACK"))
        self._drop()

    def _drop(self) -> None:
        self._discovery_probe = False
        self._connected = False
        self.logged_in = False
        self._ping_at = None

    def _lost(self, reason: str) -> None:
        log.warning("MQTT link of %s dropped: %s", self.vehicle_id, reason)
        self._events.append(LinkLost(reason) if self.logged_in else LoginFailed(reason))
        self._drop()

    def close(self, now: float) -> bytes:
        """A clean goodbye: the online state `no` (DISCONNECT makes the broker discard the will)."""
        if not self.logged_in:
            self._drop()
            return b""
        out = self._publish(self.topics.connected, b"no", now, retain=True)
        self._drop()
        return out + p.encode(p.Disconnect())

    # -- input -------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> bytes:
        """Bytes from the broker; returns bytes to write at once."""
        if not self._connected or not data:
            return b""
        self._last_rx = now
        self._ping_at = None          # any byte from the broker answers our question
        self._reader.feed(data)
        out = bytearray()
        while self._connected:
            try:
                pkt = self._reader.next_packet()
            except p.MqttError as exc:
                self._lost(f"broker sent a malformed packet: {exc}")
                break
            if pkt is None:
                break
            out += self._on_packet(pkt, now)
        return bytes(out)

    def _on_packet(self, pkt: p.Packet, now: float) -> bytes:
        if not self.logged_in:
            if not isinstance(pkt, p.Connack):
                self._lost(f"{type(pkt).__name__} before CONNACK")
                return b""
            return self._on_connack(pkt, now)
        if isinstance(pkt, p.Puback):
            entry = self._pending.get(pkt.packet_id)
            if entry is None or not entry.sent:
                log.debug("PUBACK for packet id %d we do not hold", pkt.packet_id)
                return b""
            del self._pending[pkt.packet_id]
            if entry.item is not None:
                self._events.append(Delivered((entry.item,)))
        elif isinstance(pkt, p.Publish):
            return self._on_publish(pkt)
        elif isinstance(pkt, p.Suback):
            if pkt.packet_id == self._suback_pid:
                self._suback_pid = None
                if p.SUBACK_FAILURE in pkt.return_codes:
                    log.warning("broker refused the command subscription %s (ACL?): commands will not arrive",
                                self.topics.command_filter)
        elif isinstance(pkt, p.Pingresp):
            if self._discovery_probe:
                self._discovery_probe = False
                self._discovery_stored = True
        elif isinstance(pkt, p.Unsuback):
            pass
        else:
            self._lost(f"broker sent a client-only packet {type(pkt).__name__}")
        return b""

    def _on_connack(self, pkt: p.Connack, now: float) -> bytes:
        if pkt.return_code != 0:
            reason = p.CONNACK_REASONS[pkt.return_code]
            log.warning("MQTT broker refused %s: %s", self.client_id, reason)
            self._events.append(LoginFailed(f"broker refused the connection: {reason}"))
            self._drop()
            return b""
        self.logged_in = True
        self._last_sent.clear()
        self._next_report = now
        self._events.append(LoggedIn())
        log.info("MQTT broker accepted %s (session present: %s, %s to resend)",
                 self.client_id, pkt.session_present, plural(len(self._pending), "publish", "publishes"))
        self._suback_pid = self._new_pid()
        out = bytearray(p.encode(p.Subscribe(self._suback_pid, ((self.topics.command_filter, 1),))))
        out += self._publish(self.topics.connected, b"yes", now, retain=True)
        if not pkt.session_present:
            self._discovery_stored = False      # a broker that lost our session lost its retained store too
        if self._discovery and not self._discovery_stored:
            for topic, payload in discovery_messages(self.topics, self.vehicle_id, self._firmware,
                                                     self._alert_subtype):
                out += self._publish(topic, payload, now, retain=True)
            self._discovery_probe = True
            self._ping_at = now
            out += p.encode(p.Pingreq())
        # §4.4: resend unacknowledged publishes, in their order, DUP set on those sent before.
        for pid, entry in list(self._pending.items()):
            pub = entry.publish
            if entry.sent:
                pub = p.Publish(pub.topic, pub.payload, pub.qos, pub.retain, True, pub.packet_id)
            self._pending[pid] = _Pending(entry.item, pub, True)
            out += p.encode(pub)
        self._last_tx = now
        return bytes(out)

    def _on_publish(self, pkt: p.Publish) -> bytes:
        ack = p.encode(p.Puback(pkt.packet_id)) if pkt.qos == 1 and pkt.packet_id is not None else b""
        if pkt.qos == 2:
            self._lost("broker sent a QoS 2 PUBLISH on a QoS 1 subscription")
            return b""
        where = self.topics.parse_command(pkt.topic)
        if where is None:
            log.debug("ignoring a publish on %s", pkt.topic[:120])
            return ack
        if pkt.retain:
            # A retained command would run again at every reconnect (e.g. LOCK a car the owner unlocked).
            log.warning("ignoring a retained command on %s: publish commands without retain", pkt.topic[:120])
            return ack
        if pkt.dup and where in self._recent_commands:
            log.info("dropping a redelivered command %s/%s", *where)
            return ack
        self._recent_commands.append(where)
        text = pkt.payload.decode("utf-8", errors="replace").strip()
        self._events.append(TextCommand(f"{where[0]}/{where[1]}", text))
        return ack

    def events(self) -> list[MqttEvent]:
        """Drain the events produced since the last call."""
        out = list(self._events)
        self._events.clear()
        return out

    # -- output --------------------------------------------------------------------------------------------
    def _new_pid(self) -> int:
        """The next free packet id (§2.3.1: 1..65535, not one still in use)."""
        while True:
            pid = self._next_pid
            self._next_pid = pid % 0xFFFF + 1
            if pid not in self._pending and pid != self._suback_pid:
                return pid

    def _publish(self, topic: str, payload: bytes, now: float, retain: bool = False) -> bytes:
        if not self.logged_in:
            return b""
        self._last_tx = now
        return p.encode(p.Publish(topic, payload, 0, retain))

    def _publish_qos1(self, item: Hashable | None, topic: str, payload: bytes, now: float) -> bytes:
        if len(self._pending) >= MAX_IN_FLIGHT:
            log.warning("MQTT: %d publishes already in flight; %s stays with the caller", MAX_IN_FLIGHT,
                        topic[:120])
            return b""
        pid = self._new_pid()
        pub = p.Publish(topic, payload, 1, False, False, pid)
        self._pending[pid] = _Pending(item, pub, self.logged_in)
        if not self.logged_in:
            return b""
        self._last_tx = now
        return p.encode(pub)

    def in_flight(self) -> tuple[Hashable, ...]:
        """Outbox ids held here until the broker's PUBACK (queued or unacknowledged)."""
        return tuple(e.item for e in self._pending.values() if e.item is not None)

    def send_alert(self, alert_id: Hashable, text: str, now: float, kind: str = "A",
                   subtype: str | None = None) -> bytes:
        """`A` → notify/alert, `I` → notify/info, `E` → notify/error; QoS 1, Delivered((alert_id,)) on PUBACK."""
        if alert_id in self.in_flight():
            return b""
        kind_name = {"A": "alert", "I": "info", "E": "error"}.get(kind, "alert")
        topic = self.topics.notify(kind_name, subtype or self._alert_subtype)
        return self._publish_qos1(alert_id, topic, text.encode("utf-8"), now)

    def send_history(self, record_id: Hashable, rtype: str, data: str, now: float, *,
                     recno: int = 0, lifetime: int = 86400, timediff: int = 0) -> bytes:
        """A history record on `notify/data/<type>/<recno>/<age>` (age = timediff <= 0, as OVMS v3)."""
        if record_id in self.in_flight():
            return b""
        del lifetime   # OVMS v2 only: the broker keeps nothing but retained messages
        topic = self.topics.data(rtype, recno, min(0, timediff))
        return self._publish_qos1(record_id, topic, data.split("\n", 1)[0].encode("utf-8"), now)

    def respond(self, ref: str, text: str, now: float) -> bytes:
        """The output of TextCommand `ref` (`<client>/<n>`) on `<prefix>client/<client>/response/<n>`, QoS 1."""
        client, _, n = ref.partition("/")
        topic = self.topics.response(safe_level(client), safe_level(n))
        return self._publish_qos1(None, topic, text.encode("utf-8"), now)

    def _fresh(self, name: str, now: float) -> bool:
        return self._is_stale is None or not self._is_stale(name, now)

    def tick(self, metrics: Mapping[str, object], now: float, force: bool = False) -> bytes:
        """Publish changed metrics on the cadence, ping when quiet, time out a dead link."""
        if not self._connected:
            return b""
        if not self.logged_in:
            if now - self._connected_at >= CONNACK_TIMEOUT:
                self._lost("no CONNACK from the broker")
            return b""
        if self._ping_at is not None and now >= self._ping_at + PING_TIMEOUT:
            self._lost("keep-alive: no answer to PINGREQ")
            return b""
        out = bytearray()
        if force or now >= self._next_report:
            out += self._report(metrics, now)
            self._next_report = now + update_interval(metrics)
        if self._ping_at is None and (now - self._last_rx >= LIVENESS_IDLE
                                      or now - self._last_tx >= self._keep_alive * TX_PING_FRACTION):
            self._ping_at = now
            self._last_tx = now
            out += p.encode(p.Pingreq())
        return bytes(out)

    def _report(self, metrics: Mapping[str, object], now: float) -> bytes:
        out = bytearray()
        for name in sorted(metrics):
            value = metrics.get(name)
            if value is None or name == CONNECTED_METRIC or not self._fresh(name, now):
                continue
            out += self._retained(self.topics.metric(name), format_value(value).encode(), now)
        lat, lon = metrics.get("v.p.latitude"), metrics.get("v.p.longitude")
        if (isinstance(lat, int | float) and isinstance(lon, int | float)
                and self._fresh("v.p.latitude", now) and self._fresh("v.p.longitude", now)):
            loc: dict[str, object] = {"latitude": round(float(lat), 6), "longitude": round(float(lon), 6)}
            hdop = metrics.get("v.p.gpshdop")
            if isinstance(hdop, int | float) and not isinstance(hdop, bool):
                loc["gps_accuracy"] = round(float(hdop) * 5.0, 1)   # ~5 m per unit of HDOP
            out += self._retained(self.topics.location, json.dumps(loc, sort_keys=True).encode(), now)
        return bytes(out)

    def _retained(self, topic: str, payload: bytes, now: float) -> bytes:
        """Change-only: a retained topic already holding this payload is not published again."""
        if self._last_sent.get(topic) == payload:
            return b""
        self._last_sent[topic] = payload
        return self._publish(topic, payload, now, retain=True)

    def next_deadline(self) -> float | None:
        """When `tick` must run next (None when there is no connection)."""
        if not self._connected:
            return None
        if not self.logged_in:
            return self._connected_at + CONNACK_TIMEOUT
        if self._ping_at is not None:
            return min(self._next_report, self._ping_at + PING_TIMEOUT)
        return min(self._next_report, self._last_rx + LIVENESS_IDLE,
                   self._last_tx + self._keep_alive * TX_PING_FRACTION)


def _is_a_server_session(s: MqttSession) -> ServerSession:
    """Never called: mypy (`make lint`) checks here that MqttSession satisfies the seam's Protocol."""
    return s
