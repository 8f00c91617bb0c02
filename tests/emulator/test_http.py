"""The bearer (AT+SAPBR, AT+CGACT) and the HTTP application (AT+HTTP*) on the virtual clock."""

from __future__ import annotations

import re

import pytest

from modem.emulator.http_codec import encode_response
from runtime import Stream
from tests.emulator.rig import Rig


class HttpServer:
    """A one-request-per-connection HTTP server on the virtual loop that records the requests."""

    def __init__(self, rig: Rig, port: int = 8080, *, status: int = 200, body: bytes = b"hello world",
                 chunked: bool = False, raw: bytes | None = None, close_early: bool = False) -> None:  # fmt: skip
        self.requests: list[bytes] = []
        self.status, self.body, self.chunked, self.raw, self.close_early = status, body, chunked, raw, close_early
        self.listener = rig.loop.listen_tcp("127.0.0.1", port, self._accept)

    def _accept(self, stream: Stream) -> None:
        buf = bytearray()

        def on_data(data: bytes) -> None:
            buf.extend(data)
            head, sep, body = bytes(buf).partition(b"\r\n\r\n")
            if not sep:
                return
            mo = re.search(rb"Content-Length: (\d+)", head)
            if mo and len(body) < int(mo.group(1)):
                return
            self.requests.append(bytes(buf))
            if self.close_early:
                stream.close()
                return
            reply = self.raw or encode_response(
                self.status, "OK", [("Content-Type", "text/plain")], self.body, chunked=self.chunked
            )
            stream.write(reply)
            stream.close()

        stream.set_handlers(on_data)


@pytest.fixture
def r() -> Rig:
    rig = Rig()
    rig.at("ATE0")
    return rig


def bearer_up(r: Rig) -> str:
    assert r.at('AT+SAPBR=3,1,"Contype","GPRS"') == "\r\nOK\r\n"
    assert r.at('AT+SAPBR=3,1,"APN","internet"') == "\r\nOK\r\n"
    assert r.at("AT+SAPBR=2,1") == '\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert r.at("AT+SAPBR=1,1") == "\r\nOK\r\n"
    mo = re.fullmatch(r'\r\n\+SAPBR: 1,1,"(10\.\d+\.\d+\.\d+)"\r\n\r\nOK\r\n', r.at("AT+SAPBR=2,1"))
    assert mo
    return mo.group(1)


def action(r: Rig, method: int) -> str:
    """AT+HTTPACTION: OK at once, then the +HTTPACTION URC; returns the URC line."""
    out = r.at(f"AT+HTTPACTION={method}") + r.run(1)
    assert out.startswith("\r\nOK\r\n"), out
    return out[len("\r\nOK\r\n") :]


def test_sapbr_parameters_open_query_close(r: Rig) -> None:
    assert r.at("AT+SAPBR=?") == '\r\n+SAPBR: (0-4),(1-3),"ConParamTag","ConParamValue"\r\n\r\nOK\r\n'
    bearer_up(r)
    assert r.at("AT+SAPBR=4,1") == (
        "\r\n+SAPBR:\r\nCONTYPE: GPRS\r\nAPN: internet\r\nUSER: \r\nPWD: \r\nPHONENUM: \r\nRATE: 2\r\n\r\nOK\r\n"
    )
    assert r.at("AT+SAPBR=1,1") == "\r\nERROR\r\n"  # already open
    assert r.at("AT+CIPSTATUS") == "\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"  # the CIP stack is separate
    assert r.at("AT+SAPBR=0,1") == "\r\nOK\r\n"
    assert r.at("AT+SAPBR=2,1") == '\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert r.at("AT+SAPBR=0,1") == "\r\nERROR\r\n"  # not open
    assert r.at('AT+SAPBR=3,1,"BOGUS","x"') == "\r\nERROR\r\n"
    assert r.at('AT+SAPBR=3,1,"Contype","WIFI"') == "\r\nERROR\r\n"
    assert r.at("AT+SAPBR=2,4") == "\r\nERROR\r\n"
    assert r.at("AT+SAPBR=5,1") == "\r\nERROR\r\n"
    assert r.at("AT+SAPBR=2") == "\r\nERROR\r\n"


