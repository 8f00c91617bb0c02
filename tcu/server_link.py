"""The link adapter: runs the supervisor's actions on the modem and the OVMS session, feeds results back.

Three pieces meet here, none of which knows the others:
- `tcu.link.LinkSupervisor` (sans-IO: events in, actions out),
- a `ModemOps` (the modem operations the supervisor needs, callback style; `DriverModemOps` below
  adapts the SIMCom driver `modem.driver.sim800.Modem` to it, `tcu.world.DirectModem` fakes it),
- `tcu.ovms.car_client.CarSession` (sans-IO OVMS v2 session: bytes in, bytes and events out).

`LinkDriver` owns the per-second tick, the session's own deadline timer, and turns session events
into link events (a ping the server never answered is a stall; any line from the server is life).
The unit above registers callbacks for "online/offline", delivery confirmations and commands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from runtime import Loop, Timer
from tcu import link as L
from tcu.ovms.car_client import (
    CarEvent,
    CarSession,
    LinkLost,
    LoggedIn,
    LoginFailed,
)

log = logging.getLogger(__name__)

Done = Callable[[bool, str], None]


class ModemOps(Protocol):
    """What the link needs from a modem, callback style (results arrive later, on the loop)."""

    def probe(self, done: Done) -> None: ...
    def init(self, done: Done) -> None: ...
    def check_sim(self, done: Done) -> None: ...
    def query_registration(self, done: Callable[[bool | None, str], None]) -> None: ...
    def attach_gprs(self, apn: str, user: str, password: str, done: Done) -> None: ...
    def open_tcp(self, host: str, port: int, done: Done) -> None: ...
    def tcp_send(self, data: bytes) -> None: ...
    def close_tcp(self) -> None: ...
    def shut_gprs(self) -> None: ...
    def soft_reset(self, done: Done) -> None: ...
    def power_cycle(self, done: Done) -> None: ...
    def send_sms(self, number: str, text: str, done: Done) -> None: ...
    def set_listener(self, listener: ModemListener) -> None: ...


class ModemListener(Protocol):
    """Unsolicited things the modem reports (the adapter calls these)."""

    def modem_activity(self) -> None: ...
    def modem_rebooted(self) -> None: ...
    def modem_powered_down(self) -> None: ...
    def modem_silent(self, reason: str) -> None: ...
    def tcp_closed(self, reason: str) -> None: ...
    def gprs_lost(self) -> None: ...
    def registration(self, registered: bool) -> None: ...
    def tcp_data(self, data: bytes) -> None: ...
    def sms_received(self, sender: str, text: str, when: float | None) -> None: ...


class LinkDriver:
    """Supervisor + modem + session on one loop. `start()` powers the link up."""

    def __init__(self, loop: Loop, ops: ModemOps, session: CarSession,
                 settings: Callable[[], Mapping[str, object]],
                 metrics: Callable[[], Mapping[str, object]],
                 config: L.LinkConfig | None = None) -> None:
        self.loop = loop
        self.ops = ops
        self.session = session
        self.settings = settings            # apn, apn_user, apn_password, server (host[:port])
        self.metrics = metrics
        cfg = config or L.LinkConfig()
        # The session has its own ping/answer liveness (and its answers prove delivery), so the
        # supervisor's own ping stays off here; an unanswered session ping arrives as SessionStalled.
        cfg.ping_interval = float("inf")
        self.sup = L.LinkSupervisor(cfg, loop.random("link"))
        self.on_online: Callable[[], None] = lambda: None
        self.on_offline: Callable[[str], None] = lambda reason: None
        self.on_session_event: Callable[[CarEvent], None] = lambda ev: None
        self.on_sms: Callable[[str, str, float | None], None] = lambda s, t, w: None
        self.on_registration: Callable[[bool], None] = lambda r: None
        self.on_signal: Callable[[float | None], None] = lambda dbm: None
        self._tick_timer: Timer | None = None
        self._session_timer: Timer | None = None
        self._session_timer_at: float | None = None
        self._generation = 0          # bumps on every TCP (re)connect: stale callbacks are ignored
        self.conn_no = 0              # server connection number (for the outbox's line positions)
        self.lines_sent = 0           # lines written on this connection
        self._gsm_reported = False
        ops.set_listener(self)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._run(self.sup.start(self.loop.time()))
        self._tick_timer = self.loop.call_later(1.0, self._tick)

    def stop(self) -> None:
        for t in (self._tick_timer, self._session_timer):
            if t is not None:
                t.cancel()

    @property
    def online(self) -> bool:
        return self.sup.online and self.session.logged_in

    def restart(self, reason: str) -> None:
        """Server or APN settings changed: go back to registration and rebuild GPRS and TCP."""
        self.feed(L.Restart(reason))

    def feed(self, event: L.LinkEvent) -> None:
        self._run(self.sup.handle(event, self.loop.time()))

    def _check_gsm(self) -> None:
        reg = self.sup.gsm_registered
        if reg != self._gsm_reported:
            self._gsm_reported = reg
            self.on_registration(reg)

    # -- writing on the session -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes from the session (one or more lines) onto TCP."""
        if data:
            self.lines_sent += data.count(b"\n")
            self.ops.tcp_send(data)
            self._arm_session_timer()

    # -- the tick ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._tick_timer = self.loop.call_later(1.0, self._tick)
        self._run(self.sup.tick(self.loop.time()))

    def _session_tick(self) -> None:
        self._session_timer = None
        self._session_timer_at = None
        now = self.loop.time()
        self.write(self.session.tick(self.metrics(), now))
        self._drain_session()
        self._arm_session_timer()

    def _arm_session_timer(self) -> None:
        when = self.session.next_deadline()
        if when is None:
            return
        if self._session_timer is not None and self._session_timer_at is not None and self._session_timer_at <= when:
            return
        if self._session_timer is not None:
            self._session_timer.cancel()
        # +1 ms: CarSession compares `now - last >= interval` but reports `last + interval`; in floating
        # point the first can be false at the second, and a timer exactly at the deadline would spin.
        when = max(when, self.loop.time()) + 1e-3
        self._session_timer_at = when
        self._session_timer = self.loop.call_at(when, self._session_tick)

    # -- actions ----------------------------------------------------------------------------------------
    def _run(self, actions: list[L.Action]) -> None:
        self._check_gsm()
        for a in actions:
            try:
                self._do(a)
            except Exception:
                log.exception("link action %s failed", a.kind)
                self.loop.call_soon(self.feed, L.StepDone(a.kind, False, "internal error"))

    def _step(self, step: str) -> Done:
        gen = self._generation

        def done(ok: bool, reason: str = "") -> None:
            if gen != self._generation and step in ("tcp",):
                return
            self.feed(L.StepDone(step, ok, reason))

        return done

    def _do(self, a: L.Action) -> None:
        k = a.kind
        s = self.settings()
        if k == "probe":
            self.ops.probe(self._step("probe"))
        elif k == "init":
            self.ops.init(self._step("init"))
        elif k == "sim":
            self.ops.check_sim(self._step("sim"))
        elif k in ("register", "poll"):
            step = self._step("register") if k == "register" else None

            def reg_done(registered: bool | None, reason: str = "") -> None:
                if registered is not None:
                    self.feed(L.Registration(registered))
                if step is not None:
                    step(registered is not None, reason)

            self.ops.query_registration(reg_done)
            if k == "poll" and hasattr(self.ops, "signal"):
                self.ops.signal(self._signal)
        elif k == "reselect":
            # Optional in ModemOps (fakes without operators skip it); the result changes nothing here:
            # registration, if it comes, arrives as +CREG.
            if hasattr(self.ops, "select_operator"):
                self.ops.select_operator(lambda ok, reason="": log.info("operator reselection: %s %s",
                                                                        "ok" if ok else "failed", reason))
        elif k == "gprs":
            self.ops.attach_gprs(str(s.get("apn", "")), str(s.get("apn_user", "")),
                                 str(s.get("apn_password", "")), self._step("gprs"))
        elif k == "tcp":
            self._generation += 1
            host, port = split_server(str(s.get("server", "")))
            self.ops.open_tcp(host, port, self._step("tcp"))
        elif k == "login":
            self.conn_no += 1
            self.lines_sent = 0
            self.write(self.session.connect(self.loop.time()))
        elif k == "ping":
            pass  # the session pings (see __init__)
        elif k == "close_tcp":
            self._generation += 1
            self.session.disconnected(a.reason or "closing")
            self.ops.close_tcp()
        elif k == "shut_gprs":
            self._generation += 1
            self.session.disconnected(a.reason or "gprs shut")
            self.ops.shut_gprs()
        elif k == "soft_reset":
            self.session.disconnected("modem reset")
            self.ops.soft_reset(self._step("soft_reset"))
        elif k == "power_cycle":
            self.session.disconnected("modem power cycle")
            self.ops.power_cycle(self._step("power_cycle"))
        elif k == "online":
            self.on_online()
            self._session_tick()
        elif k == "offline":
            self.session.disconnected(a.reason)
            self.on_offline(a.reason)
        else:  # our bug
            raise ValueError(f"unknown link action {k!r}")

    def _signal(self, dbm: float | None) -> None:
        self.sup.handle(L.SignalQuality(dbm), self.loop.time())
        self.on_signal(dbm)

    # -- session events ---------------------------------------------------------------------------------
    def _drain_session(self) -> None:
        for ev in self.session.events():
            if isinstance(ev, LoggedIn):
                self.feed(L.StepDone("login", True))
            elif isinstance(ev, LoginFailed):
                self.feed(L.StepDone("login", False, ev.reason))
            elif isinstance(ev, LinkLost):
                if self.sup.state in ("online", "login"):
                    self.feed(L.SessionStalled(ev.reason))
            self.on_session_event(ev)

    # -- ModemListener ------------------------------------------------------------------------------------
    def modem_activity(self) -> None:
        self.sup.last_modem_activity = self.loop.time()

    def modem_rebooted(self) -> None:
        self.session.disconnected("modem rebooted")
        self.feed(L.ModemRebooted())

    def modem_powered_down(self) -> None:
        self.session.disconnected("modem powered down")
        self.feed(L.ModemPoweredDown())

    def modem_silent(self, reason: str) -> None:
        self.session.disconnected("modem silent")
        self.feed(L.ModemSilent(reason))

    def tcp_closed(self, reason: str) -> None:
        self.session.disconnected(reason)
        self._drain_session()
        self.feed(L.TcpClosed(reason))

    def gprs_lost(self) -> None:
        self.session.disconnected("gprs lost")
        self._drain_session()
        self.feed(L.GprsLost())

    def registration(self, registered: bool) -> None:
        self.feed(L.Registration(registered))

    def tcp_data(self, data: bytes) -> None:
        now = self.loop.time()
        self.sup.handle(L.ServerAlive(), now)
        out = self.session.receive_data(data, now)
        self.write(out)
        self._drain_session()
        self._arm_session_timer()

    def sms_received(self, sender: str, text: str, when: float | None) -> None:
        self.on_sms(sender, text, when)


