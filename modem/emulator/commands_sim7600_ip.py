"""The SIM7600's own TCP/IP stack: AT+NETOPEN, AT+CIPOPEN links 0-9, CIPSEND, receive, CIPCLOSE.

SIM7500/SIM7600 Series AT Command Manual, chapter "TCP/IP commands" (V3.00 ch. 15), as read here:

    AT+NETOPEN            OK, then +NETOPEN: 0 (1: failed); open: +IP ERROR: Network is already opened / ERROR
    AT+NETOPEN?           +NETOPEN: <0|1>
    AT+NETCLOSE           OK, then +NETCLOSE: 0; not open: +NETCLOSE: 2 / ERROR
    AT+IPADDR             +IPADDR: <ip>; not open: +IP ERROR: Network not opened / ERROR
    AT+CIPOPEN=<l>,"TCP",<host>,<port>   OK, then +CIPOPEN: <l>,<err>; link in use: +CIPOPEN: <l>,4 / ERROR
    AT+CIPSEND=<l>,<len>  >, <len> bytes, then OK and +CIPSEND: <l>,<req>,<cnf>
    AT+CIPSEND=<l>,       >, data ended by Ctrl-Z (ESC cancels)
    AT+CIPCLOSE=<l>       OK, then +CIPCLOSE: <l>,0; not open: +CIPCLOSE: <l>,4 / ERROR
    AT+CIPRXGET=1         data waits: +CIPRXGET: 1,<l>; read =2|3,<l>[,<len>], =4,<l> left
    pushed data           [RECV FROM:<ip>:<port>]  +IPD<len>  <data>   (AT+CIPSRIP=1, AT+CIPHEAD=1)
    remote close          +IPCLOSE: <l>,1     (<reason> 0 local, 1 remote, 2 send timeout)
    network lost          +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY (every link is gone)

<err> (manual's table): 0 ok, 1 network failure, 2 network not opened, 3 wrong parameter,
4 operation not supported, 5 cannot create socket, 6 cannot bind, 7 server already listening, 8 busy,
9 sockets opened, 10 timeout, 11 DNS parse failed, 255 unknown. A command refused as a whole says
`+IP ERROR: <text>` (or `+CIPERROR: <err>` for CIPSEND) before ERROR. Only TCP client links are
emulated (no UDP, no server, no transparent mode).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.emulator import commands_bearer, links
from modem.emulator import state as st
from modem.emulator.command import Command, Prompt, Reply
from modem.emulator.commands_sim7600_basic import command
from modem.emulator.errors import AtError
from modem.emulator.links import link_arg as _link_arg
from modem.emulator.links import rxget_mode

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)

CIPSEND_MAX = 1500  # the most one AT+CIPSEND takes, and one pushed +IPD chunk holds
CIPRXGET_MAX = 1500  # AT+CIPRXGET=2 reads at most this many bytes
CIPRXGET_HEX_MAX = 750  # AT+CIPRXGET=3 (hex)

ERR_OK = 0
ERR_NETWORK = 1
ERR_NOT_OPENED = 2
ERR_PARAMETER = 3
ERR_NOT_SUPPORTED = 4
ERR_TIMEOUT = 10
IP_ERROR = {
    ERR_NETWORK: "Network failure",
    ERR_NOT_OPENED: "Network not opened",
    ERR_PARAMETER: "Wrong parameter",
    ERR_NOT_SUPPORTED: "Operation not supported",
}
ALREADY_OPENED = "Network is already opened"
NO_DATA = "No data"

CLOSE_REMOTE = 1


def _ip_error(text: str) -> Reply:
    return Reply(lines=[f"+IP ERROR: {text}"], final="ERROR")


def _head(m: Interpreter) -> int:
    return m.settings.registers.get("+CIPHEAD", 1)


# ------------------------------------------------------------------ the network (PDP context)
def _packet_service(m: Interpreter) -> bool:
    return m.gprs_stat() in (1, 5) and not m.faults.on("gprs-down", m.now)


@command("+NETOPEN")
def netopen(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op == "read":
        return Reply(lines=[f"+NETOPEN: {int(m.net_open)}"])
    if c.op != "exec":
        raise AtError()
    if m.net_open:
        return _ip_error(ALREADY_OPENED)
    gen = m.boots
    return Reply(after=lambda: m.later(m.delay("ciicr"), _netopen_result, m, gen))


def _netopen_result(m: Interpreter, gen: int) -> None:
    if gen != m.boots or m.net_open:
        return
    if m.netopen_stuck or not _packet_service(m):
        log.info(
            "%s: AT+NETOPEN fails (%s)", m.name, "stale network" if m.netopen_stuck else "no packet service"
        )
        m.urc(f"+NETOPEN: {ERR_NETWORK}")
        return
    m.net_open = True
    m.local_ip = m.new_ip()
    m.cgact[_pdp_cid(m)] = 1
    m.urc(f"+NETOPEN: {ERR_OK}")


def _pdp_cid(m: Interpreter) -> int:
    """The PDP context the sockets use (AT+CSOCKSETPN, default 1)."""
    return m.settings.registers.get("+CSOCKSETPN", 1)


@command("+NETCLOSE")
def netclose(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op != "exec":
        raise AtError()
    if not m.net_open and not m.netopen_stuck:
        return Reply(lines=[f"+NETCLOSE: {ERR_NOT_OPENED}"], final="ERROR")
    # A stale network (netopen-fail) is the module's belief that it is still open: closing it is
    # what lets the next AT+NETOPEN succeed.
    m.netopen_stuck = False
    _close_network(m)
    return Reply(after=lambda: m.urc(f"+NETCLOSE: {ERR_OK}"))


def _close_network(m: Interpreter) -> None:
    for link in m.links:
        LINK_SOCKETS.close_link(m, link)
    if m.net_open:
        m.cgact[_pdp_cid(m)] = 0
    m.net_open = False
    m.local_ip = ""


def network_lost(m: Interpreter) -> None:
    """Registration or packet service went: the open network and every link on it are gone."""
    if m.faults.on("netopen-fail", m.now):
        m.netopen_stuck = True
    if not m.net_open:
        return
    _close_network(m)
    m.urc("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")


@command("+CGACT")
def cgact(m: Interpreter, c: Command) -> Reply:
    """27.007 +CGACT as the SIM800's; deactivating the sockets' context under AT+NETOPEN closes the
    network as a loss would (`+CIPEVENT`), and AT+NETOPEN shows in `AT+CGACT?`."""
    reply = commands_bearer.cgact(m, c)
    if c.op == "set" and m.net_open and not m.cgact.get(_pdp_cid(m), 0):
        m.cgact[_pdp_cid(m)] = 1  # (so that _close_network sees it open and puts it down)
        _close_network(m)
        reply.after = lambda: m.urc("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
    return reply


@command("+IPADDR")
def ipaddr(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op != "exec":
        raise AtError()
    if not m.net_open:
        return _ip_error(IP_ERROR[ERR_NOT_OPENED])
    return Reply(lines=[f"+IPADDR: {m.local_ip}"])


def _setting(name: str, allowed: tuple[int, ...], default: int):  # type: ignore[no-untyped-def]
    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "read":
            return Reply(lines=[f"{name}: {m.settings.registers.get(name, default)}"])
        if c.op == "test":
            return Reply(lines=[f"{name}: ({','.join(map(str, allowed))})"])
        if c.op != "set":
            raise AtError()
        v = c.int_arg(0)
        if v not in allowed:
            raise AtError()
        m.settings.registers[name] = v
        return Reply()

    return handler


command("+CIPHEAD")(_setting("+CIPHEAD", (0, 1), 1))
command("+CIPMODE")(_setting("+CIPMODE", (0,), 0))  # transparent mode (1) is not emulated
command("+CSOCKSETPN")(_setting("+CSOCKSETPN", (1, 2, 3), 1))
command("+CIPSENDMODE")(_setting("+CIPSENDMODE", (0, 1), 0))


@command("+CIPSRIP")
def cipsrip(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CIPSRIP: {m.settings.cipsrip}"])
    if c.op == "test":
        return Reply(lines=["+CIPSRIP: (0,1)"])
    if c.op != "set" or c.int_arg(0) not in (0, 1):
        raise AtError()
    m.settings.cipsrip = c.int_arg(0)
    return Reply()


@command("+CIPCCFG", "+CIPTIMEOUT", "+CIPDNSSET")
def accepted(m: Interpreter, c: Command) -> Reply:
    """Retransmission, timeouts and DNS settings: taken, and without effect on the virtual network."""
    return Reply()


# ------------------------------------------------------------------ links
@command("+CIPOPEN")
def cipopen(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=[f'+CIPOPEN: (0-{len(m.links) - 1}),("TCP","UDP")'])
    if c.op == "read":
        rows: list[str | bytes] = []
        for link in m.links:
            if link.state == st.LINK_INITIAL:
                rows.append(f"+CIPOPEN: {link.n}")
            else:
                rows.append(f'+CIPOPEN: {link.n},"TCP","{link.host}",{link.port},-1')
        return Reply(lines=rows)
    if c.op != "set":
        raise AtError()
    args = c.args()
    if len(args) < 4 or len(args) > 5:
        raise AtError()
    link = _link_arg(m, args[0])
    if args[1].upper() != "TCP":
        return Reply(lines=[f"+CIPOPEN: {link.n},{ERR_NOT_SUPPORTED}"], final="ERROR")
    host = args[2]
    try:
        port = int(args[3])
    except ValueError:
        raise AtError() from None
    if not host or not 0 < port < 65536:
        return Reply(lines=[f"+CIPOPEN: {link.n},{ERR_PARAMETER}"], final="ERROR")
    if not m.net_open:
        return _ip_error(IP_ERROR[ERR_NOT_OPENED])
    if link.state != st.LINK_INITIAL:
        return Reply(lines=[f"+CIPOPEN: {link.n},{ERR_NOT_SUPPORTED}"], final="ERROR")
    return Reply(after=lambda: LINK_SOCKETS.open(m, link, host, port))


class _LinkSockets(links.LinkStack):
    """The SIM7600's wording of the shared link logic: `+CIPOPEN: <l>,<err>`, `+IPD`, `+IPCLOSE`."""

    push_max = CIPSEND_MAX
    closed_state = st.LINK_INITIAL

    def say_connect(self, m: Interpreter, link: st.Link, outcome: links.Outcome) -> None:
        err = {links.Outcome.CONNECTED: ERR_OK, links.Outcome.FAILED: ERR_NETWORK}.get(outcome, ERR_TIMEOUT)
        m.urc(f"+CIPOPEN: {link.n},{err}")

    def say_remote_closed(self, m: Interpreter, link: st.Link) -> None:
        m.urc(f"+IPCLOSE: {link.n},{CLOSE_REMOTE}")

    def say_rx_waiting(self, m: Interpreter, link: st.Link) -> None:
        m.urc(f"+CIPRXGET: 1,{link.n}")

    def push_head(self, m: Interpreter, link: st.Link, size: int) -> bytes:
        head = b"\r\n"
        if m.settings.cipsrip:
            head += f"RECV FROM:{link.host}:{link.port}\r\n".encode("latin-1", "replace")
        if _head(m):
            head += f"+IPD{size}\r\n".encode()
        return head


