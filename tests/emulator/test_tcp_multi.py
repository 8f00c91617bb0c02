"""Multi-connection TCP (AT+CIPMUX=1, SIM800 manual V1.09 §8.2) on the virtual clock, byte for byte."""

from __future__ import annotations

import re

import pytest

from runtime import Stream
from tests.emulator.rig import Rig


class Echo:
    """A TCP server on the virtual loop that echoes (or just records) what it gets."""

    def __init__(self, rig: Rig, port: int, echo: bool = True) -> None:
        self.got = bytearray()
        self.conns: list[Stream] = []
        self.closed = 0
        self.echo = echo
        self.listener = rig.loop.listen_tcp("127.0.0.1", port, self._accept)

    def _accept(self, stream: Stream) -> None:
        self.conns.append(stream)

        def on_data(data: bytes) -> None:
            self.got.extend(data)
            if self.echo:
                stream.write(data)

        stream.set_handlers(on_data, self._closed)

    def _closed(self) -> None:
        self.closed += 1


@pytest.fixture
def r() -> Rig:
    rig = Rig()
    rig.at("ATE0")
    return rig


def bring_up_multi(r: Rig) -> None:
    assert r.at("AT+CIPMUX=1") == "\r\nOK\r\n"
    assert r.at("AT+CIPMUX?") == "\r\n+CIPMUX: 1\r\n\r\nOK\r\n"
    assert r.at('AT+CSTT="internet"') == "\r\nOK\r\n"
    assert r.at("AT+CIICR") == "\r\nOK\r\n"
    assert r.at("AT+CIFSR").count(".") == 3


def open_link(r: Rig, n: int, port: int) -> None:
    assert r.at(f'AT+CIPSTART={n},"TCP","127.0.0.1",{port}') + r.run(0.1) == f"\r\nOK\r\n\r\n{n}, CONNECT OK\r\n"


def send(r: Rig, n: int, data: bytes) -> str:
    """CIPSEND=<n>,<len> in pieces of at most 1460 bytes; returns what the modem said after them."""
    out = ""
    for i in range(0, len(data), 1460):
        piece = data[i : i + 1460]
        assert r.at(f"AT+CIPSEND={n},{len(piece)}") == "\r\n> "
        out += r.send(piece, wait=0.1)
    return out


def pushed(text: str) -> dict[int, bytes]:
    """Reassemble `+RECEIVE,<n>,<len>:\\r\\n<data>` pushes per link."""
    got: dict[int, bytearray] = {}
    raw = text.encode("latin-1")
    i = 0
    head = re.compile(rb"\r\n\+RECEIVE,(\d),(\d+):\r\n")
    while i < len(raw):
        mo = head.match(raw, i)
        assert mo, raw[i : i + 40]
        n, length = int(mo.group(1)), int(mo.group(2))
        assert length <= 1460
        start = mo.end()
        got.setdefault(n, bytearray()).extend(raw[start : start + length])
        i = start + length
    return {n: bytes(b) for n, b in got.items()}


def payload(size: int, salt: int) -> bytes:
    return bytes((i * 7 + salt) % 256 for i in range(size))


def test_cipmux_only_in_ip_initial(r: Rig) -> None:
    assert r.at("AT+CIPMUX=?") == "\r\n+CIPMUX: (0,1)\r\n\r\nOK\r\n"
    assert r.at("AT+CIPMUX?") == "\r\n+CIPMUX: 0\r\n\r\nOK\r\n"
    r.at('AT+CSTT="internet"')
    assert r.at("AT+CIPMUX=1") == "\r\nERROR\r\n"
    assert r.at("AT+CIPSHUT") == "\r\nSHUT OK\r\n"
    assert r.at("AT+CIPMUX=1") == "\r\nOK\r\n"
    assert r.at("AT+CIPMUX=2") == "\r\nERROR\r\n"