def split_server(server: str, default_port: int = 6867) -> tuple[str, int]:
    """`host[:port]` → (host, port); the OVMS v2 default port is 6867 (spec §1)."""
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return server, default_port


class DriverModemOps:
    """`ModemOps` over `modem.driver.sim800.Modem` (the typed SIMCom driver).

    Thin on purpose: the driver already scripts the AT sequences; this only maps `Ok`/`Failed` to
    (ok, reason) and driver events to `ModemListener` calls.
    """

    def __init__(self, modem: Any, sms_pdu: bool = True) -> None:
        from modem.driver import sim800 as D
        self.D = D
        self.modem = modem
        self.listener: ModemListener | None = None
        self._tcp_sending = False
        self._tcp_queue = bytearray()
        modem.subscribe(self._on_event)

    def set_listener(self, listener: ModemListener) -> None:
        self.listener = listener

    def _cb(self, done: Done) -> Callable[[Any], None]:
        def cb(result: Any) -> None:
            if isinstance(result, self.D.Ok):
                done(True, "")
            else:
                done(False, getattr(result, "reason", str(result)))
        return cb

    def probe(self, done: Done) -> None:
        self.modem.probe(self._cb(done), tries=3)

    def init(self, done: Done) -> None:
        self.modem.init(self._cb(done))

    def check_sim(self, done: Done) -> None:
        def cb(result: Any) -> None:
            if isinstance(result, self.D.Ok):
                done(result.value == "READY", "" if result.value == "READY" else f"SIM: {result.value}")
            else:
                done(False, result.reason)
        self.modem.sim_status(cb)

    def query_registration(self, done: Callable[[bool | None, str], None]) -> None:
        def cb(result: Any) -> None:
            if isinstance(result, self.D.Ok):
                done(bool(result.value.registered), "")
            else:
                done(None, result.reason)
        self.modem.registration(cb)

    def attach_gprs(self, apn: str, user: str, password: str, done: Done) -> None:
        self.modem.gprs_attach(apn, self._cb(done), user=user, password=password)

    def open_tcp(self, host: str, port: int, done: Done) -> None:
        self._tcp_queue.clear()
        self._tcp_sending = False
        self.modem.tcp_connect(host, port, self._cb(done))

    def tcp_send(self, data: bytes) -> None:
        """One CIPSEND at a time; what the session writes meanwhile is joined into the next one."""
        self._tcp_queue += data
        if not self._tcp_sending:
            self._send_next()

    def _send_next(self) -> None:
        if not self._tcp_queue:
            self._tcp_sending = False
            return
        chunk = bytes(self._tcp_queue)
        self._tcp_queue.clear()
        self._tcp_sending = True

        def cb(result: Any) -> None:
            if not isinstance(result, self.D.Ok):
                self._tcp_queue.clear()
                self._tcp_sending = False
                return  # SEND FAIL is published as TcpClosed by the driver
            self._send_next()

        self.modem.tcp_send(chunk, cb)

    def close_tcp(self) -> None:
        self._tcp_queue.clear()
        self.modem.tcp_close(lambda r: None)

    def shut_gprs(self) -> None:
        self._tcp_queue.clear()
        self.modem.gprs_shutdown(lambda r: None)

    def soft_reset(self, done: Done) -> None:
        self.modem.soft_reset(self._cb(done))

    def power_cycle(self, done: Done) -> None:
        if self.modem.power_key is None:
            # No key wired: the best we can do is a soft reset (logged so the owner knows why).
            log.warning("no power key: power cycle replaced by a soft reset")
            self.modem.soft_reset(self._cb(done))
            return
        self.modem.power_cycle(self._cb(done))

    def send_sms(self, number: str, text: str, done: Done) -> None:
        self.modem.send_sms(number, text, self._cb(done))

    def gnss_fix(self, done: Callable[[Any], None]) -> None:
        def cb(result: Any) -> None:
            done(result.value if isinstance(result, self.D.Ok) else None)
        self.modem.gnss_fix(cb)

    def gnss_power(self, on: bool) -> None:
        self.modem.gnss_power(on, lambda r: None)

    def signal(self, done: Callable[[float | None], None]) -> None:
        def cb(result: Any) -> None:
            done(getattr(result.value, "dbm", None) if isinstance(result, self.D.Ok) else None)
        self.modem.signal(cb)

    def select_operator(self, done: Done) -> None:
        """`AT+COPS=0` (automatic operator selection), the supervisor's reselection step."""
        self.modem.select_operator_auto(self._cb(done))

    def _on_event(self, ev: Any) -> None:
        lst = self.listener
        if lst is None:
            return
        D = self.D
        if isinstance(ev, D.ModemActivity):
            lst.modem_activity()
        elif isinstance(ev, D.ModemRebooted):
            lst.modem_rebooted()
        elif isinstance(ev, D.ModemPoweredDown):
            lst.modem_powered_down()
        elif isinstance(ev, D.ModemSilent):
            lst.modem_silent(f"{ev.count} AT commands unanswered")
        elif isinstance(ev, D.TcpClosed):
            self._tcp_queue.clear()
            lst.tcp_closed(ev.reason)
        elif isinstance(ev, D.GprsLost):
            self._tcp_queue.clear()
            lst.gprs_lost()
        elif isinstance(ev, D.RegistrationChanged):
            if not ev.gprs:
                lst.registration(bool(ev.registration.registered))
        elif isinstance(ev, D.TcpDataReceived):
            lst.tcp_data(ev.data)
        elif isinstance(ev, D.SmsReceived):
            when = ev.time.timestamp() if ev.time is not None else None
            lst.sms_received(ev.sender, ev.text, when)
