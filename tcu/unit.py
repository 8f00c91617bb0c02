"""The unit: everything wired together on one loop (DESIGN.md §1).

    CAN frames → profile decoder → metrics → vehicle logic → alerts → outbox (written first)
        → each configured server through the server seam (`tcu.server_session`: OVMS v2 `P` + ping proof,
          MQTT QoS 1 + PUBACK), SMS to the owner when offline or no server confirms in time
    metrics → history records (breadcrumbs while driving, trips, charge sessions) → outbox → each server
    SMS in → SMS commands → reply SMS;  OVMS `C` → remote commands / SMS interpreter / parameters;
    MQTT command topic → SMS interpreter → response topic
    GNSS → `v.p.*` metrics

The same object runs on the virtual clock (`tcu sim`, tests) and the real clock (`tcu run`); it only
uses the runtime contract, a modem (`tcu.server_link.ModemApi`: the AT driver of any dialect, or the
AT-less `DirectModem`) and a CAN port. Delivery state lives in the outbox (SQLite), so
a unit killed at any instant and started again on the same state directory delivers what it owes, in
order, and never twice what the server confirmed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from can_bus.port import BusBack, BusEvent, BusGone, CanPort
from modem.driver.events import ModemEvent, PortClosed, PortReopened
from modem.driver.script import Failed, Ok, Result
from runtime import Loop, Timer
from runtime.backoff import Backoff
from runtime.ratelog import RateLimitedLog
from tcu.alert_router import DAY_S, AlertRouter, Drop, RouterSettings, SendSms, SendToServer, sms_parts
from tcu.alert_router import Action as RouterAction
from tcu.alert_tag import alert_tag
from tcu.gnss_poll import GnssPoller
from tcu.health import Health, Problem
from tcu.link import LinkConfig, Transition
from tcu.metrics import Metrics
from tcu.mqtt.session import MqttSession, TextCommand
from tcu.outbox import OutboxItem
from tcu.ovms.car_client import CarSession, CommandRequest
from tcu.params import MQTT_DEFAULT_PORT, OVMS_DEFAULT_PORT, ConfigError, Params
from tcu.plural import plural
from tcu.remote import CommandResult, RemoteCommands
from tcu.restart_memory import ConditionMemory, SmsLedger
from tcu.server_link import LinkDriver, ModemApi, ServerChannel
from tcu.server_session import Delivered, LoggedIn, ServerSession
from tcu.sms_commands import CommandInterpreter, ModemStatus, link_status_text
from tcu.sms_out import ReplySender, SmsTrouble, sms_status
from tcu.status_file import FILENAME, FORMAT, StatusWriter
from tcu.unit_storage import UnitStorage
from tcu.vehicle_logic import Alert, HistoryRecord, LogicSettings, VehicleLogic
from tcu.version import VERSION

log = logging.getLogger(__name__)

PUMP_BATCH = 8               # outbox items written per pump (the rest follow as they are confirmed)
PURGE_AFTER_S = 7 * 86400.0
FRESHNESS_EVERY = 10.0       # s between staleness refreshes of unchanged CAN metrics (STALE_MIN is 60 s)
# Telling the owner about a long problem by SMS: when that SMS fails, try again after 1 min, 2, 4 … 30.
OWNER_NOTICE_FIRST_S = 60.0
OWNER_NOTICE_CAP_S = 1800.0

StatusSource = Callable[[], Mapping[str, object]]

# OVMS v2 parameter numbers (server commands 3/4, ovms-v2-server.md §4) → our parameter names.
OVMS_PARAMS = {0: "owner", 1: "module_password", 4: "server", 5: "apn", 6: "apn_user", 7: "apn_password",
               8: "vehicle_id", 9: "server_password"}


@dataclass
class UnitHooks:
    """Observation points for the simulated world and the live view (no behaviour depends on them)."""

    alert_raised: Callable[[int, Alert], None] | None = None
    sms_sent: Callable[[str, str], None] | None = None
    sms_received: Callable[[str, str], None] | None = None
    command_done: Callable[[str, CommandResult], None] | None = None
    # A text command (SMS, MQTT, OVMS command 7) arrived as number `seq`; its first answer is `command_answered`
    # (a car command answers after the car confirmed it): the world's timeline pairs them by `seq`.
    command_received: Callable[[int, str, str], None] | None = None    # (seq, source, text)
    command_answered: Callable[[int, str], None] | None = None         # (seq, reply)


class Unit:
    """The firmware. `start()` begins; everything else happens in callbacks on `loop`."""

    def __init__(self, loop: Loop, params: Params, modem: ModemApi, can_port: CanPort | None, state_dir: str | Path,
                 *, profile: Any = None, hooks: UnitHooks | None = None,
                 link_config: LinkConfig | None = None, gnss: bool = True,
                 status_every: float | None = None) -> None:
        self.loop = loop
        # What the unit cannot do right now (CAN adapter, modem, storage, SMS): one instance, every
        # component reports into it; DIAG, `tcu state` and the owner's SMS read it.
        self.health = Health()
        self.params = params
        params.wall = loop.wall       # runtime changes are stamped with when they were made
        self.state_dir = Path(state_dir)
        self.hooks = hooks or UnitHooks()
        self._command_seq = 0
        self.started_at = loop.time()
        self.metrics = Metrics()
        if profile is None:
            from can_bus.profile import load_profile
            profile = load_profile(str(params["profile"]))
        self.profile = profile
        self.decoder = profile.decoder()
        self.can_port = can_port
        self.can_frames = 0
        # The state directory (tcu.unit_storage): checked at start, in memory if unusable, and a
        # failing disk becomes a health problem, never a lost alert or an unanswered SMS.
        self.storage = UnitStorage(loop, self.state_dir, self.health, params, notify=self._storage_notice)
        self.outbox = self.storage.outbox
        self.boot = self.storage.state.bump("boot", loop.time())
        # SMS protections (failures, lockouts, budgets) and the lasting conditions already raised, kept
        # across restarts in unit.db (tcu.restart_memory, issue 12 items 9, 10)
        self.sms_ledger = SmsLedger(self.storage.state.conn, lambda: self._wall_of(0.0))
        self.conditions = ConditionMemory(self.storage.state.conn, lambda: self._wall_of(0.0))
        self.logic = VehicleLogic(self.metrics, LogicSettings.from_params(params), wall=self._wall_of,
                                  remembered=self.conditions.active(),
                                  on_condition=lambda kind, on: self._conditions_due.append((kind, on)))
        # Written after the alerts of the same logic tick are in the outbox, never before: a power cut
        # between the two must not leave "alarm already raised" on disk without the alarm (issue 17).
        self._conditions_due: list[tuple[str, bool]] = []
        self.metrics.subscribe(self.logic.on_metric, names=self.logic.watched_metrics())
        # The servers it reports to (issue 18): OVMS v2, an MQTT broker, or both over two TCP links.
        self.firmware = f"{VERSION}/{profile.name}/V1/tcu-sim"
        self.session = CarSession(str(params["vehicle_id"]), str(params["server_password"]),
                                  loop.random("ovms-token"), loop.time(), firmware=self.firmware)
        self.mqtt = self._new_mqtt()
        servers = self._server_sessions()
        name, first, key, port = servers[0]
        self.link = LinkDriver(loop, modem, first, self._link_settings, lambda: self.metrics.view,
                               link_config, name=name, address_key=key, default_port=port)
        for extra in servers[1:]:
            self.link.add_server(*extra)
        self.outbox.set_servers([srv[0] for srv in servers], loop.time())
        self.link.on_online = self._on_online
        self.link.on_offline = self._on_offline
        self.link.conn_base = self.boot * 100_000   # connection numbers stay unique across restarts
        self.link.on_session_event = self._on_session_event
        self.link.on_sms = self._on_sms
        self.link.on_registration = self._on_registration
        self.link.on_signal = self._on_signal
        self.link.on_network = self._on_network
        self.link.sup.on_transition = self._on_transition
        self.modem = modem
        modem.subscribe(self._on_modem_port)
        self._last_frame_at = -1e18
        self._heard_ids: set[int] = set()   # frame ids since the last freshness refresh
        self._next_freshness = 0.0
        self.remote = RemoteCommands(loop, self.metrics, profile.encode_command, self._can_send,
                                     last_frame_at=lambda: self._last_frame_at)
        self.gnss: GnssPoller | None = None
        if gnss:
            self.gnss = GnssPoller(loop, self._gnss_fix, self.metrics, power_on=self._gnss_on)
        self.interpreter = CommandInterpreter(_Context(self), self.storage.sms_log, ledger=self.sms_ledger,
                                              now=loop.time())
        self.sms_trouble = SmsTrouble(self.health)
        self.replies = ReplySender(loop, self.send_sms, self.sms_trouble)
        self.params.subscribe(self._on_param)
        # SMS fallback: the router decides, the outbox remembers
        self.router = AlertRouter(str(params["owner"]), RouterSettings.from_params(params),
                                  server_up=False, gsm_registered=False, rng=loop.random("sms-retry"),
                                  sent_history=[(e.at, e.n) for e in
                                                self.sms_ledger.since("alert_sms", loop.time() - DAY_S)])
        self._ref_to_item: dict[str, int] = {}
        self._router_timer: Timer | None = None
        self._router_timer_at: float | None = None
        self._logic_timer: Timer | None = None
        self._pumping = False
        self._pump_soon = False
        self._last_purge = loop.time()
        # observation
        self.last_sms: tuple[float, str, str] | None = None     # (time, direction+number, text)
        self.last_alert: tuple[float, str] | None = None
        self.sms_sent = 0
        self.sms_received = 0
        # CAN trouble is counted and logged at most once a minute per kind; a gone adapter is health.
        self.can_errors = 0
        self._can_log = RateLimitedLog(log, 60.0)
        # owner notices: problems that lasted longer than health.notify_after_s, waiting for their SMS
        self._owner_pending: list[Problem] = []
        self._owner_sending = False
        self._owner_backoff = Backoff(first=OWNER_NOTICE_FIRST_S, cap=OWNER_NOTICE_CAP_S,
                                      rng=loop.random("owner-notice"))
        self._owner_log = RateLimitedLog(log, 60.0)
        # status.json for `tcu state` (`tcu run` passes status_every; a simulated world has no one to read
        # it): other components add their retry counters with add_status_source
        self._status_sources: dict[str, StatusSource] = {}
        self._status_every = status_every
        self._status_timer: Timer | None = None
        self.status_writer = StatusWriter(self.state_dir / FILENAME)
        self.add_status_source("can", self._can_status)
        self.add_status_source("sms", lambda: sms_status(self.router, self.replies.queue, self.interpreter.budget,
                                                         self.loop.time(), self._wall_of))
        self.add_status_source("storage", self.storage.status)
        self.add_status_source("link", self._link_status)
        self.add_status_source("servers", self._servers_status)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.can_port is not None:
            self.can_port.set_handler(self._on_frame, self._on_can_error, self._on_can_state)
            set_burst_handler = getattr(self.can_port, "set_burst_handler", None)
            if set_burst_handler is not None:  # the simulated world's in-memory link: a call a burst
                set_burst_handler(self._on_frames)
            if self.can_port.gone is not None:  # the adapter was not there at start (tcu run waits for it)
                self._on_can_state(self.can_port.gone)
        self.link.start()
        if self.gnss is not None:
            self._gnss_on()
            self.gnss.start()
        self._logic_timer = self.loop.call_later(1.0, self._logic_tick)
        if self._status_every is not None:
            self._status_timer = self.loop.call_soon(self._status_tick)
        # Alerts left in the outbox by a previous run that reached nobody yet: route them again.
        for item in self.outbox.pending():
            if item.kind == "alert" and item.sms_attempts == 0:
                self._route_new(item, restored=True)
        self.storage.start()

    def stop(self) -> None:
        self.link.stop()
        self.storage.stop()
        if self.gnss is not None:
            self.gnss.stop()
        self.replies.stop()
        for t in [self._logic_timer, self._router_timer, self._status_timer]:
            if t is not None:
                t.cancel()
        if self._status_every is not None:
            self.write_status()
        if self.can_port is not None:
            self.can_port.close()

    # -- GNSS ------------------------------------------------------------------------------------------------
    def _gnss_on(self) -> None:
        self.modem.gnss_power(True, lambda result: None)

    def _gnss_fix(self, done: Callable[[Any], None]) -> None:
        """The poller's fix source: a fix, or None when the modem has none."""
        self.modem.gnss_fix(lambda result: done(result.value if isinstance(result, Ok) else None))

    # -- small helpers --------------------------------------------------------------------------------------
    def _wall_of(self, now: float) -> float:
        return self.loop.wall() + (now - self.loop.time())

    def _link_settings(self) -> dict[str, object]:
        p = self.params
        return {"apn": p["apn"], "apn_user": p["apn_user"], "apn_password": p["apn_password"],
                "server": p["server"], "mqtt_server": p["mqtt_server"]}

    def _new_mqtt(self) -> MqttSession:
        p = self.params
        return MqttSession(str(p["vehicle_id"]), self.loop.random("mqtt"), self.loop.time(),
                           username=str(p["mqtt_username"]) or None, password=str(p["mqtt_password"]) or None,
                           prefix=str(p["mqtt_prefix"]) or None, firmware=self.firmware,
                           is_stale=self.metrics.is_stale)

    def _server_sessions(self) -> list[tuple[str, ServerSession, str, int]]:
        """(name, session, address setting, default port) of each configured server, in `servers` order."""
        table: dict[str, tuple[str, ServerSession, str, int]] = {
            "ovms": ("ovms", self.session, "server", OVMS_DEFAULT_PORT),
            "mqtt": ("mqtt", self.mqtt, "mqtt_server", MQTT_DEFAULT_PORT)}
        return [table[n] for n in str(self.params["servers"]).split(",")]

    def link_state(self) -> str:
        return self.link.sup.state

    def status_line(self) -> str:
        """`Server: online` / `Server: offline since 14:02, N queued` (sms-commands.md STAT)."""
        since = self.link.sup.offline_since
        return link_status_text(self.link.online, None if since is None else self._wall_of(since),
                                self.outbox.queued_count(), int(self.params["tz_offset"]))

    # -- CAN -------------------------------------------------------------------------------------------------
    def _on_frame(self, can_id: int, data: bytes, ts: float | None = None) -> None:
        self.can_frames += 1
        self._last_frame_at = self.loop.time()
        self._heard_ids.add(can_id)
        updates = self.decoder.feed(can_id, data)
        if updates:
            self.metrics.apply(updates, self.loop.time())

    def _on_frames(self, frames: Sequence[tuple[int, bytes]], now: float) -> None:
        """`_on_frame` for each frame of a burst received at `now` (`MemoryPort.set_burst_handler`):
        the CAN hot path of a simulated fleet, the per-frame work done by `Decoder.feed_burst` (a frame
        whose handling fails is logged there and the burst goes on)."""
        self.can_frames += len(frames)
        self._last_frame_at = now
        self.decoder.feed_burst(frames, now, self.metrics.apply, self._heard_ids.add)

    def _refresh_freshness(self, now: float) -> None:
        """Metrics whose frames kept arriving unchanged are fresh, not stale (Profile.freshness)."""
        self._next_freshness = now + FRESHNESS_EVERY
        heard, self._heard_ids = self._heard_ids, set()
        if heard:
            for ids, names in self.profile.freshness:
                if ids <= heard:
                    self.metrics.touch(names, now)

    def _on_can_error(self, error: str) -> None:
        """Trouble the bus survives (garbled line, error frame): counted; the port has logged it."""
        self.can_errors += 1
        self._can_log.info("can-error", self.loop.time(), "CAN error: %s (%d so far)", error, self.can_errors)

    def _on_can_state(self, event: BusEvent) -> None:
        """The adapter went or came back: the unit's health says so (and in time, the owner)."""
        now = self.loop.time()
        if isinstance(event, BusGone):
            self.health.report("can", f"CAN adapter {event.name} is gone: the car cannot be watched", now,
                               retries=event.retries, next_try=event.next_try)
        elif isinstance(event, BusBack):
            self.health.clear("can", now)
            self.decoder.reset()  # the first frames after the gap refresh every metric, changed or not

    def _on_modem_port(self, event: ModemEvent) -> None:
        """The modem's port vanished or came back (the driver reopens it): the unit's health says so."""
        now = self.loop.time()
        if isinstance(event, PortClosed):
            self.health.report("modem", f"modem port {event.port} is gone", now, retries=event.retries,
                               next_try=event.next_try)
        elif isinstance(event, PortReopened):
            self.health.clear("modem", now)

    def _link_status(self) -> dict[str, object]:
        out = self.link.sup.retry_status()
        nxt = out.get("next_try")
        out["next_try"] = round(self._wall_of(nxt), 1) if isinstance(nxt, float) else None
        return out

    def _servers_status(self) -> dict[str, object]:
        """Each configured server: online or not, and its own reconnect back-off (issue 18)."""
        out: dict[str, object] = {}
        for ch in self.link.channels:
            nxt = ch.backoff.next_at
            out[ch.name] = {"online": self.link.server_online(ch.name), "failures": ch.backoff.attempts,
                            "next_try": None if nxt is None else round(self._wall_of(nxt), 1)}
        return out

    def _can_status(self) -> dict[str, object]:
        port = self.can_port
        if port is None:
            return {"bus": None}
        out: dict[str, object] = {"bus": str(port.name), "errors_seen": self.can_errors,
                                  **{k: v for k, v in port.stats.as_dict().items() if k not in ("rx", "tx")}}
        gone = port.gone
        if gone is not None:
            out["gone_retries"] = gone.retries
            out["next_try"] = None if gone.next_try is None else round(self._wall_of(gone.next_try), 1)
        return out

    def _can_send(self, can_id: int, data: bytes) -> None:
        if self.can_port is None:
            raise RuntimeError("no CAN bus")
        self.can_port.send(can_id, data)

    # -- metrics → history -------------------------------------------------------------------------------
    def _history(self, rtype: str, data: str) -> None:
        """Queue an OVMS history record (`h`, acknowledged by the server) in the outbox."""
        payload = json.dumps({"rtype": rtype, "data": data, "wall": self.loop.wall()})
        self.outbox.add("history", payload, self.loop.time())
        self.pump()

    # -- alerts ----------------------------------------------------------------------------------------------
    def _logic_tick(self) -> None:
        self._logic_timer = self.loop.call_later(1.0, self._logic_tick)
        now = self.loop.time()
        if not self.health.ok or self._owner_pending:
            self._tell_owner(now)
        if now >= self._next_freshness:
            self._refresh_freshness(now)
        if now - self._last_purge >= 3600.0:
            self._last_purge = now
            # Delivered items are kept a week (DIAG, support), then dropped; ids are never reused.
            self.outbox.purge(self.loop.wall() - PURGE_AFTER_S)
        alerts = self.logic.tick(self.loop.time())
        for alert in alerts:
            self.raise_alert(alert)
        due, self._conditions_due = self._conditions_due, []
        for kind, active in due:
            self.conditions.set(kind, active, now)
        for record in self.logic.take_records():
            self._history(*history_line(record))

    def raise_alert(self, alert: Alert) -> int:
        """Write the alert to the outbox first, then route it. Returns its outbox id (the alert tag)."""
        payload = json.dumps({"text": alert.text, "kind": alert.kind, "critical": alert.critical,
                              "id": alert.id, "wall": alert.raised_at, "space": self.outbox.tag_space})
        item = self.outbox.add("alert", payload, self.loop.time(), ref=alert.id)
        self.last_alert = (self.loop.time(), f"{alert.text} {self._tag(item)}")
        log.info("alert %s raised: %s", self._tag(item), alert.text)
        if self.hooks.alert_raised:
            self.hooks.alert_raised(item.id, alert)
        self._route_new(item)
        return item.id

    def _tag(self, item: OutboxItem) -> str:
        """`#a<id>-<space>`: unique at the server even after the state directory was lost (tcu.outbox)."""
        return alert_tag(item.id, str(json.loads(item.payload).get("space", "")))

    def _storage_notice(self, text: str) -> None:
        """Damage found at start reaches the owner the way alerts do (server, or SMS when it is down)."""
        wall = self.loop.wall()
        self.raise_alert(Alert(f"storage-{wall:.0f}", "storage", text, False, wall))

    def _route_new(self, item: OutboxItem, restored: bool = False) -> None:
        data = json.loads(item.payload)
        tagged = Alert(item.ref or str(item.id), data["kind"], f"{data['text']} {self._tag(item)}",
                       bool(data["critical"]), float(data.get("wall", self.loop.wall())))
        self._ref_to_item[tagged.id] = item.id
        if restored:
            self._router_actions(self.router.alert_restored(tagged, self.loop.time()))
        else:
            self._router_actions(self.router.alert_raised(tagged, self.loop.time()))

    def _router_actions(self, actions: list[RouterAction]) -> None:
        for a in actions:
            if isinstance(a, SendToServer):
                self.pump()
            elif isinstance(a, SendSms):
                self._send_alert_sms(a)
            elif isinstance(a, Drop):
                log.warning("alert %s not sent by SMS: %s (it still goes to the server)", a.alert_id, a.reason)
        self._arm_router()

    def _arm_router(self) -> None:
        when = self.router.next_deadline()
        if self._router_timer is not None:
            if self._router_timer_at is not None and when is not None and self._router_timer_at <= when:
                return
            self._router_timer.cancel()
            self._router_timer = None
        if when is not None:
            # A deadline the router cannot act on yet (no coverage) would spin: look again in a second.
            when = max(when, self.loop.time() + (1.0 if when <= self.loop.time() else 0.0))
            self._router_timer_at = when
            self._router_timer = self.loop.call_at(when, self._router_tick)

    def _router_tick(self) -> None:
        self._router_timer = None
        self._router_timer_at = None
        self._router_actions(self.router.tick(self.loop.time()))

    def _send_alert_sms(self, a: SendSms) -> None:
        item_ids = [self._ref_to_item[r] for r in a.alert_ids if r in self._ref_to_item]

        def done(ok: bool, reason: str = "") -> None:
            now = self.loop.time()
            if ok and item_ids:
                self.outbox.note_sms_attempt(item_ids)
            actions = self.router.sms_result(a.alert_ids, ok, now, reason)
            if ok:   # counted against the daily budget across restarts
                self.sms_ledger.record("alert_sms", a.number, now, sms_parts(a.text))
                self.sms_trouble.sent(now)
            else:    # the router waits out its back-off; one health problem, a log line a minute
                self.sms_trouble.failed("alert SMS", reason, now, self.router.retry.attempts,
                                        self.router.retry.next_at)
            self._router_actions(actions)

        # while the state directory fails, the owner hears it with the alert itself (issue 12)
        self.send_sms(a.number, f"{a.text} (storage failing)" if self.storage.failing else a.text, done)

    def send_sms(self, number: str, text: str, done: Callable[[bool, str], None] | None = None) -> None:
        """Any SMS out (alerts, command replies); counts and observes it."""
        def finished(ok: bool, reason: str = "") -> None:
            if ok:
                self.sms_sent += 1
                self.last_sms = (self.loop.time(), f"to {number}", text)
                self.sms_trouble.sent(self.loop.time())       # any SMS that leaves: SMS works again
                if self.hooks.sms_sent:
                    self.hooks.sms_sent(number, text)
            if done is not None:
                done(ok, reason)

        def sent(result: Result) -> None:
            if isinstance(result, Failed) and result.outcome_unknown:
                # Maybe delivered: the modem finished AT+CMGS but noise garbled its answer. Counted as sent,
                # never sent again: under noise it had gone every time (a resend was a duplicate at the
                # owner's phone); an alert still reaches the server by the outbox (H15, issue 12).
                log.warning("SMS to %s maybe delivered (%s); not sent again", number, result.reason)
                finished(True, result.reason)
                return
            finished(*((True, "") if isinstance(result, Ok) else (False, result.reason)))

        self.modem.send_sms(number, text, sent)

    # -- health → owner ------------------------------------------------------------------------------------
    def _tell_owner(self, now: float) -> None:
        """One SMS per problem that lasted longer than `health.notify_after_s` (retried with back-off)."""
        after = float(self.params["health.notify_after_s"])
        self._owner_pending.extend(self.health.due_for_owner(now, after))
        # a problem that cleared before its SMS went out is no longer news
        self._owner_pending = [p for p in self._owner_pending if self.health.get(p.key) is not None]
        if not self._owner_pending or self._owner_sending or not self._owner_backoff.ready(now):
            return
        owner = str(self.params["owner"])
        if not owner:
            self._owner_log.warning("no-owner", now, "health: no owner number, cannot tell anyone: %s",
                                    self.health.summary(now))
            self._owner_pending.clear()
            return
        problem = self._owner_pending[0]
        current = self.health.get(problem.key) or problem
        text = f"{self.params['vehicle_id']}: {current.describe(now)}. The unit keeps trying; DIAG for more."
        self._owner_sending = True

        def done(ok: bool, reason: str = "") -> None:
            self._owner_sending = False
            t = self.loop.time()
            if ok:
                self._owner_backoff.succeeded()
                self._owner_pending = [p for p in self._owner_pending if p.key != problem.key]
                log.warning("health: owner told by SMS: %s", text)
            else:
                delay = self._owner_backoff.failed(t)
                self._owner_log.warning("notice-failed", t, "health: SMS to the owner failed (%s); again in %.0f s",
                                        reason, delay)

        self.send_sms(owner, text, done)

    # -- status for `tcu state` ----------------------------------------------------------------------------
    def add_status_source(self, name: str, source: StatusSource) -> None:
        """`source()` → a small JSON-able dict (retry counters, next attempt) that `tcu state` shows."""
        self._status_sources[name] = source

    def status_snapshot(self) -> dict[str, object]:
        """What `tcu state` shows; loop times become wall-clock epoch seconds (another process reads them)."""
        since = self.link.sup.offline_since
        problems = [{"key": p.key, "text": p.text, "since": round(self._wall_of(p.since), 1),
                     "retries": p.retries,
                     "next_try": None if p.next_try is None else round(self._wall_of(p.next_try), 1),
                     "owner_told": p.owner_told} for p in self.health.problems()]
        last_alert = None
        if self.last_alert is not None:
            last_alert = {"at": round(self._wall_of(self.last_alert[0]), 1), "text": self.last_alert[1]}
        return {
            "format": FORMAT, "pid": os.getpid(), "vehicle_id": str(self.params["vehicle_id"]),
            "started_at": round(self._wall_of(self.started_at), 1),
            "health": {"ok": self.health.ok, "problems": problems},
            "link": {"state": self.link.sup.state, "online": self.link.online,
                     "offline_since": None if since is None else round(self._wall_of(since), 1)},
            "last_alert": last_alert,
            "params": self.params.provenance(),   # every value and where it comes from (secrets: set/unset)
            "sources": {name: dict(source()) for name, source in self._status_sources.items()},
        }

    def write_status(self) -> bool:
        """Write status.json if it changed (or its heartbeat is due); False when nothing was written."""
        return self.status_writer.update(self.status_snapshot(), self.loop.time(), self.loop.wall())

    def _status_tick(self) -> None:
        self.write_status()
        if self._status_every is not None:
            self._status_timer = self.loop.call_later(self._status_every, self._status_tick)

    # -- server delivery ---------------------------------------------------------------------------------------
    def _on_online(self) -> None:
        log.info("server online (connection %d); %s queued", self.link.conn_no,
                 plural(self.outbox.queued_count(), "item"))
        self._router_actions(self.router.link_changed(True, self.loop.time()))
        self.pump()

    def _on_offline(self, reason: str) -> None:
        log.info("server offline (%s); alerts fall back to SMS", reason)
        self._router_actions(self.router.link_changed(False, self.loop.time()))

    def _on_transition(self, tr: Transition) -> None:
        self.metrics.set("m.net.state", tr.dst, tr.at)

    def _on_network(self, net_type: str, provider: str) -> None:
        """`m.net.type` (`2G`/`3G`/`4G`) and `m.net.provider` as OVMS sets them, from the modem's dialect."""
        now = self.loop.time()
        self.metrics.set("m.net.type", net_type, now)
        self.metrics.set("m.net.provider", provider, now)

    def _network_info_done(self, result: Result) -> None:
        if isinstance(result, Ok):
            self._on_network(result.value.net_type, result.value.provider)

    def _on_signal(self, dbm: float | None) -> None:
        if dbm is not None:
            self.metrics.set("m.net.sq", float(dbm), self.loop.time())

    def _on_registration(self, registered: bool) -> None:
        if registered:
            # The operator is known from registration on (`AT+COPS?`), not only once a server answers:
            # DIAG and GPRS? during a data outage are when the owner needs it most.
            self.modem.network_info(self._network_info_done)
        if registered != self.router.gsm_registered:
            self._router_actions(self.router.gsm_changed(registered, self.loop.time()))

    def pump(self) -> None:
        """Write the next batch of undelivered items to each server that is online, oldest first."""
        if self._pumping:
            return
        self._pumping = True
        try:
            for ch in self.link.channels:
                if self.link.server_online(ch.name):
                    self._pump(ch)
        finally:
            self._pumping = False

    def _pump(self, ch: ServerChannel) -> None:
        conn_no = ch.conn_no
        items = self.outbox.to_send(conn_no, limit=PUMP_BATCH, server=ch.name)
        if not items:
            return
        in_flight = sum(1 for conn, at in self.outbox.server_records(ch.name).values()
                        if conn == conn_no and at is None)
        room = max(0, PUMP_BATCH * 2 - in_flight)
        items = items[:room]
        if not items:
            return
        now = self.loop.time()
        self.outbox.mark_sent([i.id for i in items], conn_no, ch.lines_sent, now, server=ch.name)
        out = bytearray()
        for item in items:
            out += self._encode_item(ch.session, item, now)
        self.link.write_to(ch, bytes(out))

    def _encode_item(self, session: ServerSession, item: OutboxItem, now: float) -> bytes:
        data = json.loads(item.payload)
        if item.kind == "alert":
            return session.send_alert(item.id, f"{data['text']} {self._tag(item)}", now)
        if item.kind == "history":
            timediff = min(0, int(data.get("wall", self.loop.wall()) - self.loop.wall()))
            return session.send_history(item.id, data["rtype"], data["data"], now, recno=item.id,
                                        timediff=timediff)
        # info / reply: a push notification
        return session.send_alert(item.id, str(data.get("text", "")), now, kind="I")

    def _on_session_event(self, server: str, ev: object) -> None:
        if isinstance(ev, Delivered):
            ids = [int(i) for i in ev.ids if isinstance(i, int)]
            if ids:
                self.outbox.confirm(ids, "server", self.loop.wall(), server=server)
                for i in ids:
                    item = self.outbox.get(i)
                    if item is not None and item.kind == "alert" and item.ref:
                        self.router.server_confirmed(item.ref)
            self._pump_after_events()
        elif isinstance(ev, LoggedIn):
            self._pump_after_events()   # a server back (maybe while another stayed online): what it missed
        elif isinstance(ev, CommandRequest):
            self._server_command(ev)
        elif isinstance(ev, TextCommand):
            self._text_command(server, ev)

    def _pump_after_events(self) -> None:
        """Pump once the session's whole batch of events is read. Mid-batch, an MQTT session has already
        taken PUBACKs whose Delivered events are still queued: pumping then offers it items it no longer
        holds in flight, and it would publish them again (a duplicate at the broker)."""
        if not self._pump_soon:
            self._pump_soon = True

            def pump() -> None:
                self._pump_soon = False
                self.pump()

            self.loop.call_soon(pump)

    def _text_command(self, server: str, cmd: TextCommand) -> None:
        """An MQTT command line: the same interpreter as SMS and OVMS server command 7."""
        log.info("%s command %s", server, cmd.ref)
        ch = self.link.channel(server)

        def respond(reply: str) -> None:
            self.link.write_to(ch, self.mqtt.respond(cmd.ref, reply, self.loop.time()))

        out = self.interpreter.handle(cmd.text, None, "server", self.loop.time(),
                                      self._observed(server, cmd.text, respond))
        if out.status in ("unknown", "error", "denied"):
            log.info("%s command %s", server, out.status)

    # -- server commands ----------------------------------------------------------------------------------------
    def _ovms_write(self, data: bytes) -> None:
        ch = self.link.channel("ovms")
        if ch is self.link.channels[0]:
            self.link.write(data)
        else:
            self.link.write_to(ch, data)

    def _reply(self, cmd: int, result: int, text: str = "") -> None:
        self._ovms_write(self.session.reply(cmd, result, text, self.loop.time()))

    def _server_command(self, req: CommandRequest) -> None:
        cmd, p = req.cmd, req.params
        log.info("server command %d", cmd)
        if cmd == 1:
            self._ovms_write(self.session.reply_lines(1, ["0"] * 16, self.loop.time()))
        elif cmd == 3:
            values = []
            for n in range(32):
                name = OVMS_PARAMS.get(n)
                values.append("" if name is None or self.params.is_secret(name) else str(self.params[name]))
            self._ovms_write(self.session.reply_lines(3, values, self.loop.time()))
        elif cmd in (2, 4):
            self._set_param_cmd(cmd, p)
        elif cmd == 5:
            self._reply(5, 0)
            self.link.restart("reboot requested by server")
        elif cmd == 6:
            self._reply(6, 0)
            self.raise_alert(Alert(f"cmd6-{self.loop.wall():.0f}", "stat", self.stat_text(), False,
                                   self.loop.wall()))
        elif cmd == 7:
            text = ",".join(p)
            out = self.interpreter.handle(text, None, "server", self.loop.time(),
                                          self._observed("server", text, lambda reply: self._reply(7, 0, reply)))
            if out.status in ("unknown", "error", "denied"):
                log.info("server command 7 %s", out.status)
        elif cmd == 40 and len(p) >= 2:
            number, text = p[0], ",".join(p[1:])
            def sent(ok: bool, reason: str = "") -> None:
                self._reply(40, 0 if ok else 1, reason)

            self.send_sms(number, text, sent)
        else:
            def done(res: CommandResult) -> None:
                if self.hooks.command_done:
                    self.hooks.command_done(f"C{cmd}", res)
                self._reply(cmd, 0 if res.ok else 1, "" if res.ok else res.text)

            if not self.remote.server_command(cmd, p, done):
                self._reply(cmd, 3)

    def _set_param_cmd(self, cmd: int, p: tuple[str, ...]) -> None:
        if len(p) < 2 or not (p[0].isascii() and p[0].isdigit()):   # int() would fail on '³', read '٣' as 3
            self._reply(cmd, 1, "Invalid syntax")
            return
        n, value = int(p[0]), ",".join(p[1:])
        if cmd == 2:   # features: none are settable on this unit
            self._reply(2, 1, "Parameter out of range")
            return
        name = OVMS_PARAMS.get(n)
        if name is None or n >= 24:
            self._reply(4, 1, "Parameter out of range")
            return
        if n in (0, 1) and not value.strip():   # spec §4: owner and module password may not be emptied
            self._reply(4, 1, "Invalid syntax")
            return
        try:
            self.params.set(name, value, source="server command 4")
        except ConfigError as e:
            self._reply(4, 1, str(e).split(":", 1)[-1].strip()[:60])
            return
        self._reply(4, 0)

    def _on_param(self, name: str, value: object) -> None:
        if name == "owner":
            self.router.owner = str(value)
        if name in ("server", "server_password", "vehicle_id", "apn", "apn_user", "apn_password", "mqtt_server",
                    "mqtt_username", "mqtt_password", "mqtt_prefix"):
            if name in ("server_password", "vehicle_id"):
                self.session = CarSession(str(self.params["vehicle_id"]), str(self.params["server_password"]),
                                          self.loop.random("ovms-token"), self.loop.time(), firmware=self.firmware)
            if name in ("vehicle_id", "mqtt_username", "mqtt_password", "mqtt_prefix"):
                self.mqtt = self._new_mqtt()
            for srv, session, _, _ in self._server_sessions():
                self.link.channel(srv).session = session
            self.loop.call_later(2.0, self.link.restart, f"{name} changed")

    # -- SMS in ---------------------------------------------------------------------------------------------------
    def _on_sms(self, sender: str, text: str, when: float | None) -> None:
        self.sms_received += 1
        self.last_sms = (self.loop.time(), f"from {sender}", text)
        if self.hooks.sms_received:
            self.hooks.sms_received(sender, text)
        self.interpreter.handle(text, sender, "sms", self.loop.time(),
                                self._observed("sms", text,
                                               lambda reply: self.replies.reply(sender, reply) if reply else None))

    def _observed(self, source: str, text: str, respond: Callable[[str], None]) -> Callable[[str], None]:
        """`respond` as it is, unless the hooks watch commands (the simulated world's timeline)."""
        hooks = self.hooks
        if hooks.command_received is None and hooks.command_answered is None:
            return respond
        self._command_seq += 1
        seq = self._command_seq
        if hooks.command_received is not None:
            hooks.command_received(seq, source, text)

        def answered(reply: str) -> None:
            if hooks.command_answered is not None:
                hooks.command_answered(seq, reply)
            respond(reply)

        return answered

    # -- texts ----------------------------------------------------------------------------------------------------
    def stat_text(self) -> str:
        m = self.metrics
        now = self.loop.time()
        parts = []
        state = m.get("v.c.state")
        if m.get("v.c.charging"):
            parts.append(f"{str(m.get('v.c.mode') or 'standard').capitalize()} - {str(state).capitalize()}")
        else:
            parts.append("Not charging")
        parts.append(f"SOC: {m.format('v.b.soc', now)}")
        parts.append(f"Range: {m.format('v.b.range.est', now)}")
        parts.append(f"Plugged: {'yes' if m.get('v.c.pilot') else 'no'}")
        parts.append(f"Locked: {'yes' if m.get('v.e.locked') else 'no'}")
        parts.append(f"12V: {m.format('v.b.12v.voltage', now)}")
        parts.append(f"ODO: {m.format('v.p.odometer', now)}")
        parts.append(self.status_line())
        return "\n".join(parts)


