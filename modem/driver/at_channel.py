"""The AT channel: a sans-IO command queue and response/URC framer for AT modems (V.250, TS 27.007).

h11 style: the caller owns the serial port and the clock.

    ch = ATChannel(dialect.urcs)
    out = ch.send(Command("AT+CSQ", prefixes=("+CSQ:",)), now)   # bytes to write (or None: queued)
    ch.receive_data(bytes_from_port, now)
    for ev in ch.events(): ...                                  # Response / Timeout / Urc... / Garbage
    port.write(ch.data_to_send())                               # queued commands, prompt payloads
    ch.tick(now) at ch.next_deadline()

The channel knows lines, prompts and finals; it does not know any modem's unsolicited lines. Those
come from a dialect's `UrcTable` (`modem.driver.dialects`): which line is which URC (`classify`) and
how a length-prefixed data header looks (SIM800 `+IPD,<n>:`). Two-line SMS URCs (`+CMT:`/`+CDS:`
and their body, TS 27.005 §3.4.1) are standard and stay here.

One command is in flight at a time (V.250 §5.2: the modem answers one command line at a time). Lines
that belong to the in-flight command are collected until its final result; everything else is an
unsolicited result code and becomes a typed `Urc` event at once, between responses, during a `> `
prompt, or while a long command (CIICR, CIPSTART) waits. A data header's payload is taken as n raw
bytes, so data that contains CR LF or looks like `RING` is never parsed as lines.

Resynchronisation: a line with control bytes is reported as `Garbage` (after salvaging any clean
tail, e.g. `\\xff\\xffRDY`); a partial line, data payload or `+CMT` body that stops arriving is
flushed after `partial_timeout`; a silent modem gives `Timeout` and the next command goes out. A
prompt command whose `> ` does not come within `prompt_timeout` (6 s; noise ate it) is cancelled
with ESC and fails at once (`Timeout(prompt_lost=True)`; a fixed-length CIPSEND sends its payload
instead), and `> ` behind noise on its line is still recognised. A long command whose final noise
garbled is not waited out: after a garbled line and `PROBE_AFTER` s of quiet a plain `AT` is written,
and its OK resolves the command (`Timeout(final_lost=True)`: outcome unknown; a success if its
information response came). A URC whose
type `resets` (a reboot, a power-down) aborts the in-flight command and every queued one (`Aborted`):
the modem they were meant for is gone, and e.g. a queued CIPSEND must not reach a freshly booted modem.

This parser is the driver's own; it must never share code with the virtual modem's (DESIGN.md §1).
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol

from modem.driver.urc import SmsDirect, SmsStatusReport, TcpData, Urc

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"  # spec §1: ends a prompt payload (send)
ESC = b"\x1b"  # spec §1: cancels a prompt payload
MAX_LINE = 4096  # a line longer than any SIM800 response is garbage, not a reason to grow forever
DEFAULT_TIMEOUT = 5.0
PARTIAL_TIMEOUT = 2.0
# SIM800 Series AT Command Manual V1.09, §3.2.5 AT+CMGS and §8.2.3 AT+CIPSEND: the module answers the
# command line with `> ` at once (milliseconds; sim800-at.md §1) and then waits for the payload,
# ended by Ctrl-Z to send or ESC to cancel. A prompt lost in line noise must not hold the channel for
# the command's whole 60 s answer time (the SMS fallback waited 95 s, issue 12): after this long
# without `> ` the prompt is taken as lost. It covers a modem slowed to a few seconds per answer.
PROMPT_TIMEOUT = 6.0
# After ESC the modem answers the cancel (OK); the next command waits for that answer (a real SIM800
# gives it in milliseconds) or this long, so the answer is never taken for the next command's final.
CANCEL_WAIT = 2.0
# A garbled final of a long command (`SHUT OK` with a byte dropped, CIICR's `ERROR` behind noise) used to
# hold the channel for the command's whole answer time (65-90 s, issue 12). After a garbled line and this
# long without a byte, a plain `AT` is written: V.250 §5.2 has the modem answer one command line at a
# time, in order, so the probe's `OK` proves the command before it has ended. Only commands whose own
# answer time is longer than PROBE_MIN_TIMEOUT are probed (a short one simply times out soon), never a
# prompt command still waiting for `> ` (the AT would be taken as its payload), and never one that answers
# OK before its real final (CIPSTART: a SIM800 still connecting answers `AT` with OK, which proves nothing).
PROBE_AFTER = 2.0
PROBE_MIN_TIMEOUT = 15.0
MAX_PROBES = 3  # a probe's own OK can be garbled too; after this many the command's timeout rules
# A command that ends in plain `OK` (CIICR) and was probed: a first OK may be its own (the modem was still
# busy and answers the probe right after) or the probe's. A second OK within this long says the first was
# the command's own; none says its final was the garbled line.
PROBE_SETTLE = 1.0

_seq = itertools.count(1)


# --------------------------------------------------------------------------------------------
# Commands and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command line and what ends it.

    text: the command without CR (`AT+CSQ`, `AT+CREG?;+CSQ`).
    timeout: seconds from when the line is written to its final result (spec §1 gives the long ones).
    prefixes: response-line prefixes that belong to this command even when they look like URCs
        (`+CPIN:` for `AT+CPIN?`, `+CREG:` for `AT+CREG?`).
    finals / fail_finals: regexes (re.match on the stripped line) of command-specific final lines,
        success and failure (`SHUT OK`, `CONNECT OK` / `CONNECT FAIL`, an IP address for CIFSR).
    ok_is_final: False when OK is only an intermediate (CIPSTART: OK, later CONNECT OK;
        CIPSTATUS: OK, then STATE: ...).
    body_after_prefix: a prefixed line is followed by one raw body line (CMGR, CMGL: SMS text/PDU).
    prompt: the modem answers `> ` and wants `payload` + `terminator` (CTRL_Z, ESC, or b"" for
        `AT+CIPSEND=<n>` fixed length).
    secret: the parameters are secrets (PIN, GPRS password): logs and reasons show `shown`.
    failure_then_error: a `fail_finals` line before OK is an information line and `ERROR` follows it as
        the final (SIM7600 `+NETOPEN: 1` CR LF `ERROR`); after OK it is the final itself (`OK` ... `+NETOPEN: 1`).
    """

    text: str
    timeout: float = DEFAULT_TIMEOUT
    prefixes: tuple[str, ...] = ()
    finals: tuple[str, ...] = ()
    fail_finals: tuple[str, ...] = ()
    ok_is_final: bool = True
    body_after_prefix: bool = False
    prompt: bool = False
    payload: bytes = b""
    terminator: bytes = CTRL_Z
    secret: bool = False
    failure_then_error: bool = False
    seq: int = field(default_factory=lambda: next(_seq))

    def __post_init__(self) -> None:
        if not self.text.isascii() or "\r" in self.text or "\n" in self.text:
            raise ValueError(f"command text must be one ASCII line: {self.text!r}")  # our bug: raise

    def wire(self) -> bytes:
        return self.text.encode("ascii") + b"\r"

    @property
    def shown(self) -> str:
        """The text for logs and error messages: parameters hidden when `secret`."""
        if not self.secret:
            return self.text
        return self.text.split("=", 1)[0] + "=<redacted>"

    def __repr__(self) -> str:
        return f"Command({self.shown!r}, timeout={self.timeout})"


