"""`tcu profile new|check|decode` (issue 14): from a DBC to a working profile, checked against a
recorded drive — and a trace of the virtual car decodes to the metric sequence the unit saw live."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from can_bus import load_profile, open_bus
from can_bus.car import VirtualCar
from can_bus.car.control import request
from can_bus.ingest import CanIngest
from can_bus.memory import frame_link
from can_bus.port import CanPort
from can_bus.record import Recorder
from runtime import Loop, RealLoop, VirtualLoop
from tcu.cli import main
from tcu.profile_cli import decode_trace

DEMO = load_profile("demo-ev")
REPO = Path(__file__).parents[2]
TCU = [sys.executable, "-m", "tcu.cli"]
VCAR = [sys.executable, "-m", "can_bus.car.cli"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(list(argv))
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


class TeePort(CanPort):
    """What `vcar record` does between a bus and a reader: every frame the unit gets is written."""

    def __init__(self, inner: CanPort, recorder: Recorder) -> None:
        super().__init__()
        self.name = f"tee:{inner.name}"
        self.inner = inner
        self.recorder = recorder
        self.first: float | None = None  # timestamp of the first frame
        inner.set_handler(self._frame, self._error)

    def _frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        if self.first is None:
            self.first = timestamp
        self.recorder.write(arbitration_id, data, timestamp)
        self._deliver(arbitration_id, data, timestamp)

    def send(self, arbitration_id: int, data: bytes) -> None:
        self.inner.send(arbitration_id, data)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


# -- check / new ------------------------------------------------------------------------------------
def test_check_lists_what_maps_to_what_and_warns_on_likely_unmapped_signals(tmp_path: Path) -> None:
    code, out, _ = run("profile", "check", "demo-ev")
    assert code == 0 and "v.b.soc                <- BMS_Pack.SOC (float, round 1) [%]" in out
    assert "commands: lock, unlock" in out and out.rstrip().endswith("ok")
    shutil.copy(DEMO.path / "demo_ev.dbc", tmp_path / "car.dbc")
    (tmp_path / "profile.toml").write_text('dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "BMS_Pack.PackVoltage" }\n')
    code, out, _ = run("profile", "check", str(tmp_path))
    assert code == 0 and "BMS_Pack.SOC  (looks like v.b.soc)" in out and "Odometer.Odometer  (looks like v.p.odometer)" in out


def test_check_of_a_broken_profile_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    shutil.copy(DEMO.path / "demo_ev.dbc", tmp_path / "car.dbc")
    (tmp_path / "profile.toml").write_text('dbc = "car.dbc"\n[metrics]\n"v.b.soc" = { signal = "BMS_Pack.SOC", rnd = 1 }\n')
    code, out, err = run("profile", "check", str(tmp_path))
    assert code == 1 and out == ""
    assert err.startswith("tcu profile check: ") and "did you mean 'round'" in err and "Traceback" not in err


def test_new_writes_a_skeleton_that_loads_and_checks(tmp_path: Path) -> None:
    dbc = REPO / "can_bus/profiles/demo-ev/demo_ev.dbc"
    target = tmp_path / "my-car"
    proc = subprocess.run([*TCU, "profile", "new", "--dbc", str(dbc), "--out", str(target)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (target / "profile.toml").read_text()
    assert '"v.b.soc" = { signal = "BMS_Pack.SOC"' in text and "# guess" in text
    assert (target / "demo_ev.dbc").is_file()
    code, out, _ = run("profile", "check", str(target))
    assert code == 0 and "v.p.odometer" in out
    code, _, err = run("profile", "new", "--dbc", str(dbc), "--out", str(target))
    assert code == 2 and "not overwritten" in err


def test_new_on_a_dbc_that_needs_the_repair_pass(tmp_path: Path) -> None:
    dbc = tmp_path / "sloppy.dbc"
    dbc.write_text('VERSION ""\nBS_:\nBU_: ECU\nBO_ 256 BMS: 8 ECU\n SG_ Pack_Voltage : 0|16@1+ (.1,0) [0|0] "V" ECU\n'
                   'CM_ 256 "pack";\n')
    code, out, err = run("profile", "new", "--dbc", str(dbc), "--out", str(tmp_path / "p"))
    assert code == 0 and "tolerant" in err
    text = (tmp_path / "p" / "profile.toml").read_text()
    assert "tolerant = true" in text and '"v.b.voltage" = { signal = "BMS.Pack_Voltage"' in text
    code, out, _ = run("profile", "check", str(tmp_path / "p"))
    assert code == 0 and "leading-dot" in out and "comment-bare-id" in out


# -- decode -----------------------------------------------------------------------------------------
def drive_and_record(loop: Loop, path: Path) -> list[tuple[float, str, object]]:
    """The virtual car drives, then charges; the unit's CAN side (CanIngest) reads it through a
    recorder. Returns what the unit saw live: (seconds since its first frame, metric, value)."""
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, DEMO, rate=0.2)
    recorder = Recorder(loop, None, path)
    tee = TeePort(unit_port, recorder)
    seen: list[tuple[float, str, object]] = []

    def on_metrics(updates: list[tuple[str, object]]) -> None:
        assert tee.first is not None
        seen.extend((ingest.last_frame - tee.first, m, v) for m, v in updates)

    ingest = CanIngest(loop, tee, DEMO, on_metrics, poll=False)
    car.do("drive", minutes=2)
    loop.run(until=loop.time() + 150)
    car.do("plug", kind="ac")
    loop.run(until=loop.time() + 60)
    ingest.close()
    recorder.close()
    return seen


@pytest.mark.parametrize("suffix", [".log", ".asc", ".blf"])
def test_decode_reproduces_the_metric_sequence_the_unit_saw(tmp_path: Path, suffix: str) -> None:
    trace = tmp_path / f"drive{suffix}"
    live = drive_and_record(VirtualLoop(seed=3), trace)
    assert len(live) > 200 and any(m == "v.p.speed" and v > 10 for _, m, v in live)  # type: ignore[operator]
    events, stats = decode_trace(DEMO, trace)
    assert [(e.metric, e.value) for e in events] == [(m, v) for _, m, v in live]
    assert all(abs(e.time - t) < 2e-3 for e, (t, _, _) in zip(events, live, strict=True))
    assert stats["malformed"] == 0


def test_decode_cli_timeline_csv_and_filters(tmp_path: Path) -> None:
    trace = tmp_path / "drive.log"
    live = drive_and_record(VirtualLoop(seed=4), trace)
    code, out, err = run("profile", "decode", "demo-ev", str(trace), "--csv", "--metrics", "v.p.speed,v.b.soc")
    assert code == 0 and "frames decoded" in err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["time_s", "metric", "value"]
    assert [(r[1], r[2]) for r in rows[1:]] == [(m, str(v)) for _, m, v in live if m in ("v.p.speed", "v.b.soc")]
    code, out, _ = run("profile", "decode", "demo-ev", str(trace))
    assert code == 0 and " s  v.b.soc " in out and " %" in out
    assert run("profile", "decode", "demo-ev", str(tmp_path / "nope.log"))[0] == 2


def test_decode_plot_without_matplotlib_is_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "drive.log"
    drive_and_record(VirtualLoop(seed=5), trace)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = run("profile", "decode", "demo-ev", str(trace), "--plot", str(tmp_path / "p.png"))
    assert code == 2 and "matplotlib" in err and "plot" in err and out == ""


def test_decode_plot_draws_the_main_metrics(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the optional 'plot' extra
    trace = tmp_path / "drive.log"
    drive_and_record(VirtualLoop(seed=6), trace)
    png = tmp_path / "drive.png"
    code, _, err = run("profile", "decode", "demo-ev", str(trace), "--plot", str(png))
    assert code == 0 and "plot written" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


# -- end to end: the processes a user runs ------------------------------------------------------------
@pytest.fixture
def vcar_serve(tmp_path: Path):
    link, ctl = str(tmp_path / "vcar"), str(tmp_path / "vcar.ctl")
    proc = subprocess.Popen([*VCAR, "serve", "--link", link, "--control", ctl, "--profile", "demo-ev",
                             "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while not (os.path.exists(link) and os.path.exists(ctl)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"vcar serve did not start: {err.decode()[-2000:]}")
        time.sleep(0.05)
    yield link, ctl
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_live_unit_over_slcan_and_tcu_profile_decode_agree(tmp_path: Path, vcar_serve: tuple[str, str]) -> None:
    """`vcar serve` on a pty; the unit's CAN side reads it over SLCAN (as `tcu run --can slcan:...`)
    through the recorder `vcar record` uses; `tcu profile decode` of that trace (a separate process,
    as the README tells a user to run it) prints the very metric sequence the unit saw live."""
    link, ctl = vcar_serve
    loop = RealLoop()
    trace = tmp_path / "live.log"
    recorder = Recorder(loop, None, trace)
    tee = TeePort(open_bus(f"slcan:{link}", loop), recorder)
    live: list[tuple[str, object]] = []
    ingest = CanIngest(loop, tee, DEMO, live.extend, poll=False)
    try:
        assert request(ctl, {"cmd": "do", "event": "drive", "args": {"minutes": 5}}) == {"ok": True}
        deadline = loop.time() + 15
        while loop.time() < deadline and not any(m == "v.p.speed" and v > 5 for m, v in live):  # type: ignore[operator]
            loop.run(until=loop.time() + 0.1)
        loop.run(until=loop.time() + 1.0)
    finally:
        ingest.close()
        recorder.close()
        loop.close()
    assert any(m == "v.p.speed" and v > 5 for m, v in live), live[-10:]  # type: ignore[operator]
    proc = subprocess.run([*TCU, "profile", "decode", "demo-ev", str(trace), "--csv"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))[1:]
    assert [(r[1], r[2]) for r in rows] == [(m, str(v)) for m, v in live]


def test_vcar_record_trace_decodes_as_the_unit_replaying_it_sees_it(tmp_path: Path,
                                                                    vcar_serve: tuple[str, str]) -> None:
    """`vcar record` (the command) records the car; `tcu profile decode` and the unit's CAN side on
    a `replay:` bus of that trace give the same metric sequence, and it is the drive that happened."""
    link, ctl = vcar_serve
    assert request(ctl, {"cmd": "do", "event": "drive", "args": {"minutes": 5}}) == {"ok": True}
    trace = tmp_path / "rec.blf"
    proc = subprocess.run([*VCAR, "record", "--bus", f"slcan:{link}", "--out", str(trace), "--duration", "4"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "frames to" in proc.stdout, proc.stderr
    proc = subprocess.run([*TCU, "profile", "decode", "demo-ev", str(trace), "--csv"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    decoded = [(r[1], r[2]) for r in list(csv.reader(io.StringIO(proc.stdout)))[1:]]
    loop = VirtualLoop()
    seen: list[tuple[str, object]] = []
    ingest = CanIngest(loop, open_bus(f"replay:{trace}", loop), DEMO, seen.extend, poll=False)
    loop.run(until=60)
    ingest.close()
    assert decoded == [(m, str(v)) for m, v in seen]
    values = dict(seen)
    assert values["v.vin"] == "TCUSIM0DEMO000001" and values["v.e.on"] is True and float(values["v.p.speed"]) > 0  # type: ignore[arg-type]
