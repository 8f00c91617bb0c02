"""Per-connection TCP through the seam: the SIM800 dialect in multi-connection mode (AT+CIPMUX=1)
against the virtual modem, on the virtual clock (pipes, realistic latencies)."""

from __future__ import annotations

from collections.abc import Callable

from modem.driver.events import ModemEvent, TcpClosed, TcpDataReceived
from modem.driver.modem import Modem
from modem.driver.script import Failed, Ok, Result
from modem.emulator import VirtualModem, VirtualNetwork
from runtime import VirtualLoop, pipe_pair


class Rig:
    def __init__(self, seed: int = 5) -> None:
        self.loop = VirtualLoop(seed=seed)
        a, b = pipe_pair(self.loop, latency=0.002)
        self.wire = bytearray()
        self.vm = VirtualModem(self.loop, b, VirtualNetwork(self.loop), profile="realistic")
        orig = a._deliver

        def tap(data: bytes) -> None:
            self.wire.extend(data)
            orig(data)
        a._deliver = tap  # type: ignore[method-assign]  # what the modem said, byte for byte
        self.modem = Modem(self.loop, a, dialect="sim800")
        self.events: list[ModemEvent] = []
        self.modem.subscribe(self.events.append)
        self.servers: dict[int, list] = {}

    def echo_server(self, port: int, tag: bytes) -> None:
        conns: list = []

        def accept(stream) -> None:  # type: ignore[no-untyped-def]
            conns.append(stream)
            stream.set_handlers(lambda data: stream.write(tag + data))
        self.loop.listen_tcp("127.0.0.1", port, accept)
        self.servers[port] = conns

    def call(self, method: str, *args: object, limit: float = 120.0, **kw: object) -> Result:
        got: list[Result] = []
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        self.run_until(lambda: bool(got), limit)
        return got[0]

    def run_until(self, cond: Callable[[], bool], limit: float = 60.0) -> None:
        end = self.loop.time() + limit
        while not cond():
            assert self.loop.time() < end, "timed out"
            self.loop.run(until=self.loop.time() + 0.2)

    def received(self, conn: int) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, TcpDataReceived) and e.conn == conn)

    def online(self) -> None:
        self.run_until(lambda: self.vm.status().get("booted", True), 60)
        assert self.call("probe") == Ok(None)
        assert isinstance(self.call("init"), Ok)
        self.run_until(lambda: self.call("registration").value.registered, 120)
        assert isinstance(self.call("gprs_attach", "internet"), Ok)


def test_two_links_at_once_carry_100_and_5000_bytes_each_with_their_numbers() -> None:
    rig = Rig()
    rig.echo_server(7101, b"")   # plain echo: each link's bytes are told apart by their content
    rig.echo_server(7102, b"")
    rig.online()
    done: list[Result] = []
    a = rig.modem.tcp_connect("127.0.0.1", 7101, done.append)
    b = rig.modem.tcp_connect("127.0.0.1", 7102, done.append)
    rig.run_until(lambda: len(done) == 2)
    assert (a, b) == (0, 1) and done == [Ok(None), Ok(None)]
    for size in (100, 5000):
        pa, pb = bytes([65 + size % 7]) * size, bytes([97 + size % 5]) * size
        before_a, before_b = len(rig.received(a)), len(rig.received(b))
        assert rig.call("tcp_send", pa, conn=a) == Ok(None)
        assert rig.call("tcp_send", pb, conn=b) == Ok(None)
        want_a, want_b = before_a + size, before_b + size
        rig.run_until(lambda wa=want_a, wb=want_b: len(rig.received(a)) >= wa and len(rig.received(b)) >= wb)
        assert rig.received(a)[before_a:] == pa
        assert rig.received(b)[before_b:] == pb
    assert b"+RECEIVE,1," in rig.wire and b"1, SEND OK" in rig.wire  # multi-connection mode on the wire


def test_a_remote_close_names_its_link_and_leaves_the_other_up() -> None:
    rig = Rig(seed=6)
    rig.echo_server(7201, b"A:")
    rig.echo_server(7202, b"B:")
    rig.online()
    done: list[Result] = []
    a = rig.modem.tcp_connect("127.0.0.1", 7201, done.append)
    b = rig.modem.tcp_connect("127.0.0.1", 7202, done.append)
    rig.run_until(lambda: len(done) == 2)
    rig.servers[7202][0].close()     # the server behind link b hangs up
    rig.run_until(lambda: any(isinstance(e, TcpClosed) for e in rig.events))
    assert [e for e in rig.events if isinstance(e, TcpClosed)] == [TcpClosed("CLOSED", b)]
    assert rig.call("tcp_send", b"still here", conn=a) == Ok(None)
    rig.run_until(lambda: rig.received(a) == b"A:still here")
    assert isinstance(rig.call("tcp_send", b"x", conn=b), Failed)
    # the freed number is handed out again; the closed one is reopened on the same link
    again = rig.modem.tcp_connect("127.0.0.1", 7202, done.append)
    rig.run_until(lambda: len(done) == 3)
    assert again == b and done[-1] == Ok(None)
    assert rig.call("tcp_close", conn=a) == Ok(None)
    assert b"0, CLOSE OK" in rig.wire
    assert rig.modem.tcp_connect("127.0.0.1", 7201, done.append) == a


def test_link_status_in_single_connection_words() -> None:
    rig = Rig(seed=7)
    rig.echo_server(7301, b"")
    rig.online()
    assert rig.call("ip_status") == Ok("IP STATUS")      # no link in use: the bearer's state
    done: list[Result] = []
    conn = rig.modem.tcp_connect("127.0.0.1", 7301, done.append)
    rig.run_until(lambda: bool(done))
    assert rig.call("ip_status", conn=conn) == Ok("CONNECT OK")
    assert rig.call("tcp_close", conn=conn) == Ok(None)
    assert rig.call("ip_status", conn=conn) in (Ok("TCP CLOSED"), Ok("IP PROCESSING"), Ok("IP STATUS"))
