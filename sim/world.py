"""The simulated world of `tcu sim`: car, unit, modem, network, server and the owner's phone on one loop.

    VirtualCar ──frame_link──▶ Unit ──pipe (AT)──▶ VirtualModem ──VirtualNetwork──▶ OvmsServer (virtual TCP)
                                                          └── SMSC ◀──▶ OwnerPhone (scripted SMS)

Everything runs on one `VirtualLoop` seeded from `--seed`, so the same seed gives the same report.
The weather is a schedule of outage windows drawn from the seed (`sim.weather`), applied as
virtual-modem faults, plus the emulator's line-noise fronts on `harsh`; the world knows each window
exactly, which the report needs. Delivery is observed at the receiving end only: the server's
stored alerts and the phone's inbox, both journalled so a killed and restarted world still knows.
`sim.direct_modem.DirectModem` replaces the AT layer for fast runs (`--modem direct`).

What happened when goes into `world.timeline` (`sim.timeline`) as it happens: link transitions, the
weather's windows, the unit's hooks (alert raised, SMS, commands), the phone's inbox and the broker's
publishes; the car and the server's stored alerts are read once a simulated minute (`SAMPLE_EVERY`)
and by `sync_timeline()`, never on a per-frame path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime import Loop
from sim.direct_modem import DirectModem, Smsc
from sim.owner_phone import OwnerPhone, append_jsonl, read_jsonl
from sim.timeline import OutageMark, Timeline
from sim.weather import OutageWindow, lte_weather, weather_schedule
from tcu.alert_tag import alert_ids
from tcu.server_link import ModemApi

log = logging.getLogger(__name__)

OWNER = "+447700900123"
UNIT_NUMBER = "+447700900999"
VEHICLE_ID = "SIMCAR"
CAR_PASSWORD = "simcarpass"
MODULE_PASSWORD = "modpass1"
SERVER_PORT = 6867
MQTT_PORT = 1883
MQTT_USER, MQTT_PASSWORD = "owner", "mqttpass1"


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
SAMPLE_EVERY = 60.0   # s of simulated time between the timeline's samples of the car (and server polls)


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
        self.timeline = Timeline()   # what happened when (sim.timeline): the live view and the HTML report
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
            self.phone = OwnerPhone(loop_, lambda to, text: self.smsc.submit(OWNER, to, text), number=OWNER, journal=journal)
            self.smsc.devices[OWNER] = self._phone_receives
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

            self.phone = OwnerPhone(loop_, phone_sends, number=OWNER, journal=journal)
            smsc.listeners.append(lambda sms: self._phone_receives(sms.sender, sms.text) if sms.to == OWNER else None)
        else:
            raise ValueError(f"unknown modem {cfg.modem!r} (emulated, direct)")
        params = Params({"owner": OWNER, "server": f"127.0.0.1:{SERVER_PORT}", "server_password": CAR_PASSWORD,
                         "vehicle_id": VEHICLE_ID, "module_password": MODULE_PASSWORD, "profile": "demo-ev",
                         "apn": "internet", "servers": cfg.server, "mqtt_server": f"127.0.0.1:{MQTT_PORT}",
                         "mqtt_username": MQTT_USER, "mqtt_password": MQTT_PASSWORD}, self.dir / "unit" / "params.db")
        self.raised_journal = self.dir / "raised.jsonl"
        self.hooks = UnitHooks(alert_raised=self._alert_raised, sms_sent=self._unit_sent_sms,
                               sms_received=self._unit_got_sms, command_received=self._command_received,
                               command_answered=self._command_answered)
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
        self._outage_marks: dict[int, OutageMark] = {}
        self._server_alerts_seen = len(self.server.alerts(VEHICLE_ID))   # a restarted world's earlier runs
        self._server_heard = -1
        self._sample_timer: Any = None
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
        # The first sample after everything else due now (the scenario sets the car up at t=0).
        self._sample_timer = loop_.call_at(loop_.time(), self._sample)

    # -- observation ------------------------------------------------------------------------------------
    def _mqtt_world(self) -> None:
        """The owner's MQTT broker (tools.mqtt_broker on the virtual TCP) and a subscriber on its notify
        topics: what reached the broker, with the DUP flag of each publish (issue 18)."""
        from tools.mqtt_broker import MiniBroker

        self.broker = MiniBroker(self.loop, "127.0.0.1", MQTT_PORT, users={MQTT_USER: MQTT_PASSWORD})
        self.mqtt_alerts: list[tuple[str, bool]] = []

        def seen(client: str, pkt: Any) -> None:
            text = pkt.payload.decode("utf-8", "replace")
            self.mqtt_alerts.append((text, pkt.dup))
            self.timeline.alert_delivered(self.loop.time(), alert_ids(text), "server")

        self.broker.watch(f"ovms/{MQTT_USER}/{VEHICLE_ID}/notify/alert/#", seen)

    def _alert_raised(self, alert_id: int, alert) -> None:  # type: ignore[no-untyped-def]
        append_jsonl(self.raised_journal, {"id": alert_id, "t": self.loop.time(), "text": alert.text,
                                      "critical": alert.critical})
        self.events.append((self.loop.time(), f"alert #a{alert_id}: {alert.text}"))
        self.timeline.alert_raised(self.loop.time(), alert_id, alert.text, bool(alert.critical))

    def _phone_receives(self, sender: str, text: str) -> None:
        """An SMS reached the owner's phone: its inbox, and the timeline (an alert's SMS delivery)."""
        self.phone.receive(sender, text)
        t = self.loop.time()
        self.timeline.sms_received(t, "out", OWNER, text, to=OWNER)
        self.timeline.alert_delivered(t, alert_ids(text), "sms")

    def _unit_sent_sms(self, number: str, text: str) -> None:
        self.timeline.sms_sent(self.loop.time(), UNIT_NUMBER, number, text)

    def _unit_got_sms(self, sender: str, text: str) -> None:
        self.timeline.sms_received(self.loop.time(), "in", sender, text, to=UNIT_NUMBER)

    def _command_received(self, seq: int, source: str, text: str) -> None:
        self.timeline.command_received(self.loop.time(), seq, source, text)

    def _command_answered(self, seq: int, reply: str) -> None:
        self.timeline.command_answered(self.loop.time(), seq, reply)

    def _sample(self) -> None:
        """Once a simulated minute: the car's SOC, speed and charging, and the server's new alerts."""
        s = self.car.s
        self.timeline.sample(self.loop.time(), s.soc, s.speed_kmh, s.charging)
        self.sync_timeline()
        self._sample_timer = self.loop.call_later(SAMPLE_EVERY, self._sample)

    def sync_timeline(self) -> None:
        """Alerts the OVMS server stored since the last look, at the server's own timestamps (it has no
        hook; its store is read once a minute and at the end, so a latency is exact, a live mark late by
        less than a minute — call this before drawing for an up-to-date view)."""
        heard = self.server.stats["messages_in"]
        if heard == self._server_heard:
            return   # nothing arrived, so nothing new is stored (the store is not read in vain)
        self._server_heard = heard
        stored = self.server.alerts(VEHICLE_ID)
        offset = self.loop.wall() - self.loop.time()
        for a in stored[self._server_alerts_seen:]:
            self.timeline.alert_delivered(a.time - offset, alert_ids(a.text), "server")
        self._server_alerts_seen = len(stored)

    def _online_at(self, t: float) -> bool:
        last_on = max((x for x in self.online_times if x <= t), default=None)
        last_off = max((x for x in self.offline_times if x <= t), default=None)
        return last_on is not None and (last_off is None or last_on >= last_off)

    def _transition(self, tr) -> None:  # type: ignore[no-untyped-def]
        self.timeline.link_state(tr.at, tr.dst)
        if tr.dst == "online":
            self.online_times.append(tr.at)
        elif tr.src == "online":
            self.offline_times.append(tr.at)

    # -- world events -----------------------------------------------------------------------------------
    def _owner_sms(self, text: str) -> None:
        self.events.append((self.loop.time(), f"owner texts {text}"))
        self.timeline.sms_sent(self.loop.time(), OWNER, UNIT_NUMBER, text)
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
        self._outage_marks[i] = self.timeline.outage_started(self.loop.time(), w.kind)
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
        mark = self._outage_marks.get(i)
        if mark is not None:
            self.timeline.outage_ended(mark, self.loop.time())
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
        from sim.report import Observations, Outage, RaisedAlert
        self.sync_timeline()
        raised_rows = read_jsonl(self.raised_journal)
        raised = {}
        for r in raised_rows:
            raised[r["id"]] = RaisedAlert(int(r["id"]), float(r["t"]), r["text"], bool(r["critical"]))
        # Alerts the unit accepted but the journal missed (a kill between the two writes).
        for row in self.unit.outbox.conn.execute("SELECT id, created, payload FROM outbox WHERE kind='alert'"):
            if row[0] not in raised:
                import json
                d = json.loads(row[2])
                raised[row[0]] = RaisedAlert(int(row[0]), float(row[1]), d["text"], bool(d["critical"]))
        phone = [r["text"] for r in read_jsonl(self.dir / "phone.jsonl") if r["from"] == UNIT_NUMBER]
        outages = []
        now = self.loop.time()
        for w in self.outages:
            if w.start > now:
                continue  # scheduled but not begun: a run stopped early (Ctrl-C) never had it
            if w.kind == "remote-close":
                end = w.start
            else:
                end = min(w.end, now)  # still going when the run stopped: it ends at the stop, unrecovered
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
                "timeline": self.timeline.summary(self.loop.time()),
            },
        )
        return obs

    def sms_from_unit(self) -> int:
        """SMS the SMS centre accepted from the unit (counted by the network, not by the unit)."""
        if self.vmodem is not None:
            return len(self.vmodem.outbox)
        return self.smsc.sent_by.get(UNIT_NUMBER, 0)

    def close(self) -> None:
        if self._sample_timer is not None:
            self._sample_timer.cancel()
            self._sample_timer = None
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
