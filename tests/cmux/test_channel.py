"""A Stream per DLCI: the unchanged driver `Modem` and emulator `VirtualModem` over multiplexer channels."""

from __future__ import annotations

import functools
import time

from modem.cmux.channel import MuxPort, MuxStream
from modem.cmux.mux import ChannelOpened, MuxClosed, MuxEvent, Role
from modem.driver.modem import Modem
from modem.driver.script import Ok
from modem.emulator.modem import VirtualModem
from modem.emulator.network import VirtualNetwork
from runtime import RealLoop, VirtualLoop, pipe_pair
from runtime.pty import PtyEndpoint
from runtime.serialport import open_serial


def test_echo_per_channel_on_the_virtual_clock() -> None:
    loop = VirtualLoop(seed=1)
    a, b = pipe_pair(loop, latency=0.001)
    te = MuxPort(loop, a, Role.INITIATOR)

    def modem_event(ev: MuxEvent) -> None:
        if isinstance(ev, ChannelOpened):
            ch = modem.channel(ev.dlci)
            ch.set_handlers(functools.partial(echo, ch))

    def echo(ch: MuxStream, data: bytes) -> None:
        ch.write(b"%d:" % ch.dlci + data)

    modem = MuxPort(loop, b, Role.RESPONDER, on_event=modem_event)
    te.start()
    got: dict[int, bytes] = {1: b"", 2: b"", 3: b""}
    closed: list[int] = []

    def collect(n: int, data: bytes) -> None:
        got[n] += data

    for n in (1, 2, 3):
        ch = te.channel(n)
        ch.set_handlers(functools.partial(collect, n), functools.partial(closed.append, n))
        ch.write(b"held before UA ")  # written while opening: held, sent after UA
        ch.open()
    loop.run_for(1.0)
    for n in (1, 2, 3):
        te.channel(n).write(b"x" * 100)
    loop.run_for(1.0)
    assert got == {n: b"%d:held before UA " % n + b"".join(b"%d:" % n + c for c in _chunks(b"x" * 100, 31))
                   for n in (1, 2, 3)}
    te.close_down()
    loop.run_for(1.0)
    assert sorted(closed) == [1, 2, 3] and te.closed and modem.closed
    assert all(te.channel(n).closed is False for n in (1, 2, 3))  # fresh streams after the close


def _chunks(data: bytes, n: int) -> list[bytes]:
    return [data[i:i + n] for i in range(0, len(data), n)]


def test_driver_and_virtual_modem_unchanged_over_channels_on_a_real_pty() -> None:
    """End to end over a real pty: the responder serves a VirtualModem per DLCI, the driver's Modem
    talks AT over DLCI 1 and DLCI 2 at the same time."""
    loop = RealLoop(seed=1)
    endpoint = PtyEndpoint(loop)
    network = VirtualNetwork(loop)
    vms: dict[int, VirtualModem] = {}

    def on_modem_event(ev: MuxEvent) -> None:
        if isinstance(ev, ChannelOpened):
            vms[ev.dlci] = VirtualModem(loop, dev.channel(ev.dlci), network, profile="instant",
                                        number=f"+4477009000{ev.dlci:02d}", name=f"dlci{ev.dlci}")

    dev = MuxPort(loop, endpoint.stream, Role.RESPONDER, on_event=on_modem_event)
    serial = open_serial(loop, endpoint.path)
    host_events: list[MuxEvent] = []
    host = MuxPort(loop, serial, Role.INITIATOR, on_event=host_events.append)
    host.start()
    for n in (1, 2):
        host.open(n)
    modems = {n: Modem(loop, host.channel(n)) for n in (1, 2)}
    results: dict[int, object] = {}
    for n, m in modems.items():
        m.probe(functools.partial(results.__setitem__, n), tries=20, interval=0.2)
    deadline = time.monotonic() + 10
    while len(results) < 2 and time.monotonic() < deadline:
        loop.run(until=loop.time() + 0.05)
    assert all(isinstance(r, Ok) for r in results.values()), results
    assert set(vms) == {1, 2}
    host.close_down()
    deadline = time.monotonic() + 3
    while not (host.closed and dev.closed) and time.monotonic() < deadline:
        loop.run(until=loop.time() + 0.05)
    assert MuxClosed("closed down (CLD answered)") in host_events
    for m in modems.values():
        m.close()
    for vm in vms.values():
        vm.close()
    serial.close()
    endpoint.close()
    loop.close()
