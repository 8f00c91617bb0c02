"""The link supervisor: modem → SIM → registration → GPRS → TCP → login → online, and back (DESIGN.md §3).

A table-driven state machine in the manner of OVMS v2/v3: every state has an entry action, a
per-second tick and a timeout that goes to a named state. It is sans-IO: it takes events and the
current time and returns `Action`s; an adapter (`tcu.server_link.LinkDriver`) runs them on the modem
and the server session and feeds the results back as events. What the modem reports arrives in the
modem's own event vocabulary (`modem.driver.events`), not a copy of it. That keeps the whole ladder
testable with a scripted modem and no bytes at all.

Escalation ladder (each rung is tried a few times before the next one):
    retry the step → TCP reconnect → GPRS re-attach → modem soft reset (AT+CFUN=1,1) → power-key cycle.
The two reset rungs are for trouble in the modem, not in the network: resetting a modem that answers
only makes it register again. So they are reached when the modem is silent (watchdog, `ModemSilent`),
powered down, fails init/SIM or keeps failing the registration query itself — and, as OVMS v2 did,
once after the GPRS back-off ladder (5, 10 … 45 s) while the modem says it is registered with usable
signal, at most once per `reinit_interval`. A modem that answers "not registered" is waited for:
`AT+CREG?` with capped back-off, operator reselection (`AT+COPS=0`) after `reselect_after` seconds.
A silence watchdog power-cycles a modem that has said nothing for `silence_timeout` seconds, and the
session liveness check (ping `A`, answer `a` within a deadline) turns a silent stall into a reconnect.

Below the ladder is the port itself (issue 12): when the modem's serial port vanishes (`PortClosed`: a
USB modem unplugged, the emulator's pty gone) the link goes offline to `port_gone` and waits there —
no action can reach the modem, so none is tried, and neither the watchdog nor a reset runs; the driver
reopens the port with its own back-off. `PortReopened` starts the link over from `probe`, as after a
power cycle: whatever answers at the port may have rebooted.

TCP reconnect pacing: the back-off is the *period* between attempt starts (CIPSTART + login), capped at
`backoff_cap`, not a pause after each failure. A login that already waited ~30 s for a welcome that never
came (a stalled bearer) is retried within seconds, so the unit is online within ~`backoff_cap` of the
network recovering; a CIPSTART that fails at once still waits out most of the period (no hammering).
The back-off starts over when the network shows life: registration or the GPRS bearer coming back after
being lost, and a session that stayed up for `stable_after` seconds. A login alone does not count: a
server that accepts us and drops us at once (issue 12: a login every ~4.8 s, forever) is retried at the
growing, capped back-off like any other failure. Bytes from the server during a login that then fails
do not count either: a server that answers and rejects us must not be hammered.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

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
    TcpClosed,
)
from runtime.backoff import Backoff

__all__ = [  # the modem events the supervisor reads are re-exported: one type per fact, named here too
    "ACTION_KINDS", "STATES", "Action", "GprsLost", "LinkConfig", "LinkEvent", "LinkSupervisor", "ModemActivity",
    "ModemPoweredDown", "ModemRebooted", "ModemSilent", "PortClosed", "PortReopened", "RegistrationChanged",
    "RadioTechnology", "Restart", "ServerAlive",
    "SessionStalled", "SignalQuality", "StateDef", "StepDone", "TcpClosed", "Transition",
]

log = logging.getLogger(__name__)


# -- events in ---------------------------------------------------------------------------------------
# What the modem says comes in the modem's own vocabulary (modem.driver.events), unchanged: the
# supervisor reads ModemActivity, RegistrationChanged (GSM, not GPRS), ModemRebooted, ModemPoweredDown,
# ModemSilent, TcpClosed and GprsLost, and ignores the other modem events. The adapter filters TCP
# events to the server's own link. The events below are the link's own: results of its actions and
# what the server session says.
@dataclass(frozen=True)
class StepDone:
    """The adapter finished the entry action of `step` (a state name)."""

    step: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class SignalQuality:
    """`+CSQ` in dBm (None = not known): decides whether a GPRS failure can be the modem's fault."""

    dbm: float | None


@dataclass(frozen=True)
class RadioTechnology:
    """What the modem is on (`2G`/`3G`/`4G`, "" without service); `fallback`: on a worse technology than
    it can use (a SIM7600 left on GSM after a drop, OVMS v3 users' "stuck on 2G")."""

    net_type: str
    fallback: bool = False


