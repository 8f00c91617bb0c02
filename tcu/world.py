"""The simulated world of `tcu sim`: car, unit, modem, network, server and the owner's phone on one loop.

    VirtualCar ──frame_link──▶ Unit ──pipe (AT)──▶ VirtualModem ──VirtualNetwork──▶ OvmsServer (virtual TCP)
                                                          └── SMSC ◀──▶ OwnerPhone (scripted SMS)

Everything runs on one `VirtualLoop` seeded from `--seed`, so the same seed gives the same report.
The weather is a schedule of outage windows drawn from the seed (`weather_schedule`), applied as
virtual-modem faults, plus the emulator's line-noise fronts on `harsh`; the world knows each window
exactly, which the report needs. Delivery is observed at the receiving end only: the server's
stored alerts and the phone's inbox, both journalled so a killed and restarted world still knows.

This module also holds `DirectModem`, a modem without AT commands (the firmware's `ModemApi` straight
onto the runtime's TCP and a tiny SMSC, publishing the driver's own events): the unit's delivery logic
is testable in milliseconds with it, independently of the modem emulator (`tcu sim --modem direct`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modem.driver.commands import REG_HOME, REG_NOT, ModemInfo, Registration, Signal
from modem.driver.events import (
    GprsLost,
    ModemActivity,
    ModemEvent,
    RegistrationChanged,
    SmsReceived,
    TcpClosed,
    TcpDataReceived,
)
from modem.driver.modem import NetworkInfo, SmsSent
from modem.driver.script import Callback, Failed, Ok, Result
from modem.gnss import GnssFix
from runtime import Loop, Stream
from tcu.server_link import ModemApi

log = logging.getLogger(__name__)


@dataclass
class Smsc:
    """Delivers SMS between the unit and phones by number; keeps what each number received."""

    loop: Loop
    inboxes: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)  # number → (t, from, text)
    devices: dict[str, Callable[[str, str], None]] = field(default_factory=dict)
    sent_by: dict[str, int] = field(default_factory=dict)

    def submit(self, sender: str, to: str, text: str, delay: float = 2.0) -> None:
        self.sent_by[sender] = self.sent_by.get(sender, 0) + 1
        self.loop.call_later(delay, self._deliver, sender, to, text)

    def _deliver(self, sender: str, to: str, text: str) -> None:
        self.inboxes.setdefault(to, []).append((self.loop.time(), sender, text))
        dev = self.devices.get(to)
        if dev is not None:
            dev(sender, text)


class DirectModem:
    """A modem for fast simulation: switches instead of radio, the loop's TCP instead of CIPSTART.

    It has no AT commands, but it is a modem as far as the firmware can tell: the same operations
    (`tcu.server_link.ModemApi`) with `Ok`/`Failed` results, and the same events
    (`modem.driver.events`) to its subscribers, numbered TCP links included.
    """

    max_connections = 6

    def __init__(self, loop: Loop, smsc: Smsc, number: str = "+447700900999", step_delay: float = 0.2,
                 net_type: str = "2G") -> None:
        self.loop = loop
        self.net_type = net_type  # what `network_info` says on coverage: the technology of the modem it stands for
        self.smsc = smsc
        self.number = number
        self.step_delay = step_delay
        self._subscribers: list[Callable[[ModemEvent], None]] = []
        self.coverage = True      # GSM registration (SMS)
        self.gprs = True          # data bearer
        self.stall = False        # TCP up but nothing flows
        self.alive = True
        self._streams: dict[int, Stream] = {}   # open TCP links by number
        self._opening: set[int] = set()         # numbers handed out whose connect has not finished
        self.position: Callable[[], tuple[float, float, float, float]] | None = None  # lat, lon, course, speed
        smsc.devices[number] = self._sms_in

    # -- events ---------------------------------------------------------------------------------------
    def subscribe(self, handler: Callable[[ModemEvent], None]) -> Callable[[], None]:
        self._subscribers.append(handler)
        return lambda: self._subscribers.remove(handler) if handler in self._subscribers else None

    def _publish(self, ev: ModemEvent) -> None:
        for handler in list(self._subscribers):
            handler(ev)

    def _activity(self) -> None:
        self._publish(ModemActivity(self.loop.time()))

    @property
    def can_power_cycle(self) -> bool:
        return True

    # -- world controls -----------------------------------------------------------------------------
    def set_coverage(self, on: bool) -> None:
        self.coverage = on
        self._activity()
        self._publish(RegistrationChanged(_registration(on), gprs=False))
        if not on:
            self.set_gprs(False, keep_flag=True)

    def set_gprs(self, on: bool, keep_flag: bool = False) -> None:
        if not keep_flag:
            self.gprs = on
        if not on and self._streams:
            self._drop_tcp()
            self._publish(GprsLost())

    def remote_close(self) -> None:
        """The server side closes every open link (a `remote-close` outage)."""
        for conn in sorted(self._streams):
            self._drop_tcp(conn)
            self._publish(TcpClosed("CLOSED", conn))

    def _drop_tcp(self, conn: int | None = None) -> None:
        for c in ([conn] if conn is not None else list(self._streams)):
            s = self._streams.pop(c, None)
            if s is not None:
                s.set_handlers(lambda d: None, None)
                s.close()

    # -- operations -----------------------------------------------------------------------------------
    def _later(self, done: Callback, result: Result, delay: float | None = None, activity: bool = True) -> None:
        def fire() -> None:
            if activity and self.alive:
                self._activity()
            done(result)
        self.loop.call_later(self.step_delay if delay is None else delay, fire)

    def probe(self, on_done: Callback, tries: int = 10, interval: float = 1.0) -> None:
        if self.alive:
            self._later(on_done, Ok(None))
        else:
            self._later(on_done, Failed("modem silent", timeout=True), 3.0)

    def init(self, on_done: Callback) -> None:
        self._later(on_done, Ok(_INFO) if self.alive else Failed("modem silent", timeout=True))

    def sim_status(self, on_done: Callback) -> None:
        self._later(on_done, Ok("READY") if self.alive else Failed("modem silent", timeout=True))

    def registration(self, on_done: Callback, gprs: bool = False) -> None:
        on = self.coverage and (self.gprs or not gprs)
        self._later(on_done, Ok(_registration(on)), activity=True)

    def signal(self, on_done: Callback) -> None:
        self._later(on_done, Ok(Signal(99, 99, None)), activity=False)  # no radio: signal not known

    def select_operator_auto(self, on_done: Callback) -> None:
        self._later(on_done, Ok(None), activity=False)

    def network_info(self, on_done: Callback) -> None:
        info = NetworkInfo(self.net_type, "tcu-sim") if self.coverage else NetworkInfo("", "")
        self._later(on_done, Ok(info), activity=False)

    def radio_recover(self, on_done: Callback) -> None:
        self._later(on_done, Ok(""), activity=False)  # no radio technologies to be stuck between

    def gprs_attach(self, apn: str, on_done: Callback, user: str = "", password: str = "") -> None:
        self._drop_tcp()   # like CIPSHUT before an attach: a new bearer starts with no links
        ok = self.coverage and self.gprs
        self._later(on_done, Ok("10.0.0.2") if ok else Failed("AT+CIICR: ERROR"), 1.0)

    def gprs_shutdown(self, on_done: Callback) -> None:
        self._drop_tcp()
        self._later(on_done, Ok(None), activity=False)

    def tcp_connect(self, host: str, port: int, on_done: Callback) -> int:
        conn = next((c for c in range(self.max_connections) if c not in self._streams and c not in self._opening),
                    -1)
        if conn < 0:
            self._later(on_done, Failed(f"all {self.max_connections} TCP links in use"), activity=False)
            return conn
        if not (self.coverage and self.gprs):
            self._later(on_done, Failed("CONNECT FAIL"), 2.0)
            return conn
        self._opening.add(conn)

        def connected(stream: Stream | None, error: str | None) -> None:
            self._opening.discard(conn)
            if stream is None:
                on_done(Failed(error or "CONNECT FAIL"))
                return
            self._streams[conn] = stream
            stream.set_handlers(lambda data: self._tcp_in(conn, data), lambda: self._tcp_closed(conn, stream))
            on_done(Ok(None))

        self.loop.connect_tcp(host, port, connected)
        return conn

    def _tcp_in(self, conn: int, data: bytes) -> None:
        if self.stall:
            return
        self._activity()
        self._publish(TcpDataReceived(data, conn=conn))

    def _tcp_closed(self, conn: int, stream: Stream) -> None:
        if self._streams.get(conn) is stream:
            del self._streams[conn]
            self._publish(TcpClosed("CLOSED", conn))

    def tcp_send(self, data: bytes, on_done: Callback, conn: int = 0) -> None:
        stream = self._streams.get(conn)
        if stream is None:
            self.loop.call_soon(on_done, Failed(f"link {conn} not connected"))
            return
        if not self.stall:
            stream.write(data)
        self.loop.call_soon(on_done, Ok(None))

    def tcp_close(self, on_done: Callback, conn: int = 0) -> None:
        self._drop_tcp(conn)
        self.loop.call_soon(on_done, Ok(None))

    def soft_reset(self, on_done: Callback) -> None:
        self._drop_tcp()
        self._later(on_done, Ok(None), 3.0)

    def power_cycle(self, on_done: Callback) -> None:
        self._drop_tcp()
        self.alive = True
        self._later(on_done, Ok(None), 5.0)

    def send_sms(self, number: str, text: str, on_done: Callback) -> None:
        if not self.coverage:
            self._later(on_done, Failed("+CMS ERROR: 331"), 1.0)
            return
        self.smsc.submit(self.number, number, text)
        self._later(on_done, Ok(SmsSent((0,))), 1.0)

    def gnss_power(self, on: bool, on_done: Callback) -> None:
        self.loop.call_soon(on_done, Ok(None))

    def gnss_fix(self, on_done: Callback) -> None:
        def fire() -> None:
            if self.position is None:
                on_done(Failed("no position"))
                return
            lat, lon, course, speed = self.position()
            on_done(Ok(GnssFix(True, lat, lon, 35.0, speed, course, 1, 8, 12, 0.9, None)))
        self.loop.call_later(self.step_delay, fire)

    def _sms_in(self, sender: str, text: str) -> None:
        when = datetime.fromtimestamp(self.loop.wall(), tz=UTC)
        self._publish(SmsReceived(sender, text, when))


_INFO = ModemInfo("tcu-sim", "DirectModem", "1.0", "000000000000000", None, None)


def _registration(on: bool) -> Registration:
    return Registration(REG_HOME if on else REG_NOT)


# ====================================================================================================
# The world
# ====================================================================================================

OWNER = "+447700900123"
UNIT_NUMBER = "+447700900999"
VEHICLE_ID = "SIMCAR"
CAR_PASSWORD = "simcarpass"
MODULE_PASSWORD = "modpass1"
SERVER_PORT = 6867
MQTT_PORT = 1883
MQTT_USER, MQTT_PASSWORD = "owner", "mqttpass1"


@dataclass(frozen=True)
class OutageWindow:
    start: float
    end: float
    kind: str   # gprs-down | no-coverage | stall | remote-close


def weather_schedule(profile: str, hours: float, rng) -> list[OutageWindow]:  # type: ignore[no-untyped-def]
    """Outage windows over `hours` for a weather profile; the same RNG state gives the same weather.

    calm: one data outage a day (the demo's scripted one); harsh: every 40–120 min a fault of 1–40 min,
    mostly data loss, sometimes no coverage at all (no SMS either), a silent stall or a remote close.
    """
    end = hours * 3600.0
    out: list[OutageWindow] = []
    if profile == "calm":
        start = min(3 * 3600.0, end * 0.3)
        if start + 600 < end:
            out.append(OutageWindow(start, start + 600.0, "gprs-down"))
        return out
    if profile != "harsh":
        raise ValueError(f"unknown weather {profile!r} (calm, harsh)")
    t = rng.uniform(600, 2400)
    while t < end - 600:
        kind = rng.choices(["gprs-down", "no-coverage", "stall", "remote-close"], [55, 20, 15, 10])[0]
        length = 0.0 if kind == "remote-close" else rng.uniform(60, 2400)
        out.append(OutageWindow(t, min(t + length, end), kind))
        t += length + rng.uniform(2400, 7200)
    return out


LTE_FAULTS = ("rat-fallback-2g", "no-service-online", "netopen-fail")


def lte_weather(base: list[OutageWindow], hours: float, rng) -> list[OutageWindow]:  # type: ignore[no-untyped-def]
    """The LTE module's own faults (issue 15) added to `base` for a SIM7600 world: in about a third of the
    quiet gaps of at least 40 min, one of `LTE_FAULTS` for 1–5 min, clear of the other windows. Its own RNG
    stream, so the base weather is the same as a SIM800 world's."""
    end = hours * 3600.0
    out = list(base)
    edges = [0.0, *(t for w in sorted(base, key=lambda w: w.start) for t in (w.start, w.end)), end]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2], strict=True):
        if gap_end - gap_start < 2400 or rng.random() > 0.35:
            continue
        start = gap_start + rng.uniform(600, gap_end - gap_start - 1800)
        out.append(OutageWindow(start, start + rng.uniform(60, 300), rng.choice(LTE_FAULTS)))
    return sorted(out, key=lambda w: w.start)