class _Context:
    """`tcu.sms_commands.CommandContext` implemented by the unit (the interpreter's window on it)."""

    def __init__(self, unit: Unit) -> None:
        self.u = unit
        self.metrics = unit.metrics.view
        self.params = unit.params
        self.version = VERSION      # the interpreter says whose version it is
        self.reset_why = "power on"

    def link_status(self, now: float) -> str:
        return self.u.status_line()

    def modem_status(self) -> ModemStatus:
        sq = self.u.metrics.get("m.net.sq")
        return ModemStatus(self.u.link.sup.gsm_registered, float(sq) if isinstance(sq, int | float) else None,
                           str(self.u.metrics.get("m.net.provider") or ""), self.u.link.sup.state)

    def queued_count(self) -> int:
        return self.u.outbox.queued_count()

    def uptime(self, now: float) -> float:
        return now - self.u.started_at

    def reset_reason(self) -> str:
        return self.reset_why

    def health_summary(self, now: float) -> str:
        return self.u.health.summary(now)

    def wall(self, now: float) -> float:
        return self.u._wall_of(now)

    def car_command(self, name: str, on_result: Callable[[bool, str], None], **args: object) -> None:
        self.u.logic.note_command(name, self.u.loop.time())

        def done(res: CommandResult) -> None:
            if self.u.hooks.command_done:
                self.u.hooks.command_done(name, res)
            on_result(res.ok, res.text if res.ok else (res.reason or res.text))

        self.u.remote.execute(name, args, done)

    def restart(self, reason: str) -> None:
        self.reset_why = reason
        self.u.loop.call_later(5.0, self.u.link.restart, reason)

    def notify(self, text: str) -> None:
        self.u.outbox.add("info", json.dumps({"text": text, "wall": self.u.loop.wall()}), self.u.loop.time())
        self.u.pump()


# OVMS history record types (`<vehtype>-<class>-<prop>`, ovms-v2-server.md §3 `H`) and the fields
# each carries, in order; a missing value is an empty field.
HISTORY_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "breadcrumb": ("*-LOG-Location", ("lat", "lon", "speed", "soc", "odometer")),
    "trip": ("*-LOG-Trip", ("duration_s", "distance_km", "soc_start", "soc_end", "lat", "lon")),
    "charge": ("*-LOG-Charge", ("duration_s", "soc_start", "soc_end", "kwh", "result")),
}


def history_line(record: HistoryRecord) -> tuple[str, str]:
    """A vehicle-logic history record as an OVMS `H` record type and its comma-separated data."""
    rtype, fields = HISTORY_FORMATS.get(record.kind, (f"*-LOG-{record.kind.title()}", tuple(record.data)))
    values = []
    for name in fields:
        v = record.data.get(name)
        if isinstance(v, float):
            values.append(f"{v:.6f}".rstrip("0").rstrip(".") if name in ("lat", "lon") else f"{v:.1f}")
        else:
            values.append("" if v is None else str(v).replace(",", ";"))
    return rtype, ",".join(values)