LINK_SOCKETS = _LinkSockets()
remote_close = LINK_SOCKETS.remote_close  # the server ends every open connection (`remote-close`)


@command("+CIPSEND")
def cipsend(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=[f"+CIPSEND: (0-{len(m.links) - 1}),(1-{CIPSEND_MAX})"])
    if c.op != "set":
        raise AtError()
    args = c.args()
    link = _link_arg(m, c.str_arg(0))
    length = c.int_arg(1) if len(args) > 1 and args[1] != "" else None
    if length is not None and not 0 < length <= CIPSEND_MAX:
        raise AtError()
    if link.state != st.LINK_CONNECTED:
        return Reply(lines=[f"+CIPERROR: {ERR_NOT_SUPPORTED}"], final="ERROR")
    prompt = Prompt("cipsend", length=length, target=str(link.n), complete=send_payload, marker=b"\r\n>")
    return Reply(final=None, prompt=prompt)


def send_payload(m: Interpreter, p: Prompt) -> Reply:
    """The payload after `>` is in: OK at once, `+CIPSEND: <l>,<req>,<cnf>` once the stack took it."""
    data = bytes(p.buf)
    link = m.links[int(p.target)]
    if not links.send(m, link, data):
        return Reply(lines=[f"+CIPERROR: {ERR_NETWORK}"], final="ERROR", delay=m.delay("cipsend"))
    n, size = link.n, len(data)
    return Reply(after=lambda: m.later(m.delay("cipsend"), m.urc, f"+CIPSEND: {n},{size},{size}"))


