"""Each benchmark runs at a tiny size and returns the figures it promises. Never asserts on speed."""

from __future__ import annotations

import math
import sys

import pytest

from tools.bench import bench_at, bench_can, bench_footprint, bench_server, bench_sim, suites
from tools.bench.registry import BENCHES, Figure

FAKE_UNIT = """
import os, sys, time
path = open(sys.argv[1]).read().split('modem = "')[1].split('"')[0]
fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
os.write(fd, b"AT\\r")
time.sleep(5)
"""


def _names(figures: list[Figure]) -> list[str]:
    for f in figures:
        assert isinstance(f, Figure)
        assert isinstance(f.value, float | int) and not math.isnan(f.value), f
        assert f.unit
        assert f.met is None or f.goal  # a verdict always comes with its goal
    return [f.name for f in figures]


def test_every_benchmark_is_registered() -> None:
    assert suites is not None
    assert {"can-ingest", "sim-speed", "at-rtt", "server", "footprint"} <= set(BENCHES)


def test_can_ingest_figures() -> None:
    names = _names(bench_can.measure("demo-ev", n_frames=2000, repeats=1, drive_seconds=5.0))
    assert names == ["can-ingest demo-ev", "can-ingest demo-ev decoder only", "can-ingest demo-ev via Unit (car's frames)",
                     "can-ingest demo-ev cantools",
                     "can-ingest demo-ev ratio to cantools", "can-ingest demo-ev x a full 1M bus",
                     "can-ingest demo-ev frames mapped"]
    goals = {f.name: f.goal for f in bench_can.measure("demo-ev", n_frames=500, repeats=1, drive_seconds=2.0)}
    assert goals["can-ingest demo-ev"] == ">= 300,000"
    assert goals["can-ingest demo-ev ratio to cantools"] == ">= 2"


def test_at_rtt_figures() -> None:
    figures = bench_at.run(n=8, rounds=2, warm=1)
    names = _names(figures)
    assert names == ["at-rtt ours median", "at-rtt ours p99", "at-rtt bare pyserial median",
                     "at-rtt bare pyserial p99", "at-rtt median ours / bare", "at-rtt samples per side"]
    assert figures[-1].value == 8
    assert figures[4].goal == "<= 2"


def test_server_figures() -> None:
    figures = bench_server.run(n_cars=6, n_apps=2, seconds=0.6, burst_seconds=0.3)
    by_name = {f.name: f for f in figures}
    assert by_name["server cars connected at once"].value == 6
    assert by_name["server apps watching"].value == 2
    assert by_name["server p99 car->app (status/10 s)"].goal == "<= 50"
    assert len(_names([f for f in figures if not math.isnan(f.value)])) >= 8


def test_fd_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    soft = bench_server.raise_fd_limit()
    assert soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= 1024


def test_first_at_times_a_process_that_writes_at_on_the_pty() -> None:
    seconds, rss = bench_footprint.first_at(timeout=10, command=(sys.executable, "-c", FAKE_UNIT, ))
    assert 0 < seconds < 10
    assert rss["VmRSS"] > 0


def test_first_at_reports_a_unit_that_never_speaks() -> None:
    with pytest.raises(RuntimeError, match="no AT command"):
        bench_footprint.first_at(timeout=1, command=(sys.executable, "-c", "import sys; sys.exit(3)"))


def test_import_time_and_rss() -> None:
    assert bench_footprint.import_seconds("runtime", repeats=1) > 0
    assert bench_footprint.rss_kb()["VmRSS"] > 0


def test_sim_world_runs_and_reports_rates(tmp_path) -> None:
    r = bench_sim.sim_rate(2, 10.0, warmup=40.0)
    assert r["units"] == 2 and r["rate"] > 0 and r["sim_seconds"] == 10.0
    assert r["online_at_end"] == 2  # both units logged into the shared server through their modems


def test_a_mixed_fleet_runs_both_dialects_end_to_end() -> None:
    """Issue 15's mixed fleet: every other unit's driver and virtual modem speak sim7600."""
    r = bench_sim.sim_rate(4, 10.0, warmup=60.0, dialects=bench_sim.MIXED)
    assert r["online_at_end"] == 4


def test_drive_one_unit_reads_can_frames() -> None:
    out = bench_sim.drive_one_unit(30.0)
    assert out["can_frames"] > 100


def test_sim_speed_figures() -> None:
    figures = bench_sim.run(day=20.0, fleets=((2, 5.0, 1.0, bench_sim.SIM800, None),
                                              (3, 5.0, 0.1, bench_sim.SIM800, bench_sim.GOAL_THOUSAND)),
                            with_tcu_sim=False)
    fleet = ["", ": online at end", ": alerts raised", ": alerts lost", ": alerts stored twice"]
    assert _names(figures) == (["sim-speed 1 unit, 24 h harsh, DBC rates", "sim-speed 1 unit, wall time for that day"]
                               + [f"sim-speed 2 units{f}" for f in fleet]
                               + [f"sim-speed 3 units, CAN x0.1{f}" for f in fleet])
    goals = {f.name: f.goal for f in figures}
    assert goals["sim-speed 1 unit, 24 h harsh, DBC rates"] == ">= 10,000"
    assert goals["sim-speed 2 units"] == "" and goals["sim-speed 3 units, CAN x0.1"] == ">= 20"
    assert goals["sim-speed 3 units, CAN x0.1: alerts lost"] == "<= 0"
    assert (1000, 900.0, 0.1, bench_sim.SIM800, bench_sim.GOAL_THOUSAND) in bench_sim.FLEETS


def test_a_fleet_counts_its_alerts_at_the_server_after_the_drain() -> None:
    """Break-ins during the timed window raise critical alerts; after the drain each is stored once."""
    r = bench_sim.sim_rate(3, 120.0, warmup=60.0, weather=None, drain=300.0)
    assert r["alerts_raised"] >= 1
    assert r["alerts_delivered"] == r["alerts_raised"]
    assert r["alerts_lost"] == 0 and r["alerts_duplicates"] == 0 and r["alerts_queued"] == 0


def test_fleet_days_are_phase_shifted() -> None:
    from runtime import VirtualLoop

    loop = VirtualLoop()
    seen: list[tuple[float, str]] = []

    class Car:
        def do(self, event: str, **kw: object) -> None:
            seen.append((loop.time(), event))

    bench_sim.schedule_day(loop, Car(), "day", phase=9.5 * 3600)
    loop.run()
    assert seen[0] == (0.0, "unlock")          # 09:30 of the car's day is the window's start
    assert all(0 <= t < bench_sim.DAY for t, _ in seen)
    assert len(seen) == 9


def test_record_drive_writes_a_candump_log_python_can_reads(tmp_path) -> None:
    import can

    path = str(tmp_path / "drive.log")
    frames = bench_footprint.record_drive(path, seconds=2.0)
    assert frames > 50
    read = list(can.LogReader(path))
    assert len(read) == frames
    assert read[0].timestamp > 1.7e9  # calendar time, as a recorder writes it


def test_end_of_trace_count_is_read_from_the_unit_log(tmp_path) -> None:
    log = tmp_path / "tcu.log"
    log.write_text("x INFO can_bus.replay: replay:drive.log: end of trace after 374400 frames\n")
    assert bench_footprint._end_of_trace(str(log)) == 374400
    assert bench_footprint._end_of_trace(str(tmp_path / "missing.log")) is None
