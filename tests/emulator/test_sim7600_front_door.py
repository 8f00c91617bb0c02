"""The sim7600 dialect through the front door: `vmodem serve --dialect sim7600` as the README starts it.

A fresh `vmodem serve` process at its default (realistic) timing, a raw AT client over pyserial on the
pty it prints at `vmodem: ready`, two real loopback echo servers. The client is written for this test
from the SIM7600 manual's response forms (it shares nothing with the unit's driver): NETOPEN, two
CIPOPEN links, 100 B and 5,000 B each way on each link, received pushed (`RECV FROM:` + `+IPD`) and
read with CIPRXGET; then an LTE fault injected with `vmodem fault` and recovered with a mode toggle.
"""

from __future__ import annotations

import re
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from tests.emulator.realrig import VMODEM, ServedModem, VmodemServe

pytestmark = pytest.mark.timeout(180)

CHUNK = 1500  # AT+CIPSEND=<link>,<len>: at most 1500 bytes


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
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield servers[0].server_address[1], servers[1].server_address[1]
    for s in servers:
        s.shutdown()
        s.server_close()


class Sim7600Client:
    """Lines, the `>` prompt, and pushed data (`RECV FROM:<ip>:<port>` `+IPD<len>` <data>) by peer port."""

    PUSH = re.compile(rb"RECV FROM:[\d.]+:(\d+)\r\n\+IPD(\d+)\r\n")

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.buf = b""
        self.received: dict[int, bytearray] = {}  # peer port -> bytes pushed
        self.urcs: list[str] = []

    def _fill(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; unparsed {self.buf[:200]!r}; urcs {self.urcs[-10:]}")
        self.buf += self.port.read(65536)

    def next_item(self, deadline: float) -> str:
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            if self.buf.startswith(b">"):
                self.buf = self.buf[1:]
                return ">"
            mo = self.PUSH.match(self.buf)
            if mo:
                peer, length = int(mo.group(1)), int(mo.group(2))
                if len(self.buf) >= mo.end() + length:
                    self.received.setdefault(peer, bytearray()).extend(self.buf[mo.end() : mo.end() + length])
                    self.buf = self.buf[mo.end() + length :]
                    return f"+IPD{length}"
            elif b"\r\n" in self.buf and not self.buf.startswith(b"RECV FROM"):
                line, self.buf = self.buf.split(b"\r\n", 1)
                return line.decode("latin-1")
            self._fill(deadline)

    def take(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def wait(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            item = self.next_item(deadline)
            if re.fullmatch(pattern, item):
                return item
            self.urcs.append(item)

    def cmd(self, line: str, final: str = "OK", timeout: float = 30.0) -> str:
        self.port.write(line.encode() + b"\r")
        return self.wait(final, timeout)


def payload(size: int, salt: int) -> bytes:
    return bytes(0x20 + (i * 7 + salt) % 95 for i in range(size))


def send(c: Sim7600Client, link: int, data: bytes) -> None:
    for i in range(0, len(data), CHUNK):
        piece = data[i : i + CHUNK]
        c.cmd(f"AT+CIPSEND={link},{len(piece)}", final=">")
        c.port.write(piece)
        c.wait("OK")
        assert c.wait(rf"\+CIPSEND: {link},\d+,\d+") == f"+CIPSEND: {link},{len(piece)},{len(piece)}"


def test_two_links_both_receive_styles_and_a_rat_fault(tmp_path_factory: pytest.TempPathFactory,
                                                        echo_ports: tuple[int, int]) -> None:  # fmt: skip
    with VmodemServe(tmp_path_factory.mktemp("vmodem7600"), "--dialect", "sim7600") as vm:
        c = Sim7600Client(vm.wait_ready())
        try:
            c.cmd("ATE0")
            assert c.cmd("AT+CGMM", final="SIMCOM_.*") == "SIMCOM_SIM7600E-H"
            c.cmd('AT+CGDCONT=1,"IP","internet"')
            c.cmd("AT+CSOCKSETPN=1")
            c.cmd("AT+CIPMODE=0")
            c.cmd("AT+CIPSRIP=1")
            c.cmd("AT+NETOPEN")
            assert c.wait(r"\+NETOPEN: \d+", timeout=60) == "+NETOPEN: 0"
            assert re.fullmatch(r"\+IPADDR: 10\.\d+\.\d+\.\d+", c.cmd("AT+IPADDR", final=r"\+IPADDR: .*"))
            c.wait("OK")
            for link, port in enumerate(echo_ports):
                c.cmd(f'AT+CIPOPEN={link},"TCP","127.0.0.1",{port}')
                assert c.wait(rf"\+CIPOPEN: {link},\d+", timeout=60) == f"+CIPOPEN: {link},0"
            # Pushed: RECV FROM + +IPD with the echo of each send.
            for size in (100, 5000):
                want = {echo_ports[0]: payload(size, 1), echo_ports[1]: payload(size, 2)}
                c.received.clear()
                send(c, 0, want[echo_ports[0]])
                send(c, 1, want[echo_ports[1]])
                deadline = time.monotonic() + 30
                while any(len(c.received.get(p, b"")) < size for p in want):
                    c.urcs.append(c.next_item(deadline))
                assert {p: bytes(b) for p, b in c.received.items()} == want
            # Read on request: +CIPRXGET: 1,<link>, then AT+CIPRXGET=2,<link>,<len>.
            c.cmd("AT+CIPRXGET=1")
            for size in (100, 5000):
                want_by_link = {0: payload(size, 3), 1: payload(size, 4)}
                got: dict[int, bytearray] = {0: bytearray(), 1: bytearray()}
                send(c, 0, want_by_link[0])
                send(c, 1, want_by_link[1])
                deadline = time.monotonic() + 30
                while any(len(got[n]) < size for n in got):
                    for n in got:
                        c.port.write(f"AT+CIPRXGET=4,{n}\r".encode())
                        left = int(c.wait(rf"\+CIPRXGET: 4,{n},\d+").split(",")[2])
                        c.wait("OK")
                        if not left:
                            continue
                        c.port.write(f"AT+CIPRXGET=2,{n},1500\r".encode())
                        head = c.wait(rf"\+CIPRXGET: 2,{n},\d+,\d+")
                        got[n] += c.take(int(head.split(",")[2]), deadline)
                        c.wait("OK")
                    if time.monotonic() > deadline:
                        raise AssertionError(f"CIPRXGET read only {[len(g) for g in got.values()]} of {size}")
                assert {n: bytes(b) for n, b in got.items()} == want_by_link
            assert "+CIPRXGET: 1,0" in c.urcs and "+CIPRXGET: 1,1" in c.urcs
            c.cmd("AT+CIPCLOSE=1")
            assert c.wait(r"\+CIPCLOSE: 1,\d+") == "+CIPCLOSE: 1,0"
            # An LTE fault from the command line: the module ends up on GSM and stays there ...
            fault = vm.tool("fault", "rat-fallback-2g", "--for", "1")
            assert fault.returncode == 0, fault.stderr
            c.wait("\\+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
            deadline = time.monotonic() + 30
            while not c.cmd("AT+CPSI?", final=r"\+CPSI: .*").startswith("+CPSI: GSM,Online"):
                assert time.monotonic() < deadline, c.urcs[-5:]
                time.sleep(0.5)
            time.sleep(1.5)
            assert c.cmd("AT+CPSI?", final=r"\+CPSI: .*").startswith("+CPSI: GSM,Online")
            # ... until a mode toggle.
            c.cmd("AT+CNMP=2")
            deadline = time.monotonic() + 30
            while not c.cmd("AT+CPSI?", final=r"\+CPSI: .*").startswith("+CPSI: LTE,Online"):
                assert time.monotonic() < deadline, c.urcs[-5:]
                time.sleep(0.5)
        finally:
            c.port.close()


def test_vmodem_fault_lists_and_refuses_per_dialect(tmp_path: Path) -> None:
    """`vmodem fault` (the command line) against a served sim800: no LTE kinds listed, one refused."""
    with ServedModem(tmp_path) as served:

        def tool(*args: str) -> subprocess.CompletedProcess[str]:
            cmd = [VMODEM, "fault", "--control", served.control_path, *args]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=15)

        refused = tool("netopen-fail")
        assert refused.returncode == 1
        assert "netopen-fail" in refused.stderr and "sim800" in refused.stderr
        listed = tool("list")
        assert listed.returncode == 0
        assert "no-coverage" in listed.stdout and "netopen-fail" not in listed.stdout
