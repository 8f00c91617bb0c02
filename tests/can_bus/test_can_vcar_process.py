"""End to end between two processes: `vcar serve` on a pty, the unit's side via python-can slcan."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from can_bus import load_profile, open_bus
from can_bus.car.control import request
from can_bus.ingest import CanIngest
from runtime import RealLoop

DEMO = load_profile("demo-ev")


@pytest.fixture
def vcar(tmp_path: Path):
    link, ctl = str(tmp_path / "vcar"), str(tmp_path / "vcar.ctl")
    trace = tmp_path / "car.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "can_bus.car.cli", "serve", "--link", link, "--control", ctl,
         "--profile", "demo-ev", "--record", str(trace), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while not (os.path.exists(link) and os.path.exists(ctl)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"vcar serve did not start: {err.decode()[-2000:]}")
        time.sleep(0.05)
    yield link, ctl, trace, proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_until(loop: RealLoop, cond, timeout: float) -> bool:
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        loop.run(until=min(deadline, loop.time() + 0.05))
        if cond():
            return True
    return False


def test_unit_reads_and_commands_the_car_over_slcan_on_a_pty(vcar) -> None:
    link, ctl, trace, _ = vcar
    loop = RealLoop()
    port = open_bus(f"slcan:{link}", loop)
    metrics: dict = {}
    errors: list = []
    ingest = CanIngest(loop, port, DEMO, metrics.update, errors.append, poll=False)
    try:
        assert run_until(loop, lambda: "v.vin" in metrics and "v.e.locked" in metrics, 10)
        assert metrics["v.vin"] == "TCUSIM0DEMO000001" and metrics["v.e.locked"] is True

        # Steering through the control socket shows up on the bus.
        assert request(ctl, {"cmd": "do", "event": "drive", "args": {"minutes": 5}}) == {"ok": True}
        assert run_until(loop, lambda: metrics.get("v.p.speed", 0) > 1 and metrics.get("v.e.on"), 10)
        assert metrics["v.e.locked"] is False  # the driver unlocked it to get in

        # A command frame from the unit really locks the car.
        ingest.send_command("lock")
        assert run_until(loop, lambda: metrics.get("v.e.locked") is True, 10)

        # Garbage on the line to the adapter is answered with BEL and counted, never fatal.
        port.bus.serialPortOrig.write(b"hello world\rt12\rT1\r\x00\xff\xfe\r")
        ingest.send_command("climate_on")
        assert run_until(loop, lambda: metrics.get("v.e.hvac") is True, 10)
        status = request(ctl, {"cmd": "status"})
        assert status["ok"] and status["state"]["locked"] and status["state"]["hvac"]
        assert status["slcan"]["errors"] >= 3 and status["slcan"]["open"]
        assert any("command lock" in text for _, text in status["log"])
        assert request(ctl, {"cmd": "do", "event": "fly"})["ok"] is False
        assert request(ctl, {"cmd": "bogus"})["ok"] is False
    finally:
        ingest.close()
        loop.close()
    assert ingest.decoder.stats.malformed == 0


def test_vcar_cli_do_and_status(vcar) -> None:
    link, ctl, _, _ = vcar
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "can_bus.car.cli", "do", "--control", ctl, "plug", "kind=dc"],
                         capture_output=True, text=True, timeout=20, env=env)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "can_bus.car.cli", "status", "--control", ctl],
                         capture_output=True, text=True, timeout=20, env=env)
    assert out.returncode == 0 and '"plugged": "dc"' in out.stdout


def test_vcar_records_what_it_sends_and_the_trace_replays(vcar) -> None:
    from runtime import VirtualLoop

    link, ctl, trace, proc = vcar
    time.sleep(1.5)
    proc.terminate()
    proc.wait(timeout=10)
    assert trace.stat().st_size > 1000
    loop = VirtualLoop()
    port = open_bus(f"replay:{trace}", loop)
    decoder = DEMO.decoder()
    metrics: dict = {}
    port.set_handler(lambda i, d, t: metrics.update(decoder.feed(i, d)))
    loop.run()
    assert metrics["v.vin"] == "TCUSIM0DEMO000001" and port.stats.rx > 50
    assert decoder.stats.malformed == 0 and decoder.stats.unknown == 0
