"""GPRS and TCP: the CIPSTATUS state machine of sim800-at.md §3, single- and multi-connection.

SIM800 Series AT Command Manual V1.09 chapter 8. With `AT+CIPMUX=0` (the default) there is one link
and the stack's state *is* the connection's state (`CONNECT OK`, `TCP CLOSED` ...); results are bare
(`CONNECT OK`, `SEND OK`, `CLOSED`). With `AT+CIPMUX=1` there are six links (0..5), each with its own
client state (§8.2.12: INITIAL, CONNECTING, CONNECTED, CLOSED), the stack shows `IP STATUS` or
`IP PROCESSING`, and every result names its link: `<n>, CONNECT OK`, `<n>, SEND OK`, `<n>, CLOSED`.
Faults (send-fail, stall, remote-close, gprs-down, tcp-refused, tcp-unreachable) hit every link.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.emulator import links
from modem.emulator import state as st
from modem.emulator.command import Command, Prompt, Reply, command
from modem.emulator.errors import AtError
from modem.emulator.links import link_arg as _link_arg
from modem.emulator.links import rxget_mode, take_rx

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)

CIPSEND_MAX = 1460  # manual §8.2.3: the most one AT+CIPSEND takes (and one pushed chunk holds)
CIPRXGET_HEX_MAX = 730  # manual §8.2.26: AT+CIPRXGET=3 reads at most 730 bytes (1460 hex digits)

# Single-connection stack states that mirror the one link's client state.
_SINGLE_STATE = {
    st.LINK_CONNECTING: st.TCP_CONNECTING,
    st.LINK_CONNECTED: st.CONNECT_OK,
    st.LINK_CLOSED: st.TCP_CLOSED,
}


def _setting(name: str, attr: str, allowed: tuple[int, ...]):  # type: ignore[no-untyped-def]
    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "read":
            return Reply(lines=[f"{name}: {getattr(m.settings, attr)}"])
        if c.op == "test":
            return Reply(lines=[f"{name}: ({','.join(map(str, allowed))})"])
        if c.op != "set":
            raise AtError()
        v = c.int_arg(0)
        if v not in allowed:
            raise AtError()
        setattr(m.settings, attr, v)
        return Reply()

    return handler


command("+CIPHEAD")(_setting("+CIPHEAD", "ciphead", (0, 1)))
command("+CIPQSEND")(_setting("+CIPQSEND", "cipqsend", (0, 1)))
command("+CIPSPRT")(_setting("+CIPSPRT", "cipsprt", (0, 1, 2)))
command("+CIPSRIP")(_setting("+CIPSRIP", "cipsrip", (0, 1)))
# TLS is not emulated: AT+CIPSSL=1 is taken, and a CIPSTART with it on answers CONNECT FAIL.
command("+CIPSSL")(_setting("+CIPSSL", "cipssl", (0, 1)))


# ---------------------------------------------------------------------------------------- helpers
def multi(m: Interpreter) -> bool:
    return m.settings.cipmux == 1


def _tag(m: Interpreter, link: st.Link, text: str) -> str:
    """`CONNECT OK` in single mode, `<n>, CONNECT OK` in multi mode (as a real SIM800 prints it)."""
    return f"{link.n}, {text}" if multi(m) else text


def _set_state(m: Interpreter, link: st.Link, state: str) -> None:
    link.state = state
    if not multi(m) and link.n == 0:
        m.tcp_state = _SINGLE_STATE[state]


def stack_state(m: Interpreter) -> str:
    """What `STATE:` shows: in multi mode IP PROCESSING while some link is in use."""
    if multi(m) and m.tcp_state == st.IP_STATUS and any(lk.state in st.LINK_OPEN_STATES for lk in m.links):
        return st.IP_PROCESSING
    return m.tcp_state


def _link_fields(link: st.Link) -> str:
    """`<n>,<bearer>,<TCP/UDP>,<IP address>,<port>,<client state>` (manual §8.2.12)."""
    if link.state == st.LINK_INITIAL:
        return f'{link.n},,"","","","{link.state}"'
    return f'{link.n},0,"TCP","{link.host}","{link.port}","{link.state}"'


# ---------------------------------------------------------------------------------------- commands
@command("+CIPMUX")
def cipmux(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CIPMUX: {m.settings.cipmux}"])
    if c.op == "test":
        return Reply(lines=["+CIPMUX: (0,1)"])
    if c.op != "set":
        raise AtError()
    v = c.int_arg(0)
    # Manual §8.2.1 note: only effective in IP INITIAL (that is, after AT+CIPSHUT or a reboot).
    if v not in (0, 1) or m.tcp_state != st.IP_INITIAL:
        raise AtError()
    m.settings.cipmux = v
    return Reply()


@command("+CDNSCFG", "+CLPORT", "+CIPDPDP", "+CIPMODE", "+CIPCCFG", "+CIPSHOWTP", "+CIPATS")
def accepted(m: Interpreter, c: Command) -> Reply:
    if c.op == "set" and c.name == "+CIPMODE" and c.int_arg(0) != 0:
        raise AtError()  # transparent mode is not emulated
    return Reply()


@command("+CGDCONT")
def cgdcont(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f'+CGDCONT: 1,"IP","{m.settings.cgdcont_apn}","0.0.0.0",0,0'])
    if c.op == "test":
        return Reply(lines=['+CGDCONT: (1-3),"IP",,,(0,1),(0,1)'])
    if c.op == "set":
        args = c.args()
        if len(args) >= 3:
            m.settings.cgdcont_apn = args[2]
    return Reply()


@command("+CSTT")
def cstt(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f'+CSTT: "{m.settings.apn}","",""'])
    if c.op == "test":
        return Reply(lines=['+CSTT: "APN","USER","PWD"'])
    if m.tcp_state != st.IP_INITIAL:
        raise AtError()
    m.settings.apn = c.str_arg(0, "CMNET") if c.op == "set" else "CMNET"
    m.tcp_state = st.IP_START
    return Reply()


@command("+CIICR")
def ciicr(m: Interpreter, c: Command) -> Reply:
    if c.op != "exec" or m.tcp_state != st.IP_START:
        raise AtError()
    delay = m.delay("ciicr")
    if m.gprs_stat() not in (1, 5) or m.faults.on("gprs-down", m.now):
        m.tcp_state = st.PDP_DEACT
        return Reply(final="ERROR", delay=delay)
    m.tcp_state = st.IP_GPRSACT
    m.local_ip = m.new_ip()
    return Reply(delay=delay)


@command("+CIFSR")
def cifsr(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if m.tcp_state not in st.PDP_ACTIVE_STATES:
        raise AtError()
    if m.tcp_state == st.IP_GPRSACT:
        m.tcp_state = st.IP_STATUS
    # sim800-at.md §3: the address alone, no OK.
    return Reply(lines=[m.local_ip], final=None)


@command("+CIPSTATUS")
def cipstatus(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op == "set":
        if not multi(m):
            raise AtError()
        link = _link_arg(m, c.str_arg(0))
        return Reply(lines=["+CIPSTATUS: " + _link_fields(link)])
    if c.op != "exec":
        raise AtError()
    if not multi(m):
        return Reply(trailer=[f"STATE: {m.tcp_state}"])
    # Manual §8.2.12: OK, STATE:, then one C: line per link, with no blank line between them.
    rows = "\r\n".join("C: " + _link_fields(link) for link in m.links)
    return Reply(trailer=[f"STATE: {stack_state(m)}", rows])


@command("+CIPSHUT")
def cipshut(m: Interpreter, c: Command) -> Reply:
    m.end_tcp(st.IP_INITIAL, bearer_gone=True)
    return Reply(final="SHUT OK", delay=m.delay("command") * 5)


@command("+CIPSTART")
def cipstart(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        links = f"(0-{len(m.links) - 1})," if multi(m) else ""
        return Reply(lines=[f'+CIPSTART: {links}("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)'])
    if c.op != "set":
        raise AtError()
    args = c.args()
    link = m.links[0]
    if multi(m):
        if len(args) != 4:
            raise AtError()
        link = _link_arg(m, args[0])
        args = args[1:]
    if len(args) != 3 or args[0].upper() != "TCP":
        raise AtError()
    host = args[1]
    try:
        port = int(args[2])
    except ValueError:
        raise AtError() from None
    if not 0 < port < 65536 or not host:
        raise AtError()
    if multi(m):
        # Manual §8.2.2 note: multi-IP links open from IP STATUS (shown as IP PROCESSING once in use).
        if m.tcp_state != st.IP_STATUS:
            raise AtError()
        if link.state in st.LINK_OPEN_STATES:
            return Reply(after=lambda: m.urc(_tag(m, link, "ALREADY CONNECT")))
    else:
        if m.tcp_state == st.CONNECT_OK:
            return Reply(after=lambda: m.urc("ALREADY CONNECT"))
        if m.tcp_state not in (st.IP_STATUS, st.TCP_CLOSED):
            raise AtError()
    m.drop_sock(link.sock)
    LINK_SOCKETS.open(m, link, host, port)
    return Reply()


class _LinkSockets(links.LinkStack):
    """The SIM800's wording of the shared link logic: bare results in single mode, `<n>, ` in multi."""

    push_max = CIPSEND_MAX
    closed_state = st.LINK_CLOSED

    def set_state(self, m: Interpreter, link: st.Link, state: str) -> None:
        _set_state(m, link, state)

    def refusal(self, m: Interpreter, link: st.Link) -> str | None:
        if not m.settings.cipssl:
            return None
        log.info("%s: link %d: TLS is not emulated; CONNECT FAIL", m.name, link.n)
        return "SSL is not emulated"

    def refuse(self, m: Interpreter, sock: int, reason: str) -> None:
        # As a refusal the network sends: the connect delay, then the stack's own before CONNECT FAIL.
        m.later(m.delay("cipstart"), self.connected, m, sock, False, reason)

    def say_connect(self, m: Interpreter, link: st.Link, outcome: links.Outcome) -> None:
        m.urc(_tag(m, link, "CONNECT OK" if outcome is links.Outcome.CONNECTED else "CONNECT FAIL"))

    def say_remote_closed(self, m: Interpreter, link: st.Link) -> None:
        m.urc(_tag(m, link, "CLOSED"))

    def say_rx_waiting(self, m: Interpreter, link: st.Link) -> None:
        m.urc(f"+CIPRXGET: 1,{link.n}" if multi(m) else "+CIPRXGET: 1")

    def push_head(self, m: Interpreter, link: st.Link, size: int) -> bytes:
        head = b""
        if m.settings.cipsrip:  # manual §8.2.20: "RECV FROM:<IP ADDRESS>:<PORT>"
            head += f"\r\nRECV FROM:{link.host}:{link.port}\r\n".encode("latin-1", "replace")
        if multi(m):  # AT+CIPHEAD is for single-connection mode only (SIM900 manual V1.03 §8.2.15)
            head += f"\r\n+RECEIVE,{link.n},{size}:\r\n".encode()
        elif m.settings.ciphead:
            head += f"\r\n+IPD,{size}:".encode()
        return head


