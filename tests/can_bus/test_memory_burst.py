"""`MemoryPort.set_burst_handler`: one call a burst for the receiver, the same frames, order and times
as frame by frame; the unit's CAN ingest takes bursts and counts, hears and decodes every frame."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence

import pytest

from can_bus import frame_link
from can_bus.fastdecode import Decoder
from can_bus.profile import load_profile
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


def test_a_failing_burst_handler_is_logged_and_the_next_burst_still_comes(caplog: pytest.LogCaptureFixture) -> None:
    loop = VirtualLoop()
    a, b = frame_link(loop)
    got: list[int] = []

    def on_burst(frames: Sequence[tuple[int, bytes]], now: float) -> None:
        for i, _d in frames:
            if i == 0x101:
                raise RuntimeError("consumer bug")
            got.append(i)

    b.set_handler(lambda i, d, t: None)
    b.set_burst_handler(on_burst)
    a.send_checked([(0x100, b""), (0x101, b"")])
    loop.call_later(1.0, functools.partial(a.send_checked, [(0x102, b"")], last=True))
    with caplog.at_level(logging.ERROR):
        loop.run()
    assert got == [0x100, 0x102]
    assert "burst handler failed" in caplog.text


def test_feed_burst_is_feed_frame_by_frame() -> None:
    """Same updates, in the same order, and the same counters as `feed`, through repeats (the
    shortcut), changes, a malformed and a too-long frame, a reused bytearray, unknown IDs and a reset."""
    profile = load_profile("demo-ev")
    ids = sorted(Decoder(profile).ids)
    rng = random.Random(7)
    frames: list[tuple[int, bytes | bytearray]] = []
    pool = {i: [bytes(rng.getrandbits(8) for _ in range(8)) for _ in range(3)] for i in ids}
    reused = bytearray(8)
    for _step in range(3000):
        i = rng.choice(ids + [0x7FF])
        if i == 0x7FF:
            frames.append((i, b"\x00"))
            continue
        kind = rng.random()
        if kind < 0.05:
            frames.append((i, pool[i][0][:2]))            # malformed: too short
        elif kind < 0.1:
            frames.append((i, pool[i][0] + b"\x01"))     # too long: truncated
        elif kind < 0.15:
            reused[:] = rng.choice(pool[i])
            frames.append((i, reused))                  # a driver's reused buffer: changes under the decoder
            reused = bytearray(reused)
        else:
            frames.append((i, rng.choice(pool[i])))
    one, burst = Decoder(profile), Decoder(profile)
    expected: list = []
    for n, (i, d) in enumerate(frames):
        if n == 1500:
            one.reset()
        expected.append((n, one.feed(i, d)))
    got: list = []
    heard: list[int] = []
    for n, (i, d) in enumerate(frames):
        if n == 1500:
            burst.reset()
        burst.feed_burst([(i, d)], float(n), lambda u, now: got.append((int(now), u)), heard.append)
    assert [(n, u) for n, u in expected if u] == got
    assert heard == [i for i, _d in frames]
    assert one.stats.as_dict() == burst.stats.as_dict()
