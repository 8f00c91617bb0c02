"""Ports: frame_link, python-can virtual via open_bus, record → replay, specs, garbage over a real pty."""

from __future__ import annotations

import os

import can
import pytest

from can_bus import BusOpenError, BusSpecError, frame_link, load_profile, open_bus
from can_bus.bus import parse_spec
from can_bus.car import VirtualCar
from can_bus.record import Recorder
from runtime import RealLoop, VirtualLoop
from runtime.pty import PtyEndpoint

DEMO = load_profile("demo-ev")


def test_frame_link_delivers_in_order_without_reentry() -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list = []
    b.set_handler(lambda i, d, t: got.append((i, d, t)))
    a.send(0x100, b"\x01")
    a.send(0x1ABCDEF, b"\x02\x03")
    assert got == []  # delivery is a loop callback, never inside send()
    loop.run()
    assert got == [(0x100, b"\x01", 0.0), (0x1ABCDEF, b"\x02\x03", 0.0)]
    assert a.stats.tx == 2 and b.stats.rx == 2
    with pytest.raises(ValueError):
        a.send(0x100, bytes(9))
    b.close()
    a.send(0x100, b"")
    assert a.stats.tx_errors == 1


def test_spec_parsing() -> None:
    assert parse_spec("slcan:/dev/pts/7?bitrate=250000") == ("slcan", "/dev/pts/7", {"bitrate": "250000"})
    assert parse_spec("socketcan:can0") == ("socketcan", "can0", {})
    for bad in ("can0", "warp:x", "slcan:"):
        with pytest.raises(BusSpecError):
            open_bus(bad, VirtualLoop())
    with pytest.raises(BusOpenError):
        open_bus("slcan:/nonexistent/tty", VirtualLoop())


def test_python_can_virtual_bus_on_the_virtual_loop() -> None:
    loop = VirtualLoop()
    a = open_bus("virtual:test-bus-1", loop)
    b = open_bus("virtual:test-bus-1", loop)
    got: list = []
    b.set_handler(lambda i, d, t: got.append((i, d)))
    a.send(0x3E0, b"\x01")
    a.send(0x18DAF110, b"\x02")
    loop.run(until=0.05)
    assert got == [(0x3E0, b"\x01"), (0x18DAF110, b"\x02")]
    a.close()
    b.close()


def _metric_sequence(loop: VirtualLoop, port) -> list:
    decoder = DEMO.decoder()
    seq: list = []
    port.set_handler(lambda i, d, t: seq.extend(decoder.feed(i, d)))
    return seq


@pytest.mark.parametrize("ext", ["log", "asc", "blf"])
def test_record_then_replay_reproduces_the_metric_sequence(tmp_path, ext: str) -> None:
    loop = VirtualLoop(seed=3)
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, "demo-ev")
    path = tmp_path / f"trace.{ext}"
    recorder = Recorder(loop, unit_port, path)
    decoder = DEMO.decoder()
    live: list = []
    recorder.set_handler(lambda i, d, t: live.extend(decoder.feed(i, d)))
    car.do("drive")
    loop.run(until=20.0)
    car.do("park")
    loop.run(until=30.0)
    recorder.close()
    car.close()
    assert recorder.frames > 1000
    assert any(m == "v.p.speed" and v > 10 for m, v in live)

    replay_loop = VirtualLoop()
    port = open_bus(f"replay:{path}?speed=4", replay_loop)
    replayed = _metric_sequence(replay_loop, port)
    replay_loop.run()
    assert port.finished and port.stats.rx == recorder.frames
    assert replayed == live
    # Recorded spacing is kept (at 4x): about 30 s of traffic in about 7.5 s of loop time.
    assert 6.5 < replay_loop.time() < 8.0


def test_replay_missing_or_garbage_file(tmp_path) -> None:
    with pytest.raises(BusOpenError):
        open_bus(f"replay:{tmp_path}/nope.log", VirtualLoop())
    bad = tmp_path / "bad.log"
    bad.write_text("(1.0) can0 123#0102\nthis is not candump\n(1.5) can0 102#00\n")
    loop = VirtualLoop()
    port = open_bus(f"replay:{bad}", loop)
    got: list = []
    port.set_handler(lambda i, d, t: got.append(i), lambda text: got.append(text))
    loop.run()  # never raises into the loop
    assert 0x123 in got