@dataclass(frozen=True)
class ServerAlive:
    """Any line from the server (including the ping answer `a`): the session is alive."""


@dataclass(frozen=True)
class SessionStalled:
    """The unit saw a confirmation deadline pass (lines sent, no `a`/`h`): treat as a silent stall."""

    reason: str = "confirmation overdue"


@dataclass(frozen=True)
class Restart:
    """Start over from power-up (e.g. after server settings changed by SMS or command 4)."""

    reason: str = "restart requested"


LinkEvent = StepDone | SignalQuality | RadioTechnology | ServerAlive | SessionStalled | Restart | ModemEvent


# -- actions out -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Something the adapter must do. `kind` is one of ACTION_KINDS; the result comes back as StepDone."""

    kind: str
    reason: str = ""


# Kinds the adapter must implement (the entry actions of the table plus the maintenance ones).
ACTION_KINDS = (
    "probe",        # AT until OK (StepDone("probe"))
    "init",         # echo off, CMEE, SMS text/PDU mode, CNMI, CREG=1 … (StepDone("init"))
    "sim",          # AT+CPIN? (StepDone("sim"))
    "register",     # AT+CREG? (a Registration event; StepDone("register", False) on error)
    "gprs",         # CIPSHUT, CSTT, CIICR, CIFSR (StepDone("gprs"))
    "tcp",          # CIPSTART to the server (StepDone("tcp"))
    "login",        # MP-C welcome; StepDone("login") when MP-S checks out
    "ping",         # send `A` on the session (answer comes back as ServerAlive)
    "poll",         # AT+CREG?;+CSQ (Registration, SignalQuality): online every minute, and on GPRS failures
    "reselect",     # AT+COPS=0: automatic operator reselection while not registered (no result needed)
    "recover_radio",  # the dialect's radio rung (SIM7600: AT+CNMP toggle / AT+CRESET; no result needed)
    "close_tcp",    # CIPCLOSE (no result needed)
    "shut_gprs",    # CIPSHUT (no result needed)
    "soft_reset",   # AT+CFUN=1,1 (the reboot URCs follow; StepDone("soft_reset") when the modem is back)
    "power_cycle",  # power key off/on (StepDone("power_cycle") when done)
    "online",       # tell upper layers: session up (flush the outbox)
    "offline",      # tell upper layers: session down (fall back to SMS)
)


@dataclass(frozen=True)
class StateDef:
    """One row of the table: entry action, timeout (s) and where a timeout or a failure leads."""

    name: str
    entry: str | None
    timeout: float | None
    on_timeout: str
    on_ok: str
    retries: int = 0          # how often a failed entry action is retried (after `retry_delay`)
    retry_delay: float = 2.0
    on_fail: str = ""         # where to go when retries are exhausted ("" = the escalation ladder)


# The table (one row per state). Timeouts follow the SIM800 manual's worst cases (sim800-at.md §1).
STATES: dict[str, StateDef] = {s.name: s for s in (
    # The modem's port vanished: nothing to do but wait for the driver to reopen it (PortReopened).
    StateDef("port_gone", None, None, "port_gone", "probe"),
    StateDef("power_cycle", "power_cycle", 30.0, "power_cycle", "probe"),
    StateDef("probe", "probe", 20.0, "power_cycle", "init", retries=15, retry_delay=1.0),
    StateDef("soft_reset", "soft_reset", 30.0, "power_cycle", "probe"),
    StateDef("init", "init", 30.0, "soft_reset", "sim", retries=3),
    StateDef("sim", "sim", 60.0, "soft_reset", "register", retries=10, retry_delay=5.0),
    # No timeout: a modem that answers "not registered" is waited for, never reset (the network is
    # absent). `retries` counts failed queries in a row (errors/timeouts): that is the modem's trouble.
    StateDef("register", "register", None, "soft_reset", "gprs", retries=5, retry_delay=5.0,
             on_fail="soft_reset"),
    StateDef("gprs", "gprs", 120.0, "gprs_wait", "tcp", on_fail="gprs_wait"),
    StateDef("gprs_wait", None, None, "gprs", "gprs"),
    StateDef("tcp", "tcp", 90.0, "tcp_wait", "login", on_fail="tcp_wait"),
    StateDef("tcp_wait", None, None, "tcp", "tcp"),
    StateDef("login", "login", 40.0, "tcp_wait", "online", on_fail="tcp_wait"),
    StateDef("online", "online", None, "online", "online"),
)}

