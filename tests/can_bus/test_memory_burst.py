"""`MemoryPort.set_burst_handler`: one call a burst for the receiver, the same frames, order and times
as frame by frame; the unit's CAN ingest takes bursts and counts, hears and decodes every frame."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

import pytest

from can_bus import frame_link
from runtime import VirtualLoop


def test_a_burst_handler_gets_each_instants_frames_in_one_call() -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    frame_calls: list = []
    bursts: list = []
    b.set_handler(lambda i, d, t: frame_calls.append(i))
    b.set_burst_handler(lambda frames, now: bursts.append((list(frames), now)))
    loop.call_later(1.5, a.send_checked, [(0x100, b"\x01"), (0x101, b"\x02\x03")])
    loop.call_later(1.5, a.send, 0x102, b"\x04")
    loop.call_later(2.0, functools.partial(a.send_checked, [(0x103, b"")], last=True))  # at once, still a burst
    loop.run()
    assert bursts == [([(0x100, b"\x01"), (0x101, b"\x02\x03"), (0x102, b"\x04")], 1.5), ([(0x103, b"")], 2.0)]
    assert frame_calls == [] and b.stats.rx == 4


def test_set_handler_drops_the_burst_handler_of_the_old_receiver() -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    old: list = []
    new: list = []
    b.set_handler(lambda i, d, t: None)
    b.set_burst_handler(lambda frames, now: old.extend(frames))
    b.set_handler(lambda i, d, t: new.append(i))
    a.send(0x100, b"")
    loop.run()
    assert old == [] and new == [0x100]


def test_a_burst_handler_failing_on_one_frame_gets_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list[int] = []

    def on_burst(frames: Iterator[tuple[int, bytes]], now: float) -> None:
        for i, _d in frames:
            if i == 0x101:
                raise RuntimeError("consumer bug")
            got.append(i)

    b.set_handler(lambda i, d, t: None)
    b.set_burst_handler(on_burst)
    a.send_checked([(0x100, b""), (0x101, b""), (0x102, b"")])
    with caplog.at_level(logging.ERROR):
        loop.run()
    assert got == [0x100, 0x102]
    assert "burst handler failed" in caplog.text
