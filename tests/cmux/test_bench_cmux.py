"""The `cmux` benchmark runs at a tiny size and returns its figures (never asserts on speed)."""

from __future__ import annotations

import math

from tools.bench import bench_cmux, suites
from tools.bench.registry import BENCHES


def test_cmux_bench_is_registered_and_gives_its_figures() -> None:
    assert suites is not None and "cmux" in BENCHES
    figures = bench_cmux.run(n=10, rounds=1, total=50_000)
    assert [f.name for f in figures] == [
        "cmux codec encode", "cmux codec decode", "cmux pty throughput raw",
        "cmux pty throughput DLCI 1 (N1 127)", "cmux throughput mux / raw", "cmux AT rtt plain median",
        "cmux AT rtt on DLCI 1 median", "cmux added latency (median)", "cmux AT samples per side"]
    assert all(not math.isnan(f.value) and f.unit for f in figures)
