"""The unit's side of the OVMS v2 link, sans-IO: metrics in, MP- lines out, commands and acks back.

No modem knowledge: the firmware hands over the bytes its TCP connection received and writes the bytes
these methods return. Metrics come as a plain `Mapping[str, object]` keyed by OVMS v3 standard names
(a missing name means "unknown"), so this module does not depend on the metric store's internals.

Unknown travels as unknown: a metric never read goes out as an empty field (OVMS's own "not known",
as in the v3 firmware's `Y` TPMS values and the spec's empty charge-mode word), or as the field's own
sentinel where the protocol has one (-1 minutes, -1 stale indicators, CSQ 99, `0,0` for a wheel
without TPMS). Never as 0: an app cannot tell an invented 0 % SOH from a real one. Strict parsers
that read every field as a number (the Android app's `Float.parseFloat`) stop at an empty field,
which is why a field the protocol says is a flag or counter keeps its number.

Delivery confirmation (DESIGN.md §3): `h` records are confirmed by the server's `h<ack>`; any other
line (alerts) is confirmed when a ping `A` sent after it is answered by `a` (the server reads lines in
order). Both surface as `Delivered(ids)`.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from ovms_v2 import messages as m
from ovms_v2.connection import (
    NEED_DATA,
    AuthFailed,
    ClientConnection,
    ConnectionClosed,
    Malformed,
    ProtocolError,
    Welcomed,
)
from ovms_v2.connection import Message as MessageEvent
from ovms_v2.crypto import DecodeError, ParanoidCipher, random_token

# The seam's vocabulary (tcu.server_session), re-exported here: every server session speaks it.
from tcu.server_session import Delivered, LinkLost, LoggedIn, LoginFailed

log = logging.getLogger(__name__)

# Cadence (spec §3 `Z`, §6): report changes every 10 s while an app watches, every 10 min otherwise.
REPORT_INTERVAL_APPS: Final = 10.0
REPORT_INTERVAL_IDLE: Final = 600.0
# Spec §6: the server drops a car silent for 960 s; "a TCU should send something at least every ~10 min".
PING_INTERVAL: Final = 540.0
# Liveness (DESIGN.md §3): only bytes *from* the server prove the path works. A modem can keep TCP "up"
# while nothing flows (a stall); what we send then vanishes without an error. So after LIVENESS_IDLE s
# without a byte from the server we ping, and when PING_TIMEOUT s pass after a ping without any byte from
# the server the session is dead. Our own sends never postpone either clock. Worst-case detection of a
# stall is LIVENESS_IDLE + PING_TIMEOUT (4 min) for one ~50-byte exchange per 3 quiet minutes.
LIVENESS_IDLE: Final = 180.0
PING_TIMEOUT: Final = 60.0        # a ping unanswered this long (no byte at all from the server): dead
LOGIN_TIMEOUT: Final = 30.0       # the real server waits 30 s for the welcome; so do we for its answer

PSI_PER_KPA: Final = 1 / 6.894757

# Spec §3 S field 14 / 15: charge state and mode numbers.
CHARGE_STATE_NUM: Final = {"charging": 1, "topoff": 2, "done": 4, "prepare": 13, "heating": 15}
CHARGE_MODE_NUM: Final = {"standard": 0, "storage": 1, "range": 3, "performance": 4}

DEFAULT_CAPABILITIES: Final = ("C1-6", "C7", "C10-12", "C15-16", "C18-25", "C40-41", "C49")


# --- events -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandRequest:
    """A `C` command from an app: the firmware executes it and calls `reply(cmd, result, text)`."""

    cmd: int
    params: tuple[str, ...]


@dataclass(frozen=True)
class AppsChanged:
    """`Z`: number of interactive apps watching (0 = none)."""

    count: int


@dataclass(frozen=True)
class ParanoidReceived:
    """An end-to-end encrypted `EM` payload from an app (paranoid mode is not decoded here)."""

    inner_code: str
    data: str


CarEvent = LoggedIn | LoginFailed | LinkLost | CommandRequest | AppsChanged | Delivered | ParanoidReceived


# --- metric formatting ----------------------------------------------------------------------------------
def _num(v: object, default: float | None = None) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        return m.as_float(v, default)
    return default


def _i(metrics: Mapping[str, object], name: str, default: str = "", scale: float = 1.0) -> str:
    """An integer field; a metric never read goes as `default`: empty (OVMS's "not known") unless the
    field has a sentinel of its own (-1 minutes = none). Never an invented 0: an app would show it."""
    v = _num(metrics.get(name))
    return default if v is None else str(int(round(v * scale)))


def _f(metrics: Mapping[str, object], name: str, digits: int, default: str = "", scale: float = 1.0) -> str:
    """A decimal field with `digits` places; unknown as for `_i`."""
    v = _num(metrics.get(name))
    return default if v is None else f"{v * scale:.{digits}f}"


def _flag(metrics: Mapping[str, object], name: str) -> bool:
    v = metrics.get(name)
    if isinstance(v, str):
        return v.strip().lower() in ("1", "yes", "true", "on")
    return bool(v)


def _word(metrics: Mapping[str, object], name: str, default: str = "") -> str:
    v = metrics.get(name)
    return default if v is None else str(v).replace(",", ";")


def _bits(metrics: Mapping[str, object], spec: Iterable[tuple[int, str]], always: int = 0) -> str:
    value = always
    for bit, name in spec:
        if _flag(metrics, name):
            value |= 1 << bit
    return str(value)


def build_status(metrics: Mapping[str, object]) -> m.Status:
    """`S` from `v.b.*` / `v.c.*` metrics (ranges in km: units `K`)."""
    state = _word(metrics, "v.c.state", "stopped")
    mode = _word(metrics, "v.c.mode", "")
    soc_known = metrics.get("v.b.soc") is not None
    dur_range = _num(metrics.get("v.c.duration.range"))
    dur_soc = _num(metrics.get("v.c.duration.soc"))
    first_limit = min((d for d in (dur_range, dur_soc) if d is not None and d >= 0), default=-1)
    charge_type = _num(metrics.get("v.c.type"))
    ideal_range = _i(metrics, "v.b.range.ideal")
    if mode == "performance" and ideal_range == "":
        # The real OVMS server rewrites `,performance,,` to `,performance,` (a kludge for a firmware
        # 1.2.0 bug, spec §3), which would shift every later field. The mode number (field 15) still
        # says "performance"; the word goes empty, which the spec allows ("empty if unknown").
        mode = ""
    return m.Status(
        soc=_i(metrics, "v.b.soc"), units="K",
        line_voltage=_i(metrics, "v.c.voltage"), charge_current=_i(metrics, "v.c.current"),
        charge_state=state, charge_mode=mode,
        ideal_range=ideal_range, est_range=_i(metrics, "v.b.range.est"),
        charge_limit=_i(metrics, "v.c.climit"), charge_duration=_i(metrics, "v.c.time", scale=1 / 60),
        charger_b4="0", charge_kwh_tenths=_i(metrics, "v.c.kwh", scale=10),
        charge_substate=_i(metrics, "v.c.substate"),
        charge_state_num=str(CHARGE_STATE_NUM.get(state, 21)),
        charge_mode_num=str(CHARGE_MODE_NUM.get(_word(metrics, "v.c.mode", ""), 0)),
        timer_mode="1" if _flag(metrics, "v.c.timermode") else "0",
        timer_start=_i(metrics, "v.c.timerstart"),
        stale="1" if soc_known else "-1",
        cac=_f(metrics, "v.b.cac", 2),
        mins_to_full=_i(metrics, "v.c.duration.full", "-1"),
        mins_to_limit=str(int(first_limit)),
        range_limit=_i(metrics, "v.c.limit.range"), soc_limit=_i(metrics, "v.c.limit.soc"),
        cooldown_active="-1", cooldown_temp_limit="0", cooldown_time_left="0",
        charge_time_estimate=_i(metrics, "v.c.duration.full", "-1"),
        etr_range_limit=_i(metrics, "v.c.duration.range", "-1"),
        etr_soc_limit=_i(metrics, "v.c.duration.soc", "-1"),
        max_ideal_range=_i(metrics, "v.b.range.full"),
        charge_type=str(int(charge_type)) if charge_type is not None else "0",
        charge_power_kw=_f(metrics, "v.c.power", 1),
        battery_voltage=_f(metrics, "v.b.voltage", 1),
        soh=_i(metrics, "v.b.soh"),
    )


def build_environment(metrics: Mapping[str, object]) -> m.Environment:
    """`D`: door/lock bit-fields from `v.d.*`/`v.e.*`, temperatures, odometer in 1/10 km."""
    locked = _flag(metrics, "v.e.locked")
    temps_known = metrics.get("v.b.temp") is not None
    return m.Environment(
        doors1=_bits(metrics, ((0, "v.d.fl"), (1, "v.d.fr"), (2, "v.d.cp"), (3, "v.c.pilot"),
                               (4, "v.c.charging"), (6, "v.e.handbrake"), (7, "v.e.on")), always=1 << 5),
        doors2=_bits(metrics, ((3, "v.e.locked"), (4, "v.e.valet"), (6, "v.d.hood"), (7, "v.d.trunk"))),
        lock_state="4" if locked else "5",
        temp_pem=_i(metrics, "v.i.temp"), temp_motor=_i(metrics, "v.m.temp"),
        temp_battery=_i(metrics, "v.b.temp"),
        trip_tenths=_i(metrics, "v.p.trip", scale=10), odometer_tenths=_i(metrics, "v.p.odometer", scale=10),
        speed=_i(metrics, "v.p.speed"), park_seconds=_i(metrics, "v.e.parktime"),
        temp_ambient=_i(metrics, "v.e.temp"),
        doors3=_bits(metrics, ((0, "v.e.awake"), (1, "v.e.cooling"))),
        stale_temps="1" if temps_known else "-1",
        stale_ambient="1" if metrics.get("v.e.temp") is not None else "-1",
        v12_line=_f(metrics, "v.b.12v.voltage", 1),
        doors4=_bits(metrics, ((2, "v.e.alarm"),)),
        v12_ref=_f(metrics, "v.b.12v.voltage.ref", 1),
        doors5=_bits(metrics, ((0, "v.d.rl"), (1, "v.d.rr"))),
        temp_charger=_i(metrics, "v.c.temp"),
        i12_current=_f(metrics, "v.b.12v.current", 1),
        temp_cabin=_i(metrics, "v.e.cabintemp"),
    )


def build_location(metrics: Mapping[str, object]) -> m.Location:
    """`L`: lat/lon with 6 decimals, speed km/h, trip 1/10 km, power kW, energy Wh."""
    known = metrics.get("v.p.latitude") is not None and metrics.get("v.p.longitude") is not None
    mode = _num(metrics.get("v.e.drivemode"))
    return m.Location(
        latitude=_f(metrics, "v.p.latitude", 6), longitude=_f(metrics, "v.p.longitude", 6),
        direction=_i(metrics, "v.p.direction"), altitude=_i(metrics, "v.p.altitude"),
        gps_lock="1" if known and _flag(metrics, "v.p.gpslock") else "0",
        stale_gps="1" if known else "-1",
        speed=_i(metrics, "v.p.speed"), trip_tenths=_i(metrics, "v.p.trip", scale=10),
        drive_mode="" if mode is None else f"{int(mode) & 0xFF:02x}",
        power_kw=_f(metrics, "v.b.power", 1),
        energy_used_wh=_i(metrics, "v.b.energy.used", scale=1000),
        energy_recovered_wh=_i(metrics, "v.b.energy.recd", scale=1000),
    )


def build_tpms(metrics: Mapping[str, object]) -> m.Tpms | None:
    """`W` from `v.tp.<wheel>.p` (kPa, sent as psi) and `.t` (°C); None when no tyre is known."""
    wheels = ("fr", "rr", "fl", "rl")   # spec §3 W order
    if all(metrics.get(f"v.tp.{w}.p") is None for w in wheels):
        return None
    p = {w: _f(metrics, f"v.tp.{w}.p", 1, scale=PSI_PER_KPA) for w in wheels}
    t = {w: _i(metrics, f"v.tp.{w}.t") for w in wheels}
    for w in wheels:
        if p[w] == t[w] == "":
            p[w], t[w] = "0.0", "0"    # spec §3 W: `0,0` is how the protocol says "no such wheel"
    return m.Tpms(fr_pressure=p["fr"], fr_temp=t["fr"], rr_pressure=p["rr"], rr_temp=t["rr"],
                  fl_pressure=p["fl"], fl_temp=t["fl"], rl_pressure=p["rl"], rl_temp=t["rl"], stale="1")


def csq_from_dbm(dbm: float | None) -> int:
    """GSM CSQ (0..31, 99 unknown) from dBm: CSQ = (dBm + 113) / 2 (3GPP 27.007 +CSQ)."""
    if dbm is None:
        return 99
    return max(0, min(31, int((dbm + 113) // 2)))


def build_firmware(metrics: Mapping[str, object], firmware: str, car_type: str) -> m.Firmware:
    """`F`: firmware string, VIN, CSQ, CAN-write flag, car type, operator."""
    return m.Firmware(
        firmware=firmware, vin=_word(metrics, "v.vin"),
        signal=str(csq_from_dbm(_num(metrics.get("m.net.sq")))), can_write="1",
        car_type=_word(metrics, "v.type", car_type), operator=_word(metrics, "m.net.provider"),
    )


# --- the session ---------------------------------------------------------------------------------------------
class CarSession:
    """One car's OVMS v2 session state across TCP connections.

    Call `connect(now)` when TCP is up and write what it returns; feed received bytes to
    `receive_data`; drain `events()`; call `tick(metrics, now)` at `next_deadline()` (or whenever
    metrics change) and write what it returns. `disconnected()` when TCP drops.
    """

    def __init__(self, vehicle_id: str, password: str,
                 rng: random.Random | Callable[[], float] | None = None, now: float = 0.0, *,
                 firmware: str = "0.1.0/TCU1/V1/tcu-sim", car_type: str = "TC",
                 capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES,
                 paranoid_password: str | None = None) -> None:
        self.vehicle_id = vehicle_id
        # Paranoid mode (spec §3 `E`) when a module password is given: telemetry and replies are
        # end-to-end encrypted for the apps; the server only stores and relays them.
        self._paranoid_password = paranoid_password
        self._paranoid: ParanoidCipher | None = None
        self._password = password
        self._rng = rng
        self._firmware = firmware
        self._car_type = car_type
        self._capabilities = capabilities
        self._conn: ClientConnection | None = None
        self._events: deque[CarEvent] = deque()
        self._connected_at = now
        self.logged_in = False
        self.apps = 0
        self._last_sent: dict[str, str] = {}
        self._next_report = now
        self._last_tx = now
        self._last_rx = now               # last byte from the server (liveness; never our own sends)
        self._pings: deque[tuple[float, tuple[Hashable, ...]]] = deque()   # our unanswered A's
        self._unproven: list[Hashable] = []      # ids of lines sent since our last A
        self._ack_ids: dict[int, Hashable] = {}  # h<ack> number -> record id
        self._next_ack = 1

    # -- connection lifecycle ------------------------------------------------------------------------
    def connect(self, now: float) -> bytes:
        """A fresh TCP connection: forget the last one and return the hello line to write."""
        self._conn = ClientConnection("C", self.vehicle_id, self._password, self._rng)
        self._paranoid = None
        self._connected_at = now
        self._last_rx = now
        self.logged_in = False
        self.apps = 0
        self._last_sent.clear()
        self._pings.clear()
        self._unproven.clear()
        self._ack_ids.clear()
        return self._conn.initial_bytes()

    def disconnected(self, reason: str = "connection closed") -> None:
        """TCP is gone; unconfirmed ids stay unconfirmed (the outbox resends them)."""
        if self._conn is not None:
            self._conn = None
            if self.logged_in:
                self._events.append(LinkLost(reason))
            else:
                # Spec §2: the server answers a wrong password or unknown vehicle by just closing.
                self._events.append(LoginFailed(f"{reason} during login (wrong password or unknown vehicle?)"))
            self.logged_in = False

    def _lost(self, ev: CarEvent) -> None:
        self._events.append(ev)
        self._conn = None
        self.logged_in = False

    # -- input -------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> bytes:
        """Feed bytes from the server; returns bytes to write at once (answers to `A`)."""
        conn = self._conn
        if conn is None or not data:
            return b""   # end of stream is reported with disconnected(), not b""
        self._last_rx = now
        conn.receive_data(data)
        out = bytearray()
        while self._conn is conn:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            if isinstance(ev, Welcomed):
                self.logged_in = True
                self._last_tx = now
                self._last_rx = now
                self._next_report = now
                self._events.append(LoggedIn())
                log.info("OVMS server accepted %s", self.vehicle_id)
                if self._paranoid_password:
                    ptoken = random_token(self._rng)
                    self._paranoid = ParanoidCipher(self._paranoid_password, ptoken)
                    out += self._send(m.ParanoidToken(ptoken), now)
            elif isinstance(ev, AuthFailed):
                log.warning("OVMS login of %s failed: %s", self.vehicle_id, ev.reason)
                self._lost(LoginFailed(ev.reason))
            elif isinstance(ev, ProtocolError):
                log.warning("OVMS server sent a bad line (%s); dropping the link", ev.reason)
                self._lost(LinkLost(ev.reason))
            elif isinstance(ev, ConnectionClosed):
                self._lost(LinkLost("server closed the connection"))
            elif isinstance(ev, Malformed):
                log.warning("ignoring unreadable server message %r: %s", ev.payload[:40], ev.reason)
            elif isinstance(ev, MessageEvent):
                out += self._on_message(ev.msg, now)
        return bytes(out)

    def _on_message(self, msg: m.Message, now: float) -> bytes:
        if isinstance(msg, m.Ping):
            return self._send(m.PingAck(), now)
        if isinstance(msg, m.PingAck):
            if self._pings:
                _, ids = self._pings.popleft()
                if ids:
                    self._events.append(Delivered(ids))
        elif isinstance(msg, m.Peers):
            if msg.count != self.apps:
                if msg.count > 0 and self.apps == 0:
                    self._next_report = now   # someone is watching: report now
                self.apps = msg.count
                self._events.append(AppsChanged(msg.count))
        elif isinstance(msg, m.Command):
            self._events.append(CommandRequest(msg.cmd, msg.args))
        elif isinstance(msg, m.HistoryAck):
            rid = self._ack_ids.pop(msg.ack, None)
            if rid is not None:
                self._events.append(Delivered((rid,)))
        elif isinstance(msg, m.ParanoidMessage):
            if self._paranoid is None:
                self._events.append(ParanoidReceived(msg.inner_code, msg.data))
                return b""
            try:
                inner = m.decode(msg.inner_code + self._paranoid.decrypt(msg.data), from_server=True)
            except (DecodeError, m.MessageError) as exc:
                log.warning("ignoring undecryptable paranoid message: %s", exc)
                return b""
            if isinstance(inner, m.ParanoidMessage | m.ParanoidToken):
                return b""
            return self._on_message(inner, now)
        return b""

    def events(self) -> list[CarEvent]:
        """Drain the events produced since the last call."""
        out = list(self._events)
        self._events.clear()
        return out

    # -- output --------------------------------------------------------------------------------------------
    def _send(self, msg: m.Message | str, now: float) -> bytes:
        if self._conn is None or not self.logged_in:
            return b""
        self._last_tx = now
        if self._paranoid is not None:
            text = msg if isinstance(msg, str) else msg.encode()
            if text[:1] not in _NEVER_PARANOID:
                msg = m.ParanoidMessage(text[0], self._paranoid.encrypt(text[1:]))
        return self._conn.send(msg)

    def _ping(self, now: float) -> bytes:
        ids = tuple(self._unproven)
        self._unproven.clear()
        self._pings.append((now, ids))
        return self._send(m.Ping(), now)

    def build_messages(self, metrics: Mapping[str, object]) -> list[m.Message]:
        """Every telemetry message the metrics describe right now (S, D, L, W, F, V)."""
        msgs: list[m.Message] = [build_status(metrics), build_environment(metrics), build_location(metrics)]
        tpms = build_tpms(metrics)
        if tpms is not None:
            msgs.append(tpms)
        msgs.append(build_firmware(metrics, self._firmware, self._car_type))
        msgs.append(m.Capabilities(self._capabilities))
        return msgs

    def tick(self, metrics: Mapping[str, object], now: float, force: bool = False) -> bytes:
        """Report what changed (on the cadence), ping when quiet, and time out a dead link."""
        if self._conn is None:
            return b""
        if not self.logged_in:
            if now - self._connected_at >= LOGIN_TIMEOUT:
                self._lost(LoginFailed("no welcome from the server"))
            return b""
        dead_at = self._dead_at()
        if dead_at is not None and now >= dead_at:
            self._lost(LinkLost("ping not answered"))
            return b""
        out = bytearray()
        if force or now >= self._next_report:
            for msg in self.build_messages(metrics):
                text = msg.encode()
                if self._last_sent.get(msg.CODE) != text:
                    self._last_sent[msg.CODE] = text
                    out += self._send(text, now)
            self._next_report = now + (REPORT_INTERVAL_APPS if self.apps > 0 else REPORT_INTERVAL_IDLE)
        if self._unproven and not self._pings:
            out += self._ping(now)
        elif not self._pings and now - self._last_rx >= LIVENESS_IDLE:
            out += self._ping(now)     # the server has been quiet: is the path still there?
        elif now - self._last_tx >= PING_INTERVAL:
            out += self._ping(now)
        return bytes(out)

    def _dead_at(self) -> float | None:
        """When the session counts as dead: PING_TIMEOUT after the oldest unanswered ping, unless a
        byte from the server came later (then PING_TIMEOUT after that byte). Sending never moves it."""
        if not self._pings:
            return None
        return max(self._pings[0][0], self._last_rx) + PING_TIMEOUT

    def next_deadline(self) -> float | None:
        """When `tick` must run next (None when there is no connection)."""
        if self._conn is None:
            return None
        if not self.logged_in:
            return self._connected_at + LOGIN_TIMEOUT
        deadlines = [self._next_report, self._last_tx + PING_INTERVAL]
        dead_at = self._dead_at()
        if dead_at is not None:
            deadlines.append(dead_at)
        else:
            deadlines.append(self._last_rx + LIVENESS_IDLE)
        return min(deadlines)

    def send_alert(self, alert_id: Hashable, text: str, now: float, kind: str = "A") -> bytes:
        """`P<kind><text>` followed by a ping whose `a` proves delivery (→ Delivered((alert_id,)))."""
        if not self.logged_in:
            return b""
        text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text.replace("\n", "\r").replace("\r", " "))
        out = self._send(m.PushAlert(kind, text), now)
        self._unproven.append(alert_id)
        return out + self._ping(now)

    def send_history(self, record_id: Hashable, rtype: str, data: str, now: float, *,
                     recno: int = 0, lifetime: int = 86400, timediff: int = 0) -> bytes:
        """An acknowledged record `h<ack>,<timediff>,<type>,<recno>,<lifetime>,<data>`.

        `timediff` is (record time − now) in seconds, ≤ 0 for queued records; the server stores the
        record at its own now + timediff. Its `h<ack>` yields Delivered((record_id,)).
        """
        if not self.logged_in:
            return b""
        ack = self._next_ack
        self._next_ack += 1
        self._ack_ids[ack] = record_id
        return self._send(m.AckedHistory(ack, timediff, rtype, recno, lifetime, _safe(data)), now)

    def reply(self, cmd: int, result: int, text: str = "", now: float | None = None) -> bytes:
        """`c<cmd>,<result>[,<text>]` for a CommandRequest (cmd 7 text: LF→CR, ','→';' as the firmware does)."""
        if cmd == m.CMD_SMS:
            text = text.replace("\n", "\r").replace(",", ";")
        return self._send(m.CommandReply(cmd, result, _safe(text)), self._last_tx if now is None else now)

    def reply_lines(self, cmd: int, values: list[str], now: float | None = None) -> bytes:
        """A multi-line reply (cmds 1 and 3): `c<cmd>,0,<n>,<count>,<value>` for each value."""
        t = self._last_tx if now is None else now
        count = len(values)
        return b"".join(self._send(m.CommandReply(cmd, 0, f"{n},{count},{_safe(v)}"), t)
                        for n, v in enumerate(values))

    def send_raw(self, msg: m.Message, now: float) -> bytes:
        """Any other message (e.g. `g` group location, paranoid `E`), sent as is."""
        return self._send(msg, now)


# Spec §3: in paranoid mode every message except E, A, a, g and P is wrapped as EM<code>.
_NEVER_PARANOID: Final = frozenset("EAagP")


def _safe(text: str) -> str:
    """Make free text fit one protocol line: printable ASCII, CR for line breaks."""
    return "".join(c if 32 <= ord(c) < 127 or c == "\r" else "?" for c in text.replace("\n", "\r"))