class FinalKind(Enum):
    OK = "ok"
    ERROR = "error"
    CME_ERROR = "cme"
    CMS_ERROR = "cms"
    SUCCESS = "success"  # a command-specific success final (SHUT OK, CONNECT OK, an IP address)
    FAILURE = "failure"  # a command-specific failure final (CONNECT FAIL, SEND FAIL)


@dataclass(frozen=True)
class Final:
    """The final result of a command. `code` is numeric CME/CMS (CMEE=1), `text` verbose (CMEE=2)."""

    line: str
    kind: FinalKind
    code: int | None = None
    text: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind in (FinalKind.OK, FinalKind.SUCCESS)

    def reason(self) -> str:
        """Human-readable failure reason for logs and `Failed`."""
        return self.line


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A command finished. `lines` are its information lines (echo, finals and URCs removed)."""

    command: Command
    lines: tuple[str, ...]
    final: Final


@dataclass(frozen=True)
class Timeout:
    """No final result within the command's timeout; the channel has moved on.

    `prompt_lost`: a prompt command got no `> ` within `prompt_timeout`; the channel cancelled the
    input with ESC, nothing was sent, and the caller may simply retry.
    `final_lost`: the command's final result was garbled by line noise, and a probe `AT` answered OK, so
    the modem has finished it: whether it did its work is unknown (`lines` may tell, e.g. `+CMGS: <mr>`).
    The caller decides: an idempotent step is repeated or its state queried; a non-idempotent one (an
    SMS, TCP data) must not be repeated blindly.
    """

    command: Command
    lines: tuple[str, ...] = ()
    prompt_lost: bool = False
    final_lost: bool = False


@dataclass(frozen=True)
class Aborted:
    """The modem rebooted or powered down while the command was in flight."""

    command: Command
    reason: str


@dataclass(frozen=True)
class Garbage:
    """Bytes that are no line of the protocol (noise, a truncated line, a stray prompt)."""

    data: bytes


Event = Response | Timeout | Aborted | Garbage | Urc


# --------------------------------------------------------------------------------------------
# Classification: finals (V.250 §5.7, TS 27.007 §9.2) here, URCs from the dialect
# --------------------------------------------------------------------------------------------


class DataHeader(NamedTuple):
    """A complete length-prefixed data header: `end` bytes long, `length` payload bytes on link `conn`."""

    end: int
    length: int
    conn: int


MORE: Literal["more"] = "more"  # `UrcTable.data_header`: it may be a header, wait for more bytes


class UrcTable(Protocol):
    """What a dialect tells the channel about the lines it did not ask for.

    `data_prefixes`: how every length-prefixed data header starts (SIM800 `+IPD,`); `data_header(buf)`
    on a buffer that starts with one: the header, `MORE` (incomplete, wait), or None (a plain line).
    `classify(line)`: the typed `Urc` for a line, plain `Urc` for a known untyped one, None when the
    line is not unsolicited (it then belongs to the command in flight).
    """

    data_prefixes: tuple[bytes, ...]

    def data_header(self, buf: bytes) -> DataHeader | Literal["more"] | None: ...

    def classify(self, line: str) -> Urc | None: ...


_CME = re.compile(r"\+CME ERROR:\s*(.*)$")
_CMS = re.compile(r"\+CMS ERROR:\s*(.*)$")
_ECHO_SWITCH = re.compile(r"(?:^AT|;)E([01])(?:;|$)", re.IGNORECASE)


@lru_cache(maxsize=256)
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_final(line: str, command: Command | None = None) -> Final | None:
    """The final result `line` represents for `command`, or None if it is not one."""
    if line == "OK":
        return Final(line, FinalKind.OK)
    if line == "ERROR":
        return Final(line, FinalKind.ERROR)
    for rx, kind in ((_CME, FinalKind.CME_ERROR), (_CMS, FinalKind.CMS_ERROR)):
        m = rx.match(line)
        if m:
            arg = m.group(1).strip()
            if arg.isascii() and arg.isdigit():
                return Final(line, kind, code=int(arg))
            return Final(line, kind, text=arg)
    if command is not None:
        for pat in command.finals:
            if _rx(pat).match(line):
                return Final(line, FinalKind.SUCCESS)
        for pat in command.fail_finals:
            if _rx(pat).match(line):
                return Final(line, FinalKind.FAILURE)
    return None


_FINAL_WORDS = ("OK", "ERROR", "+CME ERROR:", "+CMS ERROR:")


def _near_final(line: str, command: Command) -> bool:
    """A line that may be a final result mangled by noise (`O`, `SHUT O`, `ERRR`, `SHUTOK`)."""
    literal = tuple(p for p in command.finals + command.fail_finals if re.escape(p) == p.replace(" ", "\\ "))
    words = _FINAL_WORDS + literal
    return any(difflib.SequenceMatcher(None, line, w).ratio() >= 0.6 for w in words)


def _is_control(b: int) -> bool:
    return (b < 0x20 and b != 0x09) or b == 0x7F


# --------------------------------------------------------------------------------------------
# The channel
# --------------------------------------------------------------------------------------------


@dataclass
class _InFlight:
    command: Command
    deadline: float
    sent_at: float = 0.0
    lines: list[str] = field(default_factory=list)
    echo_seen: bool = False
    saw_ok: bool = False
    prompt_done: bool = False
    suspect_at: float | None = None  # when a garbled line (maybe the final) last came: probe after a quiet spell
    probes: int = 0  # probe `AT`s written for this command
    probe_oks: int = 0  # OKs seen since the first probe
    settle_until: float | None = None  # plain-OK command: waiting for a second OK (see PROBE_SETTLE)

    def probe_at(self, last_rx: float | None) -> float | None:
        """When the next probe `AT` is due (None: no probe wanted)."""
        if self.suspect_at is None or self.probes >= MAX_PROBES or self.settle_until is not None:
            return None
        return max(self.suspect_at, last_rx or 0.0) + PROBE_AFTER

    def probeable(self) -> bool:
        cmd = self.command
        return (cmd.timeout > PROBE_MIN_TIMEOUT and cmd.ok_is_final
                and not (cmd.prompt and not self.prompt_done))


class ATChannel:
    """Sans-IO AT command channel (see module docstring)."""

    def __init__(self, urcs: UrcTable, echo: bool = True, partial_timeout: float = PARTIAL_TIMEOUT) -> None:
        self.urcs = urcs
        self._data_prefixes = urcs.data_prefixes
        self._data_first = frozenset(p[0] for p in urcs.data_prefixes)
        self.echo = echo  # what we believe: ATE0/ATE1 results and RDY keep it current
        self.partial_timeout = partial_timeout
        self.last_rx: float | None = None
        self._queue: deque[Command] = deque()
        self._inflight: _InFlight | None = None
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._buf = bytearray()
        self._after_cr = False
        self._partial_deadline: float | None = None
        self._ipd_left = 0
        self._ipd_header = ""
        self._ipd_conn = 0
        self._ipd_data = bytearray()
        self._body_for: str | None = None  # header line waiting for its body line
        self._body_is_urc = False
        self._echo_expect = b""  # payload echo to skip after a prompt (echo on)
        self.prompt_timeout = PROMPT_TIMEOUT
        self.cancel_wait = CANCEL_WAIT
        self._cancel_until: float | None = None  # ESC written: the queue waits for its answer until then
        self._owed = 0  # answers still owed to ESC / probe `AT`s: the queue waits for them until _cancel_until

    # -- public ------------------------------------------------------------------------------
    @property
    def in_flight(self) -> Command | None:
        return self._inflight.command if self._inflight else None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, command: Command, now: float) -> bytes | None:
        """Queue `command`; returns the bytes to write now if it went out at once, else None."""
        self._queue.append(command)
        self._start_next(now)
        out = self.data_to_send()
        return out or None

    def cancel_input(self, now: float) -> bytes:
        """ESC for a `> ` prompt the modem may be at although we sent no prompt command (a previous
        process died mid-`AT+CMGS`): it cancels that input (ignored outside a prompt, SIM800 manual
        §3.2.5). Commands queued after it wait for its answer or `cancel_wait`. Returns what to write."""
        self._out += ESC
        self._owe(1, now)
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        """Bytes waiting to be written: later commands from the queue, prompt payloads, ESC."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the modem. Never raises on any input."""
        if not data:
            return
        self.last_rx = now
        self._buf += data
        try:
            self._parse(now)
        except Exception:  # a bug here must not take the unit down: log, resync, go on
            log.exception("AT channel parser failed; dropping %d buffered bytes", len(self._buf))
            self._emit(Garbage(bytes(self._buf)))
            self._reset_framing()
        self._partial_deadline = now + self.partial_timeout if self._has_partial() else None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out

    def next_deadline(self) -> float | None:
        inf = self._inflight
        times = [t for t in (inf.deadline if inf else None, self._partial_deadline, self._cancel_until,
                             inf.probe_at(self.last_rx) if inf else None, inf.settle_until if inf else None)
                 if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        """Fire what is due: partial-data flush, then the in-flight command's timeout."""
        if self._partial_deadline is not None and now >= self._partial_deadline:
            self._partial_deadline = None
            self._flush_partial(now)
        if self._cancel_until is not None and now >= self._cancel_until:
            self._cancel_until = None  # no answer to ESC: the modem was not at a prompt after all
            self._owed = 0
            self._start_next(now)
        inf = self._inflight
        if inf is not None and inf.settle_until is not None and now >= inf.settle_until:
            self._final_lost(inf, now)  # one OK and no second: it was the probe's
            return
        probe_at = inf.probe_at(self.last_rx) if inf is not None else None
        if inf is not None and probe_at is not None and now >= probe_at and now < inf.deadline:
            inf.probes += 1
            inf.suspect_at = now
            self._out += b"AT\r"
            log.info("final result of %r garbled? probing with AT (%d)", inf.command.shown, inf.probes)
        if inf is not None and now >= inf.deadline and inf.command.prompt and not inf.prompt_done:
            self._prompt_lost(inf, now)
        elif inf is not None and now >= inf.deadline:
            self._inflight = None
            log.warning("modem did not answer %r within %.1f s", inf.command.shown, inf.command.timeout)
            if inf.command.prompt and not inf.prompt_done:
                self._out += ESC  # spec §1: leaves a `> ` prompt we may have missed; harmless otherwise
            self._echo_expect = b""
            self._emit(Timeout(inf.command, tuple(inf.lines)))
            self._owe(inf.probes, now)
            self._start_next(now)

    def abort(self, reason: str, now: float) -> Command | None:
        """Give up the in-flight command (e.g. the modem is being power-cycled)."""
        inf = self._inflight
        if inf is None:
            return None
        self._inflight = None
        self._echo_expect = b""
        self._emit(Aborted(inf.command, reason))
        self._start_next(now)
        return inf.command

    def _abort_all(self, reason: str) -> None:
        """The modem restarted or went dark: what it was doing and what we queued is moot."""
        inf, self._inflight = self._inflight, None
        self._echo_expect = b""
        if inf is not None:
            self._emit(Aborted(inf.command, reason))
        for cmd in self.clear_queue():
            self._emit(Aborted(cmd, reason))

    def clear_queue(self) -> list[Command]:
        """Drop the commands not yet written (after a reboot they would meet a different modem)."""
        dropped = list(self._queue)
        self._queue.clear()
        return dropped

    # -- internals ---------------------------------------------------------------------------
    def _emit(self, ev: Event) -> None:
        self._events.append(ev)

    def _owe(self, answers: int, now: float) -> None:
        """`answers` results (to probe `AT`s) may still come: the next command waits for them a while, so
        a late `OK` is never taken for its final."""
        if answers > 0:
            self._owed += answers
            self._cancel_until = now + self.cancel_wait

    def _suspect(self, now: float) -> None:
        """A garbled line came while a command waits: it may have been the final; probe if none follows."""
        inf = self._inflight
        if inf is not None and inf.probeable():
            inf.suspect_at = now

    def _final_lost(self, inf: _InFlight, now: float) -> None:
        """A probe's OK proved the modem idle, and the command's final was never read.

        If the command's information response came (`+CMGS: <mr>`, `+CSQ: ...`), the command succeeded:
        TS 27.007 §4.2 / TS 27.005 §3.5.1 give information responses only before `OK` (an error is the
        final result code alone). Else the outcome is unknown (`Timeout(final_lost=True)`)."""
        cmd = inf.command
        if cmd.prefixes and any(line.startswith(cmd.prefixes) for line in inf.lines):
            log.info("final result of %r lost in line noise; its answer came, so it succeeded", cmd.shown)
            self._finish(Final("OK", FinalKind.OK), now)
            return
        self._inflight = None
        self._echo_expect = b""
        log.warning("final result of %r lost in line noise (the modem answered a probe AT); outcome unknown",
                    inf.command.shown)
        self._emit(Timeout(inf.command, tuple(inf.lines), final_lost=True))
        self._owe(inf.probes - inf.probe_oks, now)
        self._start_next(now)

    def _start_next(self, now: float) -> None:
        if self._inflight is not None or not self._queue or self._cancel_until is not None:
            return
        cmd = self._queue.popleft()
        wait = min(cmd.timeout, self.prompt_timeout) if cmd.prompt else cmd.timeout
        self._inflight = _InFlight(cmd, now + wait, sent_at=now)
        self._out += cmd.wire()

    def _prompt_lost(self, inf: _InFlight, now: float) -> None:
        """No `> ` within `prompt_timeout`: line noise ate it, or the modem never gave one.

        Ctrl-Z/ESC input: ESC cancels it (SIM800 manual §3.2.5/§8.2.3; ignored outside a prompt), the
        command fails at once so the caller retries, and the next command follows the modem's answer
        to ESC. Fixed-length input (`AT+CIPSEND=<n>`, no terminator) cannot be cancelled: the modem
        takes the next n bytes whatever they are, ESC included. So the payload itself goes, which is
        what the modem is waiting for, and the command waits for its final as usual.
        """
        cmd = inf.command
        if not cmd.terminator and cmd.payload:
            log.warning("no prompt for %r within %.1f s; sending the fixed-length payload anyway",
                        cmd.shown, self.prompt_timeout)
            inf.prompt_done = True
            inf.deadline = inf.sent_at + cmd.timeout
            self._out += cmd.payload
            if self.echo:
                self._echo_expect = cmd.payload
            return
        log.warning("no prompt for %r within %.1f s; cancelled with ESC", cmd.shown, self.prompt_timeout)
        self._inflight = None
        self._echo_expect = b""
        self._out += ESC
        self._cancel_until = now + self.cancel_wait
        self._emit(Timeout(cmd, tuple(inf.lines), prompt_lost=True))

    def _finish(self, final: Final, now: float) -> None:
        inf = self._inflight
        assert inf is not None
        self._inflight = None
        self._echo_expect = b""
        if final.ok:
            m = _ECHO_SWITCH.search(inf.command.text)
            if m:
                self.echo = m.group(1) == "1"
        self._emit(Response(inf.command, tuple(inf.lines), final))
        self._owe(inf.probes - inf.probe_oks, now)
        self._start_next(now)

    def _reset_framing(self) -> None:
        self._buf.clear()
        self._after_cr = False
        self._ipd_left = 0
        self._ipd_data.clear()
        self._body_for = None
        self._echo_expect = b""

    def _has_partial(self) -> bool:
        return bool(self._buf) or self._ipd_left > 0 or self._body_for is not None

    def _flush_partial(self, now: float) -> None:
        if self._ipd_left > 0:
            log.warning("%s payload cut short: %d of %d bytes", self._ipd_header, len(self._ipd_data),
                        len(self._ipd_data) + self._ipd_left)
            self._emit(TcpData(self._ipd_header, data=bytes(self._ipd_data), truncated=True,
                               conn=self._ipd_conn))
            self._ipd_left = 0
            self._ipd_data.clear()
        if self._body_for is not None:
            header, self._body_for = self._body_for, None
            if self._body_is_urc:
                self._emit(Garbage(header.encode()))  # a +CMT without its body: not a message
        inf = self._inflight
        if self._buf and inf is not None and inf.command.prompt and not inf.prompt_done:
            # Noise before an awaited prompt (`\x93> `): the line never ends, and `> ` is its tail.
            head = bytes(self._buf).rstrip(b" ")
            if head.endswith(b">"):
                if head[:-1].strip(b"\r\n"):
                    self._emit(Garbage(head[:-1]))
                self._buf.clear()
                self._on_prompt(inf)
        if self._buf and inf is not None:
            # A final whose CR LF noise ate (`OK` and then nothing): nothing else will end that line.
            text = bytes(self._buf).decode("ascii", "replace").strip()
            if text and parse_final(text, inf.command) is not None:
                self._buf.clear()
                self._on_line(text, now)
        if self._buf:
            self._emit(Garbage(bytes(self._buf)))
            self._buf.clear()
            self._suspect(now)
        self._after_cr = False
        self._echo_expect = b""

    def _take_line(self) -> bytes | None:
        """Cut one line (terminated by CR, LF or CR LF) off the buffer, or None if incomplete."""
        buf = self._buf
        for i, b in enumerate(buf):
            if b in (0x0D, 0x0A):
                line = bytes(buf[:i])
                del buf[: i + 1]
                self._after_cr = b == 0x0D
                return line
            if i >= MAX_LINE:
                break
        if len(buf) > MAX_LINE:
            self._emit(Garbage(bytes(buf[:MAX_LINE])))
            del buf[:MAX_LINE]
        return None

    def _parse(self, now: float) -> None:
        buf = self._buf
        while buf:
            if self._ipd_left:
                chunk = bytes(buf[: self._ipd_left])
                del buf[: len(chunk)]
                self._ipd_data += chunk
                self._ipd_left -= len(chunk)
                if self._ipd_left == 0:
                    self._emit(TcpData(self._ipd_header, data=bytes(self._ipd_data), conn=self._ipd_conn))
                    self._ipd_data.clear()
                continue
            if self._after_cr and buf[0] == 0x0A:
                del buf[0]
                self._after_cr = False
                continue
            self._after_cr = False
            if self._echo_expect:
                if not self._skip_payload_echo():
                    return
                continue
            if self._body_for is not None:
                raw = self._take_line()
                if raw is None:
                    return
                self._on_body(raw.decode("utf-8", "replace"), now)
                continue
            if buf[0] in (0x0D, 0x0A):
                del buf[0]
                continue
            inf = self._inflight
            if buf[0] == ord(">") and inf and inf.command.prompt and not inf.prompt_done:
                del buf[0]
                if buf[:1] == b" ":
                    del buf[0]
                self._on_prompt(inf)
                continue
            if buf[0] in self._data_first:
                header = self._data_header()
                if header is MORE:
                    return  # maybe a data header: wait for more
                if header is not None:
                    continue
            raw = self._take_line()
            if raw is None:
                return
            self._on_raw_line(raw, now)

    def _data_header(self) -> Literal["more", True] | None:
        """Take a length-prefixed data header off the buffer (True), or say MORE, or None (a line)."""
        buf = self._buf
        for prefix in self._data_prefixes:
            if len(buf) < len(prefix):
                if prefix.startswith(bytes(buf)):
                    return MORE
                continue
            if not buf.startswith(prefix):
                continue
            found = self.urcs.data_header(bytes(buf[:MAX_LINE]))
            if found is None or found is MORE:
                return found
            assert isinstance(found, DataHeader)
            self._ipd_header = buf[: found.end].decode("ascii", "replace")
            self._ipd_left = found.length
            self._ipd_conn = found.conn
            del buf[: found.end]
            if self._ipd_left == 0:
                self._emit(TcpData(self._ipd_header, data=b"", conn=found.conn))
            return True
        return None

    def _skip_payload_echo(self) -> bool:
        """Consume the modem's echo of a prompt payload; False means "wait for more bytes"."""
        buf, want = self._buf, self._echo_expect
        n = 0
        while n < len(buf) and n < len(want) and buf[n] == want[n]:
            n += 1
        del buf[:n]
        want = want[n:]
        if not want:
            if buf[:1] in (CTRL_Z, ESC):
                del buf[0]
            self._echo_expect = b""
            return True
        if not buf:
            self._echo_expect = want
            return False
        self._echo_expect = b""  # mismatch: the modem does not echo (or dropped bytes); parse normally
        return True

    def _on_prompt(self, inf: _InFlight) -> None:
        inf.prompt_done = True
        inf.deadline = inf.sent_at + inf.command.timeout  # the full answer time runs from the command
        cmd = inf.command
        self._out += cmd.payload + cmd.terminator
        if self.echo and cmd.payload:
            self._echo_expect = cmd.payload

    def _probe_answered(self, inf: _InFlight, now: float) -> None:
        """An OK while probe `AT`s are out. The modem answers in order, so the command's own final (if it
        was not the garbled line) came first. A command that never ends in plain OK (`SHUT OK`, `SEND OK`):
        this OK is a probe's, and the command's final was lost. One that does (CIICR): see PROBE_SETTLE."""
        inf.probe_oks += 1
        cmd = inf.command
        if cmd.finals or cmd.fail_finals:
            self._final_lost(inf, now)
        elif inf.settle_until is None:
            inf.settle_until = now + PROBE_SETTLE
        else:  # a second OK: the first one was the command's own
            inf.probe_oks -= 1
            self._finish(Final("OK", FinalKind.OK), now)

    def _on_raw_line(self, raw: bytes, now: float) -> None:
        # Salvage the clean tail after noise: `\xff\x00RDY` is garbage followed by a real RDY.
        start = max((i + 1 for i, b in enumerate(raw) if _is_control(b)), default=0)
        while True:
            try:
                line = raw[start:].decode("utf-8").strip()
                break
            except UnicodeDecodeError as exc:
                start += exc.end
        if start:
            self._emit(Garbage(raw[:start]))
            self._suspect(now)
        if line:
            self._on_line(line, now)

    def _on_line(self, line: str, now: float) -> None:
        inf = self._inflight
        if inf is not None:
            cmd = inf.command
            if inf.probes and line.upper() == "AT":
                return  # the echo of our probe (echo still on)
            if not inf.echo_seen and not inf.lines and line.upper() == cmd.text.upper():
                inf.echo_seen = True
                self.echo = True
                return
            if cmd.prefixes and line.startswith(cmd.prefixes):
                inf.lines.append(line)
                if cmd.body_after_prefix:
                    self._body_for, self._body_is_urc = line, False
                return
            final = parse_final(line, cmd)
            if final is not None and inf.probes and final.kind is FinalKind.OK:
                self._probe_answered(inf, now)
                return
            if final is not None:
                if final.kind is FinalKind.OK and not cmd.ok_is_final:
                    inf.saw_ok = True
                    return
                if final.kind is FinalKind.OK and cmd.prompt and not inf.prompt_done:
                    return  # a late answer to an earlier ESC: a prompt command never says OK before `> `
                if final.kind is FinalKind.FAILURE and cmd.failure_then_error and not inf.saw_ok:
                    inf.lines.append(line)  # the reason; the final `ERROR` follows
                    return
                self._finish(final, now)
                return
        elif self._cancel_until is not None and parse_final(line) is not None:
            self._owed -= 1  # the modem answered the ESC (back in command mode) or a probe AT
            if self._owed <= 0:
                self._owed = 0
                self._cancel_until = None
                self._start_next(now)
            return
        if line.startswith("+CMT:") or (line.startswith("+CDS:") and line[5:].strip().isascii() and line[5:].strip().isdigit()):
            self._body_for, self._body_is_urc = line, True  # two-line URC: the body comes next
            return
        urc = self.urcs.classify(line)
        if urc is not None:
            self._emit(urc)
            if urc.echo_restored:
                self.echo = True  # V.250 §6.2.4: echo is on after power-up
            if urc.resets:
                self._abort_all(urc.line)
            return
        if inf is not None:
            inf.lines.append(line)
            if _near_final(line, inf.command):
                self._suspect(now)
        else:
            self._emit(Urc(line))

    def _on_body(self, body: str, now: float) -> None:
        header, self._body_for = self._body_for, None
        assert header is not None
        if self._body_is_urc and header.startswith("+CDS:"):
            self._emit(SmsStatusReport(header, pdu=body.strip()))
        elif self._body_is_urc:
            self._emit(SmsDirect(header, header=header, text=body))
        elif self._inflight is not None:
            self._inflight.lines.append(body)
