"""GPRS and the single TCP connection: the CIPSTATUS state machine of sim800-at.md §3."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator.command import Command, Prompt, Reply, command
from modem.emulator.errors import AtError
from modem.emulator.events import TcpClose, TcpConnect, TcpSend

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)


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


@command("+CIPMUX")
def cipmux(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CIPMUX: 0"])
    if c.op == "test":
        return Reply(lines=["+CIPMUX: (0,1)"])
    if c.op != "set" or c.int_arg(0) != 0:
        raise AtError()  # single connection only in this emulator
    return Reply()


@command("+CDNSCFG", "+CLPORT", "+CIPSRIP", "+CIPDPDP", "+CIPMODE", "+CIPCCFG", "+CIPSHOWTP", "+CIPATS")
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
    m.local_ip = f"10.{m.rng.randrange(1, 255)}.{m.rng.randrange(256)}.{m.rng.randrange(1, 255)}"
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
    return Reply(trailer=[f"STATE: {m.tcp_state}"])


@command("+CIPSHUT")
def cipshut(m: Interpreter, c: Command) -> Reply:
    m.end_tcp(st.IP_INITIAL, bearer_gone=True)
    return Reply(final="SHUT OK", delay=m.delay("command") * 5)


@command("+CIPSTART")
def cipstart(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=['+CIPSTART: ("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)'])
    if c.op != "set":
        raise AtError()
    args = c.args()
    if len(args) != 3 or args[0].upper() != "TCP":
        raise AtError()
    host = args[1]
    try:
        port = int(args[2])
    except ValueError:
        raise AtError() from None
    if not 0 < port < 65536 or not host:
        raise AtError()
    if m.tcp_state == st.CONNECT_OK:
        return Reply(after=lambda: m.urc("ALREADY CONNECT"))
    if m.tcp_state not in (st.IP_STATUS, st.TCP_CLOSED):
        raise AtError()
    m.conn_id += 1
    m.tcp_state = st.TCP_CONNECTING
    m.rx_buffer.clear()
    conn = m.conn_id
    if m.faults.on("tcp-refused", m.now):
        m.later(m.delay("cipstart"), on_connected, m, conn, False, "refused by fault")
    elif m.faults.on("tcp-unreachable", m.now):
        m.later(m.timing.cipstart_timeout, _connect_result, m, conn, False, "unreachable by fault")
    else:
        m.action(TcpConnect(conn, host, port))
    return Reply()


def on_connected(m: Interpreter, conn_id: int, ok: bool, reason: str | None) -> None:
    if conn_id != m.conn_id or m.tcp_state != st.TCP_CONNECTING:
        if ok:
            m.action(TcpClose(conn_id))
        return
    if ok and m.faults.on("tcp-refused", m.now):
        m.action(TcpClose(conn_id))
        ok = False
    delay = m.delay("cipstart")
    m.later(delay, _connect_result, m, conn_id, ok, reason)


def _connect_result(m: Interpreter, conn_id: int, ok: bool, reason: str | None) -> None:
    if conn_id != m.conn_id or m.tcp_state != st.TCP_CONNECTING:
        if ok:
            m.action(TcpClose(conn_id))
        return
    if not ok:
        log.info("%s: TCP connect failed: %s", m.name, reason)
        m.tcp_state = st.TCP_CLOSED
        m.urc("CONNECT FAIL")
        return
    m.tcp_state = st.CONNECT_OK
    m.urc("CONNECT OK")
    if m.faults.on("remote-close", m.now):
        m.later(0.5, _remote_close_if, m, conn_id)


def _remote_close_if(m: Interpreter, conn_id: int) -> None:
    if conn_id == m.conn_id and m.tcp_state == st.CONNECT_OK:
        remote_close(m)


def remote_close(m: Interpreter) -> None:
    """The server (or the network) ends the connection."""
    m.end_tcp(st.TCP_CLOSED)
    m.urc("CLOSED")


def on_peer_closed(m: Interpreter, conn_id: int) -> None:
    if conn_id != m.conn_id:
        return
    if m.tcp_state == st.CONNECT_OK:
        m.conn_id += 1
        m.tcp_state = st.TCP_CLOSED
        m.urc("CLOSED")
    elif m.tcp_state == st.TCP_CONNECTING:
        _connect_result(m, conn_id, False, "closed while connecting")


def on_data(m: Interpreter, conn_id: int, data: bytes) -> None:
    if conn_id != m.conn_id or m.tcp_state != st.CONNECT_OK or not data:
        return
    if m.faults.on("stall", m.now):
        log.debug("%s: stall: dropping %d received bytes", m.name, len(data))
        return
    if m.settings.ciprxget:
        was_empty = not m.rx_buffer
        m.rx_buffer += data
        if was_empty:
            m.urc("+CIPRXGET: 1")
        return
    for i in range(0, len(data), 1460):
        chunk = data[i : i + 1460]
        if m.settings.ciphead:
            m.urc(b"\r\n+IPD," + str(len(chunk)).encode() + b":" + chunk, raw=True)
        else:
            m.urc(chunk, raw=True)


@command("+CIPSEND")
def cipsend(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CIPSEND: <length>"])
    if c.op == "read":
        return Reply(lines=["+CIPSEND: 1460"])
    if m.tcp_state != st.CONNECT_OK:
        raise AtError()
    length = None
    if c.op == "set":
        length = c.int_arg(0)
        if not 0 < length <= 1460:
            raise AtError()
    return Reply(final=None, prompt=Prompt("cipsend", length=length))


def send_payload(m: Interpreter, data: bytes) -> Reply:
    if m.tcp_state != st.CONNECT_OK:
        return Reply(final="SEND FAIL", delay=m.delay("cipsend"))
    if m.faults.on("send-fail", m.now):
        return Reply(final="SEND FAIL", delay=m.delay("cipsend"))
    if m.faults.on("stall", m.now):
        log.debug("%s: stall: dropping %d sent bytes", m.name, len(data))
    elif data:
        m.action(TcpSend(m.conn_id, data))
    if m.settings.cipqsend:
        return Reply(final=f"DATA ACCEPT:{len(data)}", delay=m.delay("command"))
    if m.settings.cipsprt == 2:
        return Reply(final=None)
    return Reply(final="SEND OK", delay=m.delay("cipsend"))


@command("+CIPCLOSE")
def cipclose(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if m.tcp_state not in (st.CONNECT_OK, st.TCP_CONNECTING):
        raise AtError()
    m.end_tcp(st.TCP_CLOSED)
    return Reply(final="CLOSE OK")


@command("+CIPRXGET")
def ciprxget(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CIPRXGET: {m.settings.ciprxget}"])
    if c.op == "test":
        return Reply(lines=["+CIPRXGET: (0-4),(1-1460)"])
    if c.op != "set":
        raise AtError()
    mode = c.int_arg(0)
    if mode in (0, 1):
        m.settings.ciprxget = mode
        return Reply()
    if not m.settings.ciprxget:
        raise AtError()
    if mode == 4:
        return Reply(lines=[f"+CIPRXGET: 4,{len(m.rx_buffer)}"])
    if mode in (2, 3):
        want = c.int_arg(1, 1460)
        if mode == 3:
            want = min(want, 730)
        chunk = bytes(m.rx_buffer[:want])
        del m.rx_buffer[: len(chunk)]
        payload: bytes = chunk if mode == 2 else chunk.hex().upper().encode()
        return Reply(lines=[f"+CIPRXGET: {mode},{len(chunk)},{len(m.rx_buffer)}", payload])
    raise AtError()
