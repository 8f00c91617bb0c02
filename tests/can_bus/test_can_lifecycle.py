"""CAN device lifecycle (issue 12): a garbled line is rejected and reading goes on; a vanished adapter
is reopened with capped back-off and reported as `BusGone` / `BusBack`; the same over real ptys and a
real `vcar serve` process killed and started again on the same link."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import can
import pytest

from can_bus import load_profile, open_bus
from can_bus.bus import REOPEN_CAP, REOPEN_FIRST, BusOpenError, PythonCanPort, _DeviceReopener
from can_bus.ingest import CanIngest
from can_bus.port import BusBack, BusEvent, BusGone
from runtime import RealLoop, VirtualLoop
from runtime.pty import open_raw_pty

DEMO = load_profile("demo-ev")


class FakeAdapter:
    """A USB adapter that can be pulled out: buses opened on it fail like python-can's when it goes."""

    def __init__(self, loop: VirtualLoop, cause: OSError) -> None:
        self.loop = loop
        self.plugged = True
        self.cause = cause
        self.losses = 0
        self.open_tries: list[float] = []
        self.frames: deque[can.Message] = deque()

    def lost(self) -> None:
        self.losses += 1

    def open(self) -> can.BusABC:
        self.open_tries.append(self.loop.time())
        if not self.plugged:
            if len(self.open_tries) % 2:  # python-can's "no such port", or our own probe's "no adapter here"
                raise can.CanInitializationError("could not open port: [Errno 2] No such file or directory")
            raise BusOpenError("no SLCAN adapter answers at /tmp/can")
        return FakeBus(self)


class FakeBus(can.BusABC):
    def __init__(self, adapter: FakeAdapter) -> None:
        super().__init__(channel="fake")
        self.adapter = adapter

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if not self.adapter.plugged:
            raise can.CanOperationError("Could not write to serial device")

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if not self.adapter.plugged:
            raise can.CanOperationError("Could not read from serial device") from self.adapter.cause
        if self.adapter.frames:
            return self.adapter.frames.popleft(), False
        return None, False


@pytest.mark.parametrize("cause", [OSError(errno.EIO, "Input/output error"),          # slcan: pty/USB gone
                                   OSError(errno.ENETDOWN, "Network is down"),       # socketcan: link down
                                   OSError(errno.ENODEV, "No such device")],          # socketcan: removed
                         ids=["slcan-eio", "socketcan-down", "socketcan-removed"])
def test_vanished_adapter_is_reopened_with_capped_backoff(cause: OSError, caplog) -> None:
    loop = VirtualLoop(seed=3)
    adapter = FakeAdapter(loop, cause)
    port = PythonCanPort(loop, adapter.open(), name="slcan:/tmp/can", reopen=adapter)
    frames: list[tuple[int, bytes]] = []
    events: list[BusEvent] = []
    port.set_handler(lambda i, d, t: frames.append((i, d)), None, events.append)
    adapter.frames.append(can.Message(arbitration_id=0x100, data=b"\x01"))
    loop.run_for(1.0)
    assert frames == [(0x100, b"\x01")] and port.gone is None

    caplog.set_level(logging.INFO)
    caplog.clear()
    adapter.plugged = False
    gone_at = loop.time()
    loop.run_for(60.0)
    assert port.gone is not None and port.stats.lost == 1 and adapter.losses == 1
    first = events[0]
    assert isinstance(first, BusGone) and first.retries == 0 and first.name == "slcan:/tmp/can"
    assert str(cause.strerror) in first.reason
    assert first.next_try is not None and abs(first.next_try - first.since - REOPEN_FIRST) <= 0.1 * REOPEN_FIRST
    # every failed reopen updates the event: retries count up, the gaps double up to the cap
    tries = adapter.open_tries[1:]
    gaps = [b - a for a, b in zip([gone_at, *tries], tries, strict=False)]
    assert len(tries) >= 8
    for earlier, later in zip(gaps, gaps[1:], strict=False):
        assert later >= min(earlier * 1.5, REOPEN_CAP * 0.9)
    assert max(gaps) <= REOPEN_CAP * 1.1
    assert [e.retries for e in events[1:]] == list(range(1, len(tries) + 1))
    assert all(isinstance(e, BusGone) and e.since == first.since for e in events)
    # sending while gone is counted, never raised; a minute of absence is a couple of log lines
    port.send(0x200, b"\x02")
    assert port.stats.tx_errors == 1
    assert len([r for r in caplog.records if r.name.startswith("can_bus")]) <= 3

    adapter.plugged = True
    back_at = loop.time()
    adapter.frames.append(can.Message(arbitration_id=0x101, data=b"\x02"))
    loop.run_for(REOPEN_CAP * 1.2)
    assert port.gone is None and port.stats.reopened == 1
    back = events[-1]
    assert isinstance(back, BusBack) and back.retries == len(tries)
    assert back.gone_for >= back_at - gone_at
    assert frames[-1] == (0x101, b"\x02")
    port.close()


