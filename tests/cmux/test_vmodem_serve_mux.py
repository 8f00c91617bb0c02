"""Through the front door: `vmodem serve --log-mux` as the README says, a raw pyserial client that
switches to CMUX and speaks 07.10 frames, the frame trace, and `vmodem fault mux-reboot`."""

from __future__ import annotations

import time
from pathlib import Path

import serial

from modem.cmux.frame import Frame, FrameDecoder, FrameType, Junk
from tests.emulator.realrig import VmodemServe


def read_until(port: serial.Serial, dec: FrameDecoder, want: bytes, seconds: float = 5.0) -> tuple[bytes, bytes]:
    """(data of UIH frames on DLCI 1, junk) until `want` is in one of them."""
    data = junk = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and want not in data and want not in junk:
        for item in dec.feed(port.read(256)):
            if isinstance(item, Junk):
                junk += item.data
            elif item.type is FrameType.UIH and item.dlci == 1:
                data += item.info
    return data, junk


def test_serve_with_log_mux_a_raw_client_speaks_frames(tmp_path: Path) -> None:
    with VmodemServe(tmp_path, "--log-mux", "--timing", "instant") as vm:
        vm.wait_ready(timeout=60)
        assert vm.pty is not None
        with serial.Serial(vm.pty, 115200, timeout=0.05) as port:
            port.write(b"ATE0\r")
            time.sleep(0.3)
            port.reset_input_buffer()
            port.write(b"AT+CMUX=0\r")
            answer = b""
            deadline = time.monotonic() + 3
            while b"OK\r\n" not in answer and time.monotonic() < deadline:
                answer += port.read(64)
            assert answer == b"\r\nOK\r\n"
            dec = FrameDecoder(n1=127)
            port.write(bytes.fromhex("F9 03 3F 01 1C F9"))  # SABM DLCI 0
            port.write(Frame(1, FrameType.SABM, pf=True).encode())
            port.write(Frame(1, FrameType.UIH, b"AT+CGMM\r").encode())
            data, _ = read_until(port, dec, b"OK\r\n")
            assert data == b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
            r = vm.tool("fault", "list")
            assert "mux-corrupt" in r.stdout and "mux-reboot" in r.stdout, r.stdout
            r = vm.tool("fault", "mux-reboot")
            assert r.returncode == 0, r.stderr
            _, junk = read_until(port, dec, b"RDY", seconds=30)
            assert b"RDY" in junk  # the rebooted modem talks plain AT
    log = (tmp_path / "vmodem.log").read_text()
    assert "mux rx DLCI 0 SABM P/F len 0 FCS ok" in log
    assert "mux tx DLCI 1 UIH len" in log
