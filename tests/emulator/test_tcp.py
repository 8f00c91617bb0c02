"""GPRS and TCP (sim800-at.md §3) against an in-process server on the virtual clock."""

from __future__ import annotations

import pytest

from modem.emulator import VirtualNetwork
from runtime import RealLoop, Stream
from tests.emulator.rig import Rig


class Server:
    """An echo-less TCP server on the virtual loop that records what it gets."""

    def __init__(self, rig: Rig, port: int = 6867) -> None:
        self.got = bytearray()
        self.conns: list[Stream] = []
        self.closed = 0
        self.listener = rig.loop.listen_tcp("127.0.0.1", port, self._accept)

    def _accept(self, stream: Stream) -> None:
        self.conns.append(stream)
        stream.set_handlers(self.got.extend, self._closed)

    def _closed(self) -> None:
        self.closed += 1


@pytest.fixture
def r() -> Rig:
    rig = Rig()
    rig.at("ATE0")
    return rig


def bring_up(r: Rig) -> str:
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"
    assert r.at('AT+CSTT="internet","u","p"') == "\r\nOK\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP START\r\n"
    assert r.at("AT+CIICR") == "\r\nOK\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP GPRSACT\r\n"
    ip = r.at("AT+CIFSR")
    assert ip.count(".") == 3 and "OK" not in ip
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP STATUS\r\n"
    return ip.strip()


def connect(r: Rig) -> None:
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",6867') + r.run(0.1) == "\r\nOK\r\n\r\nCONNECT OK\r\n"


