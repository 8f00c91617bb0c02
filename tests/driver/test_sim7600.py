"""`Modem` with the `sim7600` dialect over an in-memory pipe on the virtual clock, against a scripted
SIM7600 stand-in (a table of command line → answer; not an emulator: it knows only what a test says)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from modem.driver.dialect import get_dialect
from modem.driver.dialects.sim7600 import RadioStatus, Sim7600, parse_cnsmod, parse_cpsi
from modem.driver.modem import (
    Failed,
    GprsLost,
    Modem,
    ModemRebooted,
    NetworkInfo,
    Ok,
    TcpClosed,
    TcpDataReceived,
)
from modem.driver.open import open_modem
from runtime import Stream, VirtualLoop, pipe_pair

Answer = bytes | Callable[[str], bytes]


class Sim7600Stub:
    """Answers command lines from `table`; `AT+CIPSEND=<n>,<len>` gets `>` and takes len bytes."""

    def __init__(self, stream: Stream, table: dict[str, Answer]) -> None:
        self.stream = stream
        self.table = table
        self.lines: list[str] = []
        self.payloads: list[bytes] = []
        self.send_answer: Callable[[int, bytes], bytes] = lambda n, p: f"\r\nOK\r\n\r\n+CIPSEND: {n},{len(p)},{len(p)}\r\n".encode()
        self._buf = b""
        self._want: tuple[int, int] | None = None
        stream.set_handlers(self._on_data)

    def push(self, data: bytes) -> None:
        self.stream.write(data)

    def _on_data(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            if self._want is not None:
                n, size = self._want
                if len(self._buf) < size:
                    return
                payload, self._buf = self._buf[:size], self._buf[size:]
                self._want = None
                self.payloads.append(payload)
                self.push(self.send_answer(n, payload))
                continue
            i = self._buf.find(b"\r")
            if i < 0:
                return
            line, self._buf = self._buf[:i].decode("latin-1").strip(), self._buf[i + 1:]
            if not line:
                continue
            self.lines.append(line)
            m = re.fullmatch(r"AT\+CIPSEND=(\d),(\d+)", line)
            if m and not any(re.fullmatch(p, line) for p in self.table):
                self._want = (int(m[1]), int(m[2]))
                self.push(b"\r\n>")
                continue
            for pat, ans in self.table.items():
                if re.fullmatch(pat, line):
                    self.push(ans(line) if callable(ans) else ans)
                    break
            else:
                self.push(b"\r\nOK\r\n")


ATTACH = {
    r"AT\+NETCLOSE": b"\r\n+NETCLOSE: 2\r\n\r\nERROR\r\n",
    r"AT\+NETOPEN": b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n",
    r"AT\+IPADDR": b"\r\n+IPADDR: 10.71.155.118\r\n\r\nOK\r\n",
    r'AT\+CIPOPEN=(\d),"TCP","127.0.0.1",6867': lambda line: f"\r\nOK\r\n\r\n+CIPOPEN: {line[11]},0\r\n".encode(),
    r"AT\+CIPCLOSE=(\d)": lambda line: f"\r\nOK\r\n\r\n+CIPCLOSE: {line[12]},0\r\n".encode(),
}


class Harness:
    def __init__(self, table: dict[str, Answer]) -> None:
        self.loop = VirtualLoop(seed=1)
        a, b = pipe_pair(self.loop, latency=0.01)
        self.fake = Sim7600Stub(b, table)
        self.modem = Modem(self.loop, a, dialect="sim7600")
        self.events: list[object] = []
        self.modem.subscribe(self.events.append)

    def call(self, method: str, *args: object, limit: float = 300.0, **kw: object) -> object:
        got: list[object] = []
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        end = self.loop.time() + limit
        while not got and self.loop.time() < end:
            self.loop.run(until=min(end, self.loop.time() + 0.5))
        assert len(got) == 1, f"{method} did not finish"
        return got[0]

    def run(self, seconds: float) -> None:
        self.loop.run(until=self.loop.time() + seconds)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def test_open_modem_by_name_gives_the_sim7600_dialect() -> None:
    loop = VirtualLoop(seed=1)
    m = open_modem(loop, "sim7600:loop://")
    assert m.dialect.name == "sim7600" and m.max_connections == 10
    assert isinstance(get_dialect("SIM7600"), Sim7600)
    m.close()


def test_attach_closes_the_network_first_then_opens_it_and_reads_the_address() -> None:
    h = Harness(dict(ATTACH))
    assert h.call("gprs_attach", "internet") == Ok("10.71.155.118")
    assert h.fake.lines == ["AT+NETCLOSE", 'AT+CGDCONT=1,"IP","internet"', "AT+CIPMODE=0", "AT+CIPRXGET=1",
                            "AT+NETOPEN", "AT+IPADDR"]


def test_attach_with_credentials_sends_cgauth_and_never_logs_the_password(caplog) -> None:
    h = Harness(dict(ATTACH))
    with caplog.at_level("DEBUG"):
        assert isinstance(h.call("gprs_attach", "internet", user="web", password="s3cr3t-pw"), Ok)
    assert 'AT+CGAUTH=1,3,"s3cr3t-pw","web"' in h.fake.lines
    assert "s3cr3t-pw" not in caplog.text


def test_netopen_failing_fails_the_attach_with_the_modems_reason() -> None:
    h = Harness({**ATTACH, r"AT\+NETOPEN": b"\r\nOK\r\n\r\n+NETOPEN: 1\r\n"})
    r = h.call("gprs_attach", "internet")
    assert isinstance(r, Failed) and "+NETOPEN: 1" in r.reason
    # the next attach starts with NETCLOSE again: that is what makes NETOPEN work after a network close
    h.fake.table[r"AT\+NETOPEN"] = b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"
    h.fake.lines.clear()
    assert h.call("gprs_attach", "internet") == Ok("10.71.155.118")
    assert h.fake.lines[0] == "AT+NETCLOSE"


def test_tcp_round_trip_with_ciprxget_reads_on_two_links() -> None:
    h = Harness({**ATTACH,
                 r"AT\+CIPRXGET=2,0,1500": b"\r\n+CIPRXGET: 2,0,12,0\r\nMP-S 0 abc\r\n\r\nOK\r\n",
                 r"AT\+CIPRXGET=2,1,1500": b"\r\n+CIPRXGET: 2,1,4,0\r\nOK\r\n\r\nOK\r\n",
                 r"AT\+CIPRXGET=4,(\d)": lambda line: f"\r\n+CIPRXGET: 4,{line[-1]},0\r\n\r\nOK\r\n".encode()})
    h.call("gprs_attach", "internet")
    got: list[object] = []
    c0 = h.modem.tcp_connect("127.0.0.1", 6867, got.append)
    c1 = h.modem.tcp_connect("127.0.0.1", 6867, got.append)
    h.run(2)
    assert (c0, c1) == (0, 1) and got == [Ok(None), Ok(None)]
    assert h.call("tcp_send", b"MP-C 0 TESTCAR abc==\r\n", conn=1) == Ok(None)
    assert h.fake.payloads == [b"MP-C 0 TESTCAR abc==\r\n"]
    h.fake.push(b"\r\n+CIPRXGET: 1,1\r\n")
    h.fake.push(b"\r\n+CIPRXGET: 1,0\r\n")
    h.run(2)
    data = h.of(TcpDataReceived)
    assert [(e.conn, e.data) for e in data] == [(1, b"OK\r\n"), (0, b"MP-S 0 abc\r\n")]


def test_a_large_read_is_read_until_the_module_holds_nothing() -> None:
    rest = [3000]

    def read(line: str) -> bytes:
        n = min(1500, rest[0])
        rest[0] -= n
        return f"\r\n+CIPRXGET: 2,0,{n},{rest[0]}\r\n".encode() + b"x" * n + b"\r\nOK\r\n"

    h = Harness({**ATTACH, r"AT\+CIPRXGET=2,0,1500": read,
                 r"AT\+CIPRXGET=4,0": lambda line: f"\r\n+CIPRXGET: 4,0,{rest[0]}\r\n\r\nOK\r\n".encode()})
    h.fake.push(b"\r\n+CIPRXGET: 1,0\r\n")
    h.run(5)
    assert sum(len(e.data) for e in h.of(TcpDataReceived)) == 3000
    assert h.fake.lines.count("AT+CIPRXGET=2,0,1500") == 2


def test_send_of_more_than_1500_bytes_goes_in_pieces_and_a_short_accept_is_resent() -> None:
    h = Harness(dict(ATTACH))
    h.fake.send_answer = lambda n, p: f"\r\nOK\r\n\r\n+CIPSEND: {n},{len(p)},{min(len(p), 1000)}\r\n".encode()
    data = bytes(range(256)) * 10
    assert h.call("tcp_send", data, conn=0) == Ok(None)
    assert b"".join(p[:1000] for p in h.fake.payloads) == data
    assert all(len(p) <= 1500 for p in h.fake.payloads)


def test_send_on_a_dropped_link_fails_and_reports_the_link_closed() -> None:
    h = Harness(dict(ATTACH))
    h.fake.send_answer = lambda n, p: f"\r\nOK\r\n\r\n+CIPSEND: {n},{len(p)},-1\r\n".encode()
    r = h.call("tcp_send", b"hello", conn=2)
    assert isinstance(r, Failed)
    assert [e.conn for e in h.of(TcpClosed)] == [2]


def test_remote_close_and_network_loss_become_the_shared_events() -> None:
    h = Harness(dict(ATTACH))
    h.fake.push(b"\r\n+IPCLOSE: 3,1\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n")
    h.run(1)
    assert [e.conn for e in h.of(TcpClosed)] == [3]
    assert len(h.of(GprsLost)) == 1


def test_soft_reset_is_creset_and_waits_for_rdy() -> None:
    h = Harness({r"AT\+CRESET": b"\r\nOK\r\n"})
    got: list[object] = []
    h.modem.soft_reset(got.append)
    h.run(3)
    assert h.fake.lines == ["AT+CRESET"] and not got
    h.fake.push(b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n")
    h.run(1)
    assert got == [Ok(None)] and len(h.of(ModemRebooted)) == 1


@pytest.mark.parametrize(("cpsi", "want"), [
    ("+CPSI: LTE,Online,262-01,0x2F4C,10621123,301,EUTRAN-BAND3,1300,5,5,-94,-850,-545,15", "4G"),
    ("+CPSI: GSM,Online,262-01,0x2f4c,12401,27 EGSM 900,-64,2110,42-42", "2G"),
    ("+CPSI: WCDMA,Online,262-02,0x1234,1234567,WCDMA IMT 2000,123,10700,0,1.5,62,33,19,500", "3G"),
    ("+CPSI: NO SERVICE,Online", ""),
])
def test_network_info_reads_the_technology_from_cpsi_and_the_operator_from_cops(cpsi: str, want: str) -> None:
    h = Harness({r"AT\+CPSI\?": f"\r\n{cpsi}\r\n\r\nOK\r\n".encode(),
                 r"AT\+COPS\?": b'\r\n+COPS: 0,0,"Telekom.de",7\r\n\r\nOK\r\n'})
    assert h.call("network_info") == Ok(NetworkInfo(want, "Telekom.de", want in ("2G", "3G")))


def _rat_table(states: list[str]) -> dict[str, Answer]:
    def cpsi(line: str) -> bytes:
        now = states.pop(0) if len(states) > 1 else states[0]
        return f"\r\n+CPSI: {now}\r\n\r\nOK\r\n".encode()
    return {r"AT\+CPSI\?": cpsi}


def test_radio_recover_on_lte_does_nothing() -> None:
    h = Harness(_rat_table(["LTE,Online,262-01,0x2F4C,1,301,EUTRAN-BAND3,1300,5,5,-94,-850,-545,15"]))
    assert h.call("radio_recover") == Ok("lte")
    assert h.fake.lines == ["AT+CPSI?"]


def test_radio_recover_stuck_on_gsm_toggles_to_lte_only_and_back_to_automatic() -> None:
    h = Harness(_rat_table(["GSM,Online,262-01,0x2f4c,12401,27 EGSM 900,-64,2110,42-42", "NO SERVICE,Online",
                            "LTE,Online,262-01,0x2F4C,1,301,EUTRAN-BAND3,1300,5,5,-94,-850,-545,15"]))
    assert h.call("radio_recover") == Ok("toggled: LTE")
    assert h.fake.lines == ["AT+CPSI?", "AT+CNMP=38", "AT+CPSI?", "AT+CPSI?", "AT+CNMP=2"]


def test_radio_recover_without_lte_goes_back_to_automatic_after_the_settle_time() -> None:
    h = Harness(_rat_table(["NO SERVICE,Online"]))
    t0 = h.loop.time()
    assert h.call("radio_recover") == Ok("toggled: NO SERVICE")
    assert h.fake.lines[-1] == "AT+CNMP=2" and 29 <= h.loop.time() - t0 <= 35


def test_radio_recover_resets_a_module_that_refuses_the_mode() -> None:
    h = Harness({**_rat_table(["GSM,Online"]), r"AT\+CNMP=38": b"\r\nERROR\r\n"})
    assert h.call("radio_recover") == Ok("reset")
    assert h.fake.lines == ["AT+CPSI?", "AT+CNMP=38", "AT+CRESET"]


def test_gnss_fix_from_cgpsinfo() -> None:
    h = Harness({r"AT\+CGPSINFO": b"\r\n+CGPSINFO: 5130.123456,N,00007.654321,W,301126,110000.0,35.2,10.0,90.0"
                                  b"\r\n\r\nOK\r\n"})
    r = h.call("gnss_fix")
    assert isinstance(r, Ok) and r.value.valid
    assert r.value.latitude == pytest.approx(51.5020576) and r.value.longitude == pytest.approx(-0.12757202)
    assert r.value.speed_kmh == pytest.approx(18.52)


def test_parsers_on_their_own() -> None:
    assert parse_cpsi(("+CPSI: GSM,Online,262-01,0x2f4c",)) == RadioStatus("GSM", True, "262-01")
    assert parse_cpsi(("+CPSI: NO SERVICE,Online",)).net_type == ""
    assert parse_cnsmod(("+CNSMOD: 0,8",)) == "4G" and parse_cnsmod(("+CNSMOD: 0,3",)) == "2G"
