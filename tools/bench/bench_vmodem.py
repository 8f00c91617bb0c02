"""The virtual modem's own figures (issue 3): AT round trip over a real pty, and how many virtual
modems one process can serve. `python -m tools.bench vmodem`.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from tools.bench.registry import Figure, info


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_rtt(n: int = 200) -> dict[str, Any]:
    """Median and p99 of `AT` -> `OK` in ms, pyserial over a real pty, instant timing profile."""
    import serial

    from modem.emulator.modem import VirtualModem
    from runtime import RealLoop
    from runtime.pty import PtyEndpoint

    loop = RealLoop(seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = PtyEndpoint(loop, link=str(Path(tmp) / "modem"))
        modem = VirtualModem(loop, endpoint.stream, profile="instant")
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        samples: list[float] = []
        try:
            with serial.Serial(endpoint.client_path, 115200, timeout=2) as port:
                port.write(b"ATE0\r")
                answer = b""
                while not answer.endswith(b"OK\r\n"):  # echo off before timing anything
                    chunk = port.read(port.in_waiting or 1)
                    if not chunk:
                        raise TimeoutError(f"no OK to ATE0 from the virtual modem: {answer!r}")
                    answer += chunk
                for _ in range(n):
                    t0 = time.perf_counter()
                    port.write(b"AT\r")
                    buf = b""
                    while not buf.endswith(b"OK\r\n"):
                        chunk = port.read(port.in_waiting or 1)
                        if not chunk:
                            raise TimeoutError(f"no OK from the virtual modem: {buf!r}")
                        buf += chunk
                    samples.append((time.perf_counter() - t0) * 1000)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            modem.close()
            endpoint.close()
            loop.close()
    return {
        "n": n,
        "median_ms": round(statistics.median(samples), 3),
        "p99_ms": round(_percentile(samples, 0.99), 3),
        "max_ms": round(max(samples), 3),
    }


def max_modems(sample: int = 200, duration: float = 2.0, poll_interval: float = 1.0) -> dict[str, Any]:
    """How many virtual modems one process can serve: closed-loop `AT` traffic over in-memory pipes.

    `sample` modems run on one RealLoop; each host answers every OK with the next AT for `duration`
    seconds. The command rate the process sustains, times `poll_interval` (one command per modem
    per interval, a busy unit), estimates how many modems it could serve; memory per modem comes
    from tracemalloc. Ptys are capped separately by the kernel (about 4,000 per process).
    """
    from modem.emulator.modem import VirtualModem
    from modem.emulator.network import VirtualNetwork
    from runtime import RealLoop, pipe_pair

    loop = RealLoop(seed=1)
    network = VirtualNetwork(loop)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    modems = []
    hosts = []
    done = [0]
    for i in range(sample):
        host, dev = pipe_pair(loop, name=f"bench{i}")
        modems.append(VirtualModem(loop, dev, network, number=f"+4477009{i:05d}", profile="instant"))
        hosts.append(host)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_modem = sum(s.size_diff for s in after.compare_to(before, "filename")) / sample

    def make_handler(host: Any) -> Any:
        buf = bytearray()

        def on_data(data: bytes) -> None:
            buf.extend(data)
            if buf.endswith(b"OK\r\n"):
                buf.clear()
                done[0] += 1
                host.write(b"AT\r")

        return on_data

    for host in hosts:
        host.set_handlers(make_handler(host))
        host.write(b"ATE0\r")
    loop.run(until=loop.time() + 0.2)
    done[0] = 0
    t0 = time.perf_counter()
    loop.run(until=loop.time() + duration)
    elapsed = time.perf_counter() - t0
    rate = done[0] / elapsed
    for modem in modems:
        modem.close()
    loop.close()
    return {
        "sample_modems": sample,
        "commands_per_s": round(rate),
        "est_max_modems": int(rate * poll_interval),
        "poll_interval_s": poll_interval,
        "bytes_per_modem": int(per_modem),
    }


def run() -> list[Figure]:
    rtt = measure_rtt(200)
    fleet = max_modems()
    return [
        info("vmodem AT->OK over a pty, median", rtt["median_ms"], "ms"),
        info("vmodem AT->OK over a pty, p99", rtt["p99_ms"], "ms"),
        info("vmodem commands/s, one process (pipes)", fleet["commands_per_s"], "cmd/s"),
        info("vmodem modems served, each polled 1/s", fleet["est_max_modems"], "modems"),
        info("vmodem memory per modem", fleet["bytes_per_modem"] / 1024, "KiB"),
    ]
