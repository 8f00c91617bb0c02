"""The real clock: pty bytes, timers and loopback TCP, end to end with real devices."""

from __future__ import annotations

import os
import time

import serial

from runtime import RealLoop
from runtime.pty import PtyEndpoint
from runtime.serialport import open_serial


def test_timers_fire_in_order_on_the_real_clock() -> None:
    loop = RealLoop(seed=1)
    seen: list[str] = []
    start = loop.time()
    loop.call_later(0.03, seen.append, "b")
    loop.call_later(0.01, seen.append, "a")
    loop.call_later(0.05, loop.stop)
    loop.run(until=start + 2)
    assert seen == ["a", "b"]
    assert loop.time() - start >= 0.05
    loop.close()


def test_pty_delivers_bytes_both_ways_and_survives_reopen(tmp_path) -> None:
    loop = RealLoop(seed=1)
    link = str(tmp_path / "modem")
    endpoint = PtyEndpoint(loop, link=link)
    received: list[bytes] = []
    # Device side: an echo-ish responder, as a virtual modem would be.
    endpoint.stream.set_handlers(lambda d: (received.append(d), endpoint.stream.write(b"\r\nOK\r\n")))
    assert os.readlink(link) == endpoint.path

    for attempt in range(2):  # the client closes and reopens the port
        client = serial.Serial(link, 115200, timeout=0)
        client.write(b"AT\r")
        deadline = loop.time() + 2
        answer = b""
        while b"OK" not in answer and loop.time() < deadline:
            loop.run(until=loop.time() + 0.02)
            answer += client.read(100)
        client.close()
        assert b"\r\nOK\r\n" in answer, attempt
    assert b"".join(received) == b"AT\rAT\r"  # raw: no CR/LF translation, no echo by the pty
    endpoint.close()
    assert not os.path.exists(link)
    loop.close()


def test_open_serial_stream_over_pty() -> None:
    loop = RealLoop(seed=1)
    endpoint = PtyEndpoint(loop)
    endpoint.stream.set_handlers(lambda d: endpoint.stream.write(d[::-1]))
    stream = open_serial(loop, endpoint.path)
    got: list[bytes] = []
    stream.set_handlers(got.append)
    stream.write(b"abc")
    deadline = time.monotonic() + 2
    while b"".join(got) != b"cba" and time.monotonic() < deadline:
        loop.run(until=loop.time() + 0.02)
    assert b"".join(got) == b"cba"
    stream.close()
    endpoint.close()
    loop.close()


def test_loopback_tcp_echo_and_refused() -> None:
    loop = RealLoop(seed=1)
    results: list[str | None] = []
    got: list[bytes] = []

    def accept(stream) -> None:
        stream.set_handlers(lambda d: stream.write(b"echo:" + d))

    listener = loop.listen_tcp("127.0.0.1", 0, accept)

    def connected(stream, err) -> None:
        results.append(err)
        if stream:
            stream.set_handlers(got.append)
            stream.write(b"ping")

    loop.connect_tcp("127.0.0.1", listener.port, connected)
    deadline = loop.time() + 2
    while b"".join(got) != b"echo:ping" and loop.time() < deadline:
        loop.run(until=loop.time() + 0.02)
    assert results == [None] and b"".join(got) == b"echo:ping"

    listener.close()
    loop.connect_tcp("127.0.0.1", listener.port, connected)
    deadline = loop.time() + 2
    while len(results) < 2 and loop.time() < deadline:
        loop.run(until=loop.time() + 0.02)
    assert results[1] is not None and "refused" in results[1]
    loop.close()


def test_threadsafe_call_wakes_a_blocked_loop() -> None:
    import threading

    loop = RealLoop(seed=1)
    seen: list[str] = []
    loop.call_later(5, loop.stop)  # safety net
    threading.Timer(0.05, lambda: loop.call_soon_threadsafe(lambda: (seen.append("x"), loop.stop()))).start()
    start = time.monotonic()
    loop.run()
    assert seen == ["x"] and time.monotonic() - start < 4
    loop.close()
