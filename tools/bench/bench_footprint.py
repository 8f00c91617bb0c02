"""`footprint`: how fast the unit starts, how much memory it keeps, how long each package takes to import.

- Start-up: `tcu run --config FILE` in a fresh process with its modem on a pty that this process
  holds; the figure is the time from spawning the process to the first `AT` byte on the pty master
  (interpreter start, imports, config, SQLite, the loop: everything before the unit's first word).
- Memory: resident set (VmRSS / VmHWM from /proc) of a fresh process that has run an hour of simulated
  driving; see `memory_after_driving` for what runs there and why.
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
        run_command: tuple[str, ...] = TCU_RUN) -> list[Figure]:
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
        mem = memory_after_driving(drive_seconds)
        figures.append(at_most("footprint RSS after 1 h driving", mem["VmRSS"] / 1024, "MB", GOAL_RSS_MB))
        figures.append(info("footprint peak RSS over that hour", mem["VmHWM"] / 1024, "MB"))
        print(f"footprint: RSS measured on: {mem.get('what', '?')}", flush=True)
    except Exception as exc:
        print(f"footprint: memory after an hour of driving not measured: {exc}", flush=True)
    figures.append(info("footprint python -c pass", interpreter_seconds(repeats) * 1e3, "ms"))
    for package in packages:
        figures.append(info(f"footprint import {package}", import_seconds(package, repeats) * 1e3, "ms"))
    for package in packages:
        figures.append(info(f"footprint import {package}, no bytecode cache",
                            import_seconds(package, 1, bytecode=False) * 1e3, "ms"))
    return figures
