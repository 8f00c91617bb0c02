"""The local OVMS v2 server: cars and apps over the runtime contract, on the real or the virtual loop.

Behaviour follows the spec (§3, §5, §6): per-vehicle authentication, last message of each code stored
and replayed to apps with `T`, `T0` after relayed car data, `Z` to both sides on login and change,
command routing with a per-car FIFO of requesting apps, `h<ack>` for acknowledged records, idle-car
pings and silent-car drops. A peer's mistake ends that peer's connection only.

Exactly once as far as this server can tell (DESIGN §3). A car delivers its store-and-forward items
at least once: killed between our commit and its own record of the acknowledgement, it sends them
again on the next connection. This server drops such retransmissions but still answers them:

- `h`/`H` records: a record whose (vehicle, type, recno, data) is already stored is not stored again
  (UNIQUE index, INSERT OR IGNORE); an `h` is still acknowledged with `h<ack>` so the car stops
  resending. The data is part of the key because real v3 firmware reuses recno for trip/grid logs.
- `P` alerts that carry our unit's unique tag `#a<id>`: one whose exact kind and text was stored for
  the vehicle within the last 24 h is neither stored nor relayed to apps again (logged at debug).
  Untagged alerts (real cars, our unit's info pushes) are always stored: two identical "Charging
  stopped" in a day are two events. The check is a per-vehicle dict of text → time, pruned by age and
  capped, loaded lazily from the alerts table, with a database look-up once the cap was hit.

`stats["duplicates_dropped"]` counts both.

Hostile peers (issue 12): password guessing is slowed per vehicle and per peer address and an address
is locked out after repeated failures (`login_guard.py`, which says why it is shaped that way); every
login answer, right or wrong, waits the same delay. Scheme 1 sends the car password in clear and is
meant for TLS (spec §2); this server has no TLS port, so a scheme-1 login is refused and closed, as
the real server closes a login it does not accept. Connections that never log in are logged at debug
only (a flood of them is counted in `stats`, not written line by line). The real Open-Vehicle-Server does not do this (it inserts
every `P` and keys records on their timestamp, which a retransmission changes), so against a real
server delivery is at-least-once across a crash of the unit.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections import OrderedDict, deque
from pathlib import Path
from typing import Final

from ovms_v2 import messages as m
from ovms_v2.connection import (
    NEED_DATA,
    AuthFailed,
    ConnectionClosed,
    LocalProtocolError,
    Malformed,
    Message,
    ProtocolError,
    ServerConnection,
    Welcomed,
)
from runtime import Listener, Loop, Stream, Timer

from . import store
from .login_guard import LoginGuard, Notice
from .store import Alert, Record

log = logging.getLogger(__name__)

SERVER_VERSION: Final = "tcu-sim-server/0.1"
# Spec §6 timers.
TIMEOUT_WELCOME: Final = 30.0
TIMEOUT_CAR: Final = 960.0
CAR_PING_IDLE: Final = TIMEOUT_CAR - 60.0    # nothing sent to the car for 900 s → ping
CAR_PING_SPACING: Final = 300.0
TIMEOUT_APP: Final = 1200.0
TIMEOUT_BATCH: Final = 120.0
SWEEP_INTERVAL: Final = 10.0
FLUSH_INTERVAL: Final = 1.0                   # telemetry rows reach SQLite within a second
ALERT_DEDUP_WINDOW: Final = 86400.0           # a tagged alert seen again within 24 h is a retransmission
ALERT_DEDUP_MEMORY: Final = 256               # per vehicle; beyond that the database is asked
_ALERT_TAG: Final = re.compile(r"#a\d+\b")    # the unit's unique alert id (sim.report.alert_tag)


class _Peer:
    """One TCP connection (car or app)."""

    __slots__ = ("stream", "conn", "role", "vehicle_id", "opened", "last_rx", "last_tx", "last_ping",
                 "closed", "groups", "name", "address", "vehicle_tried", "hello_checked", "held")

    def __init__(self, stream: Stream, conn: ServerConnection, now: float, name: str, address: str) -> None:
        self.stream = stream
        self.conn = conn
        self.address = address
        self.vehicle_tried: str | None = None   # a known vehicle id this peer's hello named
        self.hello_checked = False              # its hello got as far as a password look-up
        self.held = False                       # its login answer is being held back (login_guard)
        self.role = ""
        self.vehicle_id = ""
        self.opened = now
        self.last_rx = now
        self.last_tx = now
        self.last_ping = float("-inf")
        self.closed = False
        self.groups: set[str] = set()
        self.name = name


class OvmsServer:
    """An OVMS v2 server listening on `host:port` of `loop` (port 0 = any free port, see `.port`)."""

    def __init__(self, loop: Loop, db: str | Path | sqlite3.Connection, host: str = "127.0.0.1",
                 port: int = 6867, *, version: str = SERVER_VERSION) -> None:
        self.loop = loop
        self.db = store.open_db(db)
        self.version = version
        self._rng = loop.random("ovms-server")
        self._cars: dict[str, _Peer] = {}
        self._apps: dict[str, list[_Peer]] = {}
        self._fifo: dict[str, deque[_Peer]] = {}
        self._last: dict[str, dict[str, tuple[str, float]]] = {}   # vid -> code -> (payload, wall time)
        self._dirty: dict[tuple[str, str], tuple[str, float]] = {}
        self._groups: dict[str, dict[str, str]] = {}                # group -> vid -> g payload
        self._subscribers: dict[str, set[_Peer]] = {}
        self._peers: set[_Peer] = set()
        self._flush_timer: Timer | None = None
        self._seq = 0
        self._recent_alerts: dict[str, OrderedDict[tuple[str, str], float]] = {}
        self._recent_truncated: set[str] = set()
        self.stats = {"accepted": 0, "rejected": 0, "messages_in": 0, "messages_out": 0,
                      "duplicates_dropped": 0, "logins_failed": 0, "logins_delayed": 0, "lockouts": 0,
                      "refused_locked_out": 0, "refused_busy": 0, "refused_plaintext": 0,
                      "closed_before_login": 0, "accept_failures": 0}
        self.guard = LoginGuard()
        self.listener: Listener = loop.listen_tcp(host, port, self._on_accept)
        self.port = self.listener.port
        self._sweep_timer: Timer | None = loop.call_later(SWEEP_INTERVAL, self._sweep)
        log.info("OVMS server listening on %s:%d", host, self.port)

    # -- Python API for tests and the simulated world ---------------------------------------------------
    def add_vehicle(self, vehicle_id: str, password: str) -> str:
        return store.add_vehicle(self.db, vehicle_id, password)

    def connected(self, vehicle_id: str) -> bool:
        return vehicle_id.upper() in self._cars

    def apps_connected(self, vehicle_id: str) -> int:
        return len(self._apps.get(vehicle_id.upper(), ()))

    def messages(self, vehicle_id: str) -> dict[str, str]:
        """Last payload of each stored code for the car (e.g. {"S": "S80,K,…"})."""
        return {code: p for code, (p, _) in self._last_for(vehicle_id.upper()).items()}

    def records(self, vehicle_id: str) -> list[Record]:
        return store.load_records(self.db, vehicle_id.upper())

    def alerts(self, vehicle_id: str) -> list[Alert]:
        return store.load_alerts(self.db, vehicle_id.upper())

    def car_count(self) -> int:
        return len(self._cars)

    def close(self) -> None:
        """Stop listening, drop every connection, write what is pending."""
        self.stats["accept_failures"] = self.listener.accept_failures
        log.info("server stats: %s", ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        self.listener.close()
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        for peer in list(self._peers):
            self._drop(peer, "server shutting down")
        self.flush()

    def flush(self) -> None:
        """Write batched telemetry rows to SQLite in one transaction."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        rows = [(vid, code, p, t) for (vid, code), (p, t) in self._dirty.items()]
        self._dirty.clear()
        try:
            store.save_messages(self.db, rows)
        except sqlite3.Error:
            log.exception("could not store %d telemetry rows; they stay in memory only", len(rows))

    # -- connections ---------------------------------------------------------------------------------------
    def _on_accept(self, stream: Stream) -> None:
        self._seq += 1
        # On the virtual clock there is no address: all in-process peers share one.
        address = stream.remote_address[0] if stream.remote_address is not None else "local"
        refusal = self.guard.refusal(address, self.loop.time())
        if refusal is not None:
            self.stats["refused_locked_out" if "locked out" in refusal else "refused_busy"] += 1
            log.debug("conn%d from %s closed unchecked: %s", self._seq, address, refusal)
            stream.close()
            return
        peer = _Peer(stream, ServerConnection(lambda vid: self._lookup(peer, vid), self._rng), self.loop.time(),
                     f"conn{self._seq}", address)
        self._peers.add(peer)
        stream.set_handlers(lambda data: self._on_data(peer, data), lambda: self._on_close(peer))

    def _lookup(self, peer: _Peer, vehicle_id: str) -> str | None:
        password = store.vehicle_password(self.db, vehicle_id)
        peer.hello_checked = True
        peer.vehicle_tried = vehicle_id if password is not None else None
        return password

    def _on_close(self, peer: _Peer) -> None:
        if not peer.closed:
            self._cleanup(peer, "peer closed the connection")

    def _drop(self, peer: _Peer, reason: str) -> None:
        if peer.closed:
            return
        self._cleanup(peer, reason)
        peer.stream.close()

    def _cleanup(self, peer: _Peer, reason: str) -> None:
        peer.closed = True
        self._peers.discard(peer)
        if peer.held:
            peer.held = False
            self.guard.release(peer.address)
        vid = peer.vehicle_id
        if not peer.role:
            self.stats["closed_before_login"] += 1
            log.debug("%s from %s: %s", peer.name, peer.address, reason)
            return
        log.info("%s %s %s: %s", peer.name, peer.role, vid, reason)
        if peer.role == "C":
            if self._cars.get(vid) is peer:
                del self._cars[vid]
                self._fifo.pop(vid, None)
                for group in peer.groups:
                    self._groups.get(group, {}).pop(vid, None)
                for app in self._apps.get(vid, ()):
                    self._send(app, m.Peers(0))
        elif peer.role in ("A", "B"):
            apps = self._apps.get(vid)
            if apps is not None and peer in apps:
                apps.remove(peer)
                if not apps:
                    del self._apps[vid]
            fifo = self._fifo.get(vid)
            if fifo is not None and peer in fifo:
                self._fifo[vid] = deque(p for p in fifo if p is not peer)
            for group in peer.groups:
                self._subscribers.get(group, set()).discard(peer)
            if peer.role == "A":
                self._notify_car_peers(vid)

    def _send(self, peer: _Peer, msg: m.Message | str) -> None:
        if peer.closed:
            return
        try:
            data = peer.conn.send(msg)
        except LocalProtocolError:
            log.exception("cannot send to %s", peer.name)
            return
        peer.stream.write(data)
        peer.last_tx = self.loop.time()
        self.stats["messages_out"] += 1

    def _on_data(self, peer: _Peer, data: bytes) -> None:
        if peer.closed:
            return
        peer.last_rx = self.loop.time()
        peer.conn.receive_data(data)
        if not peer.held:           # held: kept in the connection's buffer until the login is answered
            self._process(peer)

    def _process(self, peer: _Peer) -> None:
        conn = peer.conn
        while not peer.closed and not peer.held:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            if isinstance(ev, Message):
                self.stats["messages_in"] += 1
                if peer.role == "C":
                    self._from_car(peer, ev.msg, ev.payload)
                else:
                    self._from_app(peer, ev.msg, ev.payload)
            elif isinstance(ev, Welcomed) or (isinstance(ev, AuthFailed) and peer.hello_checked):
                # A password (or vehicle id) was tried. A refusal that tried none (a server-type
                # hello) is not a guess: a flood of them from a car's address must not lock it out.
                self._login_checked(peer, ev)
            elif isinstance(ev, Malformed):
                log.warning("%s %s sent an unreadable message (%s); ignored", peer.name, peer.vehicle_id,
                            ev.reason)
            elif isinstance(ev, AuthFailed | ProtocolError):
                self.stats["rejected"] += 1
                kind = "login rejected" if isinstance(ev, AuthFailed) else "protocol error"
                self._drop(peer, f"{kind}: {ev.reason}")
            elif isinstance(ev, ConnectionClosed):
                self._drop(peer, "peer closed the connection")

    def _login_checked(self, peer: _Peer, ev: Welcomed | AuthFailed) -> None:
        """Answer a checked login after the guard's delay, the same for a right and a wrong password."""
        now = self.loop.time()
        delay = self.guard.delay(peer.address, peer.vehicle_tried, now)
        if isinstance(ev, AuthFailed):
            self.stats["logins_failed"] += 1
            lockouts = self.guard.lockouts
            self._log_notices(self.guard.failed(peer.address, peer.vehicle_tried, now))
            self.stats["lockouts"] += self.guard.lockouts - lockouts
        if delay <= 0:
            self._answer_login(peer, ev)
            return
        self.stats["logins_delayed"] += 1
        peer.held = True
        self.guard.hold(peer.address)
        self.loop.call_later(delay, self._answer_login, peer, ev)

    def _log_notices(self, notices: list[Notice]) -> None:
        for notice in notices:
            log.warning("%s", notice.text)

    def _answer_login(self, peer: _Peer, ev: Welcomed | AuthFailed) -> None:
        if peer.held:
            peer.held = False
            self.guard.release(peer.address)
        if peer.closed:
            return                  # the client gave up waiting
        if isinstance(ev, AuthFailed):
            self.stats["rejected"] += 1
            self._drop(peer, f"login rejected: {ev.reason}")   # spec §2: the server just closes
            return
        if ev.scheme != 0:
            self.stats["rejected"] += 1
            self.stats["refused_plaintext"] += 1
            log.warning("%s from %s: refused a scheme-%d login for %s: it sends the password in clear and is "
                        "only for TLS, which this server does not offer; use scheme 0 (the OVMS v2 default)",
                        peer.name, peer.address, ev.scheme, ev.vehicle_id)
            self._drop(peer, "plaintext login refused")
            return
        peer.stream.write(ev.reply)
        self._welcomed(peer, ev)
        self._process(peer)         # lines the client sent while its answer was held

    def _welcomed(self, peer: _Peer, ev: Welcomed) -> None:
        self.stats["accepted"] += 1
        peer.role = ev.role
        vid = peer.vehicle_id = ev.vehicle_id
        log.info("%s %s %s logged in (scheme %d)", peer.name, ev.role, vid, ev.scheme)
        if ev.role == "C":
            old = self._cars.get(vid)
            if old is not None:
                self._cleanup_silently(old)
            self._cars[vid] = peer
            self._fifo[vid] = deque()
            self._notify_car_peers(vid)
            if old is None:
                for app in self._apps.get(vid, ()):
                    self._send(app, m.Peers(1))
        else:
            self._apps.setdefault(vid, []).append(peer)
            self._send(peer, m.Peers(1 if vid in self._cars else 0))
            last = self._last_for(vid)
            for code in sorted(last):
                self._send(peer, last[code][0])
            if last:
                newest = max(t for _, t in last.values())
                self._send(peer, m.Time(max(0, int(self.loop.wall() - newest))))
            if ev.role == "A":
                self._notify_car_peers(vid)

    def _cleanup_silently(self, old: _Peer) -> None:
        """Duplicate car login (spec §6): the older connection is terminated without a Z0 blip."""
        old.closed = True
        self._peers.discard(old)
        log.info("%s C %s: replaced by a newer login", old.name, old.vehicle_id)
        old.stream.close()

    def _notify_car_peers(self, vid: str) -> None:
        car = self._cars.get(vid)
        if car is not None:
            self._send(car, m.Peers(sum(1 for a in self._apps.get(vid, ()) if a.role == "A")))

    def _last_for(self, vid: str) -> dict[str, tuple[str, float]]:
        last = self._last.get(vid)
        if last is None:
            last = self._last[vid] = store.load_messages(self.db, vid)
        return last

    def _store(self, vid: str, code: str, payload: str) -> None:
        t = self.loop.wall()
        self._last_for(vid)[code] = (payload, t)
        self._dirty[(vid, code)] = (payload, t)
        if self._flush_timer is None:
            self._flush_timer = self.loop.call_later(FLUSH_INTERVAL, self.flush)

    def _to_apps(self, vid: str, payload: m.Message | str) -> None:
        for app in self._apps.get(vid, ()):
            self._send(app, payload)

    # -- car messages ------------------------------------------------------------------------------------------
    def _from_car(self, car: _Peer, msg: m.Message, payload: str) -> None:
        vid = car.vehicle_id
        if isinstance(msg, m.Ping):
            self._send(car, m.PingAck())
        elif isinstance(msg, m.PingAck):
            pass
        elif isinstance(msg, m.CommandReply):
            self._route_reply(vid, msg, payload)
        elif isinstance(msg, m.AckedHistory):
            now = self.loop.wall()
            self._save_record(vid, msg.rtype, msg.recno, msg.lifetime, msg.data, now + msg.timediff, now)
            self._send(car, m.HistoryAck(msg.ack))     # a retransmission too: the car must stop resending
        elif isinstance(msg, m.History):
            now = self.loop.wall()
            self._save_record(vid, msg.rtype, msg.recno, msg.lifetime, msg.data, now, now)
        elif isinstance(msg, m.PushAlert):
            now = self.loop.wall()
            if self._alert_seen(vid, msg.kind, msg.text, now):
                self.stats["duplicates_dropped"] += 1
                log.debug("%s: duplicate alert %s dropped", vid, _ALERT_TAG.findall(msg.text))
                return
            store.save_alert(self.db, vid, msg.kind, msg.text, now)
            self._remember_alert(vid, msg.kind, msg.text, now)
            self._to_apps(vid, payload)
        elif isinstance(msg, m.GroupLocation):
            car.groups.add(msg.group)
            self._groups.setdefault(msg.group, {})[vid] = payload[1:]
            for sub in self._subscribers.get(msg.group, ()):
                self._send(sub, m.GroupRelay(vid, payload[1:]))
        elif isinstance(msg, m.ParanoidToken):
            store.delete_messages(self.db, vid, "EM")
            for code in [c for c in self._last_for(vid) if c.startswith("EM")]:
                del self._last_for(vid)[code]
                self._dirty.pop((vid, code), None)
            self._store(vid, "ET", payload)
            self._to_apps(vid, payload)
        elif isinstance(msg, m.ParanoidMessage):
            self._store(vid, "EM" + msg.inner_code, payload)
            self._to_apps(vid, payload)
            self._to_apps(vid, m.Time(0))
        else:
            code = payload[0]
            if code == "S":
                payload = payload.replace(",performance,,", ",performance,")   # spec §3 server kludge
            if code in m.STORED_CODES:
                self._store(vid, code, payload)
            self._to_apps(vid, payload)
            self._to_apps(vid, m.Time(0))
            if code == "F":
                self._to_apps(vid, m.ServerVersion(self.version))

    def _save_record(self, vid: str, rtype: str, recno: int, lifetime: int, data: str, time: float,
                     received: float) -> None:
        if not store.save_record(self.db, vid, rtype, recno, lifetime, data, time, received):
            self.stats["duplicates_dropped"] += 1
            log.debug("%s: duplicate record %s #%d dropped", vid, rtype, recno)

    def _alerts_window(self, vid: str, now: float) -> OrderedDict[tuple[str, str], float]:
        """The vehicle's tagged alerts of the last 24 h, oldest first (loaded on first use)."""
        recent = self._recent_alerts.get(vid)
        if recent is None:
            rows = store.recent_alerts(self.db, vid, now - ALERT_DEDUP_WINDOW, ALERT_DEDUP_MEMORY)
            recent = self._recent_alerts[vid] = OrderedDict(
                ((kind, text), t) for kind, text, t in rows if _ALERT_TAG.search(text))
            if len(rows) >= ALERT_DEDUP_MEMORY:
                self._recent_truncated.add(vid)
        while recent:
            key, t = next(iter(recent.items()))
            if now - t < ALERT_DEDUP_WINDOW:
                break
            del recent[key]
        return recent

    def _alert_seen(self, vid: str, kind: str, text: str, now: float) -> bool:
        if not _ALERT_TAG.search(text):
            return False
        t = self._alerts_window(vid, now).get((kind, text))
        if t is not None:
            return now - t < ALERT_DEDUP_WINDOW
        return vid in self._recent_truncated and store.alert_stored_since(
            self.db, vid, kind, text, now - ALERT_DEDUP_WINDOW)

    def _remember_alert(self, vid: str, kind: str, text: str, now: float) -> None:
        if not _ALERT_TAG.search(text):
            return
        recent = self._alerts_window(vid, now)
        recent[(kind, text)] = now
        recent.move_to_end((kind, text))
        while len(recent) > ALERT_DEDUP_MEMORY:
            recent.popitem(last=False)
            self._recent_truncated.add(vid)

    def _route_reply(self, vid: str, reply: m.CommandReply, payload: str) -> None:
        fifo = self._fifo.get(vid)
        if not fifo:
            self._to_apps(vid, payload)   # unsolicited (e.g. the second c41 after +CUSD): everyone
            return
        app = fifo[0]
        self._send(app, payload)
        if reply.is_final:
            fifo.popleft()

    # -- app messages ----------------------------------------------------------------------------------------------
    def _from_app(self, app: _Peer, msg: m.Message, payload: str) -> None:
        vid = app.vehicle_id
        if isinstance(msg, m.Ping):
            self._send(app, m.PingAck())
        elif isinstance(msg, m.Command):
            if msg.cmd == m.CMD_SERVER_GPRS:
                self._send(app, m.CommandReply(msg.cmd, m.RESULT_FAILED, "No GPRS utilisation data available"))
            elif msg.cmd in (m.CMD_SERVER_HISTORY_SUMMARY, m.CMD_SERVER_HISTORY):
                self._send(app, m.CommandReply(msg.cmd, m.RESULT_UNIMPLEMENTED))
            else:
                car = self._cars.get(vid)
                if car is None:
                    log.info("command %d for offline %s dropped", msg.cmd, vid)
                    return
                self._fifo.setdefault(vid, deque()).append(app)
                self._send(car, payload)
        elif isinstance(msg, m.GroupSubscribe):
            app.groups.add(msg.group)
            self._subscribers.setdefault(msg.group, set()).add(app)
            for car_vid, loc in sorted(self._groups.get(msg.group, {}).items()):
                self._send(app, m.GroupRelay(car_vid, loc))
        elif isinstance(msg, m.ParanoidMessage | m.ParanoidToken):
            car = self._cars.get(vid)
            if car is not None:
                self._send(car, payload)
        # `p` push subscriptions and anything else: accepted and ignored (no push services here).

    # -- timers -----------------------------------------------------------------------------------------------------
    def _sweep(self) -> None:
        now = self.loop.time()
        self._sweep_timer = self.loop.call_later(SWEEP_INTERVAL, self._sweep)
        self.guard.prune(now)
        self.stats["accept_failures"] = self.listener.accept_failures
        for peer in list(self._peers):
            if not peer.conn.welcomed:
                if now - peer.opened >= TIMEOUT_WELCOME:
                    self._drop(peer, "no welcome within 30 s")
            elif peer.role == "C":
                if now - peer.last_rx >= TIMEOUT_CAR:
                    self._drop(peer, f"silent for {TIMEOUT_CAR:.0f} s")
                elif now - peer.last_tx >= CAR_PING_IDLE and now - peer.last_ping >= CAR_PING_SPACING:
                    peer.last_ping = now
                    self._send(peer, m.Ping())
            else:
                limit = TIMEOUT_APP if peer.role == "A" else TIMEOUT_BATCH
                if now - peer.last_rx >= limit:
                    self._drop(peer, f"app silent for {limit:.0f} s")


def make_server(loop: Loop, db: str | Path | sqlite3.Connection, host: str = "127.0.0.1",
                port: int = 6867) -> OvmsServer:
    """Convenience for the simulated world."""
    return OvmsServer(loop, db, host, port)


__all__ = ["OvmsServer", "Record", "Alert", "make_server", "SERVER_VERSION"]
