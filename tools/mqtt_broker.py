"""A small MQTT 3.1.1 broker on the runtime's loop: the simulated world's stand-in for Mosquitto.

Why not Mosquitto in `tcu sim`: the world runs on the virtual clock over the loop's virtual TCP, and a
real broker lives on the real clock. This one does what the unit's session relies on and no more:
CONNECT/CONNACK (a persistent session per client id: `session_present`, its subscriptions and the QoS 1
messages it has not acknowledged), the last will (retained as asked) on a connection lost without
DISCONNECT, PUBLISH QoS 0/1 with PUBACK, retained messages, SUBSCRIBE with `+`/`#` filters (QoS
granted at most 1), PINGREQ, a client id taken over by a new connection (§3.1.4). It speaks through
the same codec as the firmware (`mqtt311.packets`); the checks against a real broker are the Mosquitto
tests (`tests/mqtt`, `tests/firmware/test_mqtt_e2e.py`).

Observation for the report (delivery at the receiving end): `watch(filter, callback)` is a subscriber
inside the broker that sees every PUBLISH the broker accepts, with its DUP flag; `inject` publishes as
an app would (`mosquitto_pub`). `stop()`/`start()` kill and restart it (retained messages and sessions
are kept, as Mosquitto does with persistence on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from mqtt311 import packets as p
from runtime import Listener, Loop, Stream

log = logging.getLogger(__name__)

Watcher = Callable[[str, p.Publish], None]     # (publishing client id, the PUBLISH as received)


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT §4.7 topic filter matching (`+` one level, `#` the rest)."""
    f_parts, t_parts = filter_.split("/"), topic.split("/")
    for i, f in enumerate(f_parts):
        if f == "#":
            return True
        if i >= len(t_parts) or (f != "+" and f != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


@dataclass
class _ClientSession:
    client_id: str
    subscriptions: dict[str, int] = field(default_factory=dict)
    unacked: dict[int, p.Publish] = field(default_factory=dict)   # QoS 1 messages we sent, by packet id
    next_pid: int = 1


class _Conn:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.reader = p.PacketReader()
        self.session: _ClientSession | None = None
        self.will: p.Publish | None = None
        self.closed = False


class MiniBroker:
    """An MQTT broker listening on `host:port` of `loop` (see the module docstring)."""

    def __init__(self, loop: Loop, host: str, port: int, *, users: dict[str, str] | None = None) -> None:
        self.loop = loop
        self.host, self.port = host, port
        self.users = users                      # None: anyone; else user name → password
        self.retained: dict[str, p.Publish] = {}
        self.sessions: dict[str, _ClientSession] = {}
        self._conns: list[_Conn] = []
        self._watchers: list[tuple[str, Watcher]] = []
        self.stats = {"connects": 0, "refused": 0, "publishes_in": 0, "wills": 0, "bad_packets": 0}
        self.listener: Listener | None = None
        self.start()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.listener is None:
            self.listener = self.loop.listen_tcp(self.host, self.port, self._on_accept)

    def stop(self) -> None:
        """The broker process dies: the port closes and every connection drops (no will: it died too)."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for conn in list(self._conns):
            conn.will = None
            self._close(conn)

    close = stop

    # -- observation and apps -------------------------------------------------------------------------------
    def watch(self, filter_: str, callback: Watcher) -> None:
        self._watchers.append((filter_, callback))

    def inject(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish as an app (`mosquitto_pub`) would."""
        self._route("(app)", p.Publish(topic, payload, qos=qos, retain=retain,
                                       packet_id=1 if qos else None))

    # -- connections ------------------------------------------------------------------------------------
    def _on_accept(self, stream: Stream) -> None:
        conn = _Conn(stream)
        self._conns.append(conn)
        stream.set_handlers(lambda data: self._on_data(conn, data), lambda: self._on_closed(conn))

    def _on_closed(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        if conn in self._conns:
            self._conns.remove(conn)
        if conn.will is not None:        # lost without DISCONNECT: §3.1.2.5 the will is published
            self.stats["wills"] += 1
            will, conn.will = conn.will, None
            self._route(conn.session.client_id if conn.session else "?", will)

    def _close(self, conn: _Conn) -> None:
        if not conn.stream.closed:
            conn.stream.close()
        self._on_closed(conn)

    def _send(self, conn: _Conn, packet: p.Packet) -> None:
        if not conn.closed and not conn.stream.closed:
            conn.stream.write(p.encode(packet))

    def _on_data(self, conn: _Conn, data: bytes) -> None:
        conn.reader.feed(data)
        while not conn.closed:
            try:
                pkt = conn.reader.next_packet()
            except p.MqttError as exc:
                self.stats["bad_packets"] += 1
                log.warning("broker: bad packet from %s: %s", conn.session.client_id if conn.session else "?", exc)
                self._close(conn)
                return
            if pkt is None:
                return
            self._on_packet(conn, pkt)

    def _on_packet(self, conn: _Conn, pkt: p.Packet) -> None:
        if conn.session is None and not isinstance(pkt, p.Connect):
            self._close(conn)            # §3.1: the first packet must be CONNECT
            return
        if isinstance(pkt, p.Connect):
            self._connect(conn, pkt)
            return
        s = conn.session
        assert s is not None
        if isinstance(pkt, p.Publish):
            if pkt.qos == 1 and pkt.packet_id is not None:
                self._send(conn, p.Puback(pkt.packet_id))
            self._route(s.client_id, pkt)
        elif isinstance(pkt, p.Puback):
            s.unacked.pop(pkt.packet_id, None)
        elif isinstance(pkt, p.Subscribe):
            granted = []
            for filter_, qos in pkt.topics:
                s.subscriptions[filter_] = min(qos, 1)
                granted.append(min(qos, 1))
            self._send(conn, p.Suback(pkt.packet_id, tuple(granted)))
            for topic, msg in sorted(self.retained.items()):
                for filter_, qos in pkt.topics:
                    if topic_matches(filter_, topic):
                        self._deliver(s, msg, min(qos, 1), retain=True)
                        break
        elif isinstance(pkt, p.Unsubscribe):
            for filter_ in pkt.topics:
                s.subscriptions.pop(filter_, None)
            self._send(conn, p.Unsuback(pkt.packet_id))
        elif isinstance(pkt, p.Pingreq):
            self._send(conn, p.Pingresp())
        elif isinstance(pkt, p.Disconnect):
            conn.will = None
            self._close(conn)
        else:                            # a packet only a broker sends
            self._close(conn)

    def _connect(self, conn: _Conn, pkt: p.Connect) -> None:
        if conn.session is not None:     # §3.1.0: a second CONNECT is a protocol violation
            self._close(conn)
            return
        if self.users is not None and (pkt.username is None or pkt.password is None
                                       or self.users.get(pkt.username, "").encode() != pkt.password):
            self.stats["refused"] += 1
            self._send(conn, p.Connack(False, 5))   # not authorised
            self._close(conn)
            return
        for other in list(self._conns):  # §3.1.4: the same client id takes over
            if other is not conn and other.session is not None and other.session.client_id == pkt.client_id:
                self._close(other)
        present = pkt.client_id in self.sessions and not pkt.clean_session
        if not present:
            self.sessions[pkt.client_id] = _ClientSession(pkt.client_id)
        s = conn.session = self.sessions[pkt.client_id]
        if pkt.will_topic is not None:
            conn.will = p.Publish(pkt.will_topic, pkt.will_message, qos=pkt.will_qos, retain=pkt.will_retain,
                                  packet_id=1 if pkt.will_qos else None)
        self.stats["connects"] += 1
        self._send(conn, p.Connack(present, 0))
        for pid, msg in list(s.unacked.items()):   # §4.4: unacknowledged QoS 1 again, with DUP
            self._send(conn, p.Publish(msg.topic, msg.payload, qos=1, retain=msg.retain, dup=True, packet_id=pid))

    def _route(self, sender: str, pkt: p.Publish) -> None:
        self.stats["publishes_in"] += 1
        for filter_, watcher in self._watchers:
            if topic_matches(filter_, pkt.topic):
                watcher(sender, pkt)
        if pkt.retain:
            if pkt.payload:
                self.retained[pkt.topic] = pkt
            else:
                self.retained.pop(pkt.topic, None)
        for s in self.sessions.values():
            qos = max((q for f, q in s.subscriptions.items() if topic_matches(f, pkt.topic)), default=None)
            if qos is not None:
                self._deliver(s, pkt, min(qos, pkt.qos), retain=False)

    def _deliver(self, s: _ClientSession, msg: p.Publish, qos: int, retain: bool) -> None:
        conn = next((c for c in self._conns if c.session is s), None)
        pid = None
        if qos:
            pid = s.next_pid
            s.next_pid = s.next_pid % 0xFFFF + 1
            s.unacked[pid] = msg
        if conn is not None:
            self._send(conn, p.Publish(msg.topic, msg.payload, qos=qos, retain=retain, packet_id=pid))