class OwnerPhone:
    """The owner's phone: sends scripted SMS to the car, keeps everything it receives."""

    def __init__(self, loop: Loop, send: Callable[[str, str], None], number: str = OWNER,
                 journal: Path | None = None) -> None:
        self.loop = loop
        self._send = send
        self.number = number
        self.received: list[tuple[float, str, str]] = []
        self.sent = 0
        self.journal = journal

    def send(self, to: str, text: str) -> None:
        self.sent += 1
        self._send(to, text)

    def receive(self, sender: str, text: str) -> None:
        self.received.append((self.loop.time(), sender, text))
        if self.journal is not None:
            _append(self.journal, {"t": self.loop.time(), "from": sender, "text": text})


def _append(path: Path, obj: dict) -> None:
    """One JSON line, written with one write(): survives a SIGKILL of this process."""
    import json
    import os
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    finally:
        os.close(fd)


def _read_jsonl(path: Path) -> list[dict]:
    import json
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass   # a line cut by a kill
    return out


# Owner SMS script: (seconds, text). Spread over the day; commands are exercised with the car's answer.
OWNER_SCRIPT: tuple[tuple[float, str], ...] = (
    (1800.0, "STAT"),
    (2 * 3600.0, "LOCK"),
    (2 * 3600.0 + 300, "GPS"),
    (5 * 3600.0, "STAT?"),
    (7 * 3600.0, "UNLOCK"),
    (7 * 3600.0 + 120, "LOCK"),
    (11 * 3600.0, "DIAG"),
    (15 * 3600.0, "STAT"),
    (19 * 3600.0, "CLIMATE ON"),
    (22 * 3600.0, "STAT"),
)

