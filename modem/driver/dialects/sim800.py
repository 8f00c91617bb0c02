"""The SIM800 dialect (SIMCom SIM800/SIM800C/SIM800L/SIM868, SIM800 Series AT Command Manual V1.09).

What TS 27.007/27.005 leave to the vendor, as SIM800 does it:
- the URC table: `RDY`, `Call Ready`, `SMS Ready`, `CLOSED` / `<n>, CLOSED`, `+PDP: DEACT`,
  `... POWER DOWN`, `... VOLTAGE WARNNING` (sic), NMEA lines, and received data framed as
  `+IPD,<len>:` (single connection, `AT+CIPHEAD=1`) or `+RECEIVE,<n>,<len>:` (multi-connection);
- the bearer: `AT+CIPSHUT`, `AT+CIPMUX`, `AT+CIPHEAD=1`, `AT+CSTT`, `AT+CIICR`, `AT+CIFSR` (manual §8.2);
- TCP links: `AT+CIPSTART`, `AT+CIPSEND=<len>` (binary-safe fixed length), `AT+CIPCLOSE`, with the link
  number `<n>` in front of every command and result in multi-connection mode (`AT+CIPMUX=1`, up to 6);
- GNSS (SIM868): `AT+CGNSPWR`, `AT+CGNSTST`, `AT+CGNSINF`.

`Sim800(multi=True)` (what `open_modem("sim800:...")` gives) drives `AT+CIPMUX=1` with links 0..5;
`Sim800(multi=False)` drives single-connection mode: one link, number 0, for tools that want the plain
`+IPD` form.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from modem.driver import commands as C
from modem.driver.at_channel import MORE, Command, DataHeader, UrcTable
from modem.driver.dialect import Dialect, register_dialect
from modem.driver.dialects.common import REGISTRATION_2G, NotCommon, classify_common
from modem.driver.events import TcpClosed as TcpClosedEvent
from modem.driver.script import Script, StepFailed
from modem.driver.urc import (
    CallReady,
    ModemBooted,
    PdpDeactivated,
    SmsReady,
    TcpClosed,
    Urc,
)

MAX_LINKS = 6  # manual §8.2.1 AT+CIPMUX: up to 6 connections, numbered 0..5
MAX_SEND = 1460  # manual §8.2.2 AT+CIPSEND: at most 1460 bytes per send (AT+CIPSEND? tells)

# Received data (manual §8.2.8 AT+CIPHEAD, §8.2.1 multi-connection): `+IPD,<len>:` in single mode,
# `+RECEIVE,<n>,<len>:` in multi mode; the payload follows at once (`+RECEIVE` puts CR LF before it).
_IPD = re.compile(rb"\+IPD,(\d{1,5}):")
_IPD_PARTIAL = re.compile(rb"\+IPD,\d{0,5}")
_RECEIVE = re.compile(rb"\+RECEIVE,(\d),(\d{1,5}):(\r\n)?")
_RECEIVE_PARTIAL = re.compile(rb"\+RECEIVE,(\d(,\d{0,5}(:\r?)?)?)?")
# Lines that end some command but may arrive late, after their command timed out: never let them
# be counted as the next command's information lines. Multi-connection mode puts `<n>, ` in front.
_STRAY_FINALS = re.compile(
    r"(\d, )?(CONNECT OK|CONNECT FAIL|ALREADY CONNECT|SEND OK|SEND FAIL|CLOSE OK|SHUT OK|DATA ACCEPT:.*"
    r"|STATE: .*|OK|ERROR|\+CME ERROR:.*|\+CMS ERROR:.*)$"
)
_LINK_CLOSED = re.compile(r"(\d), CLOSED$")
# Manual §8.2.12: the stack's states once AT+CIICR brought the bearer up (GPRSACT; IP STATUS after CIFSR).
_BEARER_UP = ("IP GPRSACT", "IP STATUS", "IP PROCESSING")
# Multi-connection client states (manual §8.2.12) in the words single-connection mode uses for them.
_LINK_STATE = {"CONNECTED": "CONNECT OK", "CONNECTING": "TCP CONNECTING", "CLOSING": "TCP CLOSING",
               "REMOTE CLOSING": "TCP CLOSING", "CLOSED": "TCP CLOSED"}
_UNTYPED = ("+CLIP:", "+CFUN:", "+CDS:", "*PSUTTZ", "DST:", "+CTZV:", "+CUSD:", "+UGNSINF:", "+CIEV:",
            "+CRING:", "NO CARRIER", "+CIPRXGET:")


def classify_urc(line: str) -> Urc | None:
    """The typed URC for a SIM800 line, plain `Urc` for known-but-untyped ones, None if not a URC."""
    common = classify_common(line, REGISTRATION_2G)
    if not isinstance(common, NotCommon):
        return common
    if line == "RDY":
        return ModemBooted(line)
    if line == "Call Ready":
        return CallReady(line)
    if line == "SMS Ready":
        return SmsReady(line)
    if line == "CLOSED":
        return TcpClosed(line)
    if line.endswith(", CLOSED"):
        m = _LINK_CLOSED.match(line)
        if m:
            return TcpClosed(line, conn=int(m.group(1)))
    if line == "+PDP: DEACT":
        return PdpDeactivated(line)
    if line.startswith(_UNTYPED):
        return Urc(line)
    if _STRAY_FINALS.match(line):
        return Urc(line)
    return None


class Sim800Urcs:
    """The SIM800 `UrcTable` for `ATChannel`."""

    data_prefixes: tuple[bytes, ...] = (b"+IPD,", b"+RECEIVE,")

    def data_header(self, buf: bytes) -> DataHeader | Literal["more"] | None:
        if buf.startswith(b"+IPD,"):
            m = _IPD.match(buf)
            if m:
                return DataHeader(m.end(), int(m.group(1)), 0)
            return MORE if _IPD_PARTIAL.fullmatch(buf) else None
        m = _RECEIVE.match(buf)
        if m:
            if m.group(3) or (len(buf) > m.end() and buf[m.end()] != 0x0D):
                return DataHeader(m.end(), int(m.group(2)), int(m.group(1)))
            return MORE  # `+RECEIVE,0,5:` may still get its CR LF
        return MORE if _RECEIVE_PARTIAL.fullmatch(buf) else None

    def classify(self, line: str) -> Urc | None:
        return classify_urc(line)


URCS = Sim800Urcs()


class Sim800(Dialect):
    """SIM800: single-connection (`multi=False`, link 0) or multi-connection (`AT+CIPMUX=1`) TCP."""

    name: ClassVar[str] = "sim800"
    urcs: ClassVar[UrcTable] = URCS

    def __init__(self, multi: bool = False) -> None:
        self.multi = multi
        self.max_connections = MAX_LINKS if multi else 1  # type: ignore[misc]

    def _link(self, conn: int) -> str:
        """`<n>,` in front of a command's parameters in multi mode; nothing in single mode."""
        return f"{conn}," if self.multi else ""

    def _result(self, conn: int, text: str) -> str:
        """A final result as the modem words it: `0, SEND OK` in multi mode, `SEND OK` in single."""
        return f"{conn}, {text}" if self.multi else text

    def gprs_attach(self, apn: str, user: str, password: str) -> Script:
        """CIPSHUT, CIPMUX, CIPHEAD=1, CSTT, CIICR, CIFSR → the local IP address (manual §8.2).

        A final lost in line noise (`outcome_unknown`): CIPSHUT shuts from any state, so the script goes
        on (CIPMUX fails if it did not); for CIICR the bearer's state is asked (`IP GPRSACT`: it worked).
        """
        try:
            yield C.cipshut()
        except StepFailed as exc:
            if not exc.failed.outcome_unknown:
                raise
        yield C.simple(f"AT+CIPMUX={1 if self.multi else 0}")  # only in IP INITIAL: right after CIPSHUT
        yield C.simple("AT+CIPHEAD=1")  # +IPD,<len>: framing for received data
        yield C.cstt(apn, user, password)
        try:
            yield C.ciicr()
        except StepFailed as exc:
            if not exc.failed.outcome_unknown or (yield from self.ip_status(0)) not in _BEARER_UP:
                raise
        r = yield C.cifsr()
        return r.final.line

    def gprs_shutdown(self) -> Script:
        yield C.cipshut()

    def tcp_open(self, conn: int, host: str, port: int) -> Script:
        """OK at once, then `[<n>, ]CONNECT OK` / `CONNECT FAIL` / `ALREADY CONNECT`."""
        if not self.multi:
            yield C.cipstart(host, port)
            return
        if not 0 < port < 65536:
            raise ValueError(f"bad port {port}")
        yield Command(f'AT+CIPSTART={conn},"TCP",{C.quote(host)},{port}', timeout=C.T_CIPSTART,
                      finals=(self._result(conn, "CONNECT OK"), self._result(conn, "ALREADY CONNECT")),
                      fail_finals=(self._result(conn, "CONNECT FAIL"),), ok_is_final=False)

    def tcp_send(self, conn: int, data: bytes) -> Script:
        """`AT+CIPSEND=[<n>,]<len>` + len bytes, in pieces of at most 1460; SEND FAIL closes the link."""
        for i in range(0, len(data), MAX_SEND):
            chunk = data[i:i + MAX_SEND]
            if self.multi:
                cmd = Command(f"AT+CIPSEND={conn},{len(chunk)}", timeout=C.T_CIPSEND, prompt=True,
                              payload=chunk, terminator=b"",
                              finals=(self._result(conn, "SEND OK"), r"DATA ACCEPT:"),
                              fail_finals=(self._result(conn, "SEND FAIL"),))
            else:
                cmd = C.cipsend(chunk)
            try:
                yield cmd
            except StepFailed as exc:
                final = exc.failed.final
                if final is not None and final.line.endswith("SEND FAIL"):
                    yield TcpClosedEvent("SEND FAIL", conn)
                raise

    def tcp_close(self, conn: int) -> Script:
        if not self.multi:
            yield C.cipclose()
            return
        yield Command(f"AT+CIPCLOSE={conn}", timeout=C.T_SHORT, finals=(self._result(conn, "CLOSE OK"),))

    def ip_status(self, conn: int = 0) -> Script:
        """The state of link `conn` in single-connection words (`CONNECT OK`, `TCP CLOSED` ...), or the
        bearer's (`IP INITIAL`, `IP GPRSACT`, `PDP DEACT` ...) while the link is unused.

        Single mode: `STATE: <state>` after OK is both. Multi mode (manual §8.2.12): `STATE:` is the
        stack's (`IP PROCESSING`), then one `C: <n>,<bearer>,<type>,<ip>,<port>,<client state>` line per
        link 0..5 follows; the last one ends the answer.
        """
        if not self.multi:
            return C.parse_state((yield C.cipstatus()).final.line)
        r = yield Command("AT+CIPSTATUS", timeout=C.T_SHORT, prefixes=("STATE:",),
                          finals=(rf"C: {MAX_LINKS - 1},",), ok_is_final=False)
        lines = (*r.lines, r.final.line)
        stack = C.parse_state(C.find_line(lines, "STATE:"))
        row = next((C.split_fields(line[2:]) for line in lines if line.startswith(f"C: {conn},")), None)
        if row is None or len(row) < 6:
            raise C.ParseError(f"no C: line for link {conn} in {lines!r}")
        return _LINK_STATE.get(row[5].upper(), stack)

    def gnss_power(self, on: bool) -> Script:
        yield C.cgnspwr(on)

    def gnss_stream(self, on: bool) -> Script:
        yield C.simple(f"AT+CGNSTST={1 if on else 0}")

    def gnss_fix(self) -> Script:
        from modem.gnss import GnssError, parse_cgnsinf
        r = yield C.cgnsinf()
        try:
            return parse_cgnsinf(C.find_line(r.lines, "+CGNSINF:"))
        except GnssError as exc:
            raise C.ParseError(str(exc)) from None


def _sim800() -> Sim800:
    """`sim800`: multi-connection mode, so the unit can hold several TCP links (manual §8.2.1)."""
    return Sim800(multi=True)


register_dialect("sim800", _sim800)
