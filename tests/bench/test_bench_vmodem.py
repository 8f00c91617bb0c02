"""The benchmark helpers run and return sane figures (the figures themselves come from tools/bench)."""

from __future__ import annotations

from tools.bench.bench_vmodem import max_modems, measure_rtt


def test_measure_rtt_small() -> None:
    result = measure_rtt(20)
    assert result["n"] == 20 and 0 < result["median_ms"] <= result["p99_ms"] < 1000


def test_max_modems_small() -> None:
    result = max_modems(sample=10, duration=0.2)
    assert result["commands_per_s"] > 100 and result["bytes_per_modem"] > 0