def test_sapbr_fails_without_gprs_and_reports_deact(r: Rig) -> None:
    r.modem.fault("gprs-down")
    assert r.at("AT+SAPBR=1,1") == "\r\nERROR\r\n"
    r.modem.clear_faults()
    bearer_up(r)
    r.modem.fault("gprs-down")
    assert r.run(0.1) == "\r\n+SAPBR 1: DEACT\r\n"
    assert r.at("AT+SAPBR=2,1") == '\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'


def test_cgact(r: Rig) -> None:
    assert r.at("AT+CGACT=?") == "\r\n+CGACT: (0,1)\r\n\r\nOK\r\n"
    assert r.at("AT+CGACT?") == "\r\n+CGACT: 1,0\r\n\r\nOK\r\n"
    assert r.at("AT+CGACT=1,1") == "\r\nOK\r\n"
    assert r.at("AT+CGACT?") == "\r\n+CGACT: 1,1\r\n\r\nOK\r\n"
    assert r.at("AT+CGACT=0,1") == "\r\nOK\r\n"
    assert r.at("AT+CGACT=1,9") == "\r\nERROR\r\n"
    r.at("AT+CMEE=1")
    r.modem.fault("gprs-down")
    assert r.at("AT+CGACT=1,1") == "\r\n+CME ERROR: 148\r\n"