INCIDENTS = ("alarm", "tow", "valet-trunk")


@dataclass
class WorldConfig:
    seed: int = 1
    hours: float = 24.0
    scenario: str = "day"
    weather: str = "calm"
    drain_s: float = 1800.0
    incidents: bool = True           # alarm / tow / valet-trunk events every few hours (more alerts)
    incidents_per_hour: float = 1 / 3
    state_dir: str | None = None     # persist the world here (kill/restart tests); else a temp dir
    outages: list[OutageWindow] | None = None   # explicit schedule (overrides the weather)
    modem: str = "emulated"          # emulated: driver + virtual modem over a pipe; direct: DirectModem
    dialect: str = "sim800"          # the modem model: driver and virtual modem dialect (sim800 | sim7600)
    timing: str = "realistic"        # the virtual modem's response times (realistic | instant)
    modem_mux: str = "off"           # emulated: GSM 07.10 CMUX after init (auto | on | off; issue 16)
    owner_script: tuple[tuple[float, str], ...] | None = None    # default OWNER_SCRIPT
    incident_times: tuple[tuple[float, str], ...] | None = None  # explicit incidents (else random)
    can_rate: float = 0.1            # fraction of the DBC frame rates the car sends (1.0 = real 50 Hz drive data)
    server: str = "ovms"             # what the unit reports to: ovms | mqtt | both (issue 18)


