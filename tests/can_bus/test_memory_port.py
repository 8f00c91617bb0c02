"""`MemoryPort.send_checked`: a sender's whole burst in one call, delivered as `send` would."""

from __future__ import annotations

import logging

import pytest

from can_bus import frame_link
from runtime import VirtualLoop


def test_a_checked_burst_arrives_in_order_after_the_call_and_counts_every_frame() -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list = []
    b.set_handler(lambda i, d, t: got.append((i, d, t)))
    loop.call_later(1.5, a.send_checked, [(0x100, b"\x01"), (0x101, b"\x02\x03")])
    loop.call_later(1.5, a.send, 0x102, b"\x04")
    loop.run(until=1.0)
    a.send_checked([(0x0F1, b"")])
    assert got == []  # delivery is a loop callback, never inside the call
    loop.run()
    assert got == [(0x0F1, b"", 1.0), (0x100, b"\x01", 1.5), (0x101, b"\x02\x03", 1.5), (0x102, b"\x04", 1.5)]
    assert a.stats.tx == 4 and b.stats.rx == 4
    b.close()
    a.send_checked([(0x100, b""), (0x101, b"")])
    assert a.stats.tx_errors == 2 and a.stats.tx == 4


def test_a_handler_failing_on_one_frame_of_a_burst_gets_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list[int] = []

    def handler(i: int, d: bytes, t: float) -> None:
        if i == 0x101:
            raise RuntimeError("consumer bug")
        got.append(i)

    b.set_handler(handler)
    a.send_checked([(0x100, b""), (0x101, b""), (0x102, b"")])
    with caplog.at_level(logging.ERROR):
        loop.run()
    assert got == [0x100, 0x102]
    assert "frame handler failed on 0x101" in caplog.text


def test_frames_without_a_handler_are_counted_as_dropped() -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    a.send_checked([(0x100, b""), (0x101, b"")])
    loop.run()
    assert b.stats.rx == 2 and b.stats.dropped == 2


def test_a_last_burst_is_delivered_at_once_only_when_the_loop_would_run_nothing_in_between() -> None:
    """`last=True` from a callback's end: delivered in the call if nothing else is due now (the loop's own
    order), else after what is due, as a plain send."""
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list[tuple[str, float]] = []
    b.set_handler(lambda i, d, t: got.append((f"frame {i:#x}", t)))

    def alone() -> None:
        a.send_checked([(0x100, b"")], last=True)
        got.append(("after the call", loop.time()))

    def crowded() -> None:
        a.send_checked([(0x101, b"")], last=True)
        got.append(("after the call", loop.time()))

    loop.call_at(1.0, alone)
    loop.call_at(2.0, crowded)
    loop.call_at(2.0, lambda: got.append(("other timer", loop.time())))
    timers_before = loop.timers_run
    loop.run()
    assert got == [("frame 0x100", 1.0), ("after the call", 1.0),
                   ("after the call", 2.0), ("other timer", 2.0), ("frame 0x101", 2.0)]
    assert loop.timers_run - timers_before == 4  # alone, crowded, other, and one delivery timer
    assert a.stats.tx == 2 and b.stats.rx == 2
