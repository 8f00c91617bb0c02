"""`server`: the local OVMS v2 server under 1,000 cars at once on loopback, with apps watching.

How it is measured (two processes, one per core of this 2-core machine):
- the server: `tools.server.core.OvmsServer` on a `RealLoop` in a child process, SQLite in a temp
  directory, exactly what `tcu-server serve` runs;
- the load: in this process, one `RealLoop` holding every car and every app as real loopback TCP
  connections speaking the real protocol through the shipped client (`tools.app.client.AppClient`:
  HMAC-MD5 login, RC4 + base64 lines, ping answers). Each car logs in, then sends an `S` status every `interval` seconds at its own
  random phase (staggered, as 1,000 real cars would be); `n_apps` apps each watch one car.
- latency: a watched car's send time to the moment its app decodes the relayed `S` (same process,
  same monotonic clock), so it includes both event loops, the kernel and the server.
A second, shorter phase raises every car's rate tenfold to show how far the server is from its limit.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from ovms_v2 import messages as m
from runtime import RealLoop, Timer
from tools.app.client import AppClient
from tools.bench.registry import Figure, at_least, at_most, info

GOAL_CARS = 1000
GOAL_P99_MS = 50.0
PASSWORD = "bench-secret"

_CHILD = """
import json, sys
from runtime import RealLoop
from tools.server import store
from tools.server.core import OvmsServer
n, db = int(sys.argv[1]), sys.argv[2]
conn = store.open_db(db)
conn.execute("BEGIN")
for i in range(n):
    store.add_vehicle(conn, f"BENCH{i:05d}", sys.argv[3])
conn.execute("COMMIT")
loop = RealLoop(seed=1)
server = OvmsServer(loop, conn, "127.0.0.1", 0)
def command():
    line = sys.stdin.readline()
    if not line or line.strip() == "stop":
        loop.stop()
    elif line.strip() == "stats":
        cpu = sum(__import__("os").times()[:2])
        print(json.dumps({**server.stats, "cars": server.car_count(), "cpu": cpu}), flush=True)
