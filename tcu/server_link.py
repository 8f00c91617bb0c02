"""The link adapter: runs the supervisor's actions on the modem and the server sessions, feeds results back.

Three pieces meet here, none of which knows the others:
- `tcu.link.LinkSupervisor` (sans-IO: events in, actions out),
- a modem (`ModemApi` below: what the firmware needs from one; the AT driver `modem.driver.modem.Modem`
  of any dialect and the AT-less `sim.direct_modem.DirectModem` both provide it),
- one server session per configured server (`tcu.server_session.ServerSession`, sans-IO: bytes in,
  bytes and events out): the OVMS v2 `CarSession`, the MQTT `MqttSession`, or both.

The modem's events (`modem.driver.events`) go to the supervisor as they are; this adapter only picks
the ones for each server's own TCP link (`ServerChannel.conn`) and tells that session when its
connection is gone. `LinkDriver` owns the per-second tick, each session's own deadline timer, one TCP
send at a time per link (what a session writes meanwhile is joined into the next send), and turns
session events into link events (a session that says its path is dead is a stall; any byte from a
server is life). The sessions own liveness (`LinkSupervisor(session_liveness=True)`). The unit above
registers callbacks for "online/offline" and for each session's events (delivery, commands).
"""
from __future__ import annotations

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
from runtime.backoff import Backoff
from runtime.ratelog import RateLimitedLog
from tcu import link as L
from tcu.server_session import LinkLost, LoggedIn, LoginFailed, ServerSession

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


# A server that fails while another one is online reconnects on its own back-off (issue 18: each
# configured server has its own); the link supervisor's ladder is for "no server reachable at all".
SERVER_RETRY_FIRST = 10.0
SERVER_RETRY_CAP = 600.0


class ServerChannel:
    """One configured server: its session, its TCP link number, its send chain, timer and back-off."""

    def __init__(self, name: str, session: ServerSession, address_key: str, default_port: int,
                 backoff: Backoff) -> None:
        self.name = name
        self.session = session
        self.address_key = address_key      # the setting holding `host[:port]`
        self.default_port = default_port
        self.backoff = backoff
        self.conn: int | None = None        # the modem's TCP link number (from the last tcp_connect)
        self.generation = 0                 # bumps on every (re)connect: stale callbacks are ignored
        self.tcp_up = False
        self.connecting = False
        self.conn_no = 0                    # connection number (the outbox's send positions)
        self.lines_sent = 0                 # lines written on this connection
        self.tx = bytearray()               # bytes waiting for the send in flight to finish
        self.sending = False
        self.timer: Timer | None = None
        self.timer_at: float | None = None

    @property
    def online(self) -> bool:
        return self.tcp_up and self.session.logged_in

    def drop_tx(self) -> None:
        self.tx.clear()
        self.sending = False


