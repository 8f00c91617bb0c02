"""The benchmark entry point runs and reports its figures (no assertion on wall time)."""

from tools.server.bench import bench_server


def test_bench_server_smoke() -> None:
    result = bench_server(5, 0.5, watchers=2, connect_spread=0.1)
    assert result["cars_connected"] == 5
    assert set(result) >= {"msgs_per_s", "p99_car_to_app_ms", "latency_samples", "connect_seconds"}