class World:
    """Car, unit, modem, server, owner's phone and the weather on one VirtualLoop."""

    def __init__(self, cfg: WorldConfig, loop: Loop | None = None) -> None:
        import tempfile

        from can_bus.car.scenarios import run_scenario
        from can_bus.car.virtual_car import VirtualCar
        from can_bus.memory import frame_link
        from runtime import VirtualLoop
        from tcu.params import Params
        from tcu.unit import Unit, UnitHooks
        from tools.server.core import OvmsServer

        self.cfg = cfg
        self.loop = loop or VirtualLoop(seed=cfg.seed)
        if cfg.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tcu-sim-")
            self.dir = Path(self._tmp.name)
        else:
            self.dir = Path(cfg.state_dir)
            self.dir.mkdir(parents=True, exist_ok=True)
        loop_ = self.loop
        self.server = OvmsServer(loop_, self.dir / "server.db", "127.0.0.1", SERVER_PORT)
        self.server.add_vehicle(VEHICLE_ID, CAR_PASSWORD)
        self._mqtt_world()
        car_port, unit_port = frame_link(loop_, name="car-can")
        self.car_port = car_port
        self.car = VirtualCar(loop_, car_port, "demo-ev", name="car", rate=cfg.can_rate)
        journal = self.dir / "phone.jsonl"
        self.vmodem: Any = None
        self.modem: Any = None
        modem: ModemApi
        if cfg.modem == "direct":
            self.smsc = Smsc(loop_)
            self.modem = modem = DirectModem(loop_, self.smsc, number=UNIT_NUMBER,
                                             net_type="4G" if cfg.dialect == "sim7600" else "2G")
            self.modem.position = self.car.position
            self.phone = OwnerPhone(loop_, lambda to, text: self.smsc.submit(OWNER, to, text), journal=journal)
            self.smsc.devices[OWNER] = self.phone.receive
        elif cfg.modem == "emulated":
            from modem.driver.modem import Modem
            from modem.driver.power import VirtualPowerKey
            from modem.emulator.gnss import CallablePosition
            from modem.emulator.modem import VirtualModem
            from modem.emulator.network import VirtualNetwork
            from runtime import pipe_pair

            self.network = VirtualNetwork(loop_)
            unit_end, modem_end = pipe_pair(loop_, name="serial")
            car = self.car
            self.vmodem = VirtualModem(loop_, modem_end, self.network, number=UNIT_NUMBER, profile=cfg.timing,
                                       gnss=CallablePosition(lambda now: car.position()[:2]), name="unit-modem",
                                       dialect=cfg.dialect)
            # The UART is an in-memory pipe, not a named port: the driver is built on it directly,
            # with the dialect the virtual modem speaks (the driver's and the emulator's of the same name).
            self.driver = modem = Modem(loop_, unit_end, dialect=cfg.dialect,
                                        power_key=VirtualPowerKey(loop_, self.vmodem), mux=cfg.modem_mux)
            smsc = self.network.smsc

            def phone_sends(to: str, text: str) -> None:
                smsc.deliver(OWNER, to, text)  # whether it was delivered is the network's business

            self.phone = OwnerPhone(loop_, phone_sends, journal=journal)
            smsc.listeners.append(lambda sms: self.phone.receive(sms.sender, sms.text) if sms.to == OWNER else None)
        else:
            raise ValueError(f"unknown modem {cfg.modem!r} (emulated, direct)")
        params = Params({"owner": OWNER, "server": f"127.0.0.1:{SERVER_PORT}", "server_password": CAR_PASSWORD,
                         "vehicle_id": VEHICLE_ID, "module_password": MODULE_PASSWORD, "profile": "demo-ev",
                         "apn": "internet", "servers": cfg.server, "mqtt_server": f"127.0.0.1:{MQTT_PORT}",
                         "mqtt_username": MQTT_USER, "mqtt_password": MQTT_PASSWORD}, self.dir / "unit" / "params.db")
        self.raised_journal = self.dir / "raised.jsonl"
        self.hooks = UnitHooks(alert_raised=self._alert_raised)
        self.unit = Unit(loop_, params, modem, unit_port, self.dir / "unit", profile=self.car.profile,
                         hooks=self.hooks)
        unit_hook = self.unit.link.sup.on_transition

        def on_transition(tr: Any) -> None:
            if unit_hook is not None:
                unit_hook(tr)
            self._transition(tr)

        self.unit.link.sup.on_transition = on_transition
        rng = loop_.random("weather")
        self.outages = cfg.outages if cfg.outages is not None else weather_schedule(cfg.weather, cfg.hours, rng)
        if cfg.outages is None and cfg.weather == "harsh" and cfg.dialect == "sim7600" and self.vmodem is not None:
            self.outages = lte_weather(self.outages, cfg.hours, loop_.random("weather-lte"))
        self.recovered: dict[int, float] = {}
        self.online_times: list[float] = []
        self.offline_times: list[float] = []
        self.events: list[tuple[float, str]] = []     # for the live view: what the world did
        self._active: OutageWindow | None = None
        self.noise: list[tuple[float, str, float]] = []
        if cfg.weather == "harsh" and self.vmodem is not None and cfg.outages is None:
            # Line noise and weak signal from the emulator's own harsh fronts (its outages are ours,
            # scheduled above, so the report knows each window exactly).
            from modem.emulator.weather import WEATHER_PROFILES, Weather
            noise = {k: v for k, v in WEATHER_PROFILES["harsh"].items()
                     if v.get("kind") in ("garbage", "weak-signal")}
            Weather(noise).start(loop_, loop_.random("weather-noise"), self._noise)
        run_scenario(self.car, cfg.scenario, loop_)
        for i, w in enumerate(self.outages):
            loop_.call_at(w.start, self._outage_start, i)
            if w.end > w.start:
                loop_.call_at(w.end, self._outage_end, i)
        for at, text in (cfg.owner_script if cfg.owner_script is not None else OWNER_SCRIPT):
            if at < cfg.hours * 3600:
                loop_.call_at(at, self._owner_sms, text)
        if cfg.incident_times is not None:
            for at, kind in cfg.incident_times:
                loop_.call_at(at, self._incident, kind)
        elif cfg.incidents:
            irng = loop_.random("incidents")
            gap = 3600.0 / max(cfg.incidents_per_hour, 1e-6)
            t = irng.uniform(0.3, 0.6) * gap
            n = 0
            while t < cfg.hours * 3600 - 300:
                loop_.call_at(t, self._incident, INCIDENTS[n % len(INCIDENTS)])
                n += 1
                t += irng.uniform(0.6, 1.4) * gap
        self.unit.start()

    # -- observation ------------------------------------------------------------------------------------
    def _mqtt_world(self) -> None:
        """The owner's MQTT broker (tools.mqtt_broker on the virtual TCP) and a subscriber on its notify
        topics: what reached the broker, with the DUP flag of each publish (issue 18)."""
        from tools.mqtt_broker import MiniBroker

        self.broker = MiniBroker(self.loop, "127.0.0.1", MQTT_PORT, users={MQTT_USER: MQTT_PASSWORD})
        self.mqtt_alerts: list[tuple[str, bool]] = []

        def seen(client: str, pkt: Any) -> None:
            self.mqtt_alerts.append((pkt.payload.decode("utf-8", "replace"), pkt.dup))

        self.broker.watch(f"ovms/{MQTT_USER}/{VEHICLE_ID}/notify/alert/#", seen)

    def _alert_raised(self, alert_id: int, alert) -> None:  # type: ignore[no-untyped-def]
        _append(self.raised_journal, {"id": alert_id, "t": self.loop.time(), "text": alert.text,
                                      "critical": alert.critical})
        self.events.append((self.loop.time(), f"alert #a{alert_id}: {alert.text}"))

    def _online_at(self, t: float) -> bool:
        last_on = max((x for x in self.online_times if x <= t), default=None)
        last_off = max((x for x in self.offline_times if x <= t), default=None)
        return last_on is not None and (last_off is None or last_on >= last_off)

    def _transition(self, tr) -> None:  # type: ignore[no-untyped-def]
        if tr.dst == "online":
            self.online_times.append(tr.at)
        elif tr.src == "online":
            self.offline_times.append(tr.at)

    # -- world events -----------------------------------------------------------------------------------
    def _owner_sms(self, text: str) -> None:
        self.events.append((self.loop.time(), f"owner texts {text}"))
        self.phone.send(UNIT_NUMBER, text)

    def _incident(self, kind: str) -> None:
        car, loop = self.car, self.loop
        if car.s.speed_kmh > 1 or car.s.charging or car.s.towing:
            loop.call_later(600, self._incident, kind)   # not while driving, charging or towed: later
            return
        self.events.append((loop.time(), f"incident: {kind}"))
        if kind == "alarm":
            car.do("lock")
            car.do("open-door", door="fl")
            loop.call_later(120, car.do, "unlock")
            loop.call_later(130, lambda: car.do("close-door", door="fl"))
            loop.call_later(150, car.do, "lock")
        elif kind == "tow":
            car.do("lock")
            car.do("tow", minutes=8)
            loop.call_later(900, car.do, "unlock")
            loop.call_later(910, car.do, "lock")
        elif kind == "valet-trunk":
            car.command("valet_on")
            loop.call_later(30, car.do, "open-trunk")
            loop.call_later(300, car.do, "close-trunk")
            loop.call_later(330, car.command, "valet_off")

    def _noise(self, kind: str, duration: float) -> None:
        if self.loop.time() < self.end_time and self.vmodem is not None:
            self.noise.append((self.loop.time(), kind, duration))
            self.vmodem.fault(kind, duration)

    def _outage_start(self, i: int) -> None:
        w = self.outages[i]
        self.events.append((self.loop.time(), f"network: {w.kind}"))
        if self.vmodem is not None:
            self.vmodem.fault(w.kind, max(1.0, w.end - w.start))
            return
        m = self.modem
        if w.kind == "gprs-down":
            m.set_gprs(False)
        elif w.kind == "no-coverage":
            m.set_coverage(False)
        elif w.kind == "stall":
            m.stall = True
        elif w.kind == "remote-close":
            m.remote_close()

    def _outage_end(self, i: int) -> None:
        w = self.outages[i]
        self.events.append((self.loop.time(), f"network: {w.kind} over"))
        self.restore_network()

    def restore_network(self) -> None:
        if self.vmodem is not None:
            self.vmodem.clear_faults()
            return
        m = self.modem
        m.stall = False
        if not m.coverage:
            m.set_coverage(True)
        if not m.gprs:
            m.set_gprs(True)

    # -- running ----------------------------------------------------------------------------------------
    @property
    def end_time(self) -> float:
        return self.cfg.hours * 3600.0

    def run(self) -> None:
        """The whole run: `hours` of weather, then the drain period with the network restored."""
        self.loop.run(until=self.end_time)
        self.restore_network()
        self.loop.run(until=self.end_time + self.cfg.drain_s)

    def observations(self, wall_seconds: float) -> Any:
        from tcu.report import Observations, Outage, RaisedAlert
        raised_rows = _read_jsonl(self.raised_journal)
        raised = {}
        for r in raised_rows:
            raised[r["id"]] = RaisedAlert(int(r["id"]), float(r["t"]), r["text"], bool(r["critical"]))
        # Alerts the unit accepted but the journal missed (a kill between the two writes).
        for row in self.unit.outbox.conn.execute("SELECT id, created, payload FROM outbox WHERE kind='alert'"):
            if row[0] not in raised:
                import json
                d = json.loads(row[2])
                raised[row[0]] = RaisedAlert(int(row[0]), float(row[1]), d["text"], bool(d["critical"]))
        phone = [r["text"] for r in _read_jsonl(self.dir / "phone.jsonl") if r["from"] == UNIT_NUMBER]
        outages = []
        for w in self.outages:
            if w.kind == "remote-close":
                end = w.start
            else:
                end = w.end
            back = next((t for t in self.online_times if t >= end), None)
            if w.kind in ("netopen-fail", "no-service-online") and self._online_at(end):
                back = end  # recovered inside the window (a new NETOPEN after NETCLOSE, the mode toggle)
            outages.append(Outage(w.start, end, back, w.kind))
        pending_alerts = {i.id for i in self.unit.outbox.pending() if i.kind == "alert"}
        obs = Observations(
            seed=self.cfg.seed,
            sim_seconds=self.loop.time(),
            wall_seconds=wall_seconds,
            can_frames=self.car_port.stats.tx,
            server_messages=self.server.stats["messages_in"],
            raised=sorted(raised.values(), key=lambda a: a.id),
            server_alert_texts=[a.text for a in self.server.alerts(VEHICLE_ID)],
            phone_sms_texts=phone,
            phone_sms_sent=self.phone.sent,
            unit_sms_sent=self.sms_from_unit(),
            still_queued_ids=pending_alerts,
            outages=outages,
            commands_executed=self.unit.remote.executed,
            commands_failed=self.unit.remote.failed,
            servers=tuple(str(self.unit.params["servers"]).split(",")),
            mqtt_alerts=list(self.mqtt_alerts),
            extra={
                "scenario": self.cfg.scenario,
                "weather": self.cfg.weather,
                "history_records": len(self.server.records(VEHICLE_ID)),
                "line_noise_faults": len(self.noise),
                "link": dict(self.unit.link.sup.counters),
                "timers_run": getattr(self.loop, "timers_run", None),
            },
        )
        return obs

    def sms_from_unit(self) -> int:
        """SMS the SMS centre accepted from the unit (counted by the network, not by the unit)."""
        if self.vmodem is not None:
            return len(self.vmodem.outbox)
        return self.smsc.sent_by.get(UNIT_NUMBER, 0)

    def close(self) -> None:
        self.unit.stop()
        self.server.close()
        self.broker.close()


def demo_config(seed: int = 1) -> WorldConfig:
    """The `make demo` preset: 95 simulated minutes. The car drives to work (until ~37 min) and parks;
    a data outage from 40 to 60 min, in which the alarm goes off (critical: SMS at once) and the owner
    asks STAT (the reply still comes by SMS); the catch-up after it; then valet-trunk, LOCK, GPS, a tow."""
    return WorldConfig(
        seed=seed, hours=95 / 60, scenario="day", weather="calm", drain_s=300.0,
        outages=[OutageWindow(40 * 60.0, 60 * 60.0, "gprs-down")],
        owner_script=((10 * 60.0, "STAT"), (48 * 60.0, "STAT"), (70 * 60.0, "LOCK"), (75 * 60.0, "GPS")),
        incident_times=((44 * 60.0, "alarm"), (64 * 60.0, "valet-trunk"), (80 * 60.0, "tow")),
    )