class LinkDriver:
    """Supervisor + modem + server sessions on one loop. `start()` powers the link up.

    With one server (the usual case) the supervisor's `tcp → login → online` chain is that server's.
    With several (`add_server`), `tcp` succeeds when any server's TCP link opens and `login` when any
    session logs in; a server that fails while another is online is reconnected on its own back-off,
    and only when none is left does the supervisor hear of it (and climb its ladder)."""

    def __init__(self, loop: Loop, modem: ModemApi, session: ServerSession,
                 settings: Callable[[], Mapping[str, object]],
                 metrics: Callable[[], Mapping[str, object]],
                 config: L.LinkConfig | None = None, *, name: str = "ovms", address_key: str = "server",
                 default_port: int = 6867) -> None:
        self.loop = loop
        self.modem = modem
        self.settings = settings            # apn, apn_user, apn_password, and each server's host[:port]
        self.metrics = metrics
        # Each session proves its own path (OVMS v2 ping/answer, whose answers also prove delivery; MQTT
        # keep-alive) and says LinkLost when it is dead (→ SessionStalled): the supervisor is told so and
        # sends no ping of its own. The caller's config is used as given.
        self.sup = L.LinkSupervisor(config or L.LinkConfig(), loop.random("link"), session_liveness=True)
        self.channels: list[ServerChannel] = []
        self.on_online: Callable[[], None] = lambda: None
        self.on_offline: Callable[[str], None] = lambda reason: None
        self.on_session_event: Callable[[str, object], None] = lambda name, ev: None
        self.on_sms: Callable[[str, str, float | None], None] = lambda s, t, w: None
        self.on_registration: Callable[[bool], None] = lambda r: None
        self.on_signal: Callable[[float | None], None] = lambda dbm: None
        self.on_network: Callable[[str, str], None] = lambda net_type, provider: None
        self._net_info_at: float | None = None   # last network_info asked (m.net.type/provider)
        self._tick_timer: Timer | None = None
        self.ticked_at: float | None = None   # the supervisor's last completed tick (systemd watchdog)
        self._tcp_attempt = 0          # the supervisor's current `tcp` step
        self._tcp_waiting: set[str] = set()
        self._tcp_reported = True
        self.conn_base = 0             # added to connection numbers (the unit: boot × 100,000)
        self._gsm_reported = False
        self._log = RateLimitedLog(log, 60.0)
        self.add_server(name, session, address_key, default_port)
        modem.subscribe(self._on_modem_event)

    def add_server(self, name: str, session: ServerSession, address_key: str, default_port: int) -> ServerChannel:
        """Another server to report to over its own TCP link (issue 18: OVMS v2 and MQTT at once)."""
        if any(ch.name == name for ch in self.channels):
            raise ValueError(f"server {name!r} added twice")  # our bug
        ch = ServerChannel(name, session, address_key, default_port,
                           Backoff(first=SERVER_RETRY_FIRST, cap=SERVER_RETRY_CAP,
                                   rng=self.loop.random(f"server-{name}")))
        self.channels.append(ch)
        return ch

    def channel(self, name: str) -> ServerChannel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)

    # the first server, for callers that know of one only
    @property
    def session(self) -> ServerSession:
        return self.channels[0].session

    @session.setter
    def session(self, session: ServerSession) -> None:
        self.channels[0].session = session

    @property
    def conn(self) -> int | None:
        return self.channels[0].conn

    @property
    def conn_no(self) -> int:
        return self.channels[0].conn_no

    @property
    def lines_sent(self) -> int:
        return self.channels[0].lines_sent

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._run(self.sup.start(self.loop.time()))
        self._tick_timer = self.loop.call_later(1.0, self._tick)

    def stop(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.cancel()
        for ch in self.channels:
            if ch.timer is not None:
                ch.timer.cancel()

    @property
    def online(self) -> bool:
        return self.sup.online and any(ch.online for ch in self.channels)

    def server_online(self, name: str) -> bool:
        return self.sup.online and self.channel(name).online

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

    # -- writing on a session -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes from the first server's session onto its TCP link."""
        self.write_to(self.channels[0], data)

    def write_to(self, ch: ServerChannel, data: bytes) -> None:
        """Bytes from `ch`'s session (one or more lines) onto its TCP link."""
        if data:
            ch.lines_sent += data.count(b"\n")
            ch.tx += data
            if not ch.sending:
                self._send_next(ch)
            self._arm_session_timer(ch)

    def _send_next(self, ch: ServerChannel) -> None:
        """One send at a time per link; what the session wrote meanwhile goes in the next one."""
        if not ch.tx or ch.conn is None:
            ch.drop_tx()
            return
        chunk = bytes(ch.tx)
        ch.tx.clear()
        ch.sending = True
        gen = ch.generation

        def sent(result: Result) -> None:
            if gen != ch.generation:
                return  # the connection it was for is gone; the new one has its own chain
            if isinstance(result, Failed):
                ch.drop_tx()  # SEND FAIL arrives as TcpClosed from the modem
                return
            self._send_next(ch)

        self.modem.tcp_send(chunk, sent, conn=ch.conn)

    # -- the tick ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._tick_timer = self.loop.call_later(1.0, self._tick)
        self._run(self.sup.tick(self.loop.time()))
        self.ticked_at = self.loop.time()
        if len(self.channels) > 1 and self.sup.state in ("login", "online"):
            now = self.loop.time()
            for ch in self.channels:
                if not ch.tcp_up and not ch.connecting and ch.backoff.ready(now):
                    self._open(ch, None)

    def _session_tick(self, ch: ServerChannel) -> None:
        ch.timer = None
        ch.timer_at = None
        now = self.loop.time()
        self.write_to(ch, ch.session.tick(self.metrics(), now))
        self._drain_session(ch)
        self._arm_session_timer(ch)

    def _arm_session_timer(self, ch: ServerChannel) -> None:
        when = ch.session.next_deadline()
        if when is None:
            return
        if ch.timer is not None and ch.timer_at is not None and ch.timer_at <= when:
            return
        if ch.timer is not None:
            ch.timer.cancel()
        # +1 ms: CarSession compares `now - last >= interval` but reports `last + interval`; in floating
        # point the first can be false at the second, and a timer exactly at the deadline would spin.
        when = max(when, self.loop.time()) + 1e-3
        ch.timer_at = when
        ch.timer = self.loop.call_at(when, self._session_tick, ch)

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
        def done(result: Result) -> None:
            if isinstance(result, Ok):
                self.feed(L.StepDone(step, True))
            else:
                self.feed(L.StepDone(step, False, result.reason))

        return done

    def _all_down(self, reason: str, close: bool = False) -> None:
        """Every server's session is over (the bearer or the modem went, or the supervisor closes)."""
        for ch in self.channels:
            ch.generation += 1
            ch.drop_tx()
            ch.tcp_up = ch.connecting = False
        for ch in self.channels:
            self._forget(ch, reason)
            if close and ch.conn is not None:
                self.modem.tcp_close(_ignore, conn=ch.conn)

    def _forget(self, ch: ServerChannel, reason: str) -> None:
        """`ch`'s connection is over. With several servers its session's last events are read now, while
        the channel is marked down: read after a reconnect they would end the new connection."""
        ch.tcp_up = ch.connecting = False
        ch.session.disconnected(reason)
        if len(self.channels) > 1:
            self._drain_session(ch)

    def _open(self, ch: ServerChannel, attempt: int | None) -> None:
        """Open `ch`'s TCP link; `attempt`: the supervisor's `tcp` step it answers (None: its own retry)."""
        if len(self.channels) > 1 and ch.conn is not None and (ch.tcp_up or ch.connecting):
            self._forget(ch, "reconnecting")     # a link still half up: the modem's link is freed
            self.modem.tcp_close(_ignore, conn=ch.conn)
        ch.generation += 1
        ch.drop_tx()
        ch.tcp_up = False
        ch.connecting = True
        gen = ch.generation
        host, port = split_server(str(self.settings().get(ch.address_key, "")), ch.default_port)

        def done(result: Result) -> None:
            if gen != ch.generation:
                return
            ch.connecting = False
            now = self.loop.time()
            if isinstance(result, Ok):
                ch.tcp_up = True
                if attempt is not None and attempt == self._tcp_attempt and not self._tcp_reported:
                    self._tcp_reported = True
                    self.feed(L.StepDone("tcp", True))
                elif self.sup.state in ("login", "online"):
                    self._login(ch)
                return
            if len(self.channels) > 1:
                delay = ch.backoff.failed(now)
                self._log.warning(f"tcp-{ch.name}", now, "server %s: TCP failed (%s); again in %.0f s",
                                  ch.name, result.reason, delay)
            if attempt is not None and attempt == self._tcp_attempt and not self._tcp_reported:
                self._tcp_waiting.discard(ch.name)
                if not self._tcp_waiting:
                    self._tcp_reported = True
                    self.feed(L.StepDone("tcp", False, result.reason))

        ch.conn = self.modem.tcp_connect(host, port, done)

    def _login(self, ch: ServerChannel) -> None:
        ch.conn_no = self.conn_base + (ch.conn_no + 1) % 100_000
        ch.lines_sent = 0
        self.write_to(ch, ch.session.connect(self.loop.time()))

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
            self._tcp_attempt += 1
            self._tcp_reported = False
            self._tcp_waiting = {ch.name for ch in self.channels}
            for ch in self.channels:
                self._open(ch, self._tcp_attempt)
        elif k == "login":
            for ch in self.channels:
                if ch.tcp_up:
                    self._login(ch)
        elif k == "ping":  # not asked of a supervisor with session_liveness (see __init__)
            raise ValueError("link supervisor pinged although the sessions own liveness")
        elif k == "close_tcp":
            self._all_down(a.reason or "closing", close=True)
        elif k == "shut_gprs":
            self._all_down(a.reason or "gprs shut")
            m.gprs_shutdown(_ignore)
        elif k == "soft_reset":
            self._all_down("modem reset")
            m.soft_reset(self._step("soft_reset"))
        elif k == "power_cycle":
            self._all_down("modem power cycle")
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
            for ch in self.channels:
                if ch.tcp_up:
                    self._session_tick(ch)
        elif k == "offline":
            for ch in self.channels:
                self._forget(ch, a.reason)
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
    def _others_online(self, ch: ServerChannel) -> bool:
        return any(o.online for o in self.channels if o is not ch)

    def _others_trying(self, ch: ServerChannel) -> bool:
        return any((o.tcp_up or o.connecting) for o in self.channels if o is not ch)

    def _channel_lost(self, ch: ServerChannel, reason: str, close: bool) -> None:
        """`ch` failed while another server is still reachable: it retries on its own back-off."""
        now = self.loop.time()
        ch.generation += 1
        ch.drop_tx()
        self._forget(ch, reason)
        if close and ch.conn is not None:
            self.modem.tcp_close(_ignore, conn=ch.conn)
        delay = ch.backoff.failed(now)
        self._log.warning(f"lost-{ch.name}", now, "server %s: %s; reconnecting in %.0f s", ch.name, reason, delay)

    def _drain_session(self, ch: ServerChannel) -> None:
        for ev in ch.session.events():
            if isinstance(ev, LoggedIn):
                ch.backoff.succeeded()
                if self.sup.state == "login":
                    self.feed(L.StepDone("login", True))
            elif isinstance(ev, LoginFailed | LinkLost) and len(self.channels) > 1 and not ch.tcp_up:
                pass   # the end of a connection already taken down (by the bearer, the modem, the supervisor)
            elif isinstance(ev, LoginFailed):
                if self._others_online(ch) or (self.sup.state == "login" and self._others_trying(ch)):
                    self._channel_lost(ch, ev.reason, close=True)
                else:
                    self.feed(L.StepDone("login", False, ev.reason))
            elif isinstance(ev, LinkLost):
                if self._others_online(ch):
                    self._channel_lost(ch, ev.reason, close=True)
                elif self.sup.state in ("online", "login"):
                    self.feed(L.SessionStalled(ev.reason))
            self.on_session_event(ch.name, ev)

    # -- modem events ---------------------------------------------------------------------------------
    def _by_conn(self, conn: int) -> ServerChannel | None:
        """The server on modem link `conn` (one whose link is open first: link numbers are reused)."""
        mine = [ch for ch in self.channels if ch.conn == conn]
        return next((ch for ch in mine if ch.tcp_up or ch.connecting), mine[0] if mine else None)

    def _on_modem_event(self, ev: ModemEvent) -> None:
        if isinstance(ev, TcpDataReceived):
            ch = self._by_conn(ev.conn)
            if ch is not None:
                self._tcp_data(ch, ev.data)
        elif isinstance(ev, ModemActivity):
            self.feed(ev)
        elif isinstance(ev, TcpClosed):
            ch = self._by_conn(ev.conn)
            if ch is not None:
                if self._others_online(ch):
                    self._channel_lost(ch, ev.reason, close=False)
                    self._drain_session(ch)
                    return
                ch.tx.clear()  # a send in flight fails and ends its chain
                ch.tcp_up = False
                ch.session.disconnected(ev.reason)
                self._drain_session(ch)
                self.feed(ev)
        elif isinstance(ev, GprsLost):
            for ch in self.channels:
                ch.tx.clear()
                ch.tcp_up = False
            for ch in self.channels:
                ch.session.disconnected("gprs lost")
                self._drain_session(ch)
            self.feed(ev)
        elif isinstance(ev, ModemRebooted):
            self._all_down("modem rebooted")
            self.feed(ev)
        elif isinstance(ev, ModemPoweredDown):
            self._all_down("modem powered down")
            self.feed(ev)
        elif isinstance(ev, ModemSilent):
            self._all_down("modem silent")
            self.feed(ev)
        elif isinstance(ev, PortClosed):
            self._all_down("modem port gone")
            self.feed(ev)
        elif isinstance(ev, PortReopened):
            self.feed(ev)
        elif isinstance(ev, RegistrationChanged):
            if not ev.gprs:
                self.feed(ev)
        elif isinstance(ev, SmsReceived):
            self.on_sms(ev.sender, ev.text, ev.time.timestamp() if ev.time is not None else None)

    def _tcp_data(self, ch: ServerChannel, data: bytes) -> None:
        now = self.loop.time()
        self.sup.handle(L.ServerAlive(), now)
        out = ch.session.receive_data(data, now)
        self.write_to(ch, out)
        self._drain_session(ch)
        self._arm_session_timer(ch)


def split_server(server: str, default_port: int = 6867) -> tuple[str, int]:
    """`host[:port]` → (host, port); the OVMS v2 default port is 6867 (spec §1)."""
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return server, default_port
