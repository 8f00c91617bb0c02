"""The driver against the virtual modem with realistic latencies, on the virtual clock (pipes, no OS)."""

from __future__ import annotations

from modem.driver.modem import Modem, ModemReady, Ok, SmsReceived, TcpDataReceived
from modem.driver.power import VirtualPowerKey
from modem.emulator import VirtualModem, VirtualNetwork
from runtime import VirtualLoop, pipe_pair


def session(seed: int) -> tuple[list, bytes, float]:
    loop = VirtualLoop(seed=seed)
    a, b = pipe_pair(loop, latency=0.002)
    wire = bytearray()
    vm = VirtualModem(loop, b, VirtualNetwork(loop), profile="realistic", powered=False)
    orig = a._deliver

    def tap(data: bytes) -> None:
        wire.extend(data)
        orig(data)
    a._deliver = tap  # record what the modem said, byte for byte
    modem = Modem(loop, a, power_key=VirtualPowerKey(loop, vm))
    events: list = []
    modem.subscribe(events.append)
    results: list = []
    accepted: list = []

    def on_accept(stream) -> None:
        accepted.append(stream)
        stream.set_handlers(lambda d: stream.write(b"pong " + d))
    listener = loop.listen_tcp("server.example", 6867, on_accept)

    def step(name, *args, then=None, **kw):
        def done(r):
            results.append((name, r))
            if isinstance(r, Ok) and then:
                then()
        getattr(modem, name)(*args, on_done=done, **kw)

    def registered():
        def check(r):
            if isinstance(r, Ok) and r.value.registered:
                step("gprs_attach", "internet", then=lambda: step(
                    "tcp_connect", "server.example", listener.port,
                    then=lambda: step("tcp_send", b"ping")))
            else:
                loop.call_later(1.0, registered)
        modem.registration(check)

    step("power_cycle", then=lambda: step("probe", then=lambda: step("init", then=registered)))
    loop.call_at(120.0, vm.inject_sms, "+447700900555", "hello car")
    loop.run(until=200.0)
    return [*results, *[e for e in events if isinstance(e, TcpDataReceived | SmsReceived | ModemReady)]], \
        bytes(wire), loop.time()


def test_realistic_boot_to_online_then_sms():
    got, wire, _ = session(11)
    names = [(n, type(r).__name__) for n, r in (x for x in got if isinstance(x, tuple))]
    assert names[:3] == [("power_cycle", "Ok"), ("probe", "Ok"), ("init", "Ok")]
    assert ("tcp_send", "Ok") in names
    assert TcpDataReceived(b"pong ping") in got
    assert any(isinstance(e, SmsReceived) and e.text == "hello car" for e in got)
    assert b"RDY" in wire and b"CONNECT OK" in wire


def test_same_seed_same_bytes():
    assert session(5)[1] == session(5)[1]