# States in which the GSM side is registered (SMS works) — everything from GPRS upwards.
_REGISTERED_STATES = frozenset({"gprs", "gprs_wait", "tcp", "tcp_wait", "login", "online"})


@dataclass
class LinkConfig:
    """Tunables; defaults follow OVMS v2 (sim800-at.md §5) where it had one."""

    silence_timeout: float = 120.0     # no byte from the modem → power-key cycle (OVMS: 60 s)
    poll_interval: float = 60.0        # AT+CREG?;+CSQ while online (OVMS: 60 s)
    ping_interval: float = 300.0       # no server traffic for this long → send `A` (server: 900 s)
    ping_timeout: float = 45.0         # no answer in time → silent stall → TCP reconnect
    backoff_base: float = 5.0          # TCP reconnects: capped exponential back-off with jitter,
    backoff_cap: float = 40.0          # the period between attempt starts (a 30 s login timeout counts)
    backoff_floor: float = 2.0         # least pause after a failed attempt, however long it took
    stable_after: float = 60.0         # a session up this long starts the reconnect back-off over
    tcp_attempts: int = 3              # TCP failures before a GPRS re-attach
    gprs_backoff_step: float = 5.0     # GPRS re-attach back-off: 5, 10 … 45 s (OVMS v2)
    gprs_backoff_cap: float = 45.0
    gprs_attempts: int = 9             # back-off waits (the whole ladder) before one modem re-init
    reinit_interval: float = 1800.0    # at most one GPRS-triggered re-init (soft reset) per this
    min_signal_dbm: float = -105.0     # weaker than this: GPRS failing is the radio's fault, not the modem's
    soft_resets: int = 2               # soft resets without getting online before a power cycle
    reset_cooldown: float = 1800.0     # no further reset/power cycle within this after a power cycle
    register_poll: float = 5.0         # AT+CREG? while not registered: 5, 10, 20, 30 … s
    register_poll_cap: float = 30.0    # (the +CREG URC usually reports registration sooner)
    reselect_after: float = 120.0      # not registered this long → AT+COPS=0 (OVMS v2: 120 s)
    reselect_interval: float = 600.0   # and again at most this often
    query_timeout: float = 60.0        # a registration query with no result at all counts as failed
    radio_stuck_after: float = 900.0   # online on a fallback technology this long → the dialect's radio rung
    radio_recover_interval: float = 1800.0  # online, that rung at most this often (it drops the session)
    radio_recover_first: float = 60.0  # not registered / GPRS failing: the rung again after 60, 120 … s,
                                       # capped at radio_recover_interval (a latched NO SERVICE needs it)


@dataclass
class Transition:
    at: float
    src: str
    dst: str
    reason: str


