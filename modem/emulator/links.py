"""The TCP client links as both IP stacks run them: sockets, faults, receive buffering.

The SIM800's CIPSTART stack (`commands_tcp`) and the SIM7600's CIPOPEN stack (`commands_sim7600_ip`)
open, feed, stall and lose their links alike; they differ in what they print (`<n>, CONNECT OK` or
`+CIPOPEN: <n>,0`, `+RECEIVE,...` or `+IPD...`) and in the state a closed link is left in. A dialect
subclasses `LinkStack` with its own wording; the socket and fault logic stays here, once.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator.command import Command
from modem.emulator.errors import AtError
from modem.emulator.events import TcpClose, TcpConnect, TcpSend

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """How a connect attempt ended, for the dialect to word."""

    CONNECTED = "connected"
    FAILED = "failed"  # refused, closed while connecting, or TLS asked for
    TIMED_OUT = "timed out"  # no answer (the tcp-unreachable fault)


def link_arg(m: Interpreter, text: str) -> st.Link:
    """The link a command's `<n>` names; anything else is ERROR."""
    try:
        n = int(text)
    except ValueError:
        raise AtError() from None
    if not 0 <= n < len(m.links):
        raise AtError()
    return m.links[n]


def link_of(m: Interpreter, sock: int) -> st.Link | None:
    """The link that holds connection `sock` now (None for a late event of a connection gone)."""
    if not sock:
        return None
    for link in m.links:
        if link.sock == sock:
            return link
    return None


def send(m: Interpreter, link: st.Link, data: bytes) -> bool:
    """Hand a CIPSEND payload to the link's connection; False if the link cannot take it."""
    if link.state != st.LINK_CONNECTED or m.faults.on("send-fail", m.now):
        return False
    if m.faults.on("stall", m.now):
        log.debug("%s: stall: dropping %d bytes sent on link %d", m.name, len(data), link.n)
    elif data:
        m.action(TcpSend(link.sock, data))
    return True


def rxget_mode(m: Interpreter, c: Command) -> int | None:
    """AT+CIPRXGET=<mode>,...: 0 or 1 turns buffering off or on (None: done); 2, 3, 4 read, if on."""
    if c.op != "set":
        raise AtError()
    mode = c.int_arg(0)
    if mode in (0, 1):
        m.settings.ciprxget = mode
        return None
    if not m.settings.ciprxget or mode not in (2, 3, 4):
        raise AtError()
    return mode


def take_rx(link: st.Link, mode: int, want: int, hex_max: int) -> tuple[int, bytes]:
    """AT+CIPRXGET=2|3: up to `want` waiting bytes (3: hex, at most `hex_max`), as (count, payload)."""
    if mode == 3:
        want = min(want, hex_max)
    chunk = bytes(link.rx[:want])
    del link.rx[: len(chunk)]
    return len(chunk), chunk if mode == 2 else chunk.hex().upper().encode()


