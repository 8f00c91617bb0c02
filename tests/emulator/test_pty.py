"""End to end over a real pty with pyserial, on the real clock; control over the UNIX socket."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from modem.control_client import ControlClient, ControlError
from modem.emulator import cli
from tests.emulator.realrig import ServedModem


def read_until(port: serial.Serial, token: bytes, timeout: float = 3.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf and time.monotonic() < deadline:
        buf += port.read(port.in_waiting or 1)
    return buf


def command(port: serial.Serial, line: str, token: bytes = b"OK\r\n") -> bytes:
    port.reset_input_buffer()
    port.write(line.encode() + b"\r")
    return read_until(port, token)


@pytest.fixture
def served(tmp_path: Path):
    with ServedModem(tmp_path) as s:
        yield s


def test_at_over_pty(served: ServedModem) -> None:
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        assert command(port, "ATE0").endswith(b"\r\nOK\r\n")
        assert command(port, "AT+CGMM") == b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
        assert command(port, "AT+CREG?;+CSQ").startswith(b"\r\n+CREG: 0,1\r\n\r\n+CSQ: ")
        assert command(port, "AT+CIPSTATUS", b"STATE: IP INITIAL\r\n").endswith(b"STATE: IP INITIAL\r\n")
    # The client closes and a new one opens the same link.
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        assert command(port, "AT") == b"\r\nOK\r\n"


def test_sms_both_ways_over_pty_and_control(served: ServedModem) -> None:
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        command(port, "ATE0;+CMGF=1;+CNMI=2,2")
        assert served.client.sms("+447700900123", "STAT") is True
        got = read_until(port, b"STAT\r\n")
        assert b'+CMT: "+447700900123"' in got
        port.write(b'AT+CMGS="+447700900123"\r')
        assert read_until(port, b"> ").endswith(b"> ")
        port.write(b"OK: 80% 120km\x1a")
        assert b"+CMGS: 1" in read_until(port, b"OK\r\n")
    outbox = served.client.outbox()
    assert [(s["to"], s["text"]) for s in outbox] == [("+447700900123", "OK: 80% 120km")]


def test_faults_and_power_over_control(served: ServedModem) -> None:
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        command(port, "ATE0")
        served.client.fault("no-coverage", 30)
        assert served.client.status()["faults"]["no-coverage"] <= 30
        assert command(port, "AT+CREG?") == b"\r\n+CREG: 0,2\r\n\r\nOK\r\n"
        assert served.client.clear_faults() == ["no-coverage"]
        with pytest.raises(ControlError):
            served.client.fault("meteor")
        served.client.fault("brownout")
        assert b"UNDER-VOLTAGE POWER DOWN" in read_until(port, b"POWER DOWN\r\n")
        assert served.client.power_key() is True
        assert b"SMS Ready" in read_until(port, b"SMS Ready\r\n")


def test_cli_serve_and_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = str(tmp_path / "vm")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modem.emulator.cli",
            "serve",
            "--link",
            link,
            "--timing",
            "instant",
            "--seed",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.strip() == f"vmodem: pty {link}"
        ctl = second.split("control ", 1)[1].strip()
        assert ctl == link + ".ctl"
        assert cli.main(["sms", "--control", ctl, "--from", "+447700900123", "STAT"]) == 0
        assert cli.main(["fault", "--control", ctl, "stall", "--for", "60"]) == 0
        assert cli.main(["status", "--control", ctl]) == 0
        out = capsys.readouterr().out
        status = json.loads(out[out.index("{") :])
        assert status["faults"] == {"stall": pytest.approx(60, abs=5)} and status["sms"]["SM"] == 1
        assert cli.main(["fault", "--control", ctl, "clear"]) == 0
        assert cli.main(["outbox", "--control", ctl, "--json"]) == 0
        assert cli.main(["power-key", "--control", ctl]) == 0
        assert "powered off" in capsys.readouterr().out
        assert ControlClient(ctl).power_key() is True
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert cli.main(["status", "--control", str(tmp_path / "nothing.ctl")]) == 1


def test_client_disconnects_mid_prompt(served: ServedModem) -> None:
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        command(port, "ATE0;+CMGF=1")
        port.write(b'AT+CMGS="+447700900123"\r')
        assert read_until(port, b"> ").endswith(b"> ")
        port.write(b"half a messa")
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        port.write(b"\x1b")  # what a careful client sends first: leave any prompt
        assert read_until(port, b"OK\r\n").endswith(b"OK\r\n")
        assert command(port, "AT") == b"\r\nOK\r\n"
    assert served.client.outbox() == []


def test_transcript_is_logged(served: ServedModem, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="modem.emulator.transcript")
    with serial.Serial(served.path, 115200, timeout=0.05) as port:
        command(port, "ATE0;+CGMI")
    text = caplog.text
    assert "-> ATE0;+CGMI" in text and "SIMCOM_Ltd" in text


def test_cli_rejects_unknown_weather(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--profile", "monsoon"]) == 2
    assert "monsoon" in capsys.readouterr().err
