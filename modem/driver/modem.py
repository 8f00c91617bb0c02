"""An AT modem as a typed, callback-driven API on the runtime loop; the model is a `Dialect`.

Style (for the link supervisor and anyone else):

    modem = open_modem(loop, "sim800:/dev/serial0", power_key=key)   # modem.driver.open
    modem.subscribe(on_event)                 # ModemEvent values (modem.driver.events)
    modem.probe(on_done)                      # every operation takes on_done(result)
    def on_done(result):                      # result is Ok(value) or Failed(reason, final, timeout)
        if isinstance(result, Ok): ...
    conn = modem.tcp_connect(host, port, on_done)      # the link number, at once; Ok when connected
    modem.tcp_send(data, on_done, conn=conn)           # TcpDataReceived / TcpClosed carry `conn`

Every operation is a short script of AT commands (a generator that yields `Command`s and gets back
`Response`s, see `modem.driver.script`); a failing step ends the operation with `Failed`. Operations
may be started while others run: their commands share the channel's one queue, first come first
served. `on_done` is called exactly once, always from the loop (never inside the call that started
the operation), and an exception in it is logged, not propagated.

What TS 27.007/27.005 standardise (identification, SIM, registration, signal, operator, clock, SMS,
`AT+CFUN=1,1`) is scripted here; the bearer, TCP links and GNSS are the dialect's scripts, and which
unsolicited line means what is the dialect's URC table (`modem.driver.dialect`). This class keeps the
connection table: which link numbers are in use.

Faults reach subscribers as events whatever operation is running: `ModemRebooted` (every pending
command fails at once), `ModemPoweredDown` (not for the NORMAL POWER DOWN our own `power_cycle`
causes), `TcpClosed` (remote close or SEND FAIL), `GprsLost` (+PDP: DEACT), `ModemSilent`
(`silent_after` commands in a row timed out and no byte came back), `LineNoise` (garbage),
`PortClosed`. `ModemActivity` (at most once a second) feeds a silence watchdog. Received SMS are
read, deleted from storage and reassembled before `SmsReceived`; TCP bytes come as `TcpDataReceived`;
streamed NMEA as `NmeaReceived` and `GnssFixReceived`.

Port lifecycle (issue 12): with a `reopen` (what `open_modem` gives a device path), a port that
vanishes (EIO on a pty whose emulator stopped, a USB modem unplugged) is not the end: every pending
operation fails at once, `PortClosed` is published, and the same path is opened again with capped
back-off (1 s doubling to 10 s), `PortClosed` again after each failed try (retries, next try) and
`PortReopened` once it is back. Operations started meanwhile fail at once ("modem port gone"); the
callers pace their own retries. What answers after a reopen may have rebooted: the link probes it.
A garbled byte never closes the port (it is `LineNoise`), so only a vanished device gets here. A port
not there when the modem is made (`Modem(None, reopen=...)`, `open_modem(wait_for_device=True)`) starts
gone the same way: `PortClosed` from the loop, then tries with back-off until it appears.

The protocol work is in the sans-IO `ATChannel` and the pure parsers of `commands`; this adapter
only moves bytes and time between them and the loop, so its tests run on `VirtualLoop` + pipes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from modem.cmux.channel import MuxPort, MuxStream
from modem.cmux.frame import Junk
from modem.cmux.mux import DlciState, MuxClosed, MuxEvent, MuxParams, OpenFailed, Role
from modem.driver import at_channel as ch
from modem.driver import commands as C
from modem.driver import urc as U
from modem.driver.at_channel import ATChannel, Command, Response
from modem.driver.commands import ModemInfo, Operator, ParseError, Registration, Signal
from modem.driver.dialect import DEFAULT_DIALECT, Dialect, get_dialect
from modem.driver.events import (
    GnssFixReceived,
    GprsLost,
    IncomingCall,
    LineNoise,
    ModemActivity,
    ModemEvent,
    ModemPoweredDown,
    ModemReady,
    ModemRebooted,
    ModemSilent,
    NmeaReceived,
    PortClosed,
    PortReopened,
    RegistrationChanged,
    SimStatusChanged,
    SmsReceived,
    TcpClosed,
    TcpDataReceived,
    Unsolicited,
    VoltageWarning,
)
from modem.driver.script import Callback, CancelInput, Delay, Failed, Ok, Result, Script, StepFailed
from modem.gnss import GnssError, NmeaAccumulator
from modem.sms import Reassembler, SmsError, decode_deliver, encode_submit, make_submits
from runtime.backoff import Backoff
from runtime.logsetup import register_secret
from runtime.ratelog import RateLimitedLog
from runtime.stream import Stream

if TYPE_CHECKING:
    from modem.driver.power import PowerKey
    from runtime import Loop, Timer

log = logging.getLogger(__name__)

# Reopening a vanished port: soon at first (a replugged USB modem is back within a second or two), then
# doubling to a cap that bounds how long a returned modem waits unused. One try is one open().
REOPEN_FIRST = 1.0
REOPEN_CAP = 10.0  # a returned modem waits at most this long; a try costs one open() (cf. can_bus REOPEN_CAP)


class PortReopener(Protocol):
    """How a `Modem` gets its vanished port back (`runtime.reopen.PathReopener`): `lost()` once it went,
    `open()` for each attempt (raises OSError while the device is not back)."""

    path: str

    def lost(self) -> None: ...

    def open(self) -> Stream: ...


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsSent:
    """TP-MR of each part as the SMSC acknowledged it (`+CMGS: <mr>`; `UNKNOWN_REFERENCE` when the final
    `OK` came but noise garbled that line: the part went)."""

    references: tuple[int, ...]


@dataclass(frozen=True)
class StoredSms:
    index: int
    sender: str
    text: str
    time: datetime | None
    status: str | None = None


@dataclass(frozen=True)
class NetworkStatus:
    """What the periodic poll (spec §5 step 5) returns."""

    registration: Registration
    signal: Signal


@dataclass(frozen=True)
class NetworkInfo:
    """What `network_info` returns: `net_type` as OVMS's `m.net.type` (`2G`/`3G`/`4G`, "" without service)
    and the operator's name (`m.net.provider`, "" when not registered)."""

    net_type: str
    provider: str
    fallback: bool = False  # in service on a worse technology than the module's best (SIM7600 on 2G)