def test_port_without_reopen_stays_gone_and_says_so() -> None:
    loop = VirtualLoop(seed=1)
    adapter = FakeAdapter(loop, OSError(errno.EIO, "Input/output error"))
    port = PythonCanPort(loop, adapter.open(), name="fake")
    events: list[BusEvent] = []
    port.set_handler(lambda i, d, t: None, None, events.append)
    adapter.plugged = False
    loop.run_for(30.0)
    assert len(events) == 1 and isinstance(events[0], BusGone) and events[0].next_try is None
    assert adapter.open_tries == [0.0]
    port.close()


def test_a_stale_link_is_not_reopened_until_it_is_replaced(tmp_path: Path) -> None:
    """`vcar serve` killed with SIGKILL leaves its link pointing at a pty number another program may take
    next: never open what a stale link points at; wait for the restarted emulator's new link."""
    device, link = tmp_path / "pts7", tmp_path / "can"
    device.write_text("")
    link.symlink_to(device)
    opened: list[str] = []

    def opener() -> can.BusABC:
        opened.append("open")
        return FakeBus(FakeAdapter(VirtualLoop(), OSError()))

    reopener = _DeviceReopener(opener, "slcan", str(link))
    device.unlink()             # the pty vanished with the emulator; the link stays
    reopener.lost()
    device.write_text("")       # someone else's pty now has that number
    with pytest.raises(BusOpenError, match="still the link"):
        reopener.open()
    assert opened == []
    link.unlink()               # the emulator, started again, makes its link anew
    link.symlink_to(device)
    reopener.open().shutdown()
    assert opened == ["open"]


def test_a_link_whose_device_is_still_there_is_reopened(tmp_path: Path) -> None:
    device, link = tmp_path / "ttyACM0", tmp_path / "by-id"
    device.write_text("")
    link.symlink_to(device)
    opened: list[str] = []

    def opener() -> can.BusABC:
        opened.append("open")
        return FakeBus(FakeAdapter(VirtualLoop(), OSError()))

    reopener = _DeviceReopener(opener, "slcan", str(link))
    reopener.lost()             # a read error, but the device node never went away
    reopener.open().shutdown()
    assert opened == ["open"]


def _run_until(loop: RealLoop, cond, timeout: float) -> bool:
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        loop.run(until=min(deadline, loop.time() + 0.05))
        if cond():
            return True
    return False


@pytest.mark.parametrize("garbage", [b"\xff\r", b"\x00\xff\xfe\r", b"t12\r", b"T1\r", b"\xc3\r\xff\xff\xff\x07"])
def test_a_garbled_line_from_the_adapter_is_rejected_and_reading_goes_on(garbage: bytes) -> None:
    """The adapter's side of a real pty written by hand; the host side is python-can's slcan."""
    master, slave, path = open_raw_pty()
    loop = RealLoop()
    port = open_bus(f"slcan:{path}", loop)
    frames: list[tuple[int, bytes]] = []
    errors: list[str] = []
    events: list[BusEvent] = []
    port.set_handler(lambda i, d, t: frames.append((i, d)), errors.append, events.append)
    try:
        os.write(master, b"t1231AA\r" + garbage + b"t1231BB\rt4562CAFE\r")
        assert _run_until(loop, lambda: len(frames) >= 3, 5), (frames, errors)
        assert frames == [(0x123, b"\xaa"), (0x123, b"\xbb"), (0x456, b"\xca\xfe")]
        assert port.gone is None and events == []
        assert port.stats.garbled >= 1 and errors and "garbled" in errors[0]
        # and again, much later: a stray byte is never the end of reading
        os.write(master, garbage + b"t1231CC\r")
        assert _run_until(loop, lambda: len(frames) >= 4, 5)
        assert frames[-1] == (0x123, b"\xcc")
    finally:
        port.close()
        loop.close()
        os.close(master)
        os.close(slave)