class LinkStack(ABC):
    """The network side of one dialect's links; the interpreter hands it their connections' events.

    Subclasses say what the module prints (the `say_*` and `push_head` hooks) and may keep a state
    beside the link's (`set_state`).
    """

    push_max: int  # the most one pushed chunk of received data holds
    closed_state: str  # the state a closed link is left in

    # ------------------------------------------------------------ what the dialect says
    @abstractmethod
    def say_connect(self, m: Interpreter, link: st.Link, outcome: Outcome) -> None: ...

    @abstractmethod
    def say_remote_closed(self, m: Interpreter, link: st.Link) -> None: ...

    @abstractmethod
    def say_rx_waiting(self, m: Interpreter, link: st.Link) -> None: ...

    @abstractmethod
    def push_head(self, m: Interpreter, link: st.Link, size: int) -> bytes: ...

    def set_state(self, m: Interpreter, link: st.Link, state: str) -> None:
        link.state = state

    def refusal(self, m: Interpreter, link: st.Link) -> str | None:
        """Why this stack fails every connect whatever the network says (None: it does not)."""
        return None

    def refuse(self, m: Interpreter, sock: int, reason: str) -> None:
        """The tcp-refused fault: the attempt fails after the connect delay."""
        m.later(m.delay("cipstart"), self.connect_result, m, sock, Outcome.FAILED, reason)

    # ------------------------------------------------------------ the shared logic
    def open(self, m: Interpreter, link: st.Link, host: str, port: int) -> None:
        """Start connecting `link` to host:port on a new connection, unless a fault has it fail."""
        link.sock = m.new_sock(self)
        link.host, link.port = host, port
        link.rx.clear()
        self.set_state(m, link, st.LINK_CONNECTING)
        sock = link.sock
        refusal = self.refusal(m, link)
        if refusal is not None:
            m.later(m.delay("cipstart"), self.connect_result, m, sock, Outcome.FAILED, refusal)
        elif m.faults.on("tcp-refused", m.now):
            self.refuse(m, sock, "refused by fault")
        elif m.faults.on("tcp-unreachable", m.now):
            reason = "unreachable by fault"
            m.later(m.timing.cipstart_timeout, self.connect_result, m, sock, Outcome.TIMED_OUT, reason)
        else:
            m.action(TcpConnect(sock, host, port))

    def close_link(self, m: Interpreter, link: st.Link) -> None:
        m.drop_sock(link.sock)
        link.sock = 0
        self.set_state(m, link, self.closed_state)

    def connected(self, m: Interpreter, sock: int, ok: bool, reason: str | None) -> None:
        link = link_of(m, sock)
        if link is None or link.state != st.LINK_CONNECTING:
            if ok:
                m.action(TcpClose(sock))
            return
        if ok and m.faults.on("tcp-refused", m.now):
            m.action(TcpClose(sock))
            ok = False
        outcome = Outcome.CONNECTED if ok else Outcome.FAILED
        m.later(m.delay("cipstart"), self.connect_result, m, sock, outcome, reason)

    def data(self, m: Interpreter, sock: int, data: bytes) -> None:
        link = link_of(m, sock)
        if link is None or link.state != st.LINK_CONNECTED or not data:
            return
        if m.faults.on("stall", m.now):
            log.debug("%s: stall: dropping %d bytes received on link %d", m.name, len(data), link.n)
            return
        if m.settings.ciprxget:
            was_empty = not link.rx
            link.rx += data
            if was_empty:
                self.say_rx_waiting(m, link)
            return
        for i in range(0, len(data), self.push_max):
            chunk = data[i : i + self.push_max]
            m.urc(self.push_head(m, link, len(chunk)) + chunk, raw=True)

    def closed(self, m: Interpreter, sock: int) -> None:
        link = link_of(m, sock)
        if link is None:
            return
        if link.state == st.LINK_CONNECTED:
            self._remote_closed(m, link)
        elif link.state == st.LINK_CONNECTING:
            self.connect_result(m, sock, Outcome.FAILED, "closed while connecting")

    def connect_result(self, m: Interpreter, sock: int, outcome: Outcome, reason: str | None) -> None:
        link = link_of(m, sock)
        if link is None or link.state != st.LINK_CONNECTING:
            if outcome is Outcome.CONNECTED:
                m.action(TcpClose(sock))
            return
        if outcome is not Outcome.CONNECTED:
            log.info("%s: link %d: TCP connect failed: %s", m.name, link.n, reason)
            self.close_link(m, link)
            self.say_connect(m, link, outcome)
            return
        self.set_state(m, link, st.LINK_CONNECTED)
        self.say_connect(m, link, outcome)
        if m.faults.on("remote-close", m.now):
            m.later(0.5, self._remote_close_if, m, sock)

    def _remote_closed(self, m: Interpreter, link: st.Link) -> None:
        self.close_link(m, link)
        self.say_remote_closed(m, link)

    def _remote_close_if(self, m: Interpreter, sock: int) -> None:
        link = link_of(m, sock)
        if link is not None and link.state == st.LINK_CONNECTED:
            self._remote_closed(m, link)

    def remote_close(self, m: Interpreter) -> None:
        """The server (or the network) ends every open connection (the `remote-close` fault)."""
        for link in m.links:
            if link.state == st.LINK_CONNECTED:
                self._remote_closed(m, link)