EventHandler = Callable[[ModemEvent], None]

# CMUX (issue 16): `mux` of Modem / the `modem_mux` setting. auto: multiplex when the dialect has an
# AT+CMUX and the modem accepts it; on: always ask (again after every re-init); off: plain AT only.
MUX_MODES = ("auto", "on", "off")
# The AT channels under the multiplexer: DLCI 1 carries the server link and everything not listed for
# another lane (the modem's own URCs come there too); 2 SMS and status polling; 3 GNSS.
MUX_LANES = {"data": 1, "sms": 2, "gnss": 3}
MUX_OPEN_TIMEOUT = 3.0  # T1 x (N2 + 1) at the default 100 ms is 0.4 s; a modem that is slower is not muxing


@dataclass
class _Lane:
    """An AT channel on a multiplexer DLCI other than 1."""

    name: str
    dlci: int
    channel: ATChannel
    stream: MuxStream


UNKNOWN_REFERENCE = -1  # `SmsSent.references`: the part went (OK) but noise garbled its `+CMGS: <mr>`


def _reference(r: Response) -> int:
    """TP-MR of a sent part. The final `OK` says the SMS went (TS 27.005 §3.5.1); a `+CMGS:` line that
    noise garbled must not turn that into a failure, or the caller sends the SMS again (a duplicate)."""
    try:
        return C.parse_cmgs(r.lines)
    except ParseError:
        log.info("SMS sent, but its message reference was garbled (%r)", r.lines)
        return UNKNOWN_REFERENCE


# --------------------------------------------------------------------------------------------
# Operation scripts
# --------------------------------------------------------------------------------------------

# An operation yields Command (gets Response; failures are thrown in as StepFailed), Delay, or a
# ModemEvent to publish (see modem.driver.script).
OpGen = Script


class _Op:
    """Drives one operation script; finishes exactly once."""

    def __init__(self, modem: Modem, gen: OpGen, on_done: Callback, name: str, lane: str = "data") -> None:
        self.modem = modem
        self.gen = gen
        self.on_done = on_done
        self.name = name
        self.lane = lane  # under CMUX: the AT channel its commands go to (MUX_LANES); else the one line
        self.done = False

    def step(self, value: Response | None = None, error: Failed | None = None) -> None:
        while not self.done:
            try:
                nxt = self.gen.throw(StepFailed(error)) if error is not None else self.gen.send(cast(Response, value))
            except StopIteration as stop:
                self.finish(Ok(stop.value))
                return
            except StepFailed as exc:
                self.finish(exc.failed)
                return
            except (ParseError, SmsError, ValueError) as exc:
                self.finish(Failed(f"{self.name}: {exc}"))
                return
            except Exception as exc:  # our bug: log loudly, fail the operation, keep the unit running
                log.exception("modem operation %s crashed", self.name)
                self.finish(Failed(f"{self.name}: internal error {exc!r}"))
                return
            if isinstance(nxt, ModemEvent):  # the script reports a fact (e.g. SEND FAIL: link closed)
                if isinstance(nxt, TcpClosed):
                    self.modem._links.discard(nxt.conn)
                self.modem._publish(nxt)
                value, error = None, None
                continue
            if isinstance(nxt, CancelInput):
                self.modem._write(self.modem.channel.cancel_input(self.modem._loop.time()))
                value, error = None, None
                continue
            if isinstance(nxt, Delay):
                self.modem._loop.call_later(nxt.seconds, self.step)
            else:
                self.modem._submit(nxt, self)
            return

    def finish(self, result: Result) -> None:
        if self.done:
            return
        self.done = True
        self.modem._ops.discard(self)
        self.gen.close()
        if isinstance(result, Failed) and self.modem.port_gone is None:
            # (while the port is gone every operation fails for that one reason, logged once, not per caller)
            log.info("modem %s failed: %s", self.name, result.reason)
        try:
            self.on_done(result)
        except Exception:
            log.exception("on_done of modem %s failed", self.name)


# --------------------------------------------------------------------------------------------
# The modem
# --------------------------------------------------------------------------------------------


