"""Multi-connection TCP and HTTP through the front door: `vmodem serve` as the README starts it.

A fresh `vmodem serve` process at its default (realistic) timing, a raw AT client over pyserial on
the pty it prints once `vmodem: ready`, real loopback servers in threads (echo servers, and the
standard library's `http.server`). The client here is a deliberately plain one written for this
test, not the unit's driver: it reads the modem's bytes as the manual describes them.
"""

from __future__ import annotations

import http.server
import re
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from tests.emulator.realrig import VMODEM, VmodemServe

pytestmark = pytest.mark.timeout(180)


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_ports() -> Iterator[tuple[int, int]]:
    servers = [_Echo(("127.0.0.1", 0), _EchoHandler) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield servers[0].server_address[1], servers[1].server_address[1]
    for s in servers:
        s.shutdown()
        s.server_close()


BODY = b"hello from http.server\n" * 40


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HttpHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class AtClient:
    """A raw AT client: writes lines, reads the modem's output as lines, prompts and data blocks."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.buf = b""
        self.received: dict[int, bytearray] = {}  # link -> bytes pushed with +RECEIVE
        self.urcs: list[str] = []

    def _fill(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; unparsed {self.buf[:200]!r}; urcs {self.urcs[-10:]}")
        self.buf += self.port.read(65536)

    def next_item(self, deadline: float) -> str:
        """The next line or '> ' prompt; a +RECEIVE push is collected and returned as its header."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            if self.buf.startswith(b"> "):
                self.buf = self.buf[2:]
                return "> "
            mo = re.match(rb"\+RECEIVE,(\d),(\d+):\r\n", self.buf)
            if mo:
                n, length = int(mo.group(1)), int(mo.group(2))
                if len(self.buf) >= mo.end() + length:
                    self.received.setdefault(n, bytearray()).extend(self.buf[mo.end() : mo.end() + length])
                    self.buf = self.buf[mo.end() + length :]
                    return f"+RECEIVE,{n},{length}:"
            elif b"\r\n" in self.buf and not self.buf.startswith(b"+RECEIVE"):
                line, self.buf = self.buf.split(b"\r\n", 1)
                return line.decode("latin-1")
            self._fill(deadline)

    def take(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def wait(self, pattern: str, timeout: float = 30.0) -> str:
        """Read items until one matches `pattern` (a regex); others are kept as URCs."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.next_item(deadline)
            if re.fullmatch(pattern, item):
                return item
            self.urcs.append(item)

    def cmd(self, line: str, final: str = "OK", timeout: float = 30.0) -> str:
        self.port.write(line.encode() + b"\r")
        return self.wait(final, timeout)

    def close(self) -> None:
        self.port.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `vmodem serve` for the module (booting at realistic timing takes seconds); yields its pty."""
    with VmodemServe(tmp_path_factory.mktemp("vmodem")) as proc:
        yield proc.wait_ready()


@pytest.fixture
def modem(served: str) -> Iterator[AtClient]:
    client = AtClient(served)
    try:
        client.cmd("ATE0")
        yield client
    finally:
        client.close()


def payload(size: int, salt: int) -> bytes:
    return bytes(0x20 + (i * 7 + salt) % 95 for i in range(size))


def bring_up_multi(c: AtClient) -> None:
    c.cmd("AT+CIPMUX=1")
    c.cmd('AT+CSTT="internet"')
    c.cmd("AT+CIICR", timeout=60)
    c.cmd("AT+CIFSR", final=r"\d+\.\d+\.\d+\.\d+")


def send(c: AtClient, n: int, data: bytes) -> None:
    for i in range(0, len(data), 1460):
        piece = data[i : i + 1460]
        c.cmd(f"AT+CIPSEND={n},{len(piece)}", final="> ")
        c.port.write(piece)
        c.wait(f"{n}, SEND OK")


def test_two_links_pushed_and_ciprxget(modem: AtClient, echo_ports: tuple[int, int]) -> None:
    c = modem
    c.cmd("AT+CIPSHUT", final="SHUT OK")
    bring_up_multi(c)
    for n, port in enumerate(echo_ports):
        c.cmd(f'AT+CIPSTART={n},"TCP","127.0.0.1",{port}')
        c.wait(f"{n}, CONNECT OK")
    # Pushed: +RECEIVE,<n>,<len>: with the echo of each send.
    for size in (100, 5000):
        want = {0: payload(size, 1), 1: payload(size, 2)}
        c.received.clear()
        send(c, 0, want[0])
        send(c, 1, want[1])
        deadline = time.monotonic() + 30
        while any(len(c.received.get(n, b"")) < size for n in want):
            c.urcs.append(c.next_item(deadline))
        assert {n: bytes(b) for n, b in c.received.items()} == want
    status = c.cmd("AT+CIPSTATUS", final=r'C: 1,0,"TCP","127\.0\.0\.1","\d+","CONNECTED"')
    assert "STATE: IP PROCESSING" in c.urcs
    # CIPRXGET: the other receive style, after the bearer is set up again.
    c.cmd("AT+CIPSHUT", final="SHUT OK")
    c.cmd("AT+CIPRXGET=1")
    bring_up_multi(c)
    for n, port in enumerate(echo_ports):
        c.cmd(f'AT+CIPSTART={n},"TCP","127.0.0.1",{port}')
        c.wait(f"{n}, CONNECT OK")
    for size in (100, 5000):
        want = {0: payload(size, 3), 1: payload(size, 4)}
        got: dict[int, bytearray] = {0: bytearray(), 1: bytearray()}
        send(c, 0, want[0])
        send(c, 1, want[1])
        deadline = time.monotonic() + 30
        while any(len(got[n]) < size for n in want):
            for n in want:
                c.port.write(f"AT+CIPRXGET=2,{n},1460\r".encode())
                head = c.wait(rf"\+CIPRXGET: 2,{n},\d+,\d+")
                length = int(head.split(",")[2])
                got[n] += c.take(length, deadline)  # right after the header line's CR LF
                c.wait("OK")
            if time.monotonic() > deadline:
                raise AssertionError(f"CIPRXGET read only {[len(g) for g in got.values()]} of {size}")
        assert {n: bytes(b) for n, b in got.items()} == want
    assert "+CIPRXGET: 1,0" in c.urcs and "+CIPRXGET: 1,1" in c.urcs
    assert c.cmd("AT+CIPCLOSE=1", final="1, CLOSE OK") and status


def test_http_get_over_the_sapbr_bearer(modem: AtClient, http_port: int) -> None:
    c = modem
    c.cmd('AT+SAPBR=3,1,"Contype","GPRS"')
    c.cmd('AT+SAPBR=3,1,"APN","internet"')
    c.cmd("AT+SAPBR=1,1", timeout=60)
    assert re.fullmatch(r'\+SAPBR: 1,1,"10\.\d+\.\d+\.\d+"', c.cmd("AT+SAPBR=2,1", final=r"\+SAPBR: .*"))
    c.wait("OK")
    c.cmd("AT+HTTPINIT")
    c.cmd('AT+HTTPPARA="CID",1')
    c.cmd(f'AT+HTTPPARA="URL","http://127.0.0.1:{http_port}/status"')
    c.cmd("AT+HTTPACTION=0")
    assert c.wait(r"\+HTTPACTION: .*") == f"+HTTPACTION: 0,200,{len(BODY)}"
    c.port.write(b"AT+HTTPREAD\r")
    assert c.wait(r"\+HTTPREAD: \d+") == f"+HTTPREAD: {len(BODY)}"
    deadline = time.monotonic() + 10
    assert c.take(len(BODY), deadline) == BODY
    c.wait("OK")
    c.cmd("AT+HTTPTERM")
    c.cmd("AT+SAPBR=0,1")


def test_unknown_dialect_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [VMODEM, "serve", "--link", str(tmp_path / "m"), "--dialect", "sim9000"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2
    assert "sim9000" in run.stderr and "sim800" in run.stderr