def test_two_links_pushed_100_and_5000_bytes(r: Rig) -> None:
    a, b = Echo(r, 7001), Echo(r, 7002)
    bring_up_multi(r)
    open_link(r, 0, 7001)
    open_link(r, 3, 7002)
    for size in (100, 5000):
        da, db = payload(size, 1), payload(size, 2)
        out = send(r, 0, da) + send(r, 3, db)
        # every send answered with its link's SEND OK, then the echoes pushed with the link number
        oks = out.count("\r\n0, SEND OK\r\n"), out.count("\r\n3, SEND OK\r\n")
        assert oks == ((size + 1459) // 1460,) * 2
        echoed = pushed(out.replace("\r\n0, SEND OK\r\n", "").replace("\r\n3, SEND OK\r\n", "") + r.run(0.1))
        assert echoed == {0: da, 3: db}
    assert bytes(a.got) == payload(100, 1) + payload(5000, 1)
    assert bytes(b.got) == payload(100, 2) + payload(5000, 2)


def test_two_links_ciprxget_100_and_5000_bytes(r: Rig) -> None:
    Echo(r, 7001), Echo(r, 7002)
    r.at("AT+CIPRXGET=1")
    bring_up_multi(r)
    open_link(r, 1, 7001)
    open_link(r, 2, 7002)
    for size in (100, 5000):
        da, db = payload(size, 3), payload(size, 4)
        out = send(r, 1, da) + send(r, 2, db) + r.run(0.1)
        assert out.count("\r\n+CIPRXGET: 1,1\r\n") == 1 and out.count("\r\n+CIPRXGET: 1,2\r\n") == 1
        assert r.at("AT+CIPRXGET=4,1") == f"\r\n+CIPRXGET: 4,1,{size}\r\n\r\nOK\r\n"
        for n, want in ((1, da), (2, db)):
            got = bytearray()
            while len(got) < len(want):
                mo = re.fullmatch(
                    r"\r\n\+CIPRXGET: 2,(\d),(\d+),(\d+)\r\n(.*)\r\n\r\nOK\r\n", r.at(f"AT+CIPRXGET=2,{n},1460"), re.S
                )
                assert mo and int(mo.group(1)) == n
                got += mo.group(4).encode("latin-1")
                assert int(mo.group(2)) == len(mo.group(4)) and int(mo.group(3)) == len(want) - len(got)
            assert bytes(got) == want
        assert r.at("AT+CIPRXGET=4,2") == "\r\n+CIPRXGET: 4,2,0\r\n\r\nOK\r\n"


def test_ciprxget_hex_and_urc_again_after_drain(r: Rig) -> None:
    srv = Echo(r, 7001, echo=False)
    r.at("AT+CIPRXGET=1")
    bring_up_multi(r)
    open_link(r, 5, 7001)
    srv.conns[0].write(b"\x00\x01AB")
    assert r.run(0.1) == "\r\n+CIPRXGET: 1,5\r\n"
    srv.conns[0].write(b"C")
    assert r.run(0.1) == ""  # announced once until read
    assert r.at("AT+CIPRXGET=3,5,2") == "\r\n+CIPRXGET: 3,5,2,3\r\n0001\r\n\r\nOK\r\n"
    assert r.at("AT+CIPRXGET=2,5") == "\r\n+CIPRXGET: 2,5,3,0\r\nABC\r\n\r\nOK\r\n"
    srv.conns[0].write(b"D")
    assert r.run(0.1) == "\r\n+CIPRXGET: 1,5\r\n"
    assert r.at("AT+CIPRXGET=2,6") == "\r\nERROR\r\n"
    assert r.at("AT+CIPRXGET=2") == "\r\nERROR\r\n"
    assert r.at("AT+CIPRXGET=?") == "\r\n+CIPRXGET: (0-4),(0-5),(1-1460)\r\n\r\nOK\r\n"


def test_cipstatus_multi(r: Rig) -> None:
    Echo(r, 7001)
    assert r.at("AT+CIPMUX=1") == "\r\nOK\r\n"
    initial = "".join(f'C: {n},,"","","","INITIAL"\r\n' for n in range(6))
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n\r\n" + initial
    r.at('AT+CSTT="internet"')
    r.at("AT+CIICR")
    r.at("AT+CIFSR")
    assert r.at("AT+CIPSTATUS").startswith("\r\nOK\r\n\r\nSTATE: IP STATUS\r\n")
    open_link(r, 1, 7001)
    assert r.at("AT+CIPSTATUS") == (
        "\r\nOK\r\n\r\nSTATE: IP PROCESSING\r\n\r\n"
        'C: 0,,"","","","INITIAL"\r\n'
        'C: 1,0,"TCP","127.0.0.1","7001","CONNECTED"\r\n'
        + "".join(f'C: {n},,"","","","INITIAL"\r\n' for n in range(2, 6))
    )
    assert r.at("AT+CIPSTATUS=1") == '\r\n+CIPSTATUS: 1,0,"TCP","127.0.0.1","7001","CONNECTED"\r\n\r\nOK\r\n'
    assert r.at("AT+CIPSTATUS=4") == '\r\n+CIPSTATUS: 4,,"","","","INITIAL"\r\n\r\nOK\r\n'
    assert r.at("AT+CIPSTATUS=6") == "\r\nERROR\r\n"
    assert r.at("AT+CIPCLOSE=1") == "\r\n1, CLOSE OK\r\n"
    assert r.at("AT+CIPSTATUS=1") == '\r\n+CIPSTATUS: 1,0,"TCP","127.0.0.1","7001","CLOSED"\r\n\r\nOK\r\n'
    assert "STATE: IP STATUS" in r.at("AT+CIPSTATUS")


def test_cipstatus_set_form_refused_in_single_mode(r: Rig) -> None:
    assert r.at("AT+CIPSTATUS=0") == "\r\nERROR\r\n"


def test_connect_fail_already_connect_and_errors(r: Rig) -> None:
    Echo(r, 7001)
    assert r.at("AT+CIPMUX=1") == "\r\nOK\r\n"
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",7001') == "\r\nERROR\r\n"  # no GPRS yet
    r.at('AT+CSTT="internet"')
    r.at("AT+CIICR")
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",7001') == "\r\nERROR\r\n"  # IP GPRSACT: CIFSR first
    r.at("AT+CIFSR")
    assert r.at('AT+CIPSTART="TCP","127.0.0.1",7001') == "\r\nERROR\r\n"  # no link number
    assert r.at('AT+CIPSTART=6,"TCP","127.0.0.1",7001') == "\r\nERROR\r\n"
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",0') == "\r\nERROR\r\n"
    assert r.at('AT+CIPSTART=2,"TCP","127.0.0.1",9') + r.run(0.1) == "\r\nOK\r\n\r\n2, CONNECT FAIL\r\n"
    open_link(r, 0, 7001)
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",7001') == "\r\nOK\r\n\r\n0, ALREADY CONNECT\r\n"
    assert r.at("AT+CIPSEND=2,5") == "\r\nERROR\r\n"  # link 2 is not connected
    assert r.at("AT+CIPSEND") == "\r\nERROR\r\n"  # multi mode needs the link number
    assert r.at("AT+CIPSEND=0,1461") == "\r\nERROR\r\n"
    assert r.at("AT+CIPCLOSE") == "\r\nERROR\r\n"
    assert r.at("AT+CIPCLOSE=2") == "\r\nERROR\r\n"
    assert r.at("AT+CIPSTART=?") == (
        '\r\n+CIPSTART: (0-5),("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)\r\n\r\nOK\r\n'
    )
    assert r.at("AT+CIPSEND=?") == "\r\n+CIPSEND: (0-5),<length>\r\n\r\nOK\r\n"
    assert r.at("AT+CIPSEND?") == "\r\n+CIPSEND: 0,1460\r\n\r\nOK\r\n"


def test_ctrl_z_send_quick_send_and_close_quick(r: Rig) -> None:
    srv = Echo(r, 7001, echo=False)
    bring_up_multi(r)
    open_link(r, 4, 7001)
    assert r.at("AT+CIPSEND=4") == "\r\n> "
    assert r.send(b"hello\x1a", wait=0.1) == "\r\n4, SEND OK\r\n"
    r.at("AT+CIPQSEND=1")
    r.at("AT+CIPSEND=4,3")
    assert r.send(b"abc", wait=0.1) == "\r\nDATA ACCEPT:4,3\r\n"
    assert bytes(srv.got) == b"helloabc"
    assert r.at("AT+CIPCLOSE=4,1") == "\r\n4, CLOSE OK\r\n"
    r.run(0.1)
    assert srv.closed == 1


def test_remote_close_is_per_link(r: Rig) -> None:
    a, b = Echo(r, 7001), Echo(r, 7002)
    bring_up_multi(r)
    open_link(r, 0, 7001)
    open_link(r, 1, 7002)
    b.conns[0].close()
    assert r.run(0.1) == "\r\n1, CLOSED\r\n"
    a.conns[0].write(b"still")
    assert pushed(r.run(0.1)) == {0: b"still"}
    open_link(r, 1, 7002)  # a closed link can be opened again


def test_receive_header_with_cipsrip(r: Rig) -> None:
    srv = Echo(r, 7001, echo=False)
    r.at("AT+CIPSRIP=1")
    bring_up_multi(r)
    open_link(r, 0, 7001)
    srv.conns[0].write(b"hi")
    assert r.run(0.1) == "\r\nRECV FROM:127.0.0.1:7001\r\n\r\n+RECEIVE,0,2:\r\nhi"


def test_faults_apply_to_every_link(r: Rig) -> None:
    a, b = Echo(r, 7001, echo=False), Echo(r, 7002, echo=False)
    bring_up_multi(r)
    open_link(r, 0, 7001)
    open_link(r, 1, 7002)
    r.modem.fault("send-fail")
    for n in (0, 1):
        r.at(f"AT+CIPSEND={n},1")
        assert r.send(b"x") == f"\r\n{n}, SEND FAIL\r\n"
    r.modem.clear_faults()
    r.modem.fault("stall", 10)
    r.at("AT+CIPSEND=1,4")
    assert r.send(b"lost", wait=0.1) == "\r\n1, SEND OK\r\n"
    a.conns[0].write(b"lost too")
    assert r.run(0.1) == ""
    assert b.got == b""
    r.run(11)
    r.modem.fault("remote-close", 10)
    assert r.run(0.1) == "\r\n0, CLOSED\r\n\r\n1, CLOSED\r\n"
    r.run(11)
    open_link(r, 2, 7001)
    r.modem.fault("gprs-down")
    assert r.run(0.1) == "\r\n+PDP: DEACT\r\n"
    assert 'C: 2,,"","","","INITIAL"' in r.at("AT+CIPSTATUS")
    r.run(0.1)
    assert a.closed == 2


def test_tcp_refused_fault_and_ssl(r: Rig) -> None:
    Echo(r, 7001)
    bring_up_multi(r)
    r.modem.fault("tcp-refused")
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",7001') + r.run(0.1) == "\r\nOK\r\n\r\n0, CONNECT FAIL\r\n"
    r.modem.clear_faults()
    assert r.at("AT+CIPSSL=1") == "\r\nOK\r\n"
    assert r.at("AT+CIPSSL?") == "\r\n+CIPSSL: 1\r\n\r\nOK\r\n"
    assert r.at('AT+CIPSTART=0,"TCP","127.0.0.1",7001') + r.run(0.1) == "\r\nOK\r\n\r\n0, CONNECT FAIL\r\n"
    r.at("AT+CIPSSL=0")
    open_link(r, 0, 7001)


def test_cipshut_closes_all_and_single_mode_is_back(r: Rig) -> None:
    a = Echo(r, 7001)
    bring_up_multi(r)
    open_link(r, 0, 7001)
    open_link(r, 1, 7001)
    assert r.at("AT+CIPSHUT") == "\r\nSHUT OK\r\n"
    r.run(0.1)
    assert a.closed == 2
    assert r.at("AT+CIPMUX=0") == "\r\nOK\r\n"
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"


def test_reboot_closes_links_and_forgets_multi_mode(r: Rig) -> None:
    a = Echo(r, 7001)
    bring_up_multi(r)
    open_link(r, 0, 7001)
    r.modem.fault("reboot")
    r.run(0.1)
    assert a.closed == 1
    r.at("ATE0")
    assert r.at("AT+CIPMUX?") == "\r\n+CIPMUX: 0\r\n\r\nOK\r\n"