def test_full_state_machine_send_receive_close(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    connect(r)
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: CONNECT OK\r\n"
    assert r.at("AT+CIPSEND") == "\r\n> "
    assert r.send(b"MP-C 0 hello\r\n\x1a", wait=0.1) == "\r\nSEND OK\r\n"
    assert bytes(srv.got) == b"MP-C 0 hello\r\n"
    srv.conns[0].write(b"abc")
    assert r.run(0.1) == "abc"  # CIPHEAD=0: bare bytes
    r.at("AT+CIPHEAD=1")
    srv.conns[0].write(b"xyz")
    assert r.run(0.1) == "\r\n+IPD,3:xyz"
    assert r.at("AT+CIPCLOSE") == "\r\nCLOSE OK\r\n"
    r.run(0.1)
    assert srv.closed == 1
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n"
    connect(r)  # reconnect from TCP CLOSED
    assert r.at("AT+CIPSHUT") == "\r\nSHUT OK\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"


def test_wrong_state_errors(r: Rig) -> None:
    assert r.at("AT+CIICR") == "\r\nERROR\r\n"
    assert r.at("AT+CIFSR") == "\r\nERROR\r\n"
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",1') == "\r\nERROR\r\n"
    assert r.at("AT+CIPSEND") == "\r\nERROR\r\n"
    assert r.at("AT+CIPCLOSE") == "\r\nERROR\r\n"
    r.at('AT+CSTT="apn"')
    assert r.at('AT+CSTT="apn"') == "\r\nERROR\r\n"


def test_already_connect(r: Rig) -> None:
    Server(r)
    bring_up(r)
    connect(r)
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",6867') == "\r\nOK\r\n\r\nALREADY CONNECT\r\n"


def test_fixed_length_send_and_quick_send(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    connect(r)
    r.at("AT+CIPSEND=5")
    assert r.send(b"ab\x1acd", wait=0.1) == "\r\nSEND OK\r\n"
    assert bytes(srv.got) == b"ab\x1acd"
    r.at("AT+CIPQSEND=1")
    r.at("AT+CIPSEND")
    assert r.send(b"hello\x1a", wait=0.1) == "\r\nDATA ACCEPT:5\r\n"
    assert r.at("AT+CIPSEND=2000") == "\r\nERROR\r\n"


def test_esc_cancels_cipsend(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    connect(r)
    r.at("AT+CIPSEND")
    assert r.send(b"oops\x1b", wait=0.1) == "\r\nOK\r\n"
    assert srv.got == b""


def test_connect_refused_without_listener(r: Rig) -> None:
    bring_up(r)
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",9') + r.run(0.1) == "\r\nOK\r\n\r\nCONNECT FAIL\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n"


def test_peer_close_gives_closed(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    connect(r)
    srv.conns[0].close()
    assert r.run(0.1) == "\r\nCLOSED\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n"


def test_ciprxget_manual_mode(r: Rig) -> None:
    srv = Server(r)
    r.at("AT+CIPRXGET=1")
    bring_up(r)
    connect(r)
    srv.conns[0].write(b"0123456789")
    assert r.run(0.1) == "\r\n+CIPRXGET: 1\r\n"
    assert r.at("AT+CIPRXGET=4") == "\r\n+CIPRXGET: 4,10\r\n\r\nOK\r\n"
    assert r.at("AT+CIPRXGET=2,4") == "\r\n+CIPRXGET: 2,4,6\r\n0123\r\n\r\nOK\r\n"
    assert r.at("AT+CIPRXGET=3,100") == "\r\n+CIPRXGET: 3,6,0\r\n343536373839\r\n\r\nOK\r\n"


def test_faults_on_tcp(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    r.modem.fault("tcp-refused")
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",6867') + r.run(0.1) == "\r\nOK\r\n\r\nCONNECT FAIL\r\n"
    r.modem.clear_faults()
    connect(r)
    r.modem.fault("send-fail")
    r.at("AT+CIPSEND")
    assert r.send(b"x\x1a") == "\r\nSEND FAIL\r\n"
    r.modem.clear_faults()
    r.modem.fault("stall", 60)
    r.at("AT+CIPSEND")
    assert r.send(b"lost\x1a", wait=0.1) == "\r\nSEND OK\r\n"
    srv.conns[0].write(b"lost too")
    assert r.run(0.1) == ""
    assert srv.got == b""
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: CONNECT OK\r\n"
    r.run(61)
    r.modem.fault("remote-close", 10)
    assert r.run(0.1) == "\r\nCLOSED\r\n"
    assert srv.closed == 1


def test_gprs_down_mid_session_gives_pdp_deact(r: Rig) -> None:
    Server(r)
    bring_up(r)
    connect(r)
    r.modem.fault("gprs-down")
    assert r.run(0.1) == "\r\n+PDP: DEACT\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: PDP DEACT\r\n"
    assert r.at("AT+CIPSHUT") == "\r\nSHUT OK\r\n"
    r.at('AT+CSTT="apn"')
    assert r.at("AT+CIICR") == "\r\nERROR\r\n"
    r.modem.clear_faults()
    r.at("AT+CIPSHUT")
    bring_up(r)


def test_no_coverage_drops_the_link(r: Rig) -> None:
    Server(r)
    bring_up(r)
    connect(r)
    r.modem.fault("no-coverage")
    assert "+PDP: DEACT" in r.run(0.1)


def test_real_loop_refuses_non_loopback_hosts() -> None:
    loop = RealLoop(seed=1)
    try:
        net = VirtualNetwork(loop)
        assert net.host_allowed("127.0.0.1") and not net.host_allowed("example.com")
        assert VirtualNetwork(loop, allow_hosts=["example.com"]).host_allowed("example.com")
        results: list[tuple[object, object]] = []
        net.connect("example.com", 80, lambda s, e: results.append((s, e)))
        loop.run(until=loop.time() + 0.5)
        assert results == [(None, "host example.com not allowed")]
    finally:
        loop.close()


def test_cipssl_is_taken_but_tls_connects_fail(r: Rig) -> None:
    Server(r)
    assert r.at("AT+CIPSSL=?") == "\r\n+CIPSSL: (0,1)\r\n\r\nOK\r\n"
    assert r.at("AT+CIPSSL=1") == "\r\nOK\r\n"
    bring_up(r)
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",6867') + r.run(0.1) == "\r\nOK\r\n\r\nCONNECT FAIL\r\n"
    assert r.at("AT+CIPSSL=0") == "\r\nOK\r\n"
    connect(r)


def test_cipsrip_shows_the_sender(r: Rig) -> None:
    srv = Server(r)
    r.at("AT+CIPSRIP=1")
    r.at("AT+CIPHEAD=1")
    bring_up(r)
    connect(r)
    srv.conns[0].write(b"xyz")
    assert r.run(0.1) == "\r\nRECV FROM:127.0.0.1:6867\r\n\r\n+IPD,3:xyz"


def test_cipmux_zero_outside_ip_initial_is_refused(r: Rig) -> None:
    bring_up(r)
    assert r.at("AT+CIPMUX=0") == "\r\nERROR\r\n"


def test_cipsprt_prompt_and_send_ok(r: Rig) -> None:
    srv = Server(r)
    bring_up(r)
    connect(r)
    assert r.at("AT+CIPSPRT?") == "\r\n+CIPSPRT: 1\r\n\r\nOK\r\n"
    r.at("AT+CIPSPRT=0")
    assert r.at("AT+CIPSEND") == ""  # no '> ', the data is taken all the same
    assert r.send(b"a\x1a", wait=0.1) == "\r\nSEND OK\r\n"
    r.at("AT+CIPSPRT=2")
    assert r.at("AT+CIPSEND=1") == ""
    assert r.send(b"b", wait=0.1) == ""  # neither '> ' nor SEND OK
    assert r.at("AT") == "\r\nOK\r\n"
    assert bytes(srv.got) == b"ab"


def test_pdp_and_ip_settings_commands(r: Rig) -> None:
    assert r.at('AT+CGDCONT=1,"IP","internet"') == "\r\nOK\r\n"
    assert r.at("AT+CGDCONT?") == '\r\n+CGDCONT: 1,"IP","internet","0.0.0.0",0,0\r\n\r\nOK\r\n'
    assert r.at('AT+CDNSCFG="8.8.8.8"') == "\r\nOK\r\n"
    assert r.at("AT+CLPORT=\"TCP\",2020") == "\r\nOK\r\n"
    for line in ("AT+CIPDPDP=1,10,3", "AT+CIPCCFG=5,2,1024,1", "AT+CIPSHOWTP=0", "AT+CIPATS=0"):
        assert r.at(line) == "\r\nOK\r\n", line
    assert r.at("AT+CIPMODE=0") == "\r\nOK\r\n"
    assert r.at("AT+CIPMODE=1") == "\r\nERROR\r\n"  # transparent mode is not emulated
    assert r.at("AT+CIPHEAD?") == "\r\n+CIPHEAD: 0\r\n\r\nOK\r\n"
    assert r.at("AT+CIPQSEND=2") == "\r\nERROR\r\n"