class _NoPort(Stream):
    """Stands for a port not there yet (`Modem(stream=None)`): closed, so nothing is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = True

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class Modem:
    """An AT modem of some `Dialect` on a `Stream` (serial port, pty, pipe). See module docstring."""

    def __init__(self, loop: Loop, stream: Stream | None, *, dialect: str | Dialect = DEFAULT_DIALECT,
                 power_key: PowerKey | None = None, echo: bool = True, sms_pdu_mode: bool = True,
                 silent_after: int = 2, concat_timeout: float = 3600.0,
                 reopen: PortReopener | None = None, mux: str = "off", absent: str = "not there") -> None:
        """`stream` None (with a `reopen`): the port is not there yet (a USB modem still enumerating, an
        emulator not started): the modem starts gone, `absent` saying why, and opens it when it appears."""
        if mux not in MUX_MODES:
            raise ValueError(f"modem mux {mux!r}: expected one of {', '.join(MUX_MODES)}")
        if stream is None and reopen is None:
            raise ValueError("a modem without a port needs a way to open it (reopen)")  # our bug: raise
        self._loop = loop
        self._stream: Stream = stream if stream is not None else _NoPort()
        # GSM 07.10 (AT+CMUX after init): the multiplexer, the serial stream under it, and the AT
        # channels of DLCI 2 and 3 (DLCI 1 is `self.channel` on `self._stream`)
        self.mux_mode = mux
        self._mux: MuxPort | None = None
        self._serial: Stream | None = None
        self._lanes: dict[str, _Lane] = {}
        self._mux_refused = False  # auto: a modem that said no (or never answered SABM) is not asked again
        self._reopener = reopen
        self.port_gone: PortClosed | None = None  # the port's current absence (None while it is there)
        self._reopen_backoff = Backoff(REOPEN_FIRST, REOPEN_CAP, rng=loop.random("modem.driver.reopen"))
        self._reopen_timer: Timer | None = None
        self._reopen_log = RateLimitedLog(log, 60.0)
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self.power_key = power_key
        self.channel = ATChannel(self.dialect.urcs, echo=echo)
        self._links: set[int] = set()  # TCP link numbers opened (or opening) and not known closed
        self.sms_pdu_mode = sms_pdu_mode
        self.silent_after = silent_after
        self._subscribers: list[EventHandler] = []
        self._waiting: dict[int, _Op] = {}  # Command.seq -> op waiting for its result
        self._ops: set[_Op] = set()
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._timeouts_in_row = 0
        self._silent_reported = False
        self._activity_at = -1e9
        self._reassembler = Reassembler(timeout=concat_timeout)
        self._nmea = NmeaAccumulator()
        self._mr = 0
        self._concat_ref = loop.random("modem.driver.concat").randrange(256)
        self._boots = 0  # RDY count: operations that wait for a reboot compare against it
        self._cycling = 0  # power_cycle operations running: their NORMAL POWER DOWN is expected
        self.info: ModemInfo | None = None
        self.closed = False
        if stream is not None:
            stream.set_handlers(self._on_data, self._on_close)
        else:
            self._absent_at_start(absent)

    # -- subscription ------------------------------------------------------------------------
    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Add an event handler; returns a function that removes it."""
        self._subscribers.append(handler)
        return lambda: self._subscribers.remove(handler) if handler in self._subscribers else None

    @property
    def can_power_cycle(self) -> bool:
        """A power key is wired: `power_cycle` can switch the modem off and on."""
        return self.power_key is not None

    @property
    def max_connections(self) -> int:
        """How many TCP links the dialect can hold at once."""
        return self.dialect.max_connections

    @property
    def last_activity(self) -> float | None:
        """loop.time() of the last byte from the modem (None: never)."""
        return self.channel.last_rx

    def close(self) -> None:
        """Stop: fail pending operations, release the stream."""
        if self.closed:
            return
        self.closed = True
        if self._timer:
            self._timer.cancel()
        if self._reopen_timer is not None:
            self._reopen_timer.cancel()
        for op in list(self._ops):
            op.finish(Failed("modem closed"))
        if self._mux is not None:
            self._mux.detach()
        (self._serial or self._stream).close()

    # -- raw access --------------------------------------------------------------------------
    def command(self, cmd: Command, on_done: Callback) -> None:
        """Run one raw command; Ok(Response) on a successful final, else Failed."""
        def script() -> OpGen:
            return (yield cmd)
        self._start(script(), on_done, cmd.shown)

    # -- power-up, identification ------------------------------------------------------------
    def probe(self, on_done: Callback, tries: int = 10, interval: float = 1.0) -> None:
        """`AT` every `interval` s until OK (spec §5 step 1); Failed("modem silent") after `tries`.

        After the first unanswered `AT` the next one goes after an ESC: a modem left at a `> ` prompt
        (the previous process died mid-`AT+CMGS`) takes `AT` as message text and never answers it. Once
        only: a silent modem never answers the ESC either, and each costs the channel's cancel wait.
        """
        def script() -> OpGen:
            escaped = False
            for _ in range(tries):
                try:
                    yield C.at(timeout=interval)
                    return None
                except StepFailed as exc:
                    if exc.failed.final is not None:  # ERROR: a modem that talks; pause like a real client
                        yield Delay(interval)
                    elif exc.failed.timeout and not escaped:
                        escaped = True
                        yield CancelInput()
                    # timeout: the wait was the pause; aborted by RDY: the modem just booted, ask again
            raise StepFailed(Failed("modem silent", timeout=True))
        self._start(script(), on_done, "probe")

    def init(self, on_done: Callback) -> None:
        """Echo off, verbose errors, identification, SMS mode and delivery, registration URCs.

        Ok(ModemInfo). CIMI/CCID may fail without a usable SIM: they are then None.
        """
        def script() -> OpGen:
            yield C.simple("ATE0")
            yield C.simple("AT+CMEE=2")
            man = C.parse_identity((yield C.identity("AT+CGMI")).lines)
            model = C.parse_identity((yield C.identity("AT+CGMM")).lines)
            rev = C.parse_identity((yield C.identity("AT+CGMR")).lines)
            imei = C.parse_identity((yield C.identity("AT+CGSN")).lines)
            iccid = yield from self._optional(C.identity("AT+CCID"))
            imsi = yield from self._optional(C.identity("AT+CIMI"))
            yield from self._sms_setup()
            yield C.simple("AT+CREG=2")
            yield C.simple("AT+CGREG=2")
            yield from self.dialect.setup()
            self.info = ModemInfo(man, model, rev, imei, iccid, imsi)
            yield from self._mux_start()
            return self.info
        self._start(script(), on_done, "init")

    def _optional(self, cmd: Command) -> Generator[Command, Response, str | None]:
        try:
            return C.parse_identity((yield cmd).lines)
        except (StepFailed, ParseError):
            return None

    def _sms_setup(self) -> Generator[Command, Response, None]:
        yield C.simple(f"AT+CMGF={0 if self.sms_pdu_mode else 1}")
        if not self.sms_pdu_mode:
            yield C.simple('AT+CSCS="GSM"')
            yield C.simple("AT+CSDH=1")
        yield C.simple("AT+CNMI=2,2,0,0,0")  # spec §4: +CMT direct delivery (+CMTI when stored)

    def set_sms_mode(self, pdu: bool, on_done: Callback) -> None:
        def script() -> OpGen:
            self.sms_pdu_mode = pdu
            yield from self._sms_setup()
        self._start(script(), on_done, "set_sms_mode")

    # -- SIM -------------------------------------------------------------------------------------
    def sim_status(self, on_done: Callback) -> None:
        """Ok("READY" | "SIM PIN" | ...); `+CME ERROR` (no SIM) gives Failed with the modem's text."""
        def script() -> OpGen:
            return C.parse_cpin((yield C.query("AT+CPIN?", "+CPIN:")).lines)
        self._start(script(), on_done, "sim_status", lane="sms")

    def sim_inserted(self, on_done: Callback) -> None:
        def script() -> OpGen:
            return C.parse_csmins((yield C.query("AT+CSMINS?", "+CSMINS:")).lines)
        self._start(script(), on_done, "sim_inserted")

    def enter_pin(self, pin: str, on_done: Callback) -> None:
        def script() -> OpGen:
            yield C.cpin(pin)
        self._start(script(), on_done, "enter_pin")

    # -- network -----------------------------------------------------------------------------
    def registration(self, on_done: Callback, gprs: bool = False) -> None:
        """Ok(Registration) from `AT+CREG?` (or `AT+CGREG?`)."""
        prefix = "+CGREG:" if gprs else "+CREG:"
        def script() -> OpGen:
            return C.parse_creg((yield C.query(f"AT{prefix[:-1]}?", prefix)).lines, prefix)
        self._start(script(), on_done, "registration", lane="sms")

    def signal(self, on_done: Callback) -> None:
        """Ok(Signal) from `AT+CSQ` (dBm per TS 27.007)."""
        def script() -> OpGen:
            return C.parse_csq((yield C.query("AT+CSQ", "+CSQ:")).lines)
        self._start(script(), on_done, "signal", lane="sms")

    def poll(self, on_done: Callback) -> None:
        """Ok(NetworkStatus): the periodic `AT+CREG?;+CSQ` of spec §5 step 5, in one command line."""
        def script() -> OpGen:
            r = yield Command("AT+CREG?;+CSQ", prefixes=("+CREG:", "+CSQ:"))
            return NetworkStatus(C.parse_creg(r.lines), C.parse_csq(r.lines))
        self._start(script(), on_done, "poll", lane="sms")

    def operator(self, on_done: Callback) -> None:
        """Ok(Operator) in long alphanumeric format."""
        def script() -> OpGen:
            yield C.simple("AT+COPS=3,0")
            return C.parse_cops((yield C.query("AT+COPS?", "+COPS:")).lines)
        self._start(script(), on_done, "operator", lane="sms")

    def network_info(self, on_done: Callback) -> None:
        """Ok(NetworkInfo): the radio technology (`2G`/`3G`/`4G`, the dialect's reading) and the operator's
        long name (TS 27.007 `AT+COPS?`), for the `m.net.type` and `m.net.provider` metrics."""
        def script() -> OpGen:
            net_type = yield from self.dialect.net_type()
            yield C.simple("AT+COPS=3,0")
            r = yield C.query("AT+COPS?", "+COPS:")
            assert r is not None
            best = self.dialect.best_net_type
            return NetworkInfo(net_type, C.parse_cops(r.lines).name or "", bool(net_type) and net_type < best)
        self._start(script(), on_done, "network_info", lane="sms")

    def radio_recover(self, on_done: Callback) -> None:
        """The dialect's recovery rung for a radio stuck on GSM or in a no-service loop (SIM7600: an
        `AT+CNMP` toggle); Ok(what it did), "" when the dialect has none."""
        self._start(self.dialect.radio_recover(), on_done, "radio_recover")

    def select_operator_auto(self, on_done: Callback) -> None:
        """`AT+COPS=0`: automatic network selection (the supervisor's reselection step)."""
        def script() -> OpGen:
            yield C.simple("AT+COPS=0", timeout=C.T_COPS_SCAN)
        self._start(script(), on_done, "select_operator_auto")

    def network_time(self, on_done: Callback) -> None:
        """Ok(datetime, timezone-aware) from `AT+CCLK?` (set by the network with `AT+CLTS=1`)."""
        def script() -> OpGen:
            return C.parse_cclk((yield C.query("AT+CCLK?", "+CCLK:")).lines)
        self._start(script(), on_done, "network_time", lane="sms")

    # -- the bearer and TCP links (the dialect's scripts) ----------------------------------------
    def gprs_attach(self, apn: str, on_done: Callback, user: str = "", password: str = "") -> None:
        """Bring the data bearer up → Ok(local IP address). Every TCP link starts closed.

        The password goes to the modem only; it is never logged by the driver, and it is registered
        with the log redaction filter in case anyone else prints it.
        """
        register_secret(password)
        self._links.clear()
        self._start(self.dialect.gprs_attach(apn, user, password), on_done, "gprs_attach")

    def gprs_shutdown(self, on_done: Callback) -> None:
        """Take the bearer down from any state; every TCP link closes with it."""
        self._links.clear()
        self._start(self.dialect.gprs_shutdown(), on_done, "gprs_shutdown")

    def tcp_connect(self, host: str, port: int, on_done: Callback) -> int:
        """Open a TCP link; returns its number at once, `on_done(Ok(None))` once it is connected.

        The number is the lowest one not in use; it names the link in `tcp_send`, `tcp_close` and in
        the `TcpDataReceived`/`TcpClosed` events. A dialect with one link reuses 0 (the modem answers
        `ALREADY CONNECT` if it is still up). With every link in use: -1, and `Failed`.
        """
        n = self.dialect.max_connections
        conn = next((c for c in range(n) if c not in self._links), 0 if n == 1 else -1)
        if conn < 0:
            self._start(self._fail(f"all {n} TCP links in use"), on_done, "tcp_connect")
            return conn
        self._links.add(conn)

        def done(result: Result) -> None:
            if isinstance(result, Failed):
                self._links.discard(conn)
            on_done(result)
        self._start(self.dialect.tcp_open(conn, host, port), done, "tcp_connect")
        return conn

    def tcp_send(self, data: bytes, on_done: Callback, conn: int = 0) -> None:
        """Hand `data` to link `conn`: Ok(None) means the modem took it (never that the server got it).

        SEND FAIL also publishes TcpClosed for the link. Large payloads go in several sends.
        """
        self._start(self.dialect.tcp_send(conn, data), on_done, "tcp_send")

    def tcp_close(self, on_done: Callback, conn: int = 0) -> None:
        """Close link `conn`; its number is free again at once (the close is queued before any reopen)."""
        self._links.discard(conn)
        self._start(self.dialect.tcp_close(conn), on_done, "tcp_close")

    def ip_status(self, on_done: Callback, conn: int = 0) -> None:
        """Ok("IP INITIAL" | "IP GPRSACT" | "CONNECT OK" | "TCP CLOSED" | "PDP DEACT" ...) for link `conn`."""
        self._start(self.dialect.ip_status(conn), on_done, "ip_status")

    @staticmethod
    def _fail(reason: str) -> OpGen:
        raise StepFailed(Failed(reason))
        yield  # pragma: no cover  (makes this a generator)

    # -- SMS -----------------------------------------------------------------------------------
    def send_sms(self, number: str, text: str, on_done: Callback, max_parts: int = 4) -> None:
        """Ok(SmsSent). PDU mode for everything that is not short plain ASCII (UCS-2, concatenated).

        `Failed(outcome_unknown=True)`: the modem finished an AT+CMGS but line noise garbled both its
        answer and its final: the SMS may have gone. The caller decides (the unit counts it as sent).
        """
        def script() -> OpGen:
            plain = text.isascii() and text.isprintable() and len(text) <= 160
            if not self.sms_pdu_mode and plain:
                r = yield C.cmgs_text(number, text)
                return SmsSent((_reference(r),))
            parts = make_submits(number, text, reference=self._mr, concat_ref=self._concat_ref,
                                 max_parts=max_parts)
            self._mr = (self._mr + len(parts)) % 256
            self._concat_ref = (self._concat_ref + 1) % 256
            if not self.sms_pdu_mode:
                yield C.simple("AT+CMGF=0")
            refs = []
            try:
                for part in parts:
                    enc = encode_submit(part)
                    r = yield C.cmgs_pdu(enc.hex, enc.tpdu_length)
                    refs.append(_reference(r))
            finally:
                if not self.sms_pdu_mode:
                    self.command(C.simple("AT+CMGF=1"), lambda _r: None)
            return SmsSent(tuple(refs))
        self._start(script(), on_done, "send_sms", lane="sms")

    def read_sms(self, index: int, on_done: Callback) -> None:
        """Ok(StoredSms) for one stored message (one part if it is concatenated)."""
        def script() -> OpGen:
            r = yield C.cmgr(index)
            return self._stored(index, r.lines)
        self._start(script(), on_done, "read_sms", lane="sms")

    def list_sms(self, on_done: Callback) -> None:
        """Ok(list[StoredSms]) of every stored message (parts as stored)."""
        def script() -> OpGen:
            r = yield C.cmgl(self.sms_pdu_mode)
            out = []
            lines = list(r.lines)
            for header, body in zip(lines[0::2], lines[1::2], strict=False):
                try:
                    out.append(self._listed(header, body))
                except (ParseError, SmsError) as exc:
                    log.warning("skipping unreadable stored SMS %r: %s", header, exc)
            return out
        self._start(script(), on_done, "list_sms", lane="sms")

    def delete_sms(self, index: int, on_done: Callback) -> None:
        def script() -> OpGen:
            yield C.cmgd(index)
        self._start(script(), on_done, "delete_sms", lane="sms")

    def _stored(self, index: int, lines: tuple[str, ...]) -> StoredSms:
        if len(lines) < 2:
            raise ParseError(f"no message at index {index}")
        header, body = lines[0], lines[1]
        if C.is_pdu_cmgr(header):
            d = decode_deliver(body)
            return StoredSms(index, d.originator, d.text, d.timestamp)
        h = C.parse_cmgr_text_header(header)
        return StoredSms(index, h.sender, body, h.time, h.status)

    def _listed(self, header: str, body: str) -> StoredSms:
        if self.sms_pdu_mode:
            d = decode_deliver(body)
            return StoredSms(C.parse_cmgl_pdu_index(header), d.originator, d.text, d.timestamp)
        h = C.parse_cmgl_text_header(header)
        return StoredSms(h.index or 0, h.sender, body, h.time, h.status)

    # -- GNSS (the dialect's scripts) ---------------------------------------------------------------
    def gnss_power(self, on: bool, on_done: Callback) -> None:
        self._start(self.dialect.gnss_power(on), on_done, "gnss_power", lane="gnss")

    def gnss_stream(self, on: bool, on_done: Callback) -> None:
        """NMEA sentences as URCs → `NmeaReceived` and `GnssFixReceived` events."""
        self._start(self.dialect.gnss_stream(on), on_done, "gnss_stream", lane="gnss")

    def gnss_fix(self, on_done: Callback) -> None:
        """Ok(GnssFix) (`.valid` False while there is no fix)."""
        self._start(self.dialect.gnss_fix(), on_done, "gnss_fix", lane="gnss")

    # -- power -----------------------------------------------------------------------------------
    def soft_reset(self, on_done: Callback, boot_timeout: float = 30.0) -> None:
        """The dialect's soft reset (`AT+CFUN=1,1`; SIM7600 `AT+CRESET`), then wait for `RDY`; Ok when the
        modem is back (echo on, settings lost)."""
        def script() -> OpGen:
            boots = self._boots
            try:
                yield Command(self.dialect.reset_command, timeout=C.T_CFUN)
            except StepFailed:
                if self._boots == boots:  # RDY aborts the command itself: that is success
                    raise
            yield from self._await_boot(boots, boot_timeout)
        self._start(script(), on_done, "soft_reset")

    def power_cycle(self, on_done: Callback, boot_timeout: float = 30.0, settle: float = 3.0) -> None:
        """Pulse the power key; if the modem went down (it was on), pulse again to switch it on.

        Ok once `RDY` arrives, or once `AT` answers (a modem that boots without saying RDY). The
        `NORMAL POWER DOWN` our own pulse causes is not published as `ModemPoweredDown` (it is no
        fault, and a supervisor would start another cycle); `ModemRebooted` is published as usual.
        """
        def script() -> OpGen:
            key = self.power_key
            if key is None:
                raise StepFailed(Failed("no power key"))
            self._cycling += 1
            try:
                boots = self._boots
                yield from self._pulse(key)
                yield Delay(settle)
                if self._boots != boots or (yield from self._answers()):
                    return None  # it was off and has booted
                yield from self._pulse(key)  # it was on and is now off: switch it on
                yield from self._await_boot(boots, boot_timeout)
            finally:
                self._cycling -= 1
        self._start(script(), on_done, "power_cycle")

    def _pulse(self, key: PowerKey) -> Generator[Command | Delay, Response | None, None]:
        done: list[bool] = []
        key.pulse(lambda: done.append(True))
        while not done:
            yield Delay(0.1)

    def _answers(self) -> Generator[Command | Delay, Response | None, bool]:
        try:
            yield C.at(timeout=1.0)
            return True
        except StepFailed:
            return False

    def _await_boot(self, boots: int, timeout: float) -> Generator[Command | Delay, Response | None, None]:
        """Wait until RDY has been seen more often than `boots` times."""
        deadline = self._loop.time() + timeout
        while self._boots == boots:
            if self._loop.time() >= deadline:
                if (yield from self._answers()):  # booted without RDY (autobauding modems say nothing)
                    return
                raise StepFailed(Failed("modem did not come back", timeout=True))
            yield Delay(0.2)

    # -- machinery ------------------------------------------------------------------------------
    def _start(self, gen: OpGen, on_done: Callback, name: str, lane: str = "data") -> None:
        op = _Op(self, gen, on_done, name, lane)
        if self.closed:
            self._loop.call_soon(op.finish, Failed("modem closed"))
            return
        if self.port_gone is not None:
            self._loop.call_soon(op.finish, Failed(f"modem port {self.port_gone.port} is gone"))
            return
        self._ops.add(op)
        self._loop.call_soon(op.step)  # never call back from inside the caller's call

    def _submit(self, cmd: Command, op: _Op) -> None:
        self._waiting[cmd.seq] = op
        lane = self._lanes.get(op.lane)
        if lane is not None:
            out = lane.channel.send(cmd, self._loop.time())
            if out:
                lane.stream.write(out)
        else:
            out = self.channel.send(cmd, self._loop.time())
            if out:
                self._write(out)
        self._pump()

    def _write(self, data: bytes) -> None:
        if not self._stream.closed:
            self._stream.write(data)

    def _on_data(self, data: bytes) -> None:
        now = self._loop.time()
        self.channel.receive_data(data, now)
        self._timeouts_in_row = 0
        self._silent_reported = False
        if now - self._activity_at >= 1.0:
            self._activity_at = now
            self._publish(ModemActivity(now))
        self._pump()

    def _on_close(self) -> None:
        if self._reopener is None or self.closed:
            log.warning("modem serial stream closed; failing pending operations")
            self.close()
            self._publish(PortClosed())
            return
        self._port_lost("serial stream closed")

    def _port_lost(self, reason: str) -> None:
        """The device vanished: fail what is pending, forget the line's state, reopen with back-off."""
        assert self._reopener is not None
        now = self._loop.time()
        port = self._reopener.path
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        self.channel = ATChannel(self.dialect.urcs, echo=True)  # what comes back may have rebooted
        self._waiting.clear()
        self._links.clear()
        self._timeouts_in_row = 0
        self._silent_reported = False
        self._reopener.lost()
        self._reopen_backoff.succeeded()
        delay = self._reopen_backoff.failed(now)
        self.port_gone = PortClosed(port, reason, now, 0, now + delay)
        self._reopen_timer = self._loop.call_later(delay, self._reopen)
        log.warning("modem port %s is gone (%s); pending operations fail, reopening it (first try in %.1f s)",
                    port, reason, delay)
        # Subscribers hear of the loss before the failures arrive: a link that is mid-reset must not
        # take "soft reset failed" for a modem fault and press the power key of a modem it cannot reach.
        self._publish(self.port_gone)
        for op in list(self._ops):
            op.finish(Failed(f"modem port {port} is gone"))

    def _absent_at_start(self, reason: str) -> None:
        """The port was not there when the modem was made: wait for it as for a vanished one (issue 12)."""
        assert self._reopener is not None
        now = self._loop.time()
        port = self._reopener.path
        self._reopener.lost()  # a dangling symlink left by a killed emulator is not followed
        delay = self._reopen_backoff.failed(now)
        self.port_gone = PortClosed(port, reason, now, 0, now + delay)
        self._reopen_timer = self._loop.call_later(delay, self._reopen)
        log.warning("modem port %s is not there (%s); waiting for it (next try in %.1f s)", port, reason, delay)
        # Subscribers attach after the modem is made: they hear of it from the loop, before any operation
        # they start fails ("modem port gone"), so a link waits in port_gone instead of climbing its ladder.
        self._loop.call_soon(self._still_absent)

    def _still_absent(self) -> None:
        if self.port_gone is not None and not self.closed:
            self._publish(self.port_gone)

    def _reopen(self) -> None:
        self._reopen_timer = None
        gone = self.port_gone
        if self.closed or gone is None or self._reopener is None:
            return
        now = self._loop.time()
        try:
            stream = self._reopener.open()
        except OSError as exc:  # serial.SerialException is one; so are ENOENT and a stale link
            delay = self._reopen_backoff.failed(now)
            self.port_gone = PortClosed(gone.port, gone.reason, gone.since, gone.retries + 1, now + delay)
            self._reopen_log.info("reopen", now, "modem port %s still gone (%s); %d tries, next in %.0f s",
                                  gone.port, exc, gone.retries + 1, delay)
            self._reopen_timer = self._loop.call_later(delay, self._reopen)
            self._publish(self.port_gone)
            return
        self._stream = stream
        self.port_gone = None
        self._reopen_backoff.succeeded()
        self._reopen_log.reset("reopen")
        log.warning("modem port %s back after %.1f s (%d failed tries)", gone.port, now - gone.since,
                    gone.retries)
        stream.set_handlers(self._on_data, self._on_close)
        self._publish(PortReopened(gone.port, now - gone.since, gone.retries))

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        self.channel.tick(now)
        for lane in list(self._lanes.values()):
            lane.channel.tick(now)
        self._pump()

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            busy = True
            while busy:
                busy = False
                while True:
                    ev = self.channel.next_event()
                    out = self.channel.data_to_send()
                    if out:
                        self._write(out)
                    if ev is None:
                        break
                    self._dispatch(ev)
                for lane in list(self._lanes.values()):
                    while self._lanes.get(lane.name) is lane:
                        ev = lane.channel.next_event()
                        out = lane.channel.data_to_send()
                        if out:
                            lane.stream.write(out)
                        if ev is None:
                            break
                        busy = True
                        self._dispatch(ev)
        finally:
            self._pumping = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        times = [t for t in (c.next_deadline() for c in (self.channel, *(x.channel for x in self._lanes.values())))
                 if t is not None]
        when = min(times) if times else None
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, when
        if when is not None and not self.closed:
            self._timer = self._loop.call_at(when, self._on_timer)

    # -- the 07.10 multiplexer ----------------------------------------------------------------------
    @property
    def multiplexed(self) -> bool:
        """The serial line carries CMUX frames (DLCI 1 data, 2 SMS/status, 3 GNSS)."""
        return self._mux is not None

    def leave_mux(self) -> None:
        """Ask the modem to leave CMUX (CLD); the line is plain AT once it answers (or after T2 x N2)."""
        if self._mux is not None:
            self._mux.close_down()

    def _mux_start(self) -> Generator[Command | Delay, Response | None, None]:
        """After init: `AT+CMUX=...` with the dialect's parameters, then SABM on DLCI 0..3. Anything
        short of every UA leaves the line as it was, plain AT, with a log line saying why."""
        cmd = self.dialect.cmux_command
        if self.mux_mode == "off" or cmd is None or self._mux is not None or self.port_gone is not None:
            return
        if self.mux_mode == "auto" and self._mux_refused:
            return
        try:
            yield C.simple(cmd)
        except StepFailed as exc:
            self._mux_refused = True
            log.warning("modem: %s refused (%s); staying on plain AT", cmd, exc.failed.reason)
            return
        self._mux_open(self.dialect.cmux_n1)
        deadline = self._loop.time() + MUX_OPEN_TIMEOUT
        port = self._mux
        while port is not None and self._mux is port:
            if all(port.mux.state(n) is DlciState.OPEN for n in (0, *MUX_LANES.values())):
                log.info("modem: multiplexed (CMUX): DLCI 1 data, 2 SMS and status, 3 GNSS")
                return
            if self._loop.time() >= deadline:
                self._mux_refused = True
                self._leave_mux(f"no UA to SABM within {MUX_OPEN_TIMEOUT:.0f} s", close_down=True)
                return
            yield Delay(0.02)
        self._mux_refused = True  # it fell back while opening (DM, no UA to SABM on DLCI 0)

    def _mux_open(self, n1: int) -> None:
        serial = self._stream
        self._serial = serial
        port = MuxPort(self._loop, serial, Role.INITIATOR, MuxParams(n1=n1), on_event=self._on_mux_event)
        self._mux = port
        port.start()
        main = port.channel(MUX_LANES["data"])
        main.set_handlers(self._on_data, self._on_mux_stream_closed)
        self._stream = main
        port.open(main.dlci)
        for name, dlci in MUX_LANES.items():
            if dlci == main.dlci:
                continue
            stream = port.channel(dlci)
            lane = _Lane(name, dlci, ATChannel(self.dialect.urcs, echo=True), stream)
            stream.set_handlers(functools.partial(self._on_lane_data, lane))
            self._lanes[name] = lane
            port.open(dlci)

    def _on_lane_data(self, lane: _Lane, data: bytes) -> None:
        now = self._loop.time()
        lane.channel.receive_data(data, now)
        self._timeouts_in_row = 0
        self._silent_reported = False
        if now - self._activity_at >= 1.0:
            self._activity_at = now
            self._publish(ModemActivity(now))
        self._pump()

    def _on_mux_event(self, ev: MuxEvent) -> None:
        if isinstance(ev, MuxClosed):
            self._leave_mux(ev.reason)
        elif isinstance(ev, OpenFailed):
            self._leave_mux(f"DLCI {ev.dlci}: {ev.reason}", close_down=True)
        elif isinstance(ev, Junk):
            # A modem that rebooted or powered down under the multiplexer talks plain AT again (RDY,
            # NORMAL POWER DOWN): hand those bytes to the plain channel, which knows what they mean.
            lines = ev.data.replace(b"\r", b"\n").split(b"\n")
            for raw in lines:
                urc = self.dialect.urcs.classify(raw.decode("latin-1").strip()) if raw.strip() else None
                if urc is not None and urc.resets:
                    self._leave_mux(f"the modem restarted under the multiplexer ({urc.line})", replay=ev.data)
                    return

    def _on_mux_stream_closed(self) -> None:
        """DLCI 1 closed: because the serial stream went (a port lost), or the multiplexer did."""
        serial = self._serial
        if serial is not None and serial.closed:
            self._leave_mux("the serial port closed")
            self._on_close()

    def _leave_mux(self, reason: str, replay: bytes = b"", close_down: bool = False) -> None:
        """Back to plain AT: commands not yet written move to the plain channel, the ones in flight on
        the multiplexer's channels fail (their answers are gone with it)."""
        port, self._mux = self._mux, None
        serial, self._serial = self._serial, None
        if port is None or serial is None:
            return
        log.warning("modem: leaving CMUX (%s); plain AT on the serial line from now on", reason)
        if close_down and not port.closed and not serial.closed:
            port.close_down()  # a modem half in mux mode is told to leave it (CLD); harmless if deaf
        port.detach()
        self._stream = serial
        serial.set_handlers(self._on_data, self._on_close)
        now = self._loop.time()
        lanes, self._lanes = list(self._lanes.values()), {}
        inflight = [c for c in (self.channel.abort(reason, now), *(x.channel.abort(reason, now) for x in lanes))
                    if c is not None]
        queued = [*self.channel.clear_queue(), *(c for x in lanes for c in x.channel.clear_queue())]
        self.channel = ATChannel(self.dialect.urcs, echo=True)
        for cmd in inflight:
            op = self._waiting.pop(cmd.seq, None)
            if op is not None:
                self._loop.call_soon(op.step, None, Failed(f"{cmd.shown}: lost with the multiplexer ({reason})"))
        for cmd in queued:
            out = self.channel.send(cmd, now)
            if out:
                self._write(out)
        if replay:
            self.channel.receive_data(replay, now)
        self._pump()

    def _dispatch(self, ev: ch.Event) -> None:
        if isinstance(ev, Response):
            op = self._waiting.pop(ev.command.seq, None)
            if op is not None:
                if ev.final.ok:
                    op.step(ev)
                else:
                    op.step(error=Failed(f"{ev.command.shown}: {ev.final.line}", final=ev.final))
            return
        if isinstance(ev, ch.Timeout) and ev.final_lost:  # the modem answers: no silence, a garbled final
            op = self._waiting.pop(ev.command.seq, None)
            if op is not None:
                op.step(error=Failed(f"{ev.command.shown}: final result lost in line noise", timeout=True,
                                     outcome_unknown=True))
            return
        if isinstance(ev, ch.Timeout):
            self._timeouts_in_row += 1
            op = self._waiting.pop(ev.command.seq, None)
            if self._timeouts_in_row >= self.silent_after and not self._silent_reported:
                self._silent_reported = True
                self._publish(ModemSilent(f"{self._timeouts_in_row} AT commands unanswered",
                                          self._timeouts_in_row, self.channel.last_rx))
            if op is not None:
                op.step(error=Failed(f"{ev.command.shown}: no answer", timeout=True))
            return
        if isinstance(ev, ch.Aborted):
            op = self._waiting.pop(ev.command.seq, None)
            if op is not None:
                op.step(error=Failed(f"{ev.command.shown}: aborted by {ev.reason}"))
            return
        if isinstance(ev, ch.Garbage):
            self._publish(LineNoise(ev.data))
            return
        self._on_urc(ev)

    def _on_urc(self, urc: U.Urc) -> None:
        if isinstance(urc, U.TcpData):
            self._publish(TcpDataReceived(urc.data, urc.truncated, urc.conn))
        elif isinstance(urc, U.ModemBooted):
            log.warning("modem rebooted (%s)", urc.line)
            self._boots += 1
            self._links.clear()
            self._publish(ModemRebooted())
        elif isinstance(urc, U.PowerDown):
            self._links.clear()
            if self._cycling and urc.reason == "normal":
                log.info("modem powered down by our power-key pulse")
            else:
                log.warning("modem powered down: %s", urc.line)
                self._publish(ModemPoweredDown(urc.reason))
        elif isinstance(urc, U.VoltageWarning):
            self._publish(VoltageWarning(urc.reason))
        elif isinstance(urc, U.TcpClosed):
            self._links.discard(urc.conn)
            self._publish(TcpClosed("CLOSED", urc.conn))
        elif isinstance(urc, U.PdpDeactivated):
            self._links.clear()
            self._publish(GprsLost())
        elif isinstance(urc, U.RegistrationChanged):
            self._publish(RegistrationChanged(Registration(urc.stat, urc.lac, urc.ci), urc.gprs))
        elif isinstance(urc, U.SimStatus):
            self._publish(SimStatusChanged(urc.status))
        elif isinstance(urc, U.CallReady | U.SmsReady):
            self._publish(ModemReady(urc.line))
        elif isinstance(urc, U.Ring):
            self._publish(IncomingCall())
        elif isinstance(urc, U.NmeaSentence):
            self._publish(NmeaReceived(urc.line))
            self._on_nmea(urc.line)
        elif isinstance(urc, U.SmsDirect):
            self._on_cmt(urc)
        elif isinstance(urc, U.SmsStored):
            self._on_cmti(urc)
        else:
            follow_up = self.dialect.urc_script(urc)  # e.g. SIM7600 `+CIPRXGET: 1,<n>`: read link n
            if follow_up is not None:
                self._start(follow_up, self._follow_up_done, f"after {urc.line}")
            else:
                self._publish(Unsolicited(urc.line))

    @staticmethod
    def _follow_up_done(result: Result) -> None:
        if isinstance(result, Failed):
            log.warning("modem: reading after a notice failed: %s", result.reason)

    def _on_cmt(self, urc: U.SmsDirect) -> None:
        try:
            if C.is_pdu_cmt(urc.header):
                d = decode_deliver(urc.text)
                self._sms_part(d.originator, d.text, d.timestamp, d.concat)
            else:
                h = C.parse_cmt_text_header(urc.header)
                self._sms_part(h.sender, urc.text, h.time, None)
        except (ParseError, SmsError) as exc:
            log.warning("unreadable incoming SMS %r: %s", urc.header, exc)
            self._publish(Unsolicited(urc.header))

    def _on_cmti(self, urc: U.SmsStored) -> None:
        def script() -> OpGen:
            if urc.store != "SM":
                yield C.simple(f'AT+CPMS="{urc.store}"')
            r = yield C.cmgr(urc.index)
            header, body = (r.lines + ("", ""))[:2]
            if C.is_pdu_cmgr(header):
                d = decode_deliver(body)
                self._sms_part(d.originator, d.text, d.timestamp, d.concat)
            else:
                h = C.parse_cmgr_text_header(header)
                self._sms_part(h.sender, body, h.time, None)
            yield C.cmgd(urc.index)
            if urc.store != "SM":
                yield C.simple('AT+CPMS="SM"')

        def done(result: Result) -> None:
            if isinstance(result, Failed):
                log.warning("could not fetch stored SMS %s/%d: %s", urc.store, urc.index, result.reason)
        self._start(script(), done, "fetch_sms", lane="sms")

    def _on_nmea(self, sentence: str) -> None:
        try:
            fix = self._nmea.feed(sentence)
        except GnssError as exc:
            log.debug("dropping NMEA sentence %r: %s", sentence, exc)
            return
        if fix is not None:
            self._publish(GnssFixReceived(fix))

    def _sms_part(self, sender: str, text: str, time: datetime | None, concat: Any) -> None:
        whole = self._reassembler.add(sender, text, concat, self._loop.time())
        if whole is not None:
            self._publish(SmsReceived(sender, whole, time))

    def _publish(self, ev: ModemEvent) -> None:
        for handler in list(self._subscribers):
            try:
                handler(ev)
            except Exception:
                log.exception("modem event handler failed on %r", ev)


__all__ = [
    "Callback", "Failed", "GnssFixReceived", "GprsLost", "IncomingCall", "LineNoise", "Modem", "ModemActivity",
    "ModemEvent", "ModemInfo", "ModemPoweredDown", "ModemReady", "ModemRebooted", "ModemSilent",
    "NetworkInfo", "NetworkStatus", "NmeaReceived", "Ok", "Operator", "PortClosed", "PortReopened", "Registration",
    "RegistrationChanged",
    "Result", "Signal", "SimStatusChanged", "SmsReceived", "SmsSent", "StoredSms", "TcpClosed",
    "TcpDataReceived", "Unsolicited", "VoltageWarning",
]