@dataclass
class LinkSupervisor:
    """The sans-IO supervisor. Drive it with `start`, `handle` and `tick` (once a second)."""

    config: LinkConfig = field(default_factory=LinkConfig)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    on_transition: Callable[[Transition], None] | None = None
    # The session above proves the path itself (OVMS v2 ping `A`/`a`, MQTT keep-alive) and reports a
    # dead one as SessionStalled: then the supervisor sends no ping of its own (one liveness mechanism).
    session_liveness: bool = False

    def __post_init__(self) -> None:
        self.state = "off"
        self.entered_at = 0.0
        self.registered = False
        self.offline_since: float | None = 0.0
        self.online_since: float | None = None
        self.last_modem_activity = 0.0
        self.last_server_rx = 0.0
        self.ping_sent_at: float | None = None
        self.last_poll = 0.0
        self._retry_at: float | None = None
        self._retries_left = 0
        self._wait_until: float | None = None
        self._pending = False     # the entry action is running; its StepDone is awaited
        self.tcp_failures = 0
        self.gprs_failures = 0
        self.soft_resets = 0
        self.backoff_step = 0
        self.attempt_started_at = 0.0   # when the current TCP attempt (CIPSTART + login) began
        self._bearer_lost = False       # GPRS attach failed or +PDP: DEACT since the last attach
        self.counters: dict[str, int] = {"power_cycle": 0, "soft_reset": 0, "gprs": 0, "tcp": 0,
                                         "login": 0, "stall": 0}
        self.history: list[Transition] = []
        self.last_reason = ""
        self.last_reset_at: float | None = None
        self.last_reinit_at: float | None = None
        self.last_reselect_at: float | None = None
        self.signal_dbm: float | None = None
        self._pending_since = 0.0
        self._register_polls = 0
        self.fallback_since: float | None = None    # on a worse radio technology than the modem's best since
        self.last_radio_recover_at: float | None = None
        self.radio_recoveries = 0
        # No jitter: the rung must not draw from `rng` (the reconnect back-off's sequence stays as it was).
        self._radio_backoff = Backoff(self.config.radio_recover_first, self.config.radio_recover_interval,
                                      jitter=0.0)

    # -- queries ----------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        """Server session up and logged in: alerts may go to the server."""
        return self.state == "online"

    def retry_status(self) -> dict[str, object]:
        """For `tcu state` (status.json source `link`): the reconnect back-off (failures counted, the next
        attempt as loop time, None when nothing waits) and what the ladder did so far."""
        return {"state": self.state, "reason": self.last_reason, "tcp_failures": self.tcp_failures,
                "gprs_failures": self.gprs_failures, "backoff_step": self.backoff_step,
                "next_try": self._wait_until if self._wait_until is not None else self._retry_at,
                **{f"count_{k}": v for k, v in self.counters.items()}}

    @property
    def gsm_registered(self) -> bool:
        """Registered on the GSM network: SMS is possible even when the server link is down."""
        return self.registered and self.state in _REGISTERED_STATES

    # -- driving ----------------------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """Begin at power-up: probe first (a modem that answers needs no power-key pulse)."""
        self.last_modem_activity = now
        self.offline_since = now
        return self._enter("probe", now, "start")

    def handle(self, event: LinkEvent, now: float) -> list[Action]:
        """Feed one event; returns the actions to run."""
        if isinstance(event, PortClosed):
            self.registered = False
            if self.state == "port_gone":
                return []  # a failed reopen: still gone
            return self._enter("port_gone", now, f"modem port {event.port} gone ({event.reason})")
        if isinstance(event, PortReopened):
            if self.state != "port_gone":
                return []
            self.last_modem_activity = now
            return self._enter("probe", now, f"modem port back after {event.gone_for:.0f}s")
        if self.state == "port_gone" and not isinstance(event, ServerAlive | SignalQuality | RadioTechnology):
            return []  # nothing reaches the modem now; the ladder starts over when the port is back
        if isinstance(event, ModemActivity):
            self.last_modem_activity = now
            return []
        if isinstance(event, StepDone):
            return self._step_done(event, now)
        if isinstance(event, RegistrationChanged):
            if event.gprs:
                return []  # the GPRS state is learnt from the bearer itself (attach results, +PDP: DEACT)
            return self._registration(event.registration.registered, now)
        if isinstance(event, ModemRebooted):
            self.registered = False
            if self.state in ("soft_reset", "power_cycle", "probe"):
                return []  # expected
            return self._enter("probe", now, "modem rebooted unexpectedly")
        if isinstance(event, ModemPoweredDown):
            self.registered = False
            return self._enter("power_cycle", now, "modem powered down")
        if isinstance(event, ModemSilent):
            if self.state in ("power_cycle", "soft_reset", "off"):
                return []  # a reset in progress: silence is expected (its own timeout covers it)
            self.registered = False
            return self._enter("power_cycle", now, f"modem silent ({event.reason})")
        if isinstance(event, SignalQuality):
            self.signal_dbm = event.dbm
            return []
        if isinstance(event, RadioTechnology):
            if not event.fallback:
                self.fallback_since = None
            elif self.fallback_since is None:
                self.fallback_since = now
            return []
        if isinstance(event, TcpClosed):
            if self.state in ("login", "online", "tcp"):
                self.tcp_failures += 1
                return self._escalate_tcp(now, f"tcp closed ({event.reason})")
            return []
        if isinstance(event, GprsLost):
            if self.state in ("login", "online", "tcp", "tcp_wait", "gprs"):
                self._bearer_lost = True
                self.gprs_failures += 1
                return self._escalate_gprs(now, "gprs lost (+PDP: DEACT)")
            return []
        if isinstance(event, ServerAlive):
            self.last_server_rx = now
            self.ping_sent_at = None
            return []
        if isinstance(event, SessionStalled):
            if self.state == "online":
                self.counters["stall"] += 1
                self.tcp_failures += 1
                return [Action("close_tcp", event.reason)] + self._escalate_tcp(now, event.reason)
            return []
        if isinstance(event, Restart):
            acts = [Action("close_tcp", event.reason)] if self.state in ("login", "online") else []
            self.tcp_failures = self.gprs_failures = 0
            return acts + [Action("shut_gprs", event.reason)] + self._enter("register", now, event.reason)
        if isinstance(event, ModemEvent):
            return []  # SMS, URCs, noise ...: not the link's business
        raise TypeError(f"not a link event: {event!r}")  # our bug, not the peer's

    def tick(self, now: float) -> list[Action]:
        """Once a second: retries, timeouts, back-off ends, watchdog, polls and session liveness."""
        st = self.state
        if st not in ("power_cycle", "off", "port_gone") and now - self.last_modem_activity > self.config.silence_timeout:
            return self._enter("power_cycle", now, f"modem silent for {now - self.last_modem_activity:.0f}s")
        sdef = STATES.get(st)
        if sdef is None:
            return []
        if self._wait_until is not None:
            if now >= self._wait_until:
                self._wait_until = None
                return self._enter(sdef.on_ok, now, "back-off over")
            return []
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            return self._run_entry(sdef, now)
        if sdef.timeout is not None and now - self.entered_at >= sdef.timeout:
            return self._timeout(sdef, now)
        if st == "register" and self._pending and now - self._pending_since >= self.config.query_timeout:
            return self._step_done(StepDone("register", False, "no result"), now)
        if st == "online":
            return self._online_tick(now)
        return []

    # -- internals --------------------------------------------------------------------------------
    def _online_tick(self, now: float) -> list[Action]:
        cfg = self.config
        if self.ping_sent_at is not None and now - self.ping_sent_at >= cfg.ping_timeout:
            self.counters["stall"] += 1
            self.tcp_failures += 1
            self.ping_sent_at = None
            return [Action("close_tcp", "ping unanswered")] + self._escalate_tcp(now, "ping unanswered")
        acts: list[Action] = []
        if self.backoff_step and self.online_since is not None and now - self.online_since >= cfg.stable_after:
            self.backoff_step = 0   # the session held: a later drop is news, not a server that drops us
        if not self.session_liveness and self.ping_sent_at is None and now - self.last_server_rx >= cfg.ping_interval:
            self.ping_sent_at = now
            acts.append(Action("ping", "session idle"))
        if now - self.last_poll >= cfg.poll_interval:
            self.last_poll = now
            acts.append(Action("poll"))
        if self.fallback_since is not None and now - self.fallback_since >= cfg.radio_stuck_after:
            acts += self._radio_recover(now, f"on a fallback radio technology for {now - self.fallback_since:.0f}s",
                                        online=True)
        return acts

    def _radio_recover(self, now: float, reason: str, online: bool = False) -> list[Action]:
        """The dialect's radio rung (a SIM7600 stuck on GSM or looping in NO SERVICE: a preferred-mode
        toggle, not waiting); a dialect without one does nothing. Online (it drops the session) at most
        once per `radio_recover_interval`; offline with a back-off from `radio_recover_first` to that,
        which starts over once the modem registers."""
        last = self.last_radio_recover_at
        if online:
            if last is not None and now - last < self.config.radio_recover_interval:
                return []
        elif not self._radio_backoff.ready(now):
            return []
        else:
            self._radio_backoff.failed(now)
        self.last_radio_recover_at = now
        self.radio_recoveries += 1
        log.info("link: dialect radio recovery (%s)", reason)
        return [Action("recover_radio", reason)]

    def _timeout(self, sdef: StateDef, now: float) -> list[Action]:
        reason = f"{sdef.name} timed out after {sdef.timeout:.0f}s"
        return self._fail(sdef, now, reason)

    def _fail(self, sdef: StateDef, now: float, reason: str) -> list[Action]:
        name = sdef.name
        if name in ("tcp", "login"):
            self.tcp_failures += 1
            return [Action("close_tcp", reason)] + self._escalate_tcp(now, reason)
        if name == "gprs":
            self.gprs_failures += 1
            self._bearer_lost = True
            return self._escalate_gprs(now, reason)
        if name == "soft_reset":
            self.soft_resets += 1
            return self._enter("power_cycle", now, reason)
        if name == "init" or name == "sim" or name == "register":
            return self._soft_reset(now, reason)
        return self._enter(sdef.on_timeout, now, reason)

    def _soft_reset(self, now: float, reason: str) -> list[Action]:
        if self.last_reset_at is not None and now - self.last_reset_at < self.config.reset_cooldown:
            # Reset recently and still no luck: the network is the problem, not the modem.
            if self.registered:
                return [Action("shut_gprs", reason)] + self._wait("gprs_wait", now, reason + "; reset cooling down")
            return self._enter("register", now, reason + "; reset cooling down")
        self.soft_resets += 1
        if self.soft_resets > self.config.soft_resets:
            self.soft_resets = 0
            return self._enter("power_cycle", now, reason + "; soft resets exhausted")
        return self._enter("soft_reset", now, reason)

    def _escalate_tcp(self, now: float, reason: str) -> list[Action]:
        """Rung 2: reconnect TCP after back-off; after `tcp_attempts`, rung 3: re-attach GPRS.

        The back-off is counted from the start of the failed attempt, so the time a login spent
        waiting for a welcome is not added on top of it (see the module docstring).
        """
        cfg = self.config
        if self.tcp_failures >= cfg.tcp_attempts:
            self.tcp_failures = 0
            self.gprs_failures += 1
            return self._escalate_gprs(now, reason + "; tcp attempts exhausted")
        spent = now - self.attempt_started_at if self.state in ("tcp", "login") else 0.0
        return self._wait("tcp_wait", now, reason, max(cfg.backoff_floor, self.backoff() - spent))

    def _escalate_gprs(self, now: float, reason: str) -> list[Action]:
        """Rung 3: re-attach GPRS after 5, 10 … 45 s; after the ladder, one re-init if the modem is to blame.

        GPRS failing while the modem is registered with usable signal may be a wedged PDP stack that
        a re-init (AT+CFUN=1,1) fixes; OVMS v2 did that. It is done at most once per
        `reinit_interval` and once per outage, and never escalates to the power key: the modem
        answers, so keep trying.
        Not registered → wait for registration instead.
        """
        cfg = self.config
        acts = [Action("shut_gprs", reason), Action("poll", "gprs failed")]
        if not self.registered:
            return acts[:1] + self._enter("register", now, reason + "; not registered")
        n = self.gprs_failures
        if n > cfg.gprs_attempts and self._reinit_allowed(now):
            self.gprs_failures = 0
            self.last_reinit_at = now
            return self._enter("soft_reset", now, reason + "; gprs attempts exhausted, modem re-init")
        delay = min(cfg.gprs_backoff_cap, cfg.gprs_backoff_step * max(1, n))
        if n >= 2:  # registered, yet the bearer keeps failing: NETOPEN after a network close, a RAT stuck
            acts += self._radio_recover(now, reason + f"; gprs failed {n} times")
        return acts + self._wait("gprs_wait", now, reason, delay)

    def _reinit_allowed(self, now: float) -> bool:
        cfg = self.config
        if self.last_reinit_at is not None:
            if now - self.last_reinit_at < cfg.reinit_interval:
                return False
            if self.offline_since is not None and self.last_reinit_at >= self.offline_since:
                return False   # one re-init per outage: a second one will not bring the network back
        if self.last_reset_at is not None and now - self.last_reset_at < cfg.reset_cooldown:
            return False
        return self.signal_dbm is None or self.signal_dbm >= cfg.min_signal_dbm

    def backoff(self) -> float:
        """Capped exponential back-off with equal jitter (half fixed, half random)."""
        cfg = self.config
        raw = min(cfg.backoff_cap, cfg.backoff_base * (2 ** min(self.backoff_step, 16)))
        self.backoff_step += 1
        return raw / 2 + self.rng.random() * raw / 2

    def _wait(self, state: str, now: float, reason: str, delay: float | None = None) -> list[Action]:
        acts = self._enter(state, now, reason)
        self._wait_until = now + (self.backoff() if delay is None else delay)
        return acts

    def _registration(self, registered: bool, now: float) -> list[Action]:
        was = self.registered
        self.registered = registered
        if registered and not was:
            self.backoff_step = 0   # the network is back: the next reconnect need not wait long
            self._radio_backoff.succeeded()
        if registered and self.state == "register":
            self._retry_at = None
            return self._enter("gprs", now, "registered")
        if not registered and was and self.state in _REGISTERED_STATES:
            acts = [Action("close_tcp", "registration lost")] if self.state in ("login", "online") else []
            return acts + self._enter("register", now, "registration lost")
        return []

    def _step_done(self, ev: StepDone, now: float) -> list[Action]:
        if ev.step != self.state or not self._pending:
            return []  # a late answer for a state we already left
        self._pending = False
        sdef = STATES[self.state]
        if ev.ok:
            if self.state == "register":
                # Registration itself comes as a Registration event; still searching → ask again,
                # less often the longer it takes, and reselect the operator now and then (OVMS v2).
                self._retries_left = sdef.retries   # the modem answered: its query failures start over
                return self._still_searching(now)
            if self.state == "tcp":
                self.counters["tcp"] += 1
            if self.state == "gprs":
                self.counters["gprs"] += 1
                self.gprs_failures = 0
                if self._bearer_lost:   # the bearer is back after being lost: the network shows life
                    self._bearer_lost = False
                    self.backoff_step = 0
            return self._enter(sdef.on_ok, now, f"{ev.step} ok")
        if self._retries_left > 0:
            self._retries_left -= 1
            self._retry_at = now + sdef.retry_delay
            return []
        return self._fail(sdef, now, f"{ev.step} failed: {ev.reason}" if ev.reason else f"{ev.step} failed")

    def _still_searching(self, now: float) -> list[Action]:
        cfg = self.config
        delay = min(cfg.register_poll_cap, cfg.register_poll * 2 ** min(self._register_polls, 8))
        self._register_polls += 1
        self._retry_at = now + delay
        searching_for = now - self.entered_at
        acts: list[Action] = []
        if searching_for >= cfg.reselect_after and (
                self.last_reselect_at is None or now - self.last_reselect_at >= cfg.reselect_interval):
            self.last_reselect_at = now
            log.info("link: not registered for %.0fs: operator reselection", searching_for)
            acts.append(Action("reselect", f"not registered for {searching_for:.0f}s"))
        if searching_for >= cfg.reselect_after:
            acts += self._radio_recover(now, f"not registered for {searching_for:.0f}s")
        return acts

    def _run_entry(self, sdef: StateDef, now: float) -> list[Action]:
        if sdef.entry is None:
            return []
        self._pending = True
        self._pending_since = now
        return [Action(sdef.entry)]

    def _enter(self, state: str, now: float, reason: str) -> list[Action]:
        src = self.state
        acts: list[Action] = []
        was_online = src == "online"
        self.state = state
        self.entered_at = now
        self._retry_at = None
        self._wait_until = None
        self._pending = False
        self.last_reason = reason
        sdef = STATES[state]
        self._retries_left = sdef.retries
        self._register_polls = 0
        if state == "power_cycle":
            self.last_reset_at = now   # the top of the ladder: the cool-down starts here
        if state == "tcp":
            self.attempt_started_at = now
        if state == "power_cycle":
            self.counters["power_cycle"] += 1
            self.registered = False
            self.last_modem_activity = now
        elif state == "soft_reset":
            self.counters["soft_reset"] += 1
            self.registered = False
            self.last_modem_activity = now
        if was_online and state != "online":
            self.offline_since = now
            self.online_since = None
            acts.append(Action("offline", reason))
        tr = Transition(now, src, state, reason)
        self.history.append(tr)
        if len(self.history) > 200:
            del self.history[:100]
        log.info("link: %s → %s (%s)", src, state, reason)
        if self.on_transition is not None:
            self.on_transition(tr)
        if state == "online":
            self.offline_since = None
            self.online_since = now
            self.last_server_rx = now
            self.last_poll = now
            self.ping_sent_at = None
            self.tcp_failures = self.gprs_failures = self.soft_resets = 0
            self.last_reset_at = None
            # backoff_step is left alone: it starts over once the session has held (`_online_tick`).
            self.counters["login"] += 1
            return acts + [Action("online")]
        return acts + self._run_entry(sdef, now)
