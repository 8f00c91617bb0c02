"""The sans-IO core of the virtual modem: bytes and time in; bytes, actions and a deadline out.

    interp.receive(data, now)      # what the host wrote on the serial line
    interp.tick(now)               # time passed (call at interp.next_deadline())
    interp.take_output() -> bytes  # what the modem writes back
    interp.take_actions() -> list  # TcpConnect / TcpSend / TcpClose / SmsOut for the adapter

Network events come back in through `tcp_connected`, `tcp_data`, `tcp_closed` and `sms_arrived`.
What the modem answers to each command comes from its dialect (`modem.emulator.dialects`): a table
of handlers, the SIM800's in the `commands_*` modules, one per group of sim800-at.md §2.
"""

from __future__ import annotations

import heapq
import logging
import random
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from modem.emulator import commands_sms, commands_tcp
from modem.emulator import state as st
from modem.emulator.command import Command, ParseError, Prompt, Reply, parse_line
from modem.emulator.dialects import Dialect, dialect_named
from modem.emulator.errors import AtError
from modem.emulator.events import Action, SmsOut, TcpClose
from modem.emulator.faults import ONE_SHOT, Faults, UnknownFault
from modem.emulator.gnss import FixedPosition, as_source
from modem.emulator.timing import INSTANT, Timing
from modem.sms import SmsDeliver, encode_deliver

if TYPE_CHECKING:
    from modem.emulator.commands_http import HttpSession

log = logging.getLogger(__name__)
transcript = logging.getLogger("modem.emulator.transcript")

CR, LF, BS, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
MAX_LINE = 556  # SIM800: longest command line it accepts
MAX_INPUT_BACKLOG = 65536  # bytes held while a command is running
MAX_PROMPT = 4096  # longest payload after '> ' without a length (CMGS text, CIPSEND)
CIPSEND_MAX = 1460  # SIM800 AT+CIPSEND=<n> limit

DEFAULT_EPOCH = 1_767_225_600.0

_HUNT = re.compile(rb"[Aa]")
_CONTROL = re.compile(rb"[\r\n\x08\x1a\x1b]")


class SocketUser(Protocol):
    """Whoever opened a network connection (a TCP link, the HTTP client) gets its events."""

    def connected(self, m: Interpreter, sock: int, ok: bool, reason: str | None) -> None: ...

    def data(self, m: Interpreter, sock: int, data: bytes) -> None: ...

    def closed(self, m: Interpreter, sock: int) -> None: ...