loop.add_reader(sys.stdin, command)
print(server.port, flush=True)
loop.run()
server.close()
"""


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (each car and app is one fd here and one in the server)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 65536
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ServerProcess:
    def __init__(self, n_vehicles: int, directory: str) -> None:
        env = dict(os.environ, PYTHONHASHSEED="0")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(n_vehicles), os.path.join(directory, "server.db"), PASSWORD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            preexec_fn=raise_fd_limit)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            raise RuntimeError("the server process did not report its port")
        self.port = int(line)

    def stats(self) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Peer(AppClient):
    """One car or app: the shipped OVMS client (`tools.app.client.AppClient`) in either role."""

    def __init__(self, loop: RealLoop, role: str, vid: str, port: int,
                 on_message: Callable[[Peer, m.Message], None], on_login: Callable[[Peer], None]) -> None:
        super().__init__(loop, "127.0.0.1", port, vid, PASSWORD, role=role, rng=loop.random(f"{role}{vid}"),
                         on_message=lambda _client, msg: on_message(self, msg), on_state=self._state_changed, keepalive=None)
        self.vid = vid
        self.seq = 0
        self._on_login = on_login
        self.connect()

    @property
    def open(self) -> bool:
        return self.state == "open"

    @property
    def failed(self) -> str | None:
        # Our own close() at the end leaves no error; a failed login or a server close does.
        return self.error if self.state in ("failed", "closed") else None

    def _state_changed(self, _client: AppClient) -> None:
        if self.state == "open":
            self._on_login(self)

    def send(self, msg: m.Message | str) -> None:
        if self.open:  # a car the server dropped just stops sending; the figures count it
            super().send(msg)


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_server(n_cars: int = 1000, n_apps: int = 100, interval: float = 10.0, seconds: float = 40.0,
                 burst_seconds: float = 10.0, burst_factor: float = 10.0) -> dict:
    """Run the load against a fresh server process; return raw numbers (see `run` for figures)."""
    raise_fd_limit()
    loop = RealLoop(seed=8)
    rng = loop.random("bench-server")
    with tempfile.TemporaryDirectory(prefix="tcu-bench-") as tmp:
        server = ServerProcess(n_cars, tmp)
        try:
            return _drive(loop, rng, server, n_cars, n_apps, interval, seconds, burst_seconds, burst_factor)
        finally:
            server.close()
            loop.close()


def _drive(loop: RealLoop, rng, server: ServerProcess, n_cars: int, n_apps: int, interval: float,
           seconds: float, burst_seconds: float, burst_factor: float) -> dict:
    sent_at: dict[str, float] = {}           # watched vid -> time of its last unmatched S
    latencies: dict[str, list[float]] = {"steady": [], "burst": []}
    when: dict[str, list[float]] = {"steady": [], "burst": []}
    timers: dict[str, Timer] = {}
    phase = ["login"]
    sends = {"steady": 0, "burst": 0}
    watched = {f"BENCH{i:05d}" for i in range(0, n_cars, max(1, n_cars // max(1, n_apps)))}
    period = [interval]

    def car_message(peer: Peer, msg: m.Message) -> None:
        pass  # Z counts and pings (answered in Peer) only

    def app_message(peer: Peer, msg: m.Message) -> None:
        if isinstance(msg, m.Status):
            t = sent_at.pop(peer.vid, None)
            if t is not None and phase[0] in latencies:
                latencies[phase[0]].append(loop.time() - t)
                when[phase[0]].append(t)

    def car_send(car: Peer) -> None:
        if phase[0] == "done":
            return
        car.seq += 1
        payload = m.Status(soc=str(car.seq % 100), units="K", est_range=str(car.seq)).encode()
        if car.vid in watched:
            sent_at[car.vid] = loop.time()
        car.send(payload)
        if phase[0] in sends:
            sends[phase[0]] += 1
        timers[car.vid] = loop.call_later(period[0], car_send, car)

    def car_login(car: Peer) -> None:
        timers[car.vid] = loop.call_later(rng.uniform(0, period[0]), car_send, car)

    # Connect in waves (100 per 20 ms) so the accept backlog never overflows.
    cars: list[Peer] = []
    apps: list[Peer] = []
    t_connect = loop.time()
    for i in range(n_cars):
        vid = f"BENCH{i:05d}"
        loop.call_at(t_connect + (i // 100) * 0.02, lambda v=vid: cars.append(
            Peer(loop, "C", v, server.port, car_message, car_login)))
    for k, vid in enumerate(sorted(watched)):
        loop.call_at(t_connect + (n_cars // 100) * 0.02 + (k // 100) * 0.02, lambda v=vid: apps.append(
            Peer(loop, "A", v, server.port, app_message, lambda p: None)))
    deadline = loop.time() + 60.0
    while loop.time() < deadline:
        loop.run(until=loop.time() + 0.2)
        if len(cars) == n_cars and len(apps) == len(watched) and all(p.open or p.failed for p in cars + apps):
            break
    connect_s = loop.time() - t_connect
    cars_open = sum(p.open for p in cars)
    apps_open = sum(p.open for p in apps)

    phase[0] = "steady"
    s0, t0 = server.stats(), loop.time()
    loop.run(until=t0 + seconds)
    s1, t1 = server.stats(), loop.time()
    phase[0] = "burst"
    period[0] = interval / burst_factor
    for car in cars:  # re-stagger every car at the new rate at once
        timer = timers.get(car.vid)
        if timer is not None:
            timer.cancel()
            timers[car.vid] = loop.call_later(rng.uniform(0, period[0]), car_send, car)
    loop.run(until=t1 + burst_seconds)
    s2, t2 = server.stats(), loop.time()
    phase[0] = "done"
    cars_still = sum(p.open for p in cars)
    for p in cars + apps:
        p.close()
    loop.run(until=loop.time() + 0.2)
    return {
        "cars": cars_open, "apps": apps_open, "cars_at_end": cars_still, "connect_s": connect_s,
        "server_cars": s1["cars"],
        "steady_s": t1 - t0, "steady_sends": sends["steady"],
        "steady_in_per_s": (s1["messages_in"] - s0["messages_in"]) / (t1 - t0),
        "steady_out_per_s": (s1["messages_out"] - s0["messages_out"]) / (t1 - t0),
        "steady_cpu": (s1["cpu"] - s0["cpu"]) / (t1 - t0),
        "steady_latencies": latencies["steady"],
        "burst_s": t2 - t1, "burst_sends": sends["burst"],
        "burst_in_per_s": (s2["messages_in"] - s1["messages_in"]) / (t2 - t1),
        "burst_cpu": (s2["cpu"] - s1["cpu"]) / (t2 - t1),
        "burst_latencies": latencies["burst"],
        "steady_when": [t - t0 for t in when["steady"]],
        "failures": sorted({p.failed for p in cars + apps if p.failed})[:3],
    }


def run(n_cars: int = 1000, n_apps: int = 100, seconds: float = 30.0, burst_seconds: float = 10.0) -> list[Figure]:
    r = bench_server(n_cars, n_apps, seconds=seconds, burst_seconds=burst_seconds)
    steady, burst = r["steady_latencies"], r["burst_latencies"]
    figures = [
        at_least("server cars connected at once", r["server_cars"], "cars", GOAL_CARS),
        info("server apps watching", r["apps"], "apps"),
        info("server time to connect all", r["connect_s"], "s"),
        info("server messages in (status/10 s)", r["steady_in_per_s"], "msg/s"),
        info("server messages out to apps", r["steady_out_per_s"], "msg/s"),
        at_most("server p99 car->app (status/10 s)", _pct(steady, 0.99) * 1e3, "ms", GOAL_P99_MS),
        info("server median car->app (status/10 s)", _pct(steady, 0.5) * 1e3, "ms"),
        info("server CPU (status/10 s)", r["steady_cpu"] * 100, "% of a core"),
        info("server latency samples (status/10 s)", len(steady), "samples"),
        info("server messages in (status/1 s)", r["burst_in_per_s"], "msg/s"),
        info("server p99 car->app (status/1 s)", _pct(burst, 0.99) * 1e3, "ms"),
        info("server CPU (status/1 s)", r["burst_cpu"] * 100, "% of a core"),
    ]
    if r["failures"]:
        print(f"server: some connections failed: {r['failures']}", flush=True)
    return figures


if __name__ == "__main__":  # pragma: no cover
    t = time.time()
    for fig in run():
        print(fig.line())
    print(f"{time.time() - t:.1f} s")
