"""`footprint`: how fast the unit starts, how much memory it keeps, how long each package takes to import.

- Start-up: `tcu run --config FILE` in a fresh process with its modem on a pty that this process
  holds; the figure is the time from spawning the process to the first `AT` byte on the pty master
  (interpreter start, imports, config, SQLite, the loop: everything before the unit's first word).
- Memory: resident set (VmRSS / VmHWM from /proc) of `tcu run` (real clock, virtual modem on a pty,
  `can = replay:` an hour of the virtual car driving, recorded first and played 150x faster), after
  the whole hour has been ingested; and, for comparison, of one process holding the whole simulated
  world (car, unit, modem emulator, server) after an hour of driving on the virtual clock.
- Imports: each top-level package with every one of its modules, in a fresh interpreter, timed inside
  it (so the interpreter's own start-up is reported once, separately).
Children run with a bytecode cache (see `child_env`), as an installed unit does; the cold figures
(every module compiled from source) are printed beside them.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

from tools.bench.registry import Figure, at_most, info

PACKAGES = ("runtime", "can_bus", "modem", "tcu", "tools")
GOAL_RSS_MB = 60.0
GOAL_FIRST_AT_S = 1.0

_IMPORT_ALL = """
import importlib, pkgutil, sys, time
t = time.perf_counter()
pkg = importlib.import_module(sys.argv[1])
for mod in pkgutil.walk_packages(pkg.__path__, sys.argv[1] + "."):
    if not mod.name.endswith("__main__"):
        importlib.import_module(mod.name)
