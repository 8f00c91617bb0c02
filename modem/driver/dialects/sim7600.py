"""The SIM7600 dialect (SIMCom SIM7500/SIM7600 series LTE Cat-1/Cat-4, and the A7670 that copies it).

The driver's own reading of the SIM7500/SIM7600 Series AT Command Manual (the virtual modem's reading
is separate, `modem/emulator/dialects/sim7600.py`; they share no parser, DESIGN.md §1):

- boot: `RDY`, `+CPIN: READY`, `SMS DONE`, `PB DONE` (no `Call Ready`); `AT+CRESET` is the soft reset
  (`RDY` follows), `AT+CPOF` switches it off;
- registration: `+CREG:`/`+CGREG:` as TS 27.007, plus `+CEREG:` (EPS, LTE) URCs; the radio access
  technology from `AT+CPSI?` (`+CPSI: LTE,Online,...`, `GSM,...`, `NO SERVICE,Online`), the preferred
  mode `AT+CNMP` (2 automatic, 13 GSM only, 38 LTE only);
- data over the module's own IP stack (manual ch. "TCP/IP"): `AT+CGDCONT`, `AT+NETOPEN` → `+NETOPEN: 0`,
  `AT+IPADDR`, `AT+CIPOPEN=<link>,"TCP",<host>,<port>` → `+CIPOPEN: <link>,<err>`,
  `AT+CIPSEND=<link>,<len>` → `>` → `+CIPSEND: <link>,<req>,<cnf>`, `AT+CIPCLOSE=<link>` →
  `+CIPCLOSE: <link>,<err>`, remote close `+IPCLOSE: <link>,<reason>`, network loss
  `+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY`, `AT+NETCLOSE`; errors as `+CIPERROR: <err>` / `+IP ERROR:`;
- received data by **`AT+CIPRXGET=1`** (the module keeps it; `+CIPRXGET: 1,<link>` says some came;
  `AT+CIPRXGET=2,<link>,<len>` → `+CIPRXGET: 2,<link>,<read>,<rest>` CR LF and the bytes). Why not the
  pushed default: pushed data comes as `+IPD<len>` with no link number (only `RECV FROM:<ip>:<port>`
  in front, with `AT+CIPSRIP=1`), so two links to the same server cannot be told apart, and a push may
  land in the middle of another command's answer. A pushed `+IPD<len>` is still read (as link 0) so a
  module left in push mode by someone else loses nothing;
- GNSS: `AT+CGPS=1/0`, `AT+CGPSINFO` (ddmm.mmmmmm), NMEA on the AT port with `AT+CGPSINFOCFG`.

Recovery the generic ladder cannot know (`radio_recover`, run by the link supervisor's rungs): a module
that stays on GSM after a drop while LTE is there again, or loops in `+CPSI: NO SERVICE,Online` with good
signal, is moved by a mode toggle (`AT+CNMP=38`, then back to `AT+CNMP=2`), and by `AT+CRESET` when
the toggle is refused. `AT+NETOPEN` failing after a network close until `AT+NETCLOSE`: every attach
starts with `AT+NETCLOSE`.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import ClassVar, Literal

from modem.driver import commands as C
from modem.driver.at_channel import MORE, Command, DataHeader, Response, UrcTable
from modem.driver.dialect import Dialect, register_dialect
from modem.driver.dialects.common import REGISTRATION_LTE, NotCommon, classify_common
from modem.driver.dialects.common import fields as _fields
from modem.driver.events import TcpClosed as TcpClosedEvent
from modem.driver.script import Delay, Failed, Script, StepFailed
from modem.driver.urc import (
    ModemBooted,
    PdpDeactivated,
    SmsReady,
    TcpClosed,
    Urc,
)

MAX_LINKS = 10  # AT+CIPOPEN: <link_num> 0..9
MAX_SEND = 1500  # AT+CIPSEND: <length> 1..1500 in non-transparent mode
READ_MAX = 1500  # AT+CIPRXGET=2: at most 1500 bytes per read
T_NETOPEN = 125.0  # +NETOPEN comes after the PDP context is up: up to 120 s
T_NETCLOSE = 65.0
T_CIPOPEN = 125.0  # +CIPOPEN: <link>,<err> after the TCP handshake (AT+CIPTIMEOUT default 120 s)
T_CIPSEND = 125.0
T_CIPCLOSE = 65.0
T_CRESET = 30.0
RAT_SETTLE = 30.0  # after AT+CNMP=38: how long to look for LTE before going back to automatic
RAT_POLL = 3.0

# +CIPERROR / +CIPOPEN <err> (manual, TCP/IP "Description of <err_info>").
CIP_ERRORS = {
    0: "operation succeeded", 1: "network failure", 2: "network not opened", 3: "wrong parameter",
    4: "operation not supported", 5: "failed to create socket", 6: "failed to bind socket",
    7: "TCP server is already listening", 8: "busy", 9: "sockets opened", 10: "timeout",
    11: "DNS parse failed", 255: "unknown error",
}

# Received data: `+CIPRXGET: 2,<link>,<read>,<rest>` CR LF <read bytes> (the answer to a read), and the
# pushed `+IPD<len>` CR LF <len bytes> of a module left in push mode.
_RXGET = re.compile(rb"\+CIPRXGET: ?2,(\d),(\d{1,4}),(\d{1,6})\r\n")
_RXGET_PARTIAL = re.compile(rb"\+CIPRXGET: ?(2(,(\d(,(\d{1,4}(,(\d{1,6}\r?)?)?)?)?)?)?)?")
_IPD = re.compile(rb"\+IPD(\d{1,4})\r\n")
_IPD_PARTIAL = re.compile(rb"\+IPD\d{0,4}\r?")

# Results of long IP commands that may come late (after their command timed out): never let them be
# taken for the next command's information lines.
_STRAY = re.compile(
    r"(\+NETOPEN: \d+|\+NETCLOSE: \d+|\+CIPOPEN: \d,\d+|\+CIPSEND: \d,\d+,-?\d+|\+CIPCLOSE: \d,\d+"
    r"|\+CIPERROR: \d+|\+IP ERROR: .*|OK|ERROR|\+CME ERROR:.*|\+CMS ERROR:.*)$"
)
_IPCLOSE = re.compile(r"\+IPCLOSE: ?(\d),\s*(\d+)$")
_RXGET_URC = re.compile(r"\+CIPRXGET: ?1,(\d)$")
_UNTYPED = ("+CLIP:", "+CFUN:", "+CDS:", "*PSUTTZ", "DST:", "+CTZV:", "+CUSD:", "+CIEV:", "+CRING:",
            "NO CARRIER", "PB DONE", "RECV FROM:", "+CGPS:", "+CPSI:", "+CNSMOD:", "+CGEV:", "*ATREADY:",
            "+CLIENT:", "+CIPEVENT:", "+CIPRXGET:")


@dataclass(frozen=True)
class DataWaiting(Urc):
    """`+CIPRXGET: 1,<link>`: the module holds received data for link `conn`; read it."""

    conn: int = 0


@dataclass(frozen=True)
class RadioStatus:
    """`AT+CPSI?`: the system the module is on (`LTE`, `GSM`, `WCDMA`, `NO SERVICE`) and whether online."""

    system: str
    online: bool
    plmn: str | None = None  # `<MCC>-<MNC>`

    @property
    def net_type(self) -> str:
        """As OVMS sets `m.net.type`: `2G`, `3G`, `4G`, or "" without service."""
        return {"GSM": "2G", "WCDMA": "3G", "TDSCDMA": "3G", "CDMA": "2G", "EVDO": "3G",
                "LTE": "4G", "CAT-M": "4G", "NB-IOT": "4G"}.get(self.system.upper(), "")


def parse_cpsi(lines: tuple[str, ...]) -> RadioStatus:
    """`+CPSI: <system mode>,<operation mode>[,<MCC>-<MNC>,...]`."""
    line = C.find_line(lines, "+CPSI:")
    f = _fields(line[len("+CPSI:"):])
    if len(f) < 2 or not f[0]:
        raise C.ParseError(f"short +CPSI: {line!r}")
    plmn = f[2] if len(f) > 2 and re.fullmatch(r"\d{3}-\d{2,3}", f[2]) else None
    return RadioStatus(f[0].upper(), f[1].lower() == "online", plmn)


def parse_cnsmod(lines: tuple[str, ...]) -> str:
    """`+CNSMOD: <n>,<stat>` → `2G` / `3G` / `4G` / "" (0 no service, 1-3 GSM/GPRS/EDGE, 4-7 UMTS, 8 LTE)."""
    line = C.find_line(lines, "+CNSMOD:")
    f = _fields(line[len("+CNSMOD:"):])
    if len(f) < 2 or not C.ascii_digits(f[1]):
        raise C.ParseError(f"bad +CNSMOD: {line!r}")
    stat = int(f[1])
    return "" if stat == 0 else "2G" if stat <= 3 else "4G" if stat == 8 else "3G"


def classify_urc(line: str) -> Urc | None:
    """The typed URC for a SIM7600 line, plain `Urc` for known-but-untyped ones, None if not a URC."""
    common = classify_common(line, REGISTRATION_LTE)
    if not isinstance(common, NotCommon):
        return common
    if line == "RDY":
        return ModemBooted(line)
    if line == "SMS DONE":
        return SmsReady(line)  # the module takes SMS commands now (SIM7600 has no `Call Ready`)
    if line.startswith("+IPCLOSE:"):
        # <close_reason> 0: closed by us (AT+CIPCLOSE), which we know; it must not close a new link that
        # reuses the number. 1: by the remote side, 2: send timeout.
        m = _IPCLOSE.match(line)
        return TcpClosed(line, conn=int(m.group(1))) if m and m.group(2) != "0" else Urc(line)
    if line.startswith("+CIPRXGET:"):
        m = _RXGET_URC.match(line)
        if m:
            return DataWaiting(line, conn=int(m.group(1)))
        return None  # `+CIPRXGET: 4,...` answers a query
    if line == "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY":
        return PdpDeactivated(line)
    if line.startswith(_UNTYPED):
        return Urc(line)
    if _STRAY.match(line):
        return Urc(line)
    return None


class Sim7600Urcs:
    """The SIM7600 `UrcTable` for `ATChannel`."""

    data_prefixes: tuple[bytes, ...] = (b"+CIPRXGET: 2,", b"+IPD")

    def data_header(self, buf: bytes) -> DataHeader | Literal["more"] | None:
        if buf.startswith(b"+CIPRXGET"):
            m = _RXGET.match(buf)
            if m:
                return DataHeader(m.end(), int(m.group(2)), int(m.group(1)))
            return MORE if _RXGET_PARTIAL.fullmatch(buf) else None
        m = _IPD.match(buf)
        if m:
            return DataHeader(m.end(), int(m.group(1)), 0)
        return MORE if _IPD_PARTIAL.fullmatch(buf) else None

    def classify(self, line: str) -> Urc | None:
        return classify_urc(line)


URCS = Sim7600Urcs()


def _ask(cmd: Command) -> Generator[Command, Response | None, Response]:
    """Run one command inside a script and return its `Response` (a Command always gets one back)."""
    r = yield cmd
    assert r is not None
    return r


def _ip_command(text: str, timeout: float, ok: str, fail: str) -> Command:
    """An IP command answered `OK` at once and by its result line later (`+NETOPEN: 0`, `+CIPOPEN: 0,0`).

    It fails in two shapes (manual): at once, a reason line (`+NETOPEN: 1`, `+IP ERROR: Network is
    already opened`, `+CIPERROR: 2`) and then `ERROR`; or later, `OK` and then the result line with
    its error code. `failure_then_error` takes the first shape's `ERROR` as the final, so it is never
    left over for the next command."""
    return Command(text, timeout=timeout, finals=(ok,), fail_finals=(fail, r"\+CIPERROR: ", r"\+IP ERROR: "),
                   ok_is_final=False, failure_then_error=True)


class Sim7600(Dialect):
    """SIM7600: links 0..9 over the module's IP stack, received data read with `AT+CIPRXGET`."""

    name: ClassVar[str] = "sim7600"
    urcs: ClassVar[UrcTable] = URCS
    max_connections: ClassVar[int] = MAX_LINKS
    reset_command: ClassVar[str] = "AT+CRESET"
    best_net_type: ClassVar[str] = "4G"

    def setup(self) -> Script:
        """EPS registration URCs with location (`+CEREG: <stat>,"<tac>","<ci>",<AcT>`)."""
        yield C.simple("AT+CEREG=2")

    def gprs_attach(self, apn: str, user: str, password: str) -> Script:
        """NETCLOSE (a NETOPEN after a network close fails until then), CGDCONT, [CGAUTH], CIPMODE=0,
        CIPRXGET=1, NETOPEN → `+NETOPEN: 0`, IPADDR → the local address."""
        yield from self._netclose()
        yield C.simple(f"AT+CGDCONT=1,\"IP\",{C.quote(apn)}")
        if user or password:
            # AT+CGAUTH=<cid>,<auth_type>,<passwd>,<user> (password before user); 3: PAP or CHAP.
            yield Command(f"AT+CGAUTH=1,3,{C.quote(password)},{C.quote(user)}", secret=True)
        yield C.simple("AT+CIPMODE=0")  # non-transparent: commands and data on one port
        yield C.simple("AT+CIPRXGET=1")  # received data waits in the module until read
        yield _ip_command("AT+NETOPEN", T_NETOPEN, r"\+NETOPEN: 0$", r"\+NETOPEN: \d+")
        r = yield from _ask(C.query("AT+IPADDR", "+IPADDR:"))
        addr = C.find_line(r.lines, "+IPADDR:")[len("+IPADDR:"):].strip()
        if not re.fullmatch(C.IP_RE, addr):
            raise C.ParseError(f"bad +IPADDR: {addr!r}")
        return addr

    def _netclose(self) -> Script:
        """`AT+NETCLOSE` from any state: `+NETCLOSE: 0`, or an error when the network was not open."""
        try:
            yield _ip_command("AT+NETCLOSE", T_NETCLOSE, r"\+NETCLOSE: 0$", r"\+NETCLOSE: \d+")
        except StepFailed as exc:
            if exc.failed.timeout:
                raise  # a module that does not answer is no module to attach with

    def gprs_shutdown(self) -> Script:
        yield from self._netclose()

    def tcp_open(self, conn: int, host: str, port: int) -> Script:
        """OK at once, then `+CIPOPEN: <link>,0` (or `,<err>`: failed)."""
        if not 0 < port < 65536:
            raise ValueError(f"bad port {port}")
        yield _ip_command(f'AT+CIPOPEN={conn},"TCP",{C.quote(host)},{port}', T_CIPOPEN,
                          rf"\+CIPOPEN: {conn},0$", rf"\+CIPOPEN: {conn},\d+")

    def tcp_send(self, conn: int, data: bytes) -> Script:
        """`AT+CIPSEND=<link>,<len>` + len bytes, in pieces of at most 1500; `+CIPSEND: <link>,<req>,<cnf>`.

        `<cnf>` -1: the link is gone (published as `TcpClosed`); fewer than asked: the rest goes again.
        """
        i = 0
        while i < len(data):
            chunk = data[i:i + MAX_SEND]
            cmd = Command(f"AT+CIPSEND={conn},{len(chunk)}", timeout=T_CIPSEND, prompt=True, payload=chunk,
                          terminator=b"", ok_is_final=False, finals=(rf"\+CIPSEND: {conn},\d+,\d+$",),
                          fail_finals=(rf"\+CIPSEND: {conn},\d+,-1$", r"\+CIPERROR: ", r"\+IP ERROR: "),
                          failure_then_error=True)
            try:
                r = yield from _ask(cmd)
            except StepFailed as exc:
                if exc.failed.final is not None:  # `<cnf>` -1, or refused (`+CIPERROR: 4`: no such link)
                    yield TcpClosedEvent(f"send failed ({exc.failed.final.line})", conn)
                raise
            sent = int(r.final.line.rsplit(",", 1)[1])
            if sent <= 0:
                raise StepFailed(Failed(f"AT+CIPSEND={conn}: the module took nothing ({r.final.line})"))
            i += min(sent, len(chunk))

    def tcp_close(self, conn: int) -> Script:
        yield _ip_command(f"AT+CIPCLOSE={conn}", T_CIPCLOSE, rf"\+CIPCLOSE: {conn},0$",
                          rf"\+CIPCLOSE: {conn},\d+")

    def ip_status(self, conn: int = 0) -> Script:
        """`AT+CIPOPEN?` lists every link (`+CIPOPEN: <n>[,"TCP","<ip>",<port>,...]`); `AT+NETOPEN?`
        says whether the network is open. Worded as SIM800 single-connection mode would."""
        r = yield from _ask(C.query("AT+NETOPEN?", "+NETOPEN:"))
        f = _fields(C.find_line(r.lines, "+NETOPEN:")[len("+NETOPEN:"):])
        if f[0] != "1":
            return "IP INITIAL"
        r = yield from _ask(C.query("AT+CIPOPEN?", "+CIPOPEN:"))
        for line in r.lines:
            f = _fields(line[len("+CIPOPEN:"):])
            if f[0] == str(conn):
                return "CONNECT OK" if len(f) > 1 and f[1] else "IP GPRSACT"
        return "IP GPRSACT"

    def urc_script(self, urc: Urc) -> Script | None:
        """`+CIPRXGET: 1,<link>` (data waiting) is answered by reading the link empty."""
        if isinstance(urc, DataWaiting):
            return self._drain(urc.conn)
        return None

    def _drain(self, conn: int) -> Script:
        """`AT+CIPRXGET=2,<link>,1500` (the bytes come as `TcpData` through the URC table's data header),
        then `AT+CIPRXGET=4,<link>` → `+CIPRXGET: 4,<link>,<rest>`: read again while the module holds more
        (it says `+CIPRXGET: 1` again only once its buffer was empty)."""
        for _ in range(64):  # at most ~96 kB per notice: a link that never drains must not hold the line
            yield Command(f"AT+CIPRXGET=2,{conn},{READ_MAX}", timeout=C.T_SHORT,
                          fail_finals=(r"\+CIPERROR: ", r"\+IP ERROR: "))
            r = yield from _ask(Command(f"AT+CIPRXGET=4,{conn}", timeout=C.T_SHORT, prefixes=("+CIPRXGET: 4",),
                              fail_finals=(r"\+CIPERROR: ", r"\+IP ERROR: ")))
            f = _fields(C.find_line(r.lines, "+CIPRXGET:")[len("+CIPRXGET:"):])
            if len(f) < 3 or not C.ascii_digits(f[2]):
                raise C.ParseError(f"bad +CIPRXGET: 4 answer {r.lines!r}")
            if int(f[2]) == 0:
                return

    # -- radio -------------------------------------------------------------------------------------
    def net_type(self) -> Script:
        """`AT+CPSI?` → `2G`/`3G`/`4G` ("" without service)."""
        return parse_cpsi((yield from _ask(C.query("AT+CPSI?", "+CPSI:"))).lines).net_type

    def radio_recover(self) -> Script:
        """On GSM or without service: `AT+CNMP=38` (LTE only) and look for LTE for `RAT_SETTLE` s, then
        `AT+CNMP=2` (automatic) again whatever came; `AT+CRESET` if the module refuses the mode.

        Returns what was done (`"lte"`: nothing needed; `"toggled: LTE"`, `"toggled: GSM"`, `"reset"`).
        """
        st = parse_cpsi((yield from _ask(C.query("AT+CPSI?", "+CPSI:"))).lines)
        if st.system == "LTE" and st.online:
            return "lte"
        try:
            yield C.simple("AT+CNMP=38", timeout=C.T_SHORT)
        except StepFailed as exc:
            if exc.failed.timeout:
                raise
            yield Command(self.reset_command, timeout=T_CRESET)
            return "reset"
        now_on = st.system
        waited = 0.0
        while waited < RAT_SETTLE:
            yield Delay(RAT_POLL)
            waited += RAT_POLL
            try:
                cur = parse_cpsi((yield from _ask(C.query("AT+CPSI?", "+CPSI:"))).lines)
            except (StepFailed, C.ParseError):
                continue
            now_on = cur.system
            if cur.system == "LTE" and cur.online:
                break
        yield C.simple("AT+CNMP=2", timeout=C.T_SHORT)
        return f"toggled: {now_on}"

    # -- GNSS --------------------------------------------------------------------------------------
    def gnss_power(self, on: bool) -> Script:
        try:
            yield C.simple(f"AT+CGPS={1 if on else 0}", timeout=C.T_SHORT)
        except StepFailed as exc:
            if exc.failed.timeout:
                raise  # ERROR: it already was (manual: AT+CGPS=1 while on is an error)

    def gnss_stream(self, on: bool) -> Script:
        """NMEA on the AT port every second (RMC, GGA, GSV: mask 1+2+4... as in the manual), or off."""
        yield C.simple(f"AT+CGPSINFOCFG={1 if on else 0},31")

    def gnss_fix(self) -> Script:
        from modem.gnss import GnssError, parse_cgpsinfo
        r = yield from _ask(C.query("AT+CGPSINFO", "+CGPSINFO:"))
        try:
            return parse_cgpsinfo(C.find_line(r.lines, "+CGPSINFO:"))
        except GnssError as exc:
            raise C.ParseError(str(exc)) from None


register_dialect("sim7600", Sim7600)
