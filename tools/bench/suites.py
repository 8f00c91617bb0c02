"""The benchmarks of issue 8, registered by name for `python -m tools.bench`.

Each benchmark's module is imported when it runs, not here: a component that is broken or missing
fails its own benchmark, never the whole run.
"""

from __future__ import annotations

from tools.bench.registry import Figure, bench


@bench("can-ingest")
def can_ingest() -> list[Figure]:
    from tools.bench import bench_can
    return bench_can.run()


@bench("sim-speed")
def sim_speed() -> list[Figure]:
    from tools.bench import bench_sim
    return bench_sim.run()


@bench("at-rtt")
def at_rtt() -> list[Figure]:
    from tools.bench import bench_at
    return bench_at.run()


@bench("server")
def server() -> list[Figure]:
    from tools.bench import bench_server
    return bench_server.run()


@bench("footprint")
def footprint() -> list[Figure]:
    from tools.bench import bench_footprint
    return bench_footprint.run()


@bench("vmodem")
def vmodem() -> list[Figure]:
    from tools.bench import bench_vmodem
    return bench_vmodem.run()


@bench("cmux")
def cmux() -> list[Figure]:
    from tools.bench import bench_cmux
    return bench_cmux.run()
