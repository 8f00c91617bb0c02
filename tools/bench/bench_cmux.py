"""`cmux`: what the GSM 07.10 multiplexer (modem/cmux) costs, over a real pty, against plain AT.

- codec: frames encoded and decoded per second in memory (31-octet UIH frames, the 27.010 default N1);
- throughput: 1 MB through one pty, once as raw bytes and once as UIH frames on DLCI 1 between two
  multiplexers (initiator on the pyserial side, responder on the pty master), both on one RealLoop;
- added latency: `AT`->`OK` round trips of the unit's driver (`Modem.command` on a RealLoop) to a
  virtual modem in a child process (timing "instant"), on plain AT and then on DLCI 1 after
  `init` switched the line to CMUX (mux="on"); alternating rounds, medians compared.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from modem.cmux.frame import Frame, FrameDecoder, FrameType
from tools.bench.registry import Figure, info

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


def codec(n: int = 20000) -> tuple[float, float]:
    """(frames encoded per second, frames decoded per second)."""
    frame = Frame(1, FrameType.UIH, bytes(range(31)))
    t0 = time.perf_counter()
    wire = b"".join(frame.encode() for _ in range(n))
    enc = n / (time.perf_counter() - t0)
    dec = FrameDecoder(n1=31)
    t0 = time.perf_counter()
    got = sum(1 for _ in dec.feed(wire))
    decoded = got / (time.perf_counter() - t0)
    assert got == n
    return enc, decoded


def throughput(total: int = 1_000_000, n1: int = 127) -> tuple[float, float]:
    """(raw MB/s, multiplexed payload MB/s) through one pty on one RealLoop."""
    payload = bytes(range(256)) * (total // 256)
    return _through_pty(payload, None), _through_pty(payload, n1)


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def data(self, data: bytes) -> None:
        self.n += len(data)

    def event(self, ev: object) -> None:
        from modem.cmux.mux import Data
        if isinstance(ev, Data):
            self.n += len(ev.data)


def _through_pty(payload: bytes, n1: int | None) -> float:
    """MB/s of `payload` from the pyserial side to the pty master, raw (n1 None) or on DLCI 1."""
    from modem.cmux.channel import MuxPort
    from modem.cmux.mux import DlciState, MuxParams, Role
    from runtime import RealLoop
    from runtime.pty import PtyEndpoint
    from runtime.serialport import open_serial

    loop = RealLoop(seed=1)
    pty = PtyEndpoint(loop)
    serial = open_serial(loop, pty.path)
    got = _Count()
    try:
        if n1 is not None:
            MuxPort(loop, pty.stream, Role.RESPONDER, MuxParams(n1=n1), on_event=got.event)
            host = MuxPort(loop, serial, Role.INITIATOR, MuxParams(n1=n1))
            host.start()
            host.open(1)
            deadline = time.monotonic() + 5
            while host.mux.state(1) is not DlciState.OPEN and time.monotonic() < deadline:
                loop.run(until=loop.time() + 0.01)
            t0 = time.perf_counter()
            host.channel(1).write(payload)
        else:
            pty.stream.set_handlers(got.data)
            t0 = time.perf_counter()
            serial.write(payload)
        deadline = time.monotonic() + 60
        while got.n < len(payload) and time.monotonic() < deadline:
            loop.run(until=loop.time() + 0.01)
        elapsed = time.perf_counter() - t0
        if got.n < len(payload):
            raise RuntimeError(f"throughput: only {got.n} of {len(payload)} bytes arrived (N1 {n1})")
        return len(payload) / elapsed / 1e6
    finally:
        serial.close()
        pty.close()
        loop.close()


def at_round_trips(path: str, n: int, mux: str) -> list[float]:
    """`Modem.command(AT)` round trips after probe+init, with the line multiplexed or not."""
    from modem.driver.at_channel import Command
    from modem.driver.open import open_modem
    from modem.driver.script import Ok
    from runtime import RealLoop

    loop = RealLoop(seed=1)
    modem = open_modem(loop, f"sim800:{path}", mux=mux)
    state: dict[str, object] = {}
    modem.probe(lambda r: state.__setitem__("probe", r))
    deadline = time.monotonic() + 20
    while "probe" not in state and time.monotonic() < deadline:
        loop.run(until=loop.time() + 0.01)
    modem.init(lambda r: state.__setitem__("init", r))
    while "init" not in state and time.monotonic() < deadline:
        loop.run(until=loop.time() + 0.01)
    if not isinstance(state.get("init"), Ok) or modem.multiplexed != (mux == "on"):
        modem.close()
        loop.close()
        raise RuntimeError(f"cmux bench: init {state.get('init')}, multiplexed {modem.multiplexed}")
    samples: list[float] = []
    for _ in range(n):
        got: list[object] = []
        t0 = time.perf_counter()
        modem.command(Command("AT", timeout=2.0), got.append)
        while not got and time.monotonic() < deadline + 30:
            loop.run(until=loop.time() + 0.001)
        samples.append(time.perf_counter() - t0)
        if not got or not isinstance(got[0], Ok):
            raise RuntimeError(f"cmux bench: AT failed ({got})")
    # leave the modem on plain AT for the next round: close the multiplexer down (CLD)
    if modem.multiplexed:
        modem.leave_mux()
        end = time.monotonic() + 2
        while modem.multiplexed and time.monotonic() < end:
            loop.run(until=loop.time() + 0.01)
    modem.close()
    loop.close()
    return samples


def run(n: int = 200, rounds: int = 2, total: int = 1_000_000) -> list[Figure]:
    import subprocess

    enc, dec = codec()
    raw, muxed = throughput(total)
    plain: list[float] = []
    multiplexed: list[float] = []
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        for _ in range(rounds):  # alternate so a noisy moment hits both sides alike
            plain += at_round_trips(path, n // rounds, "off")
            multiplexed += at_round_trips(path, n // rounds, "on")
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    p_med, m_med = statistics.median(plain), statistics.median(multiplexed)
    return [
        info("cmux codec encode", enc, "frames/s"),
        info("cmux codec decode", dec, "frames/s"),
        info("cmux pty throughput raw", raw, "MB/s"),
        info("cmux pty throughput DLCI 1 (N1 127)", muxed, "MB/s"),
        info("cmux throughput mux / raw", muxed / raw, "x"),
        info("cmux AT rtt plain median", p_med * 1e3, "ms"),
        info("cmux AT rtt on DLCI 1 median", m_med * 1e3, "ms"),
        info("cmux added latency (median)", (m_med - p_med) * 1e3, "ms"),
        info("cmux AT samples per side", len(plain), "round trips"),
    ]


if __name__ == "__main__":  # pragma: no cover
    for fig in run():
        print(fig.line())
    sys.exit(os.EX_OK)