LINK_SOCKETS = _LinkSockets()
remote_close = LINK_SOCKETS.remote_close  # the server (or the network) ends every open connection


@command("+CIPSEND")
def cipsend(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=[f"+CIPSEND: (0-{len(m.links) - 1}),<length>" if multi(m) else "+CIPSEND: <length>"])
    if c.op == "read":
        if multi(m):
            return Reply(lines=[f"+CIPSEND: {lk.n},{CIPSEND_MAX}" for lk in m.links if lk.state == st.LINK_CONNECTED])
        return Reply(lines=[f"+CIPSEND: {CIPSEND_MAX}"])
    link = m.links[0]
    length = None
    if multi(m):
        if c.op != "set":
            raise AtError()
        link = _link_arg(m, c.str_arg(0))
        if len(c.args()) > 1:
            length = c.int_arg(1)
        if link.state != st.LINK_CONNECTED:
            raise AtError()
    else:
        if m.tcp_state != st.CONNECT_OK:
            raise AtError()
        if c.op == "set":
            length = c.int_arg(0)
    if length is not None and not 0 < length <= CIPSEND_MAX:
        raise AtError()
    # Manual §8.2.17 AT+CIPSPRT: 1 shows '> ' (the default), 0 and 2 take the data without it.
    marker = b"\r\n> " if m.settings.cipsprt == 1 else b""
    prompt = Prompt("cipsend", length=length, target=str(link.n), complete=send_payload, marker=marker)
    return Reply(final=None, prompt=prompt)


