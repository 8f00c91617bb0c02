"""The virtual clock: order, determinism, pipes and in-process TCP."""

from __future__ import annotations

from runtime import VirtualLoop, pipe_pair


def test_timers_run_in_time_then_scheduling_order() -> None:
    loop = VirtualLoop()
    seen: list[tuple[float, str]] = []
    loop.call_later(5, lambda: seen.append((loop.time(), "c")))
    loop.call_later(1, lambda: seen.append((loop.time(), "a")))
    loop.call_later(1, lambda: seen.append((loop.time(), "b")))
    cancelled = loop.call_later(2, lambda: seen.append((loop.time(), "never")))
    cancelled.cancel()
    loop.run()
    assert seen == [(1, "a"), (1, "b"), (5, "c")]
    assert loop.time() == 5


def test_run_until_stops_at_the_deadline_and_resumes() -> None:
    loop = VirtualLoop()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(loop.time())
        loop.call_later(10, tick)

    loop.call_soon(tick)
    loop.run(until=35)
    assert ticks == [0, 10, 20, 30]
    assert loop.time() == 35
    loop.run_for(10)
    assert ticks[-1] == 40


def test_stop_from_a_callback() -> None:
    loop = VirtualLoop()
    loop.call_later(1, loop.stop)
    loop.call_later(2, lambda: (_ for _ in ()).throw(AssertionError("ran after stop")))
    loop.run()
    assert loop.time() == 1


def test_a_failing_callback_does_not_stop_the_world() -> None:
    loop = VirtualLoop()
    seen = []
    loop.call_later(1, lambda: 1 / 0)
    loop.call_later(2, lambda: seen.append("after"))
    loop.run()
    assert seen == ["after"]


def _world_trace(seed: int) -> list[tuple[float, str, int]]:
    """A tiny world: two components with their own RNGs talking over a pipe."""
    loop = VirtualLoop(seed=seed)
    a, b = pipe_pair(loop, latency=0.01)
    trace: list[tuple[float, str, int]] = []
    rng_a, rng_b = loop.random("a"), loop.random("b")
    b.set_handlers(lambda data: trace.append((round(loop.time(), 6), "b got", len(data))))

    def send() -> None:
        n = rng_a.randint(1, 50)
        a.write(bytes(n))
        trace.append((round(loop.time(), 6), "a sent", n))
        if loop.time() < 100:
            loop.call_later(rng_b.random() * 3, send)

    loop.call_soon(send)
    loop.run()
    return trace


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    assert _world_trace(7) == _world_trace(7)
    assert _world_trace(7) != _world_trace(8)
    assert len(_world_trace(7)) > 50


def test_pipe_delivers_in_order_never_inside_write() -> None:
    loop = VirtualLoop()
    a, b = pipe_pair(loop)
    got: list[bytes] = []
    b.set_handlers(got.append)
    a.write(b"one ")
    assert got == []  # not re-entrant: delivery is a scheduled callback
    a.write(b"two")
    loop.run()
    assert b"".join(got) == b"one two"


def test_pipe_close_reaches_the_peer_after_data() -> None:
    loop = VirtualLoop()
    a, b = pipe_pair(loop, latency=0.5)
    events: list[str] = []
    b.set_handlers(lambda d: events.append(d.decode()), lambda: events.append("closed"))
    a.write(b"last words")
    a.close()
    a.write(b"ignored")
    loop.run()
    assert events == ["last words", "closed"]
    assert b.closed


def test_data_before_handlers_is_kept() -> None:
    loop = VirtualLoop()
    a, b = pipe_pair(loop)
    a.write(b"early")
    loop.run()
    got: list[bytes] = []
    b.set_handlers(got.append)
    assert got == [b"early"]


def test_virtual_tcp_connect_and_refuse() -> None:
    loop = VirtualLoop()
    server_got: list[bytes] = []
    results: list[str | None] = []

    def accept(stream) -> None:
        stream.set_handlers(lambda d: (server_got.append(d), stream.write(d.upper())))

    listener = loop.listen_tcp("127.0.0.1", 6867, accept)
    client_got: list[bytes] = []

    def connected(stream, err) -> None:
        results.append(err)
        if stream is not None:
            stream.set_handlers(client_got.append)
            stream.write(b"hello")

    loop.connect_tcp("localhost", 6867, connected)
    loop.connect_tcp("127.0.0.1", 6868, connected)
    loop.run()
    assert results == [None, "connection refused"]
    assert server_got == [b"hello"] and client_got == [b"HELLO"]
    listener.close()
    loop.connect_tcp("127.0.0.1", 6867, connected)
    loop.run()
    assert results[-1] == "connection refused"


def test_wall_clock_is_epoch_plus_virtual_time() -> None:
    loop = VirtualLoop(epoch=1000.0)
    loop.call_later(60, loop.stop)
    loop.run()
    assert loop.wall() == 1060.0


def test_due_now_timers_skip_the_heap_and_run_after_those_scheduled_earlier_for_now() -> None:
    """call_soon / call_later(0) wait in a FIFO, not on the heap; the order is still (time, scheduling)."""
    loop = VirtualLoop()
    seen: list[str] = []
    heap_sizes: list[int] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(lambda: seen.append("soon-1"))
        loop.call_later(0, lambda: seen.append("later-0"))
        loop.call_at(loop.time(), lambda: seen.append("at-now"))
        loop.call_at(loop.time() - 1, lambda: seen.append("overdue"))   # before everything due now
        heap_sizes.append(len(loop._timers))

    loop.call_at(5, first)
    loop.call_at(5, lambda: seen.append("second"))   # scheduled before the clock reached 5
    loop.call_at(6, lambda: seen.append("six"))
    cancelled = loop.call_soon(lambda: seen.append("never"))
    cancelled.cancel()
    loop.run(until=5)
    # At 5: the heap holds "second", "six" and the overdue one; the three due-now timers are not on it.
    assert heap_sizes == [3]
    assert seen == ["first", "overdue", "second", "soon-1", "later-0", "at-now"]
    assert loop.time() == 5
    # stop() inside an instant leaves its due-now timers for the next run, still first.
    loop.call_at(7, lambda: (loop.call_soon(lambda: seen.append("soon-7")), loop.stop()))
    loop.call_at(8, lambda: seen.append("eight"))
    loop.run()
    assert seen[-1] == "six" and loop.time() == 7
    assert loop.next_timer() == 7
    loop.run()
    assert seen[-2:] == ["soon-7", "eight"] and loop.time() == 8