def test_python_can_slcan_over_a_real_pty_survives_garbage() -> None:
    """Our port on python-can's slcan, a pty whose far end writes frames, garbage and error lines."""
    loop = RealLoop()
    pty = PtyEndpoint(loop)
    try:
        host_lines = bytearray()
        pty.stream.set_handlers(host_lines.extend)
        port = open_bus(f"slcan:{pty.path}", loop)
        got: list = []
        errors: list = []
        port.set_handler(lambda i, d, t: got.append((i, d)), errors.append)
        loop.run(until=loop.time() + 0.2)
        assert b"O\r" in host_lines  # python-can opened the channel
        pty.stream.write(b"t102201FF\r" b"tZZZ8GARBAGE\r" b"\x07" b"t3B04DEADBEEF\r" b"T18DAF1101AA\r")
        deadline = loop.time() + 2.0
        while len(got) < 3 and loop.time() < deadline:
            loop.run(until=loop.time() + 0.05)
        assert got == [(0x102, b"\x01\xff"), (0x3B0, b"\xde\xad\xbe\xef"), (0x18DAF110, b"\xaa")]
        assert port.stats.errors >= 1 and errors
        port.send(0x3E0, b"\x01")
        loop.run(until=loop.time() + 0.1)
        assert b"t3E0101\r" in host_lines
        port.close()
    finally:
        pty.close()
        loop.close()


def test_vanished_adapter_is_reported_not_raised() -> None:
    loop = RealLoop()
    r, w = os.pipe()

    class Vanishing(can.BusABC):
        def __init__(self) -> None:
            super().__init__(channel="x")

        def fileno(self) -> int:
            return r

        def _recv_internal(self, timeout):
            raise can.CanOperationError("No such device")

        def send(self, msg, timeout=None):
            raise can.CanOperationError("No such device")

    from can_bus.bus import PythonCanPort
    from can_bus.port import BusGone

    port = PythonCanPort(loop, Vanishing(), name="gone")
    errors: list = []
    events: list = []
    port.set_handler(lambda *a: None, errors.append, events.append)
    os.write(w, b"x")
    loop.run(until=loop.time() + 0.05)
    # a vanished adapter is a state (on_state), not an error the bus survives (on_error)
    assert port.gone and errors == [] and len(events) == 1
    assert isinstance(events[0], BusGone) and "No such device" in events[0].reason
    port.send(0x100, b"")
    assert port.stats.tx_errors == 1
    port.close()
    os.close(r)
    os.close(w)
    loop.close()


def test_error_frames_and_bus_off_are_counted_and_reported() -> None:
    """A backend without an fd (polled) that yields error frames, a remote frame and data."""
    from can_bus.bus import CAN_ERR_BUSOFF, PythonCanPort

    queue = [
        can.Message(arbitration_id=0x102, data=b"\x01" * 8),
        can.Message(arbitration_id=0x004, is_error_frame=True, data=bytes(8)),  # controller problems
        can.Message(arbitration_id=CAN_ERR_BUSOFF, is_error_frame=True, data=bytes(8)),
        can.Message(arbitration_id=0x123, is_remote_frame=True, dlc=2),
        can.Message(arbitration_id=0x3B0, data=b"\x80\x00\x00\x00"),
    ]

    class Scripted(can.BusABC):
        def __init__(self) -> None:
            super().__init__(channel="scripted")

        def _recv_internal(self, timeout):
            return (queue.pop(0) if queue else None), False

        def send(self, msg, timeout=None):
            pass

    loop = VirtualLoop()
    port = PythonCanPort(loop, Scripted(), name="scripted")
    got: list = []
    errors: list = []
    port.set_handler(lambda i, d, t: got.append(i), errors.append)
    loop.run(until=0.01)
    assert got == [0x102, 0x3B0]
    assert port.stats.error_frames == 2 and port.stats.remote_frames == 1
    assert any("bus-off" in e for e in errors)
    port.close()
