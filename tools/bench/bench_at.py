"""`at-rtt`: `AT`→`OK` round trips through the unit's AT channel, beside bare pyserial, on one pty.

The virtual modem (`modem.emulator.VirtualModem`, timing profile "instant": no emulated SIM800
latency, so what is left is the two programs and the pty) runs in a child process on the real clock,
as a real modem is a separate device. In this process, on the same pty and in alternating rounds:
- bare: `serial.Serial.write(b"AT\\r")` and `readline()` until `OK` (blocking pyserial, nothing else);
- ours: `Modem.command(Command("AT"))` on a `RealLoop`, the modem opened by
  `modem.driver.open.open_modem("sim800:<pty>")` (what the unit runs: operation script, ATChannel,
  selector loop).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import serial

from tools.bench.registry import Figure, at_most, info

GOAL_RATIO = 2.0  # issue 8: our median <= 2x the bare pyserial round trip

_CHILD = """
import sys
from runtime import RealLoop
from runtime.pty import PtyEndpoint
from modem.emulator import VirtualModem
loop = RealLoop(seed=1)
pty = PtyEndpoint(loop)
modem = VirtualModem(loop, pty.stream, profile="instant")
def _stdin():
    if not sys.stdin.buffer.read1(1):
        loop.stop()
loop.add_reader(sys.stdin, _stdin)
print(pty.path, flush=True)
loop.run()
"""


class ModemProcess:
    """A virtual modem on a pty in a child process; closing its stdin stops it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.path = self.proc.stdout.readline().strip()
        if not self.path:
            self.close()
            raise RuntimeError("the virtual modem process did not report its pty")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ModemProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bare_pyserial(path: str, n: int) -> list[float]:
    """Round trips of write(AT) / readline() until OK, in seconds."""
    port = serial.Serial(path, 115200, timeout=2.0)
    try:
        port.reset_input_buffer()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            port.write(b"AT\r")
            while True:
                line = port.readline()
                if not line:
                    raise RuntimeError("no answer from the virtual modem")
                if line.strip() == b"OK":
                    break
            samples.append(time.perf_counter() - t0)
        return samples
    finally:
        port.close()


def our_channel(path: str, n: int) -> list[float]:
    """Round trips of `Modem.command(AT)` on the real loop, in seconds (issue to on_done)."""
    from modem.driver.at_channel import Command
    from modem.driver.open import open_modem
    from modem.driver.script import Ok
    from runtime import RealLoop

    loop = RealLoop(seed=1)
    modem = open_modem(loop, f"sim800:{path}")
    samples: list[float] = []
    errors: list[str] = []
    started = [0.0]

    def issue() -> None:
        started[0] = time.perf_counter()
        modem.command(Command("AT", timeout=2.0), done)

    def done(result: object) -> None:
        samples.append(time.perf_counter() - started[0])
        if not isinstance(result, Ok):
            errors.append(str(result))
            loop.stop()
        elif len(samples) >= n:
            loop.stop()
        else:
            issue()

    issue()
    loop.run(until=loop.time() + 30.0)
    modem.close()
    loop.close()
    if errors or len(samples) < n:
        raise RuntimeError(f"AT channel: {errors[:1] or 'too slow'} after {len(samples)} commands")
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def run(n: int = 500, rounds: int = 4, warm: int = 20) -> list[Figure]:
    bare: list[float] = []
    ours: list[float] = []
    with ModemProcess() as vm:
        bare_pyserial(vm.path, warm)  # warm both paths (imports, the modem's first answers)
        our_channel(vm.path, warm)
        for _ in range(rounds):      # alternate so a noisy moment hits both sides alike
            bare += bare_pyserial(vm.path, n // rounds)
            ours += our_channel(vm.path, n // rounds)
    bare_med, ours_med = statistics.median(bare), statistics.median(ours)
    return [
        info("at-rtt ours median", ours_med * 1e3, "ms"),
        info("at-rtt ours p99", p99(ours) * 1e3, "ms"),
        info("at-rtt bare pyserial median", bare_med * 1e3, "ms"),
        info("at-rtt bare pyserial p99", p99(bare) * 1e3, "ms"),
        at_most("at-rtt median ours / bare", ours_med / bare_med, "x", GOAL_RATIO),
        info("at-rtt samples per side", len(ours), "round trips"),
    ]


if __name__ == "__main__":  # pragma: no cover
    for fig in run():
        print(fig.line())
    sys.exit(os.EX_OK)