class Interpreter:
    """One SIM800-class modem: line discipline, command state, URCs, timers and faults."""

    def __init__(
        self,
        *,
        imei: str = "867856030000001",
        number: str = "+447700900999",
        smsc: str = "+447700900000",
        timing: Timing = INSTANT,
        rng: random.Random | None = None,
        wall_of: Callable[[float], float] | None = None,
        gnss: Any = None,
        powered: bool = True,
        now: float = 0.0,
        name: str = "vmodem",
        dialect: str | Dialect = "sim800",
    ) -> None:
        self.dialect = dialect_named(dialect)
        self.imei = imei
        self.number = number
        self.smsc = smsc
        self.imsi = "00101" + imei[-10:].rjust(10, "0")
        self.iccid = "8900101" + imei[-12:].rjust(12, "0") + "0"
        self.timing = timing
        self.rng = rng or random.Random(0)
        self.wall_of = wall_of or (lambda t: DEFAULT_EPOCH + t)
        self.gnss = as_source(gnss) if gnss is not None else FixedPosition()
        self.name = name
        self.now = now
        self.faults = Faults()
        # Kept across reboots: the SIM and flash stores, and the network's queue for this subscriber.
        self.stores = {"SM": st.SmsStore("SM", 30), "ME": st.SmsStore("ME", 50)}
        self.sms_queue: list[SmsDeliver] = []
        self.msg_ref = 0
        self.boots = 0
        # The radio access technologies the module's mode allows (AT+CNMP; kept in NV, as on a SIM7600).
        self.rat_allowed: tuple[str, ...] = self.dialect.rats
        # Network connections by number; numbers are never reused, so late events of a closed one
        # find no owner and are dropped (survives reboots for the same reason).
        self.sockets: dict[int, SocketUser] = {}
        self._sock_seq = 0
        self._out = bytearray()
        self._actions: list[Action] = []
        self._events: list[tuple[float, int, int | None, Callable[..., None], tuple]] = []
        self._seq = 0
        self._gen = 0
        self._inbuf = bytearray()
        self._echo = bytearray()
        self._line = bytearray()
        self._collecting = False
        self._overflow = False
        self._last_line = ""
        self._urcs: list[bytes] = []
        self._prompt: Prompt | None = None
        self._busy_until: float | None = None
        self.mode = "off"
        self.powered = False
        self._reset_volatile()
        if powered:
            self._power_on()

    # ------------------------------------------------------------------ public sans-IO surface
    def receive(self, data: bytes, now: float) -> None:
        self._advance(now)
        if self.mode in ("off", "booting"):
            return  # nobody listens yet: a real modem drops these bytes too
        room = MAX_INPUT_BACKLOG - len(self._inbuf) if self.mode == "busy" else len(data)
        if room <= 0:
            log.warning("%s: input backlog full, dropping %d bytes", self.name, len(data))
            return
        self._inbuf += data[:room]
        self._process_input()
        self._flush_urcs()

    def tick(self, now: float) -> None:
        self._advance(now)

    def next_deadline(self) -> float | None:
        self._purge()
        return self._events[0][0] if self._events else None

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    # ------------------------------------------------------------------ scheduling
    def at(self, when: float, fn: Callable[..., None], *args: Any, persistent: bool = False) -> None:
        """Run fn at `when`; unless persistent, a reboot cancels it."""
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, None if persistent else self._gen, fn, args))

    def later(self, delay: float, fn: Callable[..., None], *args: Any, persistent: bool = False) -> None:
        self.at(self.now + max(0.0, delay), fn, *args, persistent=persistent)

    def _purge(self) -> None:
        while self._events and self._events[0][2] is not None and self._events[0][2] != self._gen:
            heapq.heappop(self._events)

    def _advance(self, now: float) -> None:
        while True:
            self._purge()
            if not self._events or self._events[0][0] > now:
                break
            when, _seq, gen, fn, args = heapq.heappop(self._events)
            self.now = max(self.now, when)
            try:
                fn(*args)
            except Exception:  # a bug in one timer must not kill the modem
                log.exception("%s: timer %r failed", self.name, fn)
            if gen is None or gen == self._gen:
                self._process_input()
                self._flush_urcs()
        self.now = max(self.now, now)

    def delay(self, name: str) -> float:
        d = self.timing.draw(name, self.rng)
        if self.faults.on("slow", self.now):
            d += self.timing.slow * self.rng.uniform(0.5, 1.5)
        return d

    # ------------------------------------------------------------------ output
    def _emit(self, data: bytes) -> None:
        if not data or self.mode == "off":
            return
        if self.faults.on("drop-chars", self.now):
            data = bytes(b for b in data if self.rng.random() >= 0.03)
        if self.faults.on("garbage", self.now) and self.rng.random() < 0.3:
            pos = self.rng.randrange(len(data) + 1)
            noise = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 8)))
            data = data[:pos] + noise + data[pos:]
        self._out += data

    def urc(self, text: str | bytes, *, raw: bool = False) -> None:
        """Queue an unsolicited result; it goes out only between responses."""
        if not self.powered:
            return
        data = text if isinstance(text, bytes) else text.encode("latin-1", "replace")
        if not raw:
            data = b"\r\n" + data + b"\r\n"
        transcript.info("%s <- %r", self.name, data)
        self._urcs.append(data)
        self._flush_urcs()

    def _flush_urcs(self) -> None:
        if self.mode != "cmd" or not self._urcs:
            return
        urcs, self._urcs = self._urcs, []
        for data in urcs:
            self._emit(data)

    def action(self, act: Action) -> None:
        self._actions.append(act)

    # ------------------------------------------------------------------ line discipline
    def _process_input(self) -> None:
        while self._inbuf and self.mode in ("cmd", "prompt"):
            if self.mode == "prompt":
                self._prompt_input()
                continue
            # Take the whole backlog at once (deleting from the front byte by byte is quadratic)
            # and put back whatever a command that went busy left unread.
            data = bytes(self._inbuf)
            self._inbuf.clear()
            i = 0
            n = len(data)
            while i < n and self.mode == "cmd":
                # Fast paths: skip noise up to the next 'A', or copy a line body up to the next
                # control byte, in bulk; every byte that matters goes through _cmd_byte.
                if not self._collecting and self._line != b"A":
                    found = _HUNT.search(data, i)
                    j = found.start() if found else n
                    if j > i:
                        if self.settings.echo:
                            self._echo += data[i:j].translate(None, b"\x1a\x1b")
                        self._line = bytearray()
                        i = j
                        continue
                elif self._collecting:
                    found = _CONTROL.search(data, i)
                    j = found.start() if found else n
                    if j > i:
                        chunk = data[i:j]
                        if self.settings.echo:
                            self._echo += chunk
                        room = MAX_LINE - len(self._line)
                        if len(chunk) > room:
                            self._overflow = True
                        self._line += chunk[: max(0, room)]
                        i = j
                        continue
                self._cmd_byte(data[i])
                i += 1
            self._flush_echo()
            if i < len(data):
                self._inbuf[:0] = data[i:]

    def _flush_echo(self) -> None:
        if self._echo:
            echo = bytes(self._echo)
            self._echo.clear()
            self._emit(echo)

    def _cmd_byte(self, b: int) -> None:
        if b in (ESC, CTRL_Z):
            return  # sim800-at.md §1: ignored outside a prompt
        if self.settings.echo:
            self._echo.append(b)  # emitted in one piece before any response (see _flush_echo)
        if not self._collecting:
            # Hunt for "AT" / "A/" the way a modem's UART state machine does.
            if b in (ord("A"), ord("a")):
                self._line = bytearray(b"A")
            elif self._line == b"A" and b in (ord("T"), ord("t")):
                self._collecting = True
                self._line = bytearray()
                self._overflow = False
            elif self._line == b"A" and b == ord("/"):
                self._line = bytearray()
                self._run_line(self._last_line, repeat=True)
            else:
                self._line = bytearray()
            return
        if b == CR:
            line = self._line.decode("latin-1")
            overflow = self._overflow
            self._collecting = False
            self._line = bytearray()
            if overflow:
                self._flush_echo()
                transcript.info("%s -> AT<%d bytes: too long>", self.name, MAX_LINE)
                self._respond(Reply(final=None), error=AtError())
                return
            self._run_line(line)
            return
        if b == LF:
            return
        if b == BS:
            if self._line:
                del self._line[-1]
            return
        if len(self._line) >= MAX_LINE:
            self._overflow = True
            return
        self._line.append(b)

    def _run_line(self, body: str, repeat: bool = False) -> None:
        self._flush_echo()
        transcript.info("%s -> AT%s%s", self.name, body, " (A/)" if repeat else "")
        self.mode = "busy"  # URCs raised by the handlers wait for the final result code
        if not repeat:
            self._last_line = body
        try:
            cmds = parse_line(body.strip())
        except ParseError:
            self._respond(Reply(final=None), error=AtError())
            return
        combined = Reply(lines=[], final="OK")
        blocks: list[list[str | bytes]] = []
        error: AtError | None = None
        for i, cmd in enumerate(cmds):
            last = i == len(cmds) - 1
            try:
                reply = self._dispatch(cmd)
            except AtError as exc:
                error = exc
                combined.delay += self.delay("command")
                break
            except Exception:  # a handler bug: answer like a confused modem, keep serving
                log.exception("%s: handler for %s failed", self.name, cmd)
                error = AtError()
                break
            if reply.lines:
                blocks.append(reply.lines)
            combined.delay += reply.delay
            combined.trailer += reply.trailer
            if reply.after is not None:
                prev = combined.after
                combined.after = reply.after if prev is None else _chain(prev, reply.after)
            if reply.prompt is not None:
                combined.prompt = reply.prompt
                combined.final = None
                break
            if reply.final is None and last:
                combined.final = None
            elif reply.final not in (None, "OK"):
                combined.final = reply.final
                if reply.final != "OK":
                    break
        combined.lines = [b for block in blocks for b in _block(block)]
        self._respond(combined, error=error, wrapped=True)

    def _dispatch(self, cmd: Command) -> Reply:
        handler = self.dialect.commands.get(cmd.name)
        if handler is None:
            raise AtError()
        return handler(self, cmd)

    def _respond(self, reply: Reply, error: AtError | None = None, wrapped: bool = False) -> None:
        out = bytearray()
        for part in reply.lines if wrapped or not reply.lines else _block(reply.lines):
            out += part if isinstance(part, bytes) else part.encode("latin-1", "replace")
        if error is not None:
            out += b"\r\n" + error.render(self.settings.cmee).encode() + b"\r\n"
            reply.prompt = None
            reply.after = None
            reply.trailer = []
        elif reply.final is not None:
            out += b"\r\n" + reply.final.encode() + b"\r\n"
        for line in reply.trailer:
            out += b"\r\n" + line.encode("latin-1", "replace") + b"\r\n"
        if reply.prompt is not None:
            out += reply.prompt.marker
        delay = reply.delay + (self.delay("command") if reply.delay == 0 else 0.0)
        if delay <= 0:
            self._finish(bytes(out), reply)
            return
        self.mode = "busy"
        self._busy_until = self.now + delay
        self.later(delay, self._finish, bytes(out), reply)

    def _finish(self, out: bytes, reply: Reply) -> None:
        transcript.info("%s <- %r", self.name, out)
        self._busy_until = None
        self.mode = "cmd"
        self._emit(out)
        if reply.prompt is not None:
            self._prompt = reply.prompt
            self.mode = "prompt"
        if reply.after is not None:
            reply.after()
        self._flush_urcs()

    def end_prompt(self, prompt: Prompt) -> None:
        """Time is up for a data prompt (AT+HTTPDATA's <time>): take what came as the payload."""
        if self._prompt is prompt and self.mode == "prompt":
            self._end_prompt(send=True)
            self._flush_urcs()

    def respond_late(self, reply: Reply) -> None:
        """For prompt completions: the same framing as a command's reply."""
        self.mode = "cmd"
        self._respond(reply)

    # ------------------------------------------------------------------ prompts
    def _prompt_input(self) -> None:
        p = self._prompt
        assert p is not None
        if p.length is not None:
            take = self._inbuf[: p.length - len(p.buf)]
            del self._inbuf[: len(take)]
            p.buf += take
            if self.settings.echo and p.echo:
                self._emit(bytes(take))
            if len(p.buf) >= p.length:
                self._end_prompt(send=True)
            return
        # Copy plain payload in bulk up to the next byte that means something.
        specials = (CTRL_Z, ESC, CR, LF) if p.kind.endswith("-text") else (CTRL_Z, ESC)  # CMGS/CMGW
        end = len(self._inbuf)
        for sp in specials:
            k = self._inbuf.find(sp, 0, end)
            if k != -1:
                end = k
        if end:
            chunk = bytes(self._inbuf[:end])
            del self._inbuf[:end]
            if self.settings.echo:
                self._emit(chunk)
            p.buf += chunk
        else:
            b = self._inbuf[0]
            del self._inbuf[0]
            if b == CTRL_Z:
                self._end_prompt(send=True)
                return
            if b == ESC:
                self._end_prompt(send=False)
                return
            if b == LF and (not p.buf or p.buf.endswith(b"\r")):  # 27.005: LF after a CR is no text
                return
            if self.settings.echo:
                self._emit(bytes([b]))
            if b == CR:
                self._emit(b"\r\n> ")
            p.buf.append(b)
        if len(p.buf) > MAX_PROMPT:
            transcript.info("%s -> <prompt payload over %d bytes>", self.name, MAX_PROMPT)
            self._prompt = None
            self.mode = "cmd"
            self._respond(Reply(final=None), error=AtError())

    def _end_prompt(self, send: bool) -> None:
        p = self._prompt
        self._prompt = None
        self.mode = "busy"
        assert p is not None
        transcript.info(
            "%s -> <%s payload %r %s>", self.name, p.kind, bytes(p.buf), "send" if send else "cancel"
        )
        if not send:
            self._respond(Reply())
            return
        try:
            reply = (p.complete or commands_sms.send_payload)(self, p)
        except AtError as exc:
            self._respond(Reply(final=None), error=exc)
            return
        self._respond(reply)

    # ------------------------------------------------------------------ power
    def _reset_volatile(self) -> None:
        self.settings = st.Settings()
        self.tcp_state = st.IP_INITIAL
        self._links: list[st.Link] | None = None  # made on first use: most modems never open one
        self.local_ip = ""
        self.bearers: dict[int, st.BearerProfile] = {}  # AT+SAPBR profiles, made on first use
        self.cgact: dict[int, int] = {1: 0}  # AT+CGACT: cid -> 0/1
        self.http: HttpSession | None = None  # AT+HTTPINIT .. AT+HTTPTERM
        self.sim_ready = False
        self.sms_ready = False
        self.booted = False  # the boot URC sequence is over (vmodem serve / wait report it)
        self.net_ready = False
        self.cgatt = True
        self.last_creg = 0
        self.last_cgreg = 0
        self.rssi_base = 12 + self.rng.randrange(14)
        self.gnss_fix_at: float | None = None
        self.call_from: str | None = None
        self.ops_searching = False
        # LTE dialects: +CEREG, the latched RAT faults (cleared by a mode toggle or a reset) and the
        # AT+NETOPEN network of the module's own IP stack.
        self.last_cereg = 0
        self.rat_stuck_2g = False
        self.no_service = False
        self.net_open = False
        self.netopen_stuck = False

    def _power_on(self) -> None:
        self._gen += 1
        self.boots += 1
        self.powered = True
        self.mode = "booting"
        self._reset_volatile()
        self._inbuf.clear()
        self._urcs.clear()
        self._prompt = None
        self._collecting = False
        self._line = bytearray()
        t = self.timing
        rdy = t.draw("boot_rdy", self.rng)
        cfun = max(rdy, t.draw("boot_cfun", self.rng))
        ready = max(cfun, t.draw("boot_ready", self.rng))
        self.later(rdy, self._boot_rdy)
        self.later(cfun, self._boot_sim)
        self.later(ready, self._boot_ready)
        self.later(ready + t.draw("register", self.rng), self._network_found)
        self._schedule_fault_timer()

    def _boot_rdy(self) -> None:
        self.mode = "cmd"
        for text in self.dialect.power_on_urcs:
            self.urc(text)

    def _boot_sim(self) -> None:
        for text in self.dialect.radio_urcs:
            self.urc(text)
        if self.faults.on("no-sim", self.now):
            self.urc("+CPIN: NOT INSERTED")
            return
        self.sim_ready = True
        if self.faults.on("sim-pin", self.now):
            self.urc("+CPIN: SIM PIN")
        else:
            self.urc("+CPIN: READY")

    def _boot_ready(self) -> None:
        self.booted = True
        if self.sim_usable() and not self.sms_ready:
            for text in self.dialect.ready_urcs:
                self.urc(text)
            self.sms_ready = True
            self.deliver_pending_sms()

    def _network_found(self) -> None:
        self.net_ready = True
        self.check_registration()

    def power_key(self, now: float) -> None:
        """A PWRKEY pulse: off -> on (boot URCs); on -> NORMAL POWER DOWN -> off."""
        self._advance(now)
        if self.powered:
            self.power_off("NORMAL POWER DOWN")
        else:
            self._power_on()
            self._advance(now)

    def power_off(self, urc: str | None) -> None:
        if urc:
            transcript.info("%s <- %s", self.name, urc)
            self._urcs.clear()
            self._emit(b"\r\n" + urc.encode() + b"\r\n")
        for sock in list(self.sockets):
            self.drop_sock(sock)
        self._gen += 1
        self.powered = False
        self.mode = "off"
        self._inbuf.clear()
        self._urcs.clear()
        self._prompt = None
        self._schedule_fault_timer()

    def reboot(self, urc: str | None = None) -> None:
        """Spontaneous or commanded restart: everything volatile is lost, boot URCs follow."""
        if self.powered:
            self.power_off(urc)
        self._power_on()

    # ------------------------------------------------------------------ SIM / registration
    def sim_usable(self) -> bool:
        if not self.sim_ready or self.faults.on("no-sim", self.now):
            return False
        return not (self.faults.on("sim-pin", self.now) and not self.settings.pin_ok)

    def reg_stat(self) -> int:
        """27.007 +CREG <stat>."""
        if not self.powered or self.settings.cfun != 1 or not self.sim_usable():
            return 0
        if self.faults.on("no-coverage", self.now):
            return 2
        if self.faults.on("registration-denied", self.now):
            return 3
        if not self.net_ready or self.no_service or self.faults.on("no-service-online", self.now):
            return 2
        if not self.rat_choice():
            return 2
        return 5 if self.faults.on("roaming", self.now) else 1

    def registered(self) -> bool:
        return self.reg_stat() in (1, 5)

    def rat_choice(self) -> str:
        """The first radio access technology the mode allows and the radio finds ("" for none).

        LTE is out while `rat-fallback-2g` is on, and after it too when the module may use GSM: it
        stays camped on GSM (as SIM7600 units do) until a mode toggle or a reset clears the latch.
        """
        lte_lost = self.faults.on("rat-fallback-2g", self.now)
        rats = [r for r in self.dialect.rats if r in self.rat_allowed]
        for rat in rats:
            if rat == "LTE" and (lte_lost or (self.rat_stuck_2g and "GSM" in rats)):
                continue
            return rat
        return ""

    def rat(self) -> str:
        """The technology the module is registered on: "LTE", "GSM", or "" when not registered."""
        return self.rat_choice() if self.registered() else ""

    def eps_stat(self) -> int:
        """27.007 +CEREG <stat>: registered on LTE, or not (0 while camped on GSM)."""
        stat = self.reg_stat()
        if stat in (1, 5) and self.rat_choice() != "LTE":
            return 0
        return stat

    def cereg_line(self, mode: int, stat: int, *, query: bool) -> str:
        """`+CEREG: [<n>,]<stat>[,"<tac>","<ci>",<AcT 7>]` (location only with <n>=2 when registered)."""
        fields = [str(mode)] if query else []
        fields.append(str(stat))
        if mode == 2 and stat in (1, 5):
            fields += ['"1A2B"', '"01A2D003"', "7"]
        return "+CEREG: " + ",".join(fields)

    def gprs_stat(self) -> int:
        stat = self.reg_stat()
        if stat in (1, 5) and (not self.cgatt or self.faults.on("gprs-down", self.now)):
            return 0
        return stat

    def creg_line(self, prefix: str, mode: int, stat: int, *, query: bool) -> str:
        fields = [str(mode)] if query else []
        fields.append(str(stat))
        if mode == 2 and stat in (1, 5):
            fields += ['"1A2B"', '"00C3"'] if prefix == "+CREG" else ['"1A2B"', '"00C3"']
        return f"{prefix}: " + ",".join(fields)

    def check_registration(self) -> None:
        """Emit +CREG/+CGREG URCs on change; drop what a lost network takes with it."""
        if not self.powered:
            return
        stat = self.reg_stat()
        if stat != self.last_creg:
            self.last_creg = stat
            if self.settings.creg:
                self.urc(self.creg_line("+CREG", self.settings.creg, stat, query=False))
        gstat = self.gprs_stat()
        if gstat != self.last_cgreg:
            self.last_cgreg = gstat
            if self.settings.cgreg:
                self.urc(self.creg_line("+CGREG", self.settings.cgreg, gstat, query=False))
        if "LTE" in self.dialect.rats:
            estat = self.eps_stat()
            if estat != self.last_cereg:
                self.last_cereg = estat
                if self.settings.cereg:
                    self.urc(self.cereg_line(self.settings.cereg, estat, query=False))
        if gstat not in (1, 5) and self.tcp_state in st.PDP_ACTIVE_STATES:
            self.pdp_deact()
        if gstat not in (1, 5):
            self.bearers_lost()
            if self.dialect.network_lost is not None:
                self.dialect.network_lost(self)
        if stat in (1, 5):
            self.deliver_pending_sms()

    def end_tcp(self, state: str, *, bearer_gone: bool = False) -> None:
        """Leave every TCP link and move the CIPSTATUS machine to `state`.

        Open or opening connections are closed on the network side; their numbers are forgotten,
        so late events of them are dropped. `bearer_gone`: the PDP context went too (links go back
        to INITIAL and lose what they had not read).
        """
        for link in self._links or ():
            self.drop_sock(link.sock)
            link.sock = 0
            if bearer_gone:
                link.state = st.LINK_INITIAL
                link.rx.clear()
            elif link.state in st.LINK_OPEN_STATES:
                link.state = st.LINK_CLOSED
        self.tcp_state = state
        if bearer_gone:
            self.local_ip = ""

    def bearers_lost(self) -> None:
        """GPRS went away: open AT+SAPBR bearers report `+SAPBR <cid>: DEACT`, contexts deactivate."""
        for cid, bearer in self.bearers.items():
            if bearer.status != st.BEARER_CLOSED:
                bearer.status, bearer.ip = st.BEARER_CLOSED, "0.0.0.0"
                self.urc(f"+SAPBR {cid}: DEACT")
                if self.http is not None and self.http.cid == cid:
                    self.http.bearer_closed(self)
        for cid in self.cgact:
            self.cgact[cid] = 0

    # ------------------------------------------------------------------ network connections
    @property
    def links(self) -> list[st.Link]:
        """The TCP links: link 0 in single-connection mode, all of them with AT+CIPMUX=1."""
        if self._links is None:
            self._links = [st.Link(n) for n in range(self.dialect.links)]
        return self._links

    def bearer(self, cid: int) -> st.BearerProfile | None:
        """AT+SAPBR bearer profile `cid` (1..3, SIM800 manual §9.2.1); None for another number."""
        if not 1 <= cid <= 3:
            return None
        return self.bearers.setdefault(cid, st.BearerProfile())

    def new_sock(self, user: SocketUser) -> int:
        """A number for a new network connection; its events go to `user`."""
        self._sock_seq += 1
        self.sockets[self._sock_seq] = user
        return self._sock_seq

    def drop_sock(self, sock: int) -> None:
        """Forget a connection and close it on the network side (no-op for 0 or a forgotten one)."""
        if self.sockets.pop(sock, None) is not None:
            self.action(TcpClose(sock))

    def new_ip(self) -> str:
        return f"10.{self.rng.randrange(1, 255)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def pdp_deact(self) -> None:
        self.end_tcp(st.PDP_DEACT, bearer_gone=True)
        self.urc("+PDP: DEACT")

    def rssi(self) -> tuple[int, int]:
        if self.reg_stat() in (0, 2) and (self.faults.on("no-coverage", self.now) or self.settings.cfun != 1):
            return 99, 99
        if not self.powered:
            return 99, 99
        if self.faults.on("weak-signal", self.now):
            return 2 + self.rng.randrange(6), 0
        return max(0, min(31, self.rssi_base + self.rng.randint(-1, 1))), 0

    # ------------------------------------------------------------------ faults
    def fault(self, kind: str, duration: float | None, now: float) -> None:
        self._advance(now)
        self.faults.check(kind)
        if kind not in self.dialect.faults:
            raise UnknownFault(f"fault {kind!r} does not apply to a {self.dialect.name}")
        if kind in ONE_SHOT:
            log.info("%s: fault %s", self.name, kind)
            if kind == "reboot":
                self.reboot(None)
            else:
                self.urc("UNDER-VOLTAGE WARNNING")
                self._flush_urcs()
                self.power_off("UNDER-VOLTAGE POWER DOWN")
            return
        log.info("%s: fault %s on for %s", self.name, kind, "ever" if duration is None else f"{duration:g} s")
        self.faults.start(kind, self.now, duration)
        self._schedule_fault_timer()
        self._fault_changed(kind, True)

    def clear_faults(self, now: float) -> list[str]:
        self._advance(now)
        kinds = self.faults.clear()
        for kind in kinds:
            self._fault_changed(kind, False)
        return kinds

    def stop_fault(self, kind: str, now: float) -> None:
        self._advance(now)
        if self.faults.stop(kind):
            self._fault_changed(kind, False)

    def _schedule_fault_timer(self) -> None:
        when = self.faults.next_expiry()
        if when is not None:
            self.at(when, self._expire_faults, persistent=True)

    def _expire_faults(self) -> None:
        for kind in self.faults.expired(self.now):
            log.info("%s: fault %s over", self.name, kind)
            self._fault_changed(kind, False)

    def _fault_changed(self, kind: str, on: bool) -> None:
        if not self.powered:
            return
        if kind == "no-sim" and on and self.sim_ready:
            # The SIM left its holder: SIM800 reports it and loses SMS and registration.
            self.urc("+CPIN: NOT INSERTED")
            self.sms_ready = False
        if kind == "no-sim" and not on and self.mode != "booting":
            # SIM back: the modem reads it as at boot (PIN, Call Ready, SMS Ready), then registers.
            self.sim_ready = True
            self.urc("+CPIN: SIM PIN" if self.faults.on("sim-pin", self.now) else "+CPIN: READY")
            self.later(self.timing.draw("boot_ready", self.rng) * 0.3, self._boot_ready)
        if kind in ("no-coverage", "registration-denied", "no-sim") and not on:
            # Coming back takes a network search, as after boot.
            self.net_ready = False
            self.later(self.timing.draw("register", self.rng), self._network_found)
        if kind == "remote-close" and on:
            (self.dialect.remote_close or commands_tcp.remote_close)(self)
        if kind == "rat-fallback-2g" and on:
            # LTE is gone: the module drops, searches, camps on GSM and stays there (latched).
            self.rat_stuck_2g = True
            self.net_ready = False
            self.later(self.timing.draw("register", self.rng), self._network_found)
        if kind == "no-service-online" and on:
            self.no_service = True
        if kind == "netopen-fail" and on:
            self.netopen_stuck = True
            if self.dialect.network_lost is not None:
                self.dialect.network_lost(self)
        self.check_registration()

    # ------------------------------------------------------------------ network events
    def tcp_connected(self, conn_id: int, ok: bool, reason: str | None, now: float) -> None:
        self._advance(now)
        user = self.sockets.get(conn_id)
        if user is not None:
            user.connected(self, conn_id, ok, reason)
        elif ok:
            self.action(TcpClose(conn_id))  # nobody waits for it any more

    def tcp_data(self, conn_id: int, data: bytes, now: float) -> None:
        self._advance(now)
        user = self.sockets.get(conn_id)
        if user is not None:
            user.data(self, conn_id, data)

    def tcp_closed(self, conn_id: int, now: float) -> None:
        self._advance(now)
        user = self.sockets.pop(conn_id, None)
        if user is not None:
            user.closed(self, conn_id)

    def sms_arrived(self, parts: list[SmsDeliver], now: float) -> None:
        """The network hands over a message (all its parts) for this subscriber."""
        self._advance(now)
        if self.faults.on("sms-delay", self.now):
            self.later(
                self.timing.draw("sms_delay", self.rng) or 60.0, self._queue_sms, parts, persistent=True
            )
            return
        self._queue_sms(parts)

    def _queue_sms(self, parts: list[SmsDeliver]) -> None:
        self.sms_queue.extend(parts)
        self.deliver_pending_sms()

    def deliver_pending_sms(self) -> None:
        if not (self.powered and self.sms_ready and self.registered() and self.sms_queue):
            return
        queue, self.sms_queue = self.sms_queue, []
        for part in queue:
            commands_sms.deliver(self, replace(part, smsc=self.smsc))

    def incoming_call(self, caller: str, now: float, rings: int = 3) -> None:
        """A voice call rings (RING, +CLIP with AT+CLIP=1) a few times; nobody can answer it."""
        self._advance(now)
        if not self.registered():
            return
        self.call_from = caller
        for i in range(rings):
            self.later(i * 3.0, self._ring, caller)
        self.later(rings * 3.0, self._call_gone, caller)

    def _ring(self, caller: str) -> None:
        if self.call_from != caller:
            return
        self.urc("RING")
        if self.settings.clip:
            self.urc(f'+CLIP: "{caller}",{145 if caller.startswith("+") else 129},"",0,"",0')

    def _call_gone(self, caller: str) -> None:
        if self.call_from == caller:
            self.call_from = None
            self.urc("NO CARRIER")

    def submit(self, out: SmsOut) -> None:
        self.action(out)

    # ------------------------------------------------------------------ helpers for handlers
    def wall(self) -> float:
        return self.wall_of(self.now)

    def next_ref(self) -> int:
        self.msg_ref = (self.msg_ref + 1) % 256
        return self.msg_ref

    def scts(self, when: datetime | None = None) -> str:
        t = when or datetime.fromtimestamp(self.wall(), UTC)
        offset = t.utcoffset()
        q = int(offset.total_seconds() // 900) if offset else 0
        return t.strftime("%y/%m/%d,%H:%M:%S") + f"{q:+03d}"

    def encode_deliver(self, part: SmsDeliver) -> tuple[str, int]:
        enc = encode_deliver(part)
        return enc.hex, enc.tpdu_length

    def status(self) -> dict[str, Any]:
        s = self.settings
        return {
            "name": self.name,
            "dialect": self.dialect.name,
            "powered": self.powered,
            "mode": self.mode,
            "boots": self.boots,
            "booted": self.booted,
            "imei": self.imei,
            "number": self.number,
            "cfun": s.cfun,
            "sim": "absent"
            if self.faults.on("no-sim", self.now)
            else ("ready" if self.sim_usable() else "locked"),
            "creg": self.reg_stat(),
            "cgreg": self.gprs_stat(),
            "rat": self.rat(),
            "csq": self.rssi()[0],
            "tcp_state": commands_tcp.stack_state(self),
            "net_open": self.net_open,  # AT+NETOPEN (sim7600)
            "cipmux": s.cipmux,
            "links": {lk.n: lk.state for lk in self._links or () if lk.state != st.LINK_INITIAL},
            "echo": s.echo,
            "cmgf": s.cmgf,
            "cscs": s.cscs,
            "gnss_power": s.gnss_power,
            "sms": {name: store.used() for name, store in self.stores.items()},
            "sms_queued": len(self.sms_queue),
            "faults": self.faults.active(self.now),
        }


def _block(lines: list[str | bytes]) -> list[str | bytes]:
    """One command's info lines: CRLF before, CRLF between, CRLF after."""
    out: list[str | bytes] = ["\r\n"]
    for i, line in enumerate(lines):
        if i:
            out.append("\r\n")
        out.append(line)
    out.append("\r\n")
    return out


def _chain(a: Callable[[], None], b: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        a()
        b()

    return both
