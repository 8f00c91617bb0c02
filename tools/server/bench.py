"""Server benchmark: many cars on loopback, each sending a status every 10 s; some apps watch.

    python -m tools.server.bench [N_CARS] [SECONDS] [--no-freeze-gc]

Everything (server, cars, apps) runs in one process on one RealLoop over real loopback sockets, so the
latency figure includes the car's and the app's own encryption work: an upper bound for the server.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from runtime import RealLoop
from tcu.ovms import messages as m
from tcu.ovms.car_client import CarSession
from tcu.ovms.car_link import CarLink
from tools.app.client import AppClient

from .core import OvmsServer

STATUS_PERIOD = 10.0     # issue 8: each car sends a status every 10 s
PASSWORD = "bench-password"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_server(n_cars: int = 1000, seconds: float = 30.0, watchers: int = 50,
                 connect_spread: float = 3.0, seed: int = 1, freeze_gc: bool = True) -> dict:
    """Connect `n_cars`, let them report for `seconds`, measure car→app latency on `watchers` cars.

    `freeze_gc`: after the fleet has connected, move every object then alive (mostly the 1,000 simulated
    cars' own sessions, which a real server would not hold) out of the cyclic GC's reach. Without it,
    full collections over the co-located clients (~100 ms each here) dominate the p99.
    """
    loop = RealLoop(seed=seed)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        server = OvmsServer(loop, Path(tmp) / "bench.db", "127.0.0.1", 0)
        server.db.execute("BEGIN")
        for i in range(n_cars):
            server.add_vehicle(f"B{i:05d}", PASSWORD)
        server.db.execute("COMMIT")
        port = server.port

        cars: list[CarLink] = []
        metrics: list[dict] = []
        sent: dict[tuple[str, int], float] = {}
        latencies: list[float] = []
        measuring = [False]

        def report(i: int) -> None:
            link = cars[i]
            if link.session.logged_in:
                seq = int(metrics[i]["v.b.range.est"]) + 1
                metrics[i]["v.b.range.est"] = seq
                if measuring[0] and i < watchers:
                    sent[(link.session.vehicle_id, seq)] = time.perf_counter()
                link.tick(force=True)
            loop.call_later(STATUS_PERIOD, report, i)

        def start_car(i: int) -> None:
            vid = f"B{i:05d}"
            metrics.append({"v.b.soc": 50 + i % 50, "v.b.range.est": 0, "v.e.locked": True})
            session = CarSession(vid, PASSWORD, random.Random(rng.random()), loop.time())
            data = metrics[i]
            link = CarLink(loop, "127.0.0.1", port, session, lambda d=data: d)
            cars.append(link)
            link.connect()
            loop.call_later(1.0 + rng.random() * STATUS_PERIOD, report, i)

        def on_app_message(app: AppClient, msg: m.Message) -> None:
            if isinstance(msg, m.Status):
                t0 = sent.pop((app.conn.vehicle_id, int(msg.est_range or 0)), None)
                if t0 is not None:
                    latencies.append(time.perf_counter() - t0)

        t_start = time.perf_counter()
        for i in range(n_cars):
            loop.call_later(connect_spread * i / max(1, n_cars), start_car, i)
        apps = []
        for i in range(min(watchers, n_cars)):
            app = AppClient(loop, "127.0.0.1", port, f"B{i:05d}", PASSWORD, rng=random.Random(i),
                            on_message=on_app_message)
            apps.append(app)
            loop.call_later(connect_spread + 0.5, app.connect)
        deadline = time.perf_counter() + connect_spread + 30.0
        while server.car_count() < n_cars and time.perf_counter() < deadline:
            loop.run_for(0.1)
        connect_seconds = time.perf_counter() - t_start
        loop.run_for(1.0)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        in0 = server.stats["messages_in"]
        measuring[0] = True
        t0 = time.perf_counter()
        loop.run_for(seconds)
        elapsed = time.perf_counter() - t0
        msgs = server.stats["messages_in"] - in0
        connected = server.car_count()
        for link in cars:
            link.close()
        for app in apps:
            app.close()
        server.close()
        loop.close()
        if freeze_gc:
            gc.unfreeze()
    return {
        "cars_connected": connected,
        "cars_wanted": n_cars,
        "gc_frozen_after_connect": freeze_gc,
        "connect_seconds": round(connect_seconds, 2),
        "msgs_per_s": round(msgs / elapsed, 1),
        "latency_samples": len(latencies),
        "p50_car_to_app_ms": None if not latencies else round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_car_to_app_ms": None if not latencies else round(_percentile(latencies, 0.99) * 1000, 2),
    }


if __name__ == "__main__":
    pos = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(pos[0]) if pos else 1000
    s = float(pos[1]) if len(pos) > 1 else 30.0
    freeze = "--no-freeze-gc" not in sys.argv
    print(json.dumps(bench_server(n, s, freeze_gc=freeze), indent=2))