def test_http_get(r: Rig) -> None:
    srv = HttpServer(r, body=b'{"ok": true}')
    bearer_up(r)
    assert r.at("AT+HTTPINIT") == "\r\nOK\r\n"
    assert r.at("AT+HTTPINIT") == "\r\nERROR\r\n"
    assert r.at('AT+HTTPPARA="CID",1') == "\r\nOK\r\n"
    assert r.at('AT+HTTPPARA="URL","http://127.0.0.1:8080/status?x=1"') == "\r\nOK\r\n"
    assert action(r, 0) == "\r\n+HTTPACTION: 0,200,12\r\n"
    assert srv.requests[0].startswith(b"GET /status?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert r.at("AT+HTTPREAD") == '\r\n+HTTPREAD: 12\r\n{"ok": true}\r\n\r\nOK\r\n'
    assert r.at("AT+HTTPREAD=2,4") == '\r\n+HTTPREAD: 4\r\nok":\r\n\r\nOK\r\n'
    head = r.at("AT+HTTPHEAD")
    assert head.startswith("\r\n+HTTPHEAD: ") and "Content-Type: text/plain\r\n" in head
    assert r.at("AT+HTTPSTATUS?") == "\r\n+HTTPSTATUS: GET,0,12,0\r\n\r\nOK\r\n"
    assert r.at("AT+HTTPTERM") == "\r\nOK\r\n"
    assert r.at("AT+HTTPTERM") == "\r\nERROR\r\n"
    assert r.at("AT+HTTPREAD") == "\r\nERROR\r\n"


def test_http_post_with_httpdata(r: Rig) -> None:
    srv = HttpServer(r, status=201, body=b"")
    bearer_up(r)
    r.at("AT+HTTPINIT")
    r.at('AT+HTTPPARA="URL","127.0.0.1:8080/up"')
    r.at('AT+HTTPPARA="CONTENT","application/json"')
    r.at('AT+HTTPPARA="USERDATA","X-Car: DEMO1"')
    assert r.at("AT+HTTPDATA=11,10000") == "\r\nDOWNLOAD\r\n"
    assert r.send(b'{"soc": 80}') == "\r\nOK\r\n"  # not echoed
    assert action(r, 1) == "\r\n+HTTPACTION: 1,201,0\r\n"
    req = srv.requests[0]
    assert req.startswith(b"POST /up HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in req and b"\r\nX-Car: DEMO1\r\n" in req
    assert req.endswith(b'\r\n\r\n{"soc": 80}')


def test_httpdata_time_runs_out(r: Rig) -> None:
    bearer_up(r)
    r.at("AT+HTTPINIT")
    assert r.at("AT+HTTPDATA=100,1000") == "\r\nDOWNLOAD\r\n"
    assert r.send(b"abc", wait=0.5) == ""
    assert r.run(0.6) == "\r\nOK\r\n"
    assert r.at("AT") == "\r\nOK\r\n"
    assert r.modem.interp.http is not None and r.modem.interp.http.data == b"abc"


def test_http_head_and_chunked(r: Rig) -> None:
    HttpServer(r, body=b"0123456789abcdef", chunked=True)
    bearer_up(r)
    r.at("AT+HTTPINIT")
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8080/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,200,16\r\n"
    assert r.at("AT+HTTPREAD") == "\r\n+HTTPREAD: 16\r\n0123456789abcdef\r\n\r\nOK\r\n"
    assert action(r, 2) == "\r\n+HTTPACTION: 2,200,0\r\n"


def test_http_error_statuses(r: Rig) -> None:
    r.at("AT+HTTPINIT")
    assert r.at("AT+HTTPACTION=0") == "\r\nERROR\r\n"  # no URL
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8080/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"  # bearer not open
    bearer_up(r)
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"  # nobody listens
    r.at('AT+HTTPPARA="URL","http://exa mple/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,603,0\r\n"  # not a URL
    r.at('AT+HTTPPARA="URL","https://127.0.0.1:8080/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"  # TLS is not emulated
    HttpServer(r, 8081, raw=b"SSH-2.0-OpenSSH\r\n\r\n")
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8081/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"  # not HTTP
    HttpServer(r, 8082, close_early=True)
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8082/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"  # closed with no answer
    HttpServer(r, 8083, status=404, body=b"no")
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8083/"')
    assert action(r, 0) == "\r\n+HTTPACTION: 0,404,2\r\n"
    assert r.at("AT+HTTPACTION=3") == "\r\nERROR\r\n"
    assert r.at('AT+HTTPPARA="NOPE","1"') == "\r\nERROR\r\n"
    assert r.at('AT+HTTPPARA="TIMEOUT",5') == "\r\nERROR\r\n"


def test_http_stall_times_out(r: Rig) -> None:
    HttpServer(r)
    bearer_up(r)
    r.at("AT+HTTPINIT")
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8080/"')
    r.at('AT+HTTPPARA="TIMEOUT",30')
    r.modem.fault("stall")
    assert r.at("AT+HTTPACTION=0") == "\r\nOK\r\n"
    assert r.run(29) == ""
    assert r.at("AT+HTTPACTION=0") == "\r\nERROR\r\n"  # busy
    assert r.run(2) == "\r\n+HTTPACTION: 0,601,0\r\n"


def test_http_commands_need_httpinit(r: Rig) -> None:
    for line in ('AT+HTTPPARA="URL","x"', "AT+HTTPACTION=0", "AT+HTTPREAD", "AT+HTTPHEAD", "AT+HTTPDATA=1,1000"):
        assert r.at(line) == "\r\nERROR\r\n", line


def test_reboot_ends_http_and_bearer(r: Rig) -> None:
    HttpServer(r)
    bearer_up(r)
    r.at("AT+HTTPINIT")
    r.modem.fault("reboot")
    r.run(0.1)
    r.at("ATE0")
    assert r.at("AT+SAPBR=2,1") == '\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert r.at("AT+HTTPINIT") == "\r\nOK\r\n"


def test_gprs_loss_and_network_faults_end_a_request_with_601(r: Rig) -> None:
    HttpServer(r)
    bearer_up(r)
    r.at("AT+HTTPINIT")
    r.at('AT+HTTPPARA="URL","http://127.0.0.1:8080/"')
    r.modem.fault("tcp-refused")
    assert action(r, 0) == "\r\n+HTTPACTION: 0,601,0\r\n"
    r.modem.clear_faults()
    r.modem.fault("tcp-unreachable")
    r.at('AT+HTTPPARA="TIMEOUT",30')
    assert r.at("AT+HTTPACTION=0") + r.run(29) == "\r\nOK\r\n"
    assert r.run(2) == "\r\n+HTTPACTION: 0,601,0\r\n"
    r.modem.clear_faults()
    r.modem.fault("stall")
    assert r.at("AT+HTTPACTION=0") == "\r\nOK\r\n"
    r.modem.fault("gprs-down")
    assert r.run(0.1) == "\r\n+SAPBR 1: DEACT\r\n\r\n+HTTPACTION: 0,601,0\r\n"