def send_payload(m: Interpreter, p: Prompt) -> Reply:
    """The payload after `> ` is in: hand it to the link's connection."""
    data = bytes(p.buf)
    link = m.links[int(p.target or 0)]
    if not links.send(m, link, data):
        return Reply(final=_tag(m, link, "SEND FAIL"), delay=m.delay("cipsend"))
    if m.settings.cipqsend:
        accept = f"DATA ACCEPT:{link.n},{len(data)}" if multi(m) else f"DATA ACCEPT:{len(data)}"
        return Reply(final=accept, delay=m.delay("command"))
    if m.settings.cipsprt == 2:  # §8.2.17: no prompt and no SEND OK
        return Reply(final=None)
    return Reply(final=_tag(m, link, "SEND OK"), delay=m.delay("cipsend"))


@command("+CIPCLOSE")
def cipclose(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if multi(m):
        # AT+CIPCLOSE=<n>[,<quick>]: manual §8.2.5.
        if c.op != "set":
            raise AtError()
        link = _link_arg(m, c.str_arg(0))
        if len(c.args()) > 1 and c.int_arg(1) not in (0, 1):
            raise AtError()
        if link.state not in st.LINK_OPEN_STATES:
            raise AtError()
        LINK_SOCKETS.close_link(m, link)
        return Reply(final=f"{link.n}, CLOSE OK")
    if m.tcp_state not in (st.CONNECT_OK, st.TCP_CONNECTING):
        raise AtError()
    m.end_tcp(st.TCP_CLOSED)
    return Reply(final="CLOSE OK")


@command("+CIPRXGET")
def ciprxget(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CIPRXGET: {m.settings.ciprxget}"])
    if c.op == "test":
        links = f"(0-{len(m.links) - 1})," if multi(m) else ""
        return Reply(lines=[f"+CIPRXGET: (0-4),{links}(1-{CIPSEND_MAX})"])
    mode = rxget_mode(m, c)
    if mode is None:
        return Reply()
    # Manual §8.2.26: AT+CIPRXGET=<mode>[,<id>][,<reqlength>]; <id> only in multi-IP mode.
    link, first = (_link_arg(m, c.str_arg(1)), 2) if multi(m) else (m.links[0], 1)
    prefix = f"+CIPRXGET: {mode},{link.n}" if multi(m) else f"+CIPRXGET: {mode}"
    if mode == 4:
        return Reply(lines=[f"{prefix},{len(link.rx)}"])
    want = c.int_arg(first, CIPSEND_MAX)
    if want < 1:
        raise AtError()
    size, payload = take_rx(link, mode, want, CIPRXGET_HEX_MAX)
    head = f"{prefix},{size},{len(link.rx)}"
    if m.settings.cipsrip:
        head += f",{link.host}:{link.port}"
    return Reply(lines=[head, payload])