@command("+CIPCLOSE")
def cipclose(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=[f"+CIPCLOSE: (0-{len(m.links) - 1})"])
    if c.op == "read":
        return Reply(
            lines=["+CIPCLOSE: " + ",".join(str(int(lk.state != st.LINK_INITIAL)) for lk in m.links)]
        )
    if c.op != "set":
        raise AtError()
    link = _link_arg(m, c.str_arg(0))
    if link.state == st.LINK_INITIAL:
        return Reply(lines=[f"+CIPCLOSE: {link.n},{ERR_NOT_SUPPORTED}"], final="ERROR")
    LINK_SOCKETS.close_link(m, link)
    n = link.n
    return Reply(after=lambda: m.urc(f"+CIPCLOSE: {n},{ERR_OK}"))


@command("+CIPRXGET")
def ciprxget(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CIPRXGET: {m.settings.ciprxget}"])
    if c.op == "test":
        return Reply(lines=[f"+CIPRXGET: (0-4),(0-{len(m.links) - 1}),(1-{CIPRXGET_MAX})"])
    mode = rxget_mode(m, c)
    if mode is None:
        return Reply()
    link = _link_arg(m, c.str_arg(1))
    if mode == 4:
        return Reply(lines=[f"+CIPRXGET: 4,{link.n},{len(link.rx)}"])
    want = c.int_arg(2, CIPRXGET_MAX)
    if not 1 <= want <= CIPRXGET_MAX:
        raise AtError()
    if not link.rx:
        return _ip_error(NO_DATA)
    size, payload = links.take_rx(link, mode, want, CIPRXGET_HEX_MAX)
    return Reply(lines=[f"+CIPRXGET: {mode},{link.n},{size},{len(link.rx)}", payload])