def test_slcan_pty_closed_by_the_adapter_is_gone_not_garbled() -> None:
    master, slave, path = open_raw_pty()
    loop = RealLoop()
    port = open_bus(f"slcan:{path}", loop)
    events: list[BusEvent] = []
    port.set_handler(lambda i, d, t: None, None, events.append)
    try:
        os.close(master)
        os.close(slave)
        assert _run_until(loop, lambda: bool(events), 5)
        assert isinstance(events[0], BusGone) and port.stats.garbled == 0
        assert events[0].next_try is not None  # an slcan spec is reopened
    finally:
        port.close()
        loop.close()


def _start_vcar(link: str, ctl: str, log_path: Path) -> subprocess.Popen[bytes]:
    out = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "can_bus.car.cli", "serve", "--link", link, "--control", ctl,
                             "--profile", "demo-ev", "--log-level", "WARNING"], stdout=out, stderr=out)
    out.close()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.mark.timeout(60)
def test_an_adapter_missing_at_start_is_waited_for(tmp_path: Path) -> None:
    """A USB adapter that enumerates after the unit started: with wait_for_device the port starts gone
    and opens the adapter when `vcar serve` (another process, as an adapter is) appears at the path."""
    link, ctl = str(tmp_path / "can"), str(tmp_path / "car.ctl")
    loop = RealLoop(seed=2)
    with pytest.raises(BusOpenError):
        open_bus(f"slcan:{link}", loop)          # by default a missing device is an error at once
    port = open_bus(f"slcan:{link}", loop, wait_for_device=True)
    frames: list[int] = []
    events: list[BusEvent] = []
    port.set_handler(lambda i, d, t: frames.append(i), None, events.append)
    proc = None
    try:
        assert port.gone is not None and "cannot open" in port.gone.reason and port.gone.next_try is not None
        loop.run_for(2.0)
        assert frames == [] and events and all(isinstance(e, BusGone) for e in events)
        assert events[-1].retries >= 1
        proc = _start_vcar(link, ctl, tmp_path / "vcar.log")
        assert _run_until(loop, lambda: len(frames) > 5, REOPEN_CAP + 15), (tmp_path / "vcar.log").read_text()
        assert isinstance(events[-1], BusBack) and port.gone is None
    finally:
        port.close()
        loop.close()
        if proc is not None:
            _stop(proc)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_vcar_killed_and_started_again_on_the_same_link_is_read_again(tmp_path: Path, how: str) -> None:
    """As a bench user meets it: `vcar serve` stops (the USB adapter is pulled), starts again at the same
    link; the unit's bus is reopened by itself and fresh frames flow (CanIngest sees new metric values)."""
    link, ctl = str(tmp_path / "can"), str(tmp_path / "car.ctl")
    proc = _start_vcar(link, ctl, tmp_path / "vcar.log")
    loop = RealLoop()
    port = None
    try:
        deadline = time.monotonic() + 15
        while not (os.path.exists(link) and os.path.exists(ctl)):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "vcar.log").read_text()
            time.sleep(0.05)
        port = open_bus(f"slcan:{link}", loop)
        seen: list[float] = []
        events: list[BusEvent] = []
        ingest = CanIngest(loop, port, DEMO, lambda updates: seen.append(loop.time()), poll=False)
        port.set_handler(ingest._frame, None, events.append)
        assert _run_until(loop, lambda: bool(seen), 10)

        if how == "SIGKILL":
            proc.kill()
        else:
            proc.terminate()
        proc.wait(timeout=10)
        assert _run_until(loop, lambda: port.gone is not None, 5)
        gone_rx = port.stats.rx
        loop.run_for(3.0)   # stays gone while nothing is there; no busy loop, nothing delivered
        assert port.gone is not None and port.stats.rx == gone_rx

        os.unlink(ctl) if os.path.exists(ctl) else None
        proc = _start_vcar(link, ctl, tmp_path / "vcar.log")
        restarted = loop.time()
        assert _run_until(loop, lambda: port.gone is None and port.stats.rx > gone_rx + 20, 20), events
        assert isinstance(events[0], BusGone) and isinstance(events[-1], BusBack)
        assert port.stats.lost == 1 and port.stats.reopened == 1
        assert loop.time() - restarted < REOPEN_CAP + 5
    finally:
        if port is not None:
            port.close()
        loop.close()
        _stop(proc)


def test_python_can_socket_chatter_stays_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """python-can's INFO "Created a socket" on every SocketCAN (re)open flooded the journal of a unit
    without a CAN HAT; its warnings still reach the log."""
    import can_bus.bus  # noqa: F401  (sets the level)
    chatty = logging.getLogger("can.interfaces.socketcan.socketcan")
    with caplog.at_level(logging.DEBUG):
        chatty.info("Created a socket")
        chatty.warning("bus error")
    assert "Created a socket" not in caplog.text and "bus error" in caplog.text
