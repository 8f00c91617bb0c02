"""tcu.sd_notify on the virtual clock with a real datagram socket: the watchdog pings only while the
link supervisor ticks; READY once, after the modem answered; STATUS on change; the environment parsed
as systemd sets it."""

from __future__ import annotations

import socket
from pathlib import Path

from runtime import VirtualLoop
from tcu.sd_notify import STALE_TICK_S, Notifier, ServiceNotifier, watchdog_interval


class FakeUnit:
    def __init__(self) -> None:
        self.state = "probe"
        self.ticked: float | None = None
        self.health = "OK"

    def link_state(self) -> str:
        return self.state

    def supervisor_ticked_at(self) -> float | None:
        return self.ticked

    def health_summary(self, now: float) -> str:
        return self.health


def _receiver(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.setblocking(False)
    return s


def _run(loop: VirtualLoop, seconds: float, rx: socket.socket) -> list[str]:
    """Run the loop, reading the socket as systemd does (its queue holds only ~10 datagrams)."""
    out: list[str] = []
    end = loop.time() + seconds
    while loop.time() < end:
        loop.run(until=min(end, loop.time() + 2.0))
        out += _drain(rx)
    return out


def _drain(s: socket.socket) -> list[str]:
    out: list[str] = []
    while True:
        try:
            out += s.recv(4096).decode().splitlines()
        except BlockingIOError:
            return out


def test_pings_only_while_the_supervisor_ticks(tmp_path: Path) -> None:
    rx = _receiver(tmp_path / "n")
    loop = VirtualLoop()
    unit = FakeUnit()
    svc = ServiceNotifier(loop, Notifier(str(tmp_path / "n")), unit, watchdog_s=5.0)
    svc.start()

    def tick() -> None:          # the link driver's once-a-second tick
        unit.ticked = loop.time()
        if loop.time() < 52:    # then it wedges (last tick at 52 s)
            loop.call_later(1.0, tick)

    loop.call_later(1.0, tick)
    got = _run(loop, 59.5, rx)
    assert got.count("WATCHDOG=1") == 11          # at 5, 10, …, 55 s
    assert "READY=1" not in got and "STATUS=link probe; OK" in got

    unit.state, unit.health = "init", "modem port gone"
    got = _run(loop, 60, rx)
    assert got.count("READY=1") == 1 and "STATUS=link init; modem port gone" in got
    assert got.count("WATCHDOG=1") == 0           # 52 s + STALE_TICK_S has passed: no ping
    assert svc.skipped_pings >= 60 // 5 - 1 and STALE_TICK_S < 5

    svc.stop()
    assert _drain(rx) == ["STOPPING=1", "STATUS=stopping"]
    rx.close()


def test_environment() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None and watchdog_interval({}) is None
    assert Notifier.from_env({}) is None and Notifier.from_env({"NOTIFY_SOCKET": "relative"}) is None


def test_abstract_socket_and_gone_systemd(tmp_path: Path) -> None:
    name = f"tcu-test-{id(tmp_path)}"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind("\0" + name)
    n = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
    assert n is not None and n.send("READY=1", "STATUS=x")
    assert rx.recv(100) == b"READY=1\nSTATUS=x"
    rx.close()
    assert n.send("WATCHDOG=1") is False and n.failed == 1     # nobody listens: logged, never raised
    n.close()
