"""Ready means ready: `vmodem serve` as a tester runs it, and a client that starts at once.

By default the pty appears only once the modem has booted and registered, so a client that opens
it the moment its path is printed gets answers at once and never sees boot URCs. `--cold-boot`
shows the boot to whoever opened the pty; `vmodem wait` blocks until booted or registered. Both
modems boot in parallel at default (realistic) timing.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from tests.emulator.realrig import VMODEM, VmodemServe

BOOT_URCS = ("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready")


def read_for(port: serial.Serial, seconds: float, until: bytes | None = None) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until in out):
        out += port.read(256)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VmodemServe, VmodemServe, serial.Serial]]:
    """Both modems, and a port opened on the cold-booting one as soon as its path is printed."""
    default = VmodemServe(tmp_path_factory.mktemp("default"))
    cold = VmodemServe(tmp_path_factory.mktemp("cold"), "--cold-boot")
    with default, cold:
        cold.wait_for("vmodem: pty ", timeout=10)
        assert cold.pty is not None
        with serial.Serial(cold.pty, 115200, timeout=0.05) as port:
            yield default, cold, port


def test_default_client_opens_the_pty_the_moment_it_is_printed(
    pair: tuple[VmodemServe, VmodemServe, serial.Serial],
) -> None:
    vm, _, _ = pair
    vm.wait_for("vmodem: pty ", timeout=60)
    assert vm.pty is not None
    with serial.Serial(vm.pty, 115200, timeout=0.05) as port:
        port.write(b"AT\r")
        answer = read_for(port, 1.0, until=b"OK\r\n")
        assert answer == b"AT\r\r\nOK\r\n"  # echo, OK; no RDY/SMS Ready left over from the boot
        port.write(b"ATE0;+CREG?;+CPMS?\r")
        answer = read_for(port, 1.0, until=b"OK\r\n")
        assert b"+CREG: 0,1" in answer and answer.endswith(b"\r\nOK\r\n")
        assert not any(urc.encode() in answer for urc in BOOT_URCS)
    vm.wait_for("vmodem: ready", timeout=5)
    assert vm.lines[:2] == [f"vmodem: pty {vm.link}", f"vmodem: control {vm.control}"]
    r = vm.tool("wait", "--timeout", "1")
    assert (r.returncode, r.stdout.strip()) == (0, "vmodem: registered")


def test_cold_boot_shows_the_boot_and_wait_blocks_until_it_is_over(
    pair: tuple[VmodemServe, VmodemServe, serial.Serial],
) -> None:
    _, vm, port = pair
    # The port has been open since the path was printed, before RDY.
    booted = vm.tool("wait", "--until", "booted", "--timeout", "30", timeout=40)
    assert booted.returncode == 0, booted.stderr
    seen = read_for(port, 1.0, until=b"SMS Ready\r\n").decode()
    assert [u for u in BOOT_URCS if f"\r\n{u}\r\n" in seen] == list(BOOT_URCS), seen
    registered = vm.tool("wait", "--timeout", "30", timeout=40)
    assert registered.returncode == 0, registered.stderr
    vm.wait_for("vmodem: ready", timeout=5)
    # A fault-driven reboot later is a real boot for the client that stays connected.
    assert vm.tool("fault", "reboot").returncode == 0
    seen = read_for(port, 15.0, until=b"SMS Ready\r\n").decode()
    assert [u for u in BOOT_URCS if f"\r\n{u}\r\n" in seen] == list(BOOT_URCS), seen


def test_wait_gives_up_with_a_message(tmp_path: Path) -> None:
    r = subprocess.run(
        [VMODEM, "wait", "--control", str(tmp_path / "nobody.ctl"), "--timeout", "0.5"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert r.returncode == 1 and "not registered after 0.5 s" in r.stderr