print(time.perf_counter() - t)
"""


PYCACHE = os.path.join(tempfile.gettempdir(), "tcu-bench-pycache")


def child_env(bytecode: bool = True) -> dict[str, str]:
    """The environment of a measured child process.

    bytecode=True: compiled modules cached (outside the source tree, in PYCACHE), as on an installed
    unit, where pip has compiled everything; this machine's shell sets PYTHONDONTWRITEBYTECODE, which
    would otherwise make every start-up compile every module from source. bytecode=False: no cache.
    """
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def import_seconds(package: str, repeats: int = 3, bytecode: bool = True) -> float:
    """Median seconds to import `package` and all its modules in a fresh interpreter."""
    samples = []
    env = child_env(bytecode)
    for k in range(repeats + (1 if bytecode else 0)):
        out = subprocess.run([sys.executable, "-c", _IMPORT_ALL, package], capture_output=True, text=True,
                             check=True, timeout=60, env=env)
        if bytecode and k == 0:
            continue  # the first run fills the bytecode cache
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def interpreter_seconds(repeats: int = 3) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=30, env=child_env())
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def rss_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


TCU_RUN = (sys.executable, "-m", "tcu.cli", "run", "--config")


def first_at(timeout: float = 15.0, command: tuple[str, ...] = TCU_RUN,
             bytecode: bool = True) -> tuple[float, dict[str, int]]:
    """Seconds from spawning `command CONFIG` (`tcu run`) to its first `AT` on a pty we hold; its RSS then."""
    from runtime.pty import open_raw_pty

    master, slave, path = open_raw_pty()
    tmp = tempfile.TemporaryDirectory(prefix="tcu-bench-run-")
    config = os.path.join(tmp.name, "tcu.toml")
    with open(config, "w") as fh:
        fh.write(
            f'vehicle_id = "BENCH"\nprofile = "demo-ev"\nowner = "+447700900123"\n'
            f'modem = "{path}"\nstate_dir = "{tmp.name}/state"\napn = "internet"\n'
            f'can = "virtual:tcu-bench"\n'
            f'[server]\nhost = "127.0.0.1:6867"\npassword = "bench-secret"\n')
    t0 = time.perf_counter()
    proc = subprocess.Popen([*command, config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=child_env(bytecode))
    seen = b""
    elapsed = None
    rss: dict[str, int] = {}
    try:
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                seen += os.read(master, 4096)
                if b"AT" in seen:
                    elapsed = time.perf_counter() - t0
                    rss = rss_kb(proc.pid)
                    break
            if proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        os.close(master)
        os.close(slave)
        tmp.cleanup()
    if elapsed is None:
        tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"tcu run wrote no AT command within {timeout:.0f} s "
                           f"(exit {proc.returncode}: {tail[0]})")
    return elapsed, rss


_DRIVE_HOUR = """
import json, sys
from tools.bench.bench_sim import drive_one_unit
from tools.bench.bench_footprint import rss_kb
info = drive_one_unit(float(sys.argv[1]))
print(json.dumps({**rss_kb(), **info}))
"""


def memory_after_driving(sim_seconds: float = 3600.0) -> dict:
    """RSS of a fresh process after `sim_seconds` of simulated driving (see bench_sim.drive_one_unit)."""
    out = subprocess.run([sys.executable, "-c", _DRIVE_HOUR, str(sim_seconds)], capture_output=True,
                         text=True, timeout=300, env=child_env())
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(tail[0])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(packages: tuple[str, ...] = PACKAGES, repeats: int = 3, drive_seconds: float = 3600.0,
        run_command: tuple[str, ...] = TCU_RUN, replay_speed: float = 150.0) -> list[Figure]:
    figures: list[Figure] = []
    try:
        first_at(command=run_command)  # fills the bytecode cache
        seconds, rss = first_at(command=run_command)
        figures.append(at_most("footprint tcu run start to first AT", seconds, "s", GOAL_FIRST_AT_S))
        figures.append(info("footprint tcu run RSS at first AT", rss.get("VmRSS", 0) / 1024, "MB"))
        cold, _ = first_at(command=run_command, bytecode=False)
        figures.append(info("footprint same, no bytecode cache", cold, "s"))
    except Exception as exc:
        print(f"footprint: tcu run start-up not measured: {exc}", flush=True)
    try:
        mem = rss_after_replayed_drive(drive_seconds, replay_speed)
        figures.append(at_most("footprint tcu run RSS after 1 h driving", mem["VmRSS"] / 1024, "MB", GOAL_RSS_MB))
        figures.append(info("footprint tcu run peak RSS (VmHWM)", mem["VmHWM"] / 1024, "MB"))
        print(f"footprint: {mem['what']} ({mem['frames']:,} frames, all ingested)", flush=True)
    except Exception as exc:
        print(f"footprint: tcu run after an hour of driving not measured: {exc}", flush=True)
    try:
        mem = memory_after_driving(drive_seconds)
        figures.append(info("footprint whole 1-unit world after 1 h", mem["VmRSS"] / 1024, "MB"))
        print(f"footprint: the whole world (car, unit, modem emulator, server) in one process, "
              f"an hour of driving on the virtual clock: {mem['can_frames']:,} frames", flush=True)
    except Exception as exc:
        print(f"footprint: memory of the simulated world not measured: {exc}", flush=True)
    figures.append(info("footprint python -c pass", interpreter_seconds(repeats) * 1e3, "ms"))
    for package in packages:
        figures.append(info(f"footprint import {package}", import_seconds(package, repeats) * 1e3, "ms"))
    for package in packages:
        figures.append(info(f"footprint import {package}, no bytecode cache",
                            import_seconds(package, 1, bytecode=False) * 1e3, "ms"))
    return figures


def record_drive(path: str, seconds: float = 3600.0) -> int:
    """A candump log of `seconds` of the virtual car driving (demo-ev, DBC rates); returns the frames.

    Written straight from the car's frames (candump format) rather than through python-can's writer,
    which would double the time this takes.
    """
    from can_bus.car import VirtualCar
    from can_bus.memory import frame_link
    from runtime import VirtualLoop

    loop = VirtualLoop(seed=3)
    car_end, tap = frame_link(loop, name="record")
    car = VirtualCar(loop, car_end, "demo-ev", name="bench")
    epoch = loop.wall() - loop.time()
    count = 0
    with open(path, "w") as fh:
        write = fh.write

        def frame(arbitration_id: int, data: bytes, timestamp: float) -> None:
            nonlocal count
            count += 1
            write(f"({epoch + timestamp:.6f}) can0 {arbitration_id:03X}#{data.hex().upper()}\n")

        tap.set_handler(frame)
        car.do("drive", minutes=seconds / 60 + 1, mode="mixed")
        loop.run(until=seconds)
    return count


def rss_after_replayed_drive(seconds: float = 3600.0, speed: float = 150.0, timeout: float = 120.0) -> dict:
    """`tcu run` against a virtual modem (child process, pty) with `can = replay:<an hour>?speed=N`.

    The unit runs on the real clock, as deployed; the recorded hour of driving reaches it `speed` times
    faster than it was recorded. Its RSS is sampled from /proc until the trace has played out.
    """
    from tools.bench.bench_at import ModemProcess

    with tempfile.TemporaryDirectory(prefix="tcu-bench-replay-") as tmp:
        trace = os.path.join(tmp, "drive.log")
        frames = record_drive(trace, seconds)
        config = os.path.join(tmp, "tcu.toml")
        with ModemProcess() as vm:
            with open(config, "w") as fh:
                fh.write(
                    f'vehicle_id = "BENCH"\nprofile = "demo-ev"\nowner = "+447700900123"\n'
                    f'modem = "{vm.path}"\nstate_dir = "{tmp}/state"\napn = "internet"\n'
                    f'can = "replay:{trace}?speed={speed:g}"\n'
                    f'[server]\nhost = "127.0.0.1:6867"\npassword = "bench-secret"\n')
            logfile = os.path.join(tmp, "tcu.log")
            proc = subprocess.Popen([*TCU_RUN, config, "--log-level", "INFO", "--log-file", logfile],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
            try:
                t0 = time.perf_counter()
                end = t0 + seconds / speed + 3.0
                samples: list[dict[str, int]] = []
                while time.perf_counter() < min(end, t0 + timeout) and proc.poll() is None:
                    time.sleep(0.5)
                    samples.append(rss_kb(proc.pid))
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"tcu run exited {proc.returncode}: {err.strip()[-200:]}")
                final = rss_kb(proc.pid)
                ingested = _end_of_trace(logfile)
            finally:
                if proc.poll() is None:
                    proc.terminate()
                try:
                    proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
        if ingested != frames:
            raise RuntimeError(f"tcu run took {ingested} of the {frames} frames in time (too slow at {speed:g}x?)")
        return {**final, "frames": frames, "samples": len(samples),
                "what": f"tcu run, an hour of driving replayed at {speed:g}x on the real clock"}


def _end_of_trace(logfile: str) -> int | None:
    """The frame count of can_bus.replay's "end of trace after N frames" line, if it was logged."""
    import re

    try:
        with open(logfile, errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    found = re.findall(r"end of trace after (\d+) frames", text)
    return int(found[-1]) if found else None
