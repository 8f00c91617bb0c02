"""The link adapter: runs the supervisor's actions on the modem and the OVMS session, feeds results back.

Three pieces meet here, none of which knows the others:
- `tcu.link.LinkSupervisor` (sans-IO: events in, actions out),
- a modem (`ModemApi` below: what the firmware needs from one; the AT driver `modem.driver.modem.Modem`
  of any dialect and the AT-less `tcu.world.DirectModem` both provide it),
- `tcu.ovms.car_client.CarSession` (sans-IO OVMS v2 session: bytes in, bytes and events out).

The modem's events (`modem.driver.events`) go to the supervisor as they are; this adapter only picks
the ones for the server's own TCP link (`conn`) and tells the session when its connection is gone.
`LinkDriver` owns the per-second tick, the session's own deadline timer, one TCP send at a time (what
the session writes meanwhile is joined into the next send), and turns session events into link events
(a ping the server never answered is a stall; any line from the server is life). The unit above
registers callbacks for "online/offline", delivery confirmations and commands.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from modem.driver.events import (
    GprsLost,
    ModemActivity,
    ModemEvent,
    ModemPoweredDown,
    ModemRebooted,
    ModemSilent,
    PortClosed,
    PortReopened,
    RegistrationChanged,
    SmsReceived,
    TcpClosed,
    TcpDataReceived,
)
from modem.driver.script import Callback, Failed, Ok, Result
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

NET_INFO_INTERVAL = 600.0  # while on a fallback radio technology: m.net.type asked again this often

EventHandler = Callable[[ModemEvent], None]


class ModemApi(Protocol):
    """What the firmware needs from a modem. Every operation reports once, later, on the loop:
    `on_done(Ok(value))` or `on_done(Failed(reason))` (`modem.driver.script`). Unsolicited facts come
    as `modem.driver.events` values to every subscriber."""

    @property
    def can_power_cycle(self) -> bool:
        """A power key is wired (without one the link's power-cycle rung is a soft reset)."""
        ...

    def subscribe(self, handler: EventHandler) -> Callable[[], None]: ...
    def probe(self, on_done: Callback, tries: int = 10, interval: float = 1.0) -> None: ...
    def init(self, on_done: Callback) -> None: ...
    def sim_status(self, on_done: Callback) -> None: ...                # Ok("READY" | "SIM PIN" ...)
    def registration(self, on_done: Callback, gprs: bool = False) -> None: ...   # Ok(Registration)
    def signal(self, on_done: Callback) -> None: ...                    # Ok(Signal)
    def select_operator_auto(self, on_done: Callback) -> None: ...
    def network_info(self, on_done: Callback) -> None: ...             # Ok(NetworkInfo): m.net.type/provider
    def radio_recover(self, on_done: Callback) -> None: ...            # the dialect's radio rung; Ok(what it did)
    def gprs_attach(self, apn: str, on_done: Callback, user: str = "", password: str = "") -> None: ...
    def gprs_shutdown(self, on_done: Callback) -> None: ...
    def tcp_connect(self, host: str, port: int, on_done: Callback) -> int: ...   # → link number
    def tcp_send(self, data: bytes, on_done: Callback, conn: int = 0) -> None: ...
    def tcp_close(self, on_done: Callback, conn: int = 0) -> None: ...
    def soft_reset(self, on_done: Callback) -> None: ...
    def power_cycle(self, on_done: Callback) -> None: ...
    def send_sms(self, number: str, text: str, on_done: Callback) -> None: ...
    def gnss_power(self, on: bool, on_done: Callback) -> None: ...
    def gnss_fix(self, on_done: Callback) -> None: ...                  # Ok(GnssFix)


def _ignore(result: Result) -> None:
    pass


class LinkDriver:
    """Supervisor + modem + session on one loop. `start()` powers the link up."""

    def __init__(self, loop: Loop, modem: ModemApi, session: CarSession,
                 settings: Callable[[], Mapping[str, object]],
                 metrics: Callable[[], Mapping[str, object]],
                 config: L.LinkConfig | None = None) -> None:
        self.loop = loop
        self.modem = modem
        self.session = session
        self.settings = settings            # apn, apn_user, apn_password, server (host[:port])
        self.metrics = metrics
        # The session has its own ping/answer liveness (and its answers prove delivery), so the
        # supervisor's own ping stays off here; an unanswered session ping arrives as SessionStalled.
        cfg = dataclasses.replace(config or L.LinkConfig(), ping_interval=float("inf"))
        self.sup = L.LinkSupervisor(cfg, loop.random("link"))
        self.on_online: Callable[[], None] = lambda: None
        self.on_offline: Callable[[str], None] = lambda reason: None
        self.on_session_event: Callable[[CarEvent], None] = lambda ev: None
        self.on_sms: Callable[[str, str, float | None], None] = lambda s, t, w: None
        self.on_registration: Callable[[bool], None] = lambda r: None
        self.on_signal: Callable[[float | None], None] = lambda dbm: None
        self.on_network: Callable[[str, str], None] = lambda net_type, provider: None
        self._net_info_at: float | None = None   # last network_info asked (m.net.type/provider)
        self._tick_timer: Timer | None = None
        self._session_timer: Timer | None = None
        self._session_timer_at: float | None = None
        self._generation = 0          # bumps on every TCP (re)connect: stale callbacks are ignored
        self.conn_no = 0              # server connection number (for the outbox's line positions)
        self.lines_sent = 0           # lines written on this connection
        self._gsm_reported = False
        self.conn: int | None = None  # the server's TCP link number (from the last tcp_connect)
        self._tx = bytearray()        # session bytes waiting for the send in flight to finish
        self._sending = False
        modem.subscribe(self._on_modem_event)

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
            self._tx += data
            if not self._sending:
                self._send_next()
            self._arm_session_timer()

    def _send_next(self) -> None:
        """One send at a time; what the session wrote meanwhile goes in the next one."""
        if not self._tx or self.conn is None:
            self._tx.clear()
            self._sending = False
            return
        chunk = bytes(self._tx)
        self._tx.clear()
        self._sending = True
        gen = self._generation

        def sent(result: Result) -> None:
            if gen != self._generation:
                return  # the connection it was for is gone; the new one has its own chain
            if isinstance(result, Failed):
                self._tx.clear()  # SEND FAIL arrives as TcpClosed from the modem
                self._sending = False
                return
            self._send_next()

        self.modem.tcp_send(chunk, sent, conn=self.conn)

    def _drop_tx(self) -> None:
        self._tx.clear()
        self._sending = False

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

    def _step(self, step: str) -> Callback:
        gen = self._generation

        def done(result: Result) -> None:
            if gen != self._generation and step in ("tcp",):
                return
            if isinstance(result, Ok):
                self.feed(L.StepDone(step, True))
            else:
                self.feed(L.StepDone(step, False, result.reason))

        return done

    def _do(self, a: L.Action) -> None:
        k = a.kind
        s = self.settings()
        m = self.modem
        if k == "probe":
            m.probe(self._step("probe"), tries=3)
        elif k == "init":
            m.init(self._step("init"))
        elif k == "sim":
            step = self._step("sim")

            def sim_done(result: Result) -> None:
                if isinstance(result, Ok) and result.value != "READY":
                    result = Failed(f"SIM: {result.value}")
                step(result)

            m.sim_status(sim_done)
        elif k in ("register", "poll"):
            reg_step = self._step("register") if k == "register" else None

            def reg_done(result: Result) -> None:
                if isinstance(result, Ok):
                    self.feed(RegistrationChanged(result.value, gprs=False))
                if reg_step is not None:
                    reg_step(result)

            m.registration(reg_done)
            if k == "poll":
                m.signal(self._signal_done)
                now = self.loop.time()
                # Asked on every login; again while on a fallback technology, to see it end.
                if self.sup.fallback_since is not None and (
                        self._net_info_at is None or now - self._net_info_at >= NET_INFO_INTERVAL):
                    self._net_info_at = now
                    m.network_info(self._network_done)
        elif k == "recover_radio":
            # Like reselect: what it changes comes back as registration and radio events.
            m.radio_recover(lambda r: log.info("radio recovery: %s", r.value or "nothing to do" if isinstance(r, Ok)
                                               else r.reason))
        elif k == "reselect":
            # The result changes nothing here: registration, if it comes, arrives as +CREG.
            m.select_operator_auto(lambda r: log.info("operator reselection: %s",
                                                      "ok" if isinstance(r, Ok) else r.reason))
        elif k == "gprs":
            m.gprs_attach(str(s.get("apn", "")), self._step("gprs"), user=str(s.get("apn_user", "")),
                          password=str(s.get("apn_password", "")))
        elif k == "tcp":
            self._generation += 1
            self._drop_tx()
            host, port = split_server(str(s.get("server", "")))
            self.conn = m.tcp_connect(host, port, self._step("tcp"))
        elif k == "login":
            self.conn_no += 1
            self.lines_sent = 0
            self.write(self.session.connect(self.loop.time()))
        elif k == "ping":
            pass  # the session pings (see __init__)
        elif k == "close_tcp":
            self._generation += 1
            self._drop_tx()
            self.session.disconnected(a.reason or "closing")
            if self.conn is not None:
                m.tcp_close(_ignore, conn=self.conn)
        elif k == "shut_gprs":
            self._generation += 1
            self._drop_tx()
            self.session.disconnected(a.reason or "gprs shut")
            m.gprs_shutdown(_ignore)
        elif k == "soft_reset":
            self.session.disconnected("modem reset")
            m.soft_reset(self._step("soft_reset"))
        elif k == "power_cycle":
            self.session.disconnected("modem power cycle")
            if m.can_power_cycle:
                m.power_cycle(self._step("power_cycle"))
            else:
                # No key wired: the best we can do is a soft reset (logged so the owner knows why).
                log.warning("no power key: power cycle replaced by a soft reset")
                m.soft_reset(self._step("power_cycle"))
        elif k == "online":
            self._net_info_at = self.loop.time()
            m.network_info(self._network_done)
            self.on_online()
            self._session_tick()
        elif k == "offline":
            self.session.disconnected(a.reason)
            self.on_offline(a.reason)
        else:  # our bug
            raise ValueError(f"unknown link action {k!r}")

    def _network_done(self, result: Result) -> None:
        if isinstance(result, Ok):
            info = result.value
            self.sup.handle(L.RadioTechnology(info.net_type, info.fallback), self.loop.time())
            self.on_network(info.net_type, info.provider)

    def _signal_done(self, result: Result) -> None:
        self._signal(result.value.dbm if isinstance(result, Ok) else None)

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

    # -- modem events ---------------------------------------------------------------------------------
    def _on_modem_event(self, ev: ModemEvent) -> None:
        if isinstance(ev, TcpDataReceived):
            if ev.conn == self.conn:
                self._tcp_data(ev.data)
        elif isinstance(ev, ModemActivity):
            self.feed(ev)
        elif isinstance(ev, TcpClosed):
            if ev.conn == self.conn:
                self._tx.clear()  # a send in flight fails and ends its chain
                self.session.disconnected(ev.reason)
                self._drain_session()
                self.feed(ev)
        elif isinstance(ev, GprsLost):
            self._tx.clear()
            self.session.disconnected("gprs lost")
            self._drain_session()
            self.feed(ev)
        elif isinstance(ev, ModemRebooted):
            self.session.disconnected("modem rebooted")
            self.feed(ev)
        elif isinstance(ev, ModemPoweredDown):
            self.session.disconnected("modem powered down")
            self.feed(ev)
        elif isinstance(ev, ModemSilent):
            self.session.disconnected("modem silent")
            self.feed(ev)
        elif isinstance(ev, PortClosed):
            self._drop_tx()
            self.session.disconnected("modem port gone")
            self.feed(ev)
        elif isinstance(ev, PortReopened):
            self.feed(ev)
        elif isinstance(ev, RegistrationChanged):
            if not ev.gprs:
                self.feed(ev)
        elif isinstance(ev, SmsReceived):
            self.on_sms(ev.sender, ev.text, ev.time.timestamp() if ev.time is not None else None)

    def _tcp_data(self, data: bytes) -> None:
        now = self.loop.time()
        self.sup.handle(L.ServerAlive(), now)
        out = self.session.receive_data(data, now)
        self.write(out)
        self._drain_session()
        self._arm_session_timer()


def split_server(server: str, default_port: int = 6867) -> tuple[str, int]:
    """`host[:port]` → (host, port); the OVMS v2 default port is 6867 (spec §1)."""
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return server, default_port
