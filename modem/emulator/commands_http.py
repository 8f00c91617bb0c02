"""The HTTP application (SIM800 manual V1.09 §15.2: AT+HTTPINIT .. AT+HTTPTERM) over the bearer.

`AT+HTTPACTION` answers OK at once; the request then goes over the virtual network (the same
`TcpConnect`/`TcpSend` actions as a TCP link, so the loopback-only host policy holds) and the result
comes later as `+HTTPACTION: <method>,<status>,<datalen>`. Where no HTTP status exists the module's
own codes stand in (§15.2.4): 601 network error (no bearer, refused, reset, timeout, a response we
cannot read), 603 DNS error (a host name that does not resolve or a URL that is not one).
TLS (`https://`) is not emulated: it ends in 601. Redirects are not followed (`REDIR` is taken).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator.command import Command, Prompt, Reply, command
from modem.emulator.errors import AtError
from modem.emulator.events import TcpConnect, TcpSend
from modem.emulator.http_codec import MAX_BODY, HttpError, Response, ResponseParser, encode_request, parse_url

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)

METHODS = {0: "GET", 1: "POST", 2: "HEAD"}
NETWORK_ERROR = 601  # §15.2.4 <StatusCode>
DNS_ERROR = 603
_DNS_FAILURES = ("name or service not known", "name resolution", "nodename nor servname", "no address")


@dataclass
class HttpSession:
    """What AT+HTTPINIT starts: the HTTPPARA parameters, the posted data and the last response."""

    cid: int = 1
    url: str = ""
    ua: str = "SIMCOM_MODULE"
    content: str = ""
    userdata: str = ""
    timeout: float = 120.0
    redir: int = 0
    data: bytes = b""
    method: int = 0
    sock: int = 0  # the request in flight (0: none)
    request: bytes = b""  # what goes out once the connection is up
    parser: ResponseParser | None = None
    response: Response | None = None
    params: dict[str, str] = field(default_factory=dict)  # every HTTPPARA as given, for HTTPPARA?

    def busy(self) -> bool:
        return self.sock != 0

    def bearer_closed(self, m: Interpreter) -> None:
        if self.busy():
            _finish(m, self, NETWORK_ERROR, None)


def _session(m: Interpreter) -> HttpSession:
    if m.http is None:
        raise AtError()
    return m.http


@command("+HTTPINIT")
def httpinit(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op != "exec" or m.http is not None:
        raise AtError()
    m.http = HttpSession()
    return Reply()


@command("+HTTPTERM")
def httpterm(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    s = _session(m)
    m.drop_sock(s.sock)
    m.http = None
    return Reply()


@command("+HTTPPARA")
def httppara(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=['+HTTPPARA: "HTTPParamTag","HTTPParamValue"'])
    s = _session(m)
    if c.op == "read":
        return Reply(lines=[f"+HTTPPARA: {tag}: {value}" for tag, value in s.params.items()])
    if c.op != "set":
        raise AtError()
    args = c.args()
    if len(args) != 2:
        raise AtError()
    tag, value = args[0].upper(), args[1]
    if tag == "CID":
        cid = c.int_arg(1)
        if m.bearer(cid) is None:
            raise AtError()
        s.cid = cid
    elif tag == "URL":
        s.url = value
    elif tag == "UA":
        s.ua = value
    elif tag == "CONTENT":
        s.content = value
    elif tag == "USERDATA":
        s.userdata = value
    elif tag == "TIMEOUT":
        t = c.int_arg(1)
        if not 30 <= t <= 1000:  # §15.2.2: seconds
            raise AtError()
        s.timeout = float(t)
    elif tag == "REDIR":
        v = c.int_arg(1)
        if v not in (0, 1):
            raise AtError()
        s.redir = v
    elif tag not in ("PROIP", "PROPORT", "BREAK", "BREAKEND"):
        raise AtError()
    s.params[tag] = value
    return Reply()


@command("+HTTPDATA")
def httpdata(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=[f"+HTTPDATA: (1-{MAX_BODY}),(1000-120000)"])
    s = _session(m)
    if c.op != "set" or s.busy():
        raise AtError()
    size, ms = c.int_arg(0), c.int_arg(1)
    if not 1 <= size <= MAX_BODY or not 1000 <= ms <= 120000:
        raise AtError()
    prompt = Prompt("httpdata", length=size, complete=_data_in, marker=b"\r\nDOWNLOAD\r\n", echo=False)
    # §15.2.3: whatever has come when <time> runs out is the data.
    return Reply(final=None, prompt=prompt, after=lambda: m.later(ms / 1000, m.end_prompt, prompt))


def _data_in(m: Interpreter, p: Prompt) -> Reply:
    if m.http is not None:
        m.http.data = bytes(p.buf)
    return Reply()


@command("+HTTPACTION")
def httpaction(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+HTTPACTION: (0-2)"])
    s = _session(m)
    if c.op != "set" or s.busy():
        raise AtError()
    method = c.int_arg(0)
    if method not in METHODS or not s.url:
        raise AtError()
    s.method = method
    s.response = None
    return Reply(after=lambda: _start(m, s))


def _start(m: Interpreter, s: HttpSession) -> None:
    if m.http is not s:
        return
    bearer = m.bearer(s.cid)
    if bearer is None or bearer.status != st.BEARER_CONNECTED:
        log.info("%s: HTTP: bearer %d is not open", m.name, s.cid)
        _finish(m, s, NETWORK_ERROR, None)
        return
    try:
        url = parse_url(s.url)
    except HttpError as exc:
        log.info("%s: HTTP: %s", m.name, exc)
        _finish(m, s, DNS_ERROR, None)
        return
    if url.scheme == "https":
        log.info("%s: HTTP: TLS is not emulated; %s fails", m.name, s.url)
        _finish(m, s, NETWORK_ERROR, None)
        return
    headers = [("User-Agent", s.ua)]
    for line in s.userdata.replace("\\r\\n", "\r\n").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    if s.method == 1 and s.content:
        headers.append(("Content-Type", s.content))
    try:
        request = encode_request(METHODS[s.method], url, headers, s.data if s.method == 1 else b"")
    except ValueError as exc:  # a header the user gave that HTTP cannot carry
        log.info("%s: HTTP: %s", m.name, exc)
        _finish(m, s, NETWORK_ERROR, None)
        return
    s.sock = m.new_sock(HTTP_SOCKETS)
    s.parser = ResponseParser(head_only=s.method == 2)
    s.request = request
    m.later(s.timeout, _timeout, m, s, s.sock)
    if m.faults.on("tcp-refused", m.now):  # the same network faults as a CIPSTART
        m.later(m.delay("cipstart"), HTTP_SOCKETS.connected, m, s.sock, False, "refused by fault")
    elif not m.faults.on("tcp-unreachable", m.now):  # unreachable: nothing until the timeout
        m.action(TcpConnect(s.sock, url.host, url.port))


def _timeout(m: Interpreter, s: HttpSession, sock: int) -> None:
    if s.sock == sock and m.http is s:
        log.info("%s: HTTP: no complete answer in %g s", m.name, s.timeout)
        _finish(m, s, NETWORK_ERROR, None)


def _finish(m: Interpreter, s: HttpSession, status: int, response: Response | None) -> None:
    m.drop_sock(s.sock)
    s.sock = 0
    s.parser = None
    s.response = response
    length = len(response.body) if response is not None else 0
    m.urc(f"+HTTPACTION: {s.method},{status},{length}")


class _HttpSockets:
    """The network side of the HTTP client."""

    def _session_of(self, m: Interpreter, sock: int) -> HttpSession | None:
        s = m.http
        return s if s is not None and s.sock == sock and sock else None

    def connected(self, m: Interpreter, sock: int, ok: bool, reason: str | None) -> None:
        s = self._session_of(m, sock)
        if s is None:
            m.drop_sock(sock)
            return
        if not ok:
            dns = any(text in (reason or "").lower() for text in _DNS_FAILURES)
            log.info("%s: HTTP: connect failed: %s", m.name, reason)
            _finish(m, s, DNS_ERROR if dns else NETWORK_ERROR, None)
            return
        m.later(m.delay("cipstart"), _send_request, m, s, sock)  # the handshake, as for CIPSTART

    def data(self, m: Interpreter, sock: int, data: bytes) -> None:
        s = self._session_of(m, sock)
        if s is None or s.parser is None or m.faults.on("stall", m.now):
            return
        try:
            s.parser.feed(data)
        except HttpError as exc:
            log.info("%s: HTTP: bad response: %s", m.name, exc)
            _finish(m, s, NETWORK_ERROR, None)
            return
        if s.parser.response is not None:
            _finish(m, s, s.parser.response.status, s.parser.response)

    def closed(self, m: Interpreter, sock: int) -> None:
        s = self._session_of(m, sock)
        if s is None or s.parser is None:
            return
        try:
            s.parser.close()
        except HttpError as exc:
            log.info("%s: HTTP: %s", m.name, exc)
            _finish(m, s, NETWORK_ERROR, None)
            return
        if s.parser.response is not None:
            _finish(m, s, s.parser.response.status, s.parser.response)


HTTP_SOCKETS = _HttpSockets()


def _send_request(m: Interpreter, s: HttpSession, sock: int) -> None:
    if s.sock != sock or m.http is not s:
        return
    if m.faults.on("stall", m.now):
        log.debug("%s: stall: HTTP request dropped", m.name)
        return
    m.action(TcpSend(sock, s.request))


def _read_range(c: Command, total: int) -> tuple[int, int]:
    if c.op == "exec":
        return 0, total
    if c.op != "set":
        raise AtError()
    start, size = c.int_arg(0), c.int_arg(1)
    if start < 0 or size < 1:
        raise AtError()
    return start, size


@command("+HTTPREAD")
def httpread(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    s = _session(m)
    if s.response is None or s.busy():
        raise AtError()
    body = s.response.body
    start, size = _read_range(c, len(body))
    chunk = body[start : start + size]
    return Reply(lines=[f"+HTTPREAD: {len(chunk)}", chunk])


@command("+HTTPHEAD")
def httphead(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    s = _session(m)
    if c.op != "exec" or s.response is None or s.busy():
        raise AtError()
    return Reply(lines=[f"+HTTPHEAD: {len(s.response.head)}", s.response.head])


@command("+HTTPSTATUS")
def httpstatus(m: Interpreter, c: Command) -> Reply:
    """§15.2.8: +HTTPSTATUS: <mode>,<status 0 idle|1 receiving>,<finish>,<remain>."""
    if c.op == "test":
        return Reply()
    s = _session(m)
    if c.op != "read":
        raise AtError()
    done = len(s.response.body) if s.response is not None else 0
    return Reply(lines=[f"+HTTPSTATUS: {METHODS[s.method]},{1 if s.busy() else 0},{done},0"])
