"""A modem port that vanishes and returns (issue 12 item 2): the `Modem` reopens it, with capped back-off.

`Modem` over an in-memory pipe on the virtual clock; the "device" vanishing is the pipe closing, and
the reopener hands out a fresh pipe to a fresh scripted modem once it is "back". Before, a closed
port closed the `Modem` for good: every later operation failed at once ("modem closed"), forever.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from driver_fakes import ScriptedModem

from modem.driver.dialects.sim800 import Sim800
from modem.driver.modem import REOPEN_CAP, REOPEN_FIRST, Failed, Modem, Ok, PortClosed, PortReopened
from runtime import Stream, VirtualLoop, pipe_pair
from runtime.reopen import DeviceNotBack, PathReopener


class Reopener:
    """Fails `fail` attempts (ENOENT, as a vanished /dev/ttyUSB2 does), then a new pipe to a new modem."""

    path = "/dev/ttyUSB2"

    def __init__(self, loop: VirtualLoop, fail: int) -> None:
        self.loop, self.fail = loop, fail
        self.tries: list[float] = []
        self.lost_at: list[float] = []
        self.fake: ScriptedModem | None = None

    def lost(self) -> None:
        self.lost_at.append(self.loop.time())

    def open(self) -> Stream:
        self.tries.append(self.loop.time())
        if len(self.tries) <= self.fail:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.path)
        a, b = pipe_pair(self.loop, latency=0.01)
        self.fake = ScriptedModem(self.loop, b)
        return a


def make(fail: int) -> tuple[VirtualLoop, Modem, ScriptedModem, Reopener, list[object]]:
    loop = VirtualLoop(seed=1)
    a, b = pipe_pair(loop, latency=0.01)
    fake = ScriptedModem(loop, b)
    reopener = Reopener(loop, fail)
    modem = Modem(loop, a, dialect=Sim800(multi=False), reopen=reopener)
    events: list[object] = []
    modem.subscribe(events.append)
    return loop, modem, fake, reopener, events


def call(loop: VirtualLoop, start: object, limit: float = 30.0) -> object:
    got: list[object] = []
    start(got.append)  # type: ignore[operator]
    end = loop.time() + limit
    while not got and loop.time() < end:
        loop.run(until=min(end, loop.time() + 0.1))
    assert len(got) == 1
    return got[0]


def test_vanished_port_is_reopened_with_capped_back_off_and_the_modem_answers_again() -> None:
    loop, modem, fake, reopener, events = make(fail=8)
    assert call(loop, modem.probe) == Ok(None)
    fake.silent = True
    pending: list[object] = []

    def failed(result: object) -> None:
        pending.append(result)
        events.append(result)

    modem.registration(failed)                  # in flight when the device goes
    loop.run_for(0.5)
    gone_at = loop.time()
    fake.stream.close()                         # the device vanishes (EIO on the pty, USB unplugged)
    loop.run_for(0.05)
    assert len(pending) == 1 and isinstance(pending[0], Failed) and "gone" in pending[0].reason
    # Subscribers hear of the loss before the failures: a link mid-reset must not escalate on them.
    assert events.index(pending[0]) > min(i for i, e in enumerate(events) if isinstance(e, PortClosed))
    first = [e for e in events if isinstance(e, PortClosed)]
    assert first and first[0].port == "/dev/ttyUSB2" and first[0].retries == 0
    assert reopener.lost_at == [pytest.approx(gone_at, abs=0.1)]
    # Meanwhile every operation fails at once, without touching the line (the callers pace retries).
    assert isinstance(call(loop, modem.signal, limit=1.0), Failed)
    loop.run_for(600)
    # Attempts at 1, 2, 4, 8, 16 s apart, then every 30 s (±10 % jitter): never a hot loop.
    gaps = [b - a for a, b in zip([gone_at, *reopener.tries], reopener.tries, strict=False)]
    assert len(reopener.tries) == 9
    for i, gap in enumerate(gaps):
        want = min(REOPEN_CAP, REOPEN_FIRST * 2 ** i)
        assert want * 0.89 <= gap <= want * 1.11, (i, gaps)
    retries = [e.retries for e in events if isinstance(e, PortClosed)]
    assert retries == list(range(9))            # health sees every failed try and the next one
    back = [e for e in events if isinstance(e, PortReopened)]
    assert len(back) == 1 and back[0].retries == 8
    assert back[0].gone_for == pytest.approx(reopener.tries[-1] - gone_at, abs=0.05)
    assert modem.port_gone is None and not modem.closed
    # The modem behind the reopened port answers (a fresh scripted modem here).
    assert call(loop, modem.probe) == Ok(None)
    assert reopener.fake is not None and "AT" in reopener.fake.lines


def test_a_port_that_goes_again_is_reopened_again() -> None:
    loop, modem, fake, reopener, events = make(fail=0)
    fake.stream.close()
    loop.run_for(5)
    assert reopener.fake is not None
    reopener.fake.stream.close()
    loop.run_for(5)
    assert len([e for e in events if isinstance(e, PortReopened)]) == 2
    assert call(loop, modem.probe) == Ok(None)


def test_a_dangling_link_is_not_followed_until_it_is_replaced(tmp_path: Path) -> None:
    """SIGKILL leaves the emulator's symlink; its pty number may soon belong to another program."""
    link = tmp_path / "modem"
    os.symlink(tmp_path / "pts-7", link)        # points at nothing: the device is gone
    opened: list[str] = []

    def opener() -> Stream:
        opened.append(os.readlink(link))
        raise FileNotFoundError(errno.ENOENT, "gone", str(link))

    r = PathReopener(str(link), opener)
    r.lost()
    (tmp_path / "pts-7").touch()                # the pty number is someone else's now
    with pytest.raises(DeviceNotBack):
        r.open()
    assert opened == []
    link.unlink()
    os.symlink(tmp_path / "pts-9", link)        # the restarted emulator makes a new link
    with pytest.raises(FileNotFoundError):
        r.open()
    assert opened == [str(tmp_path / "pts-9")]


def test_real_pty_noise_is_not_a_vanished_device_and_a_replaced_pty_is_reopened(tmp_path: Path) -> None:
    """Over real ptys: bytes that are no protocol stay `LineNoise`; the pty's end closing is `PortClosed`,
    and a new pty behind the same link (a restarted emulator) is opened and answers."""
    from modem.driver.events import LineNoise
    from modem.driver.open import open_modem
    from runtime import RealLoop
    from runtime.pty import PtyEndpoint

    loop = RealLoop()
    link = str(tmp_path / "modem")

    def device() -> PtyEndpoint:
        dev = PtyEndpoint(loop, link)
        dev.stream.set_handlers(lambda data: dev.stream.write(b"\r\nOK\r\n") if b"AT\r" in data else None)
        return dev

    def run_until(check: object, limit: float = 20.0) -> None:
        end = loop.time() + limit
        while not check() and loop.time() < end:  # type: ignore[operator]
            loop.run_for(0.05)

    dev = device()
    modem = open_modem(loop, link)
    events: list[object] = []
    modem.subscribe(events.append)
    try:
        dev.stream.write(b"\xff\x00\xfe\x80 noise\r\n")
        run_until(lambda: any(isinstance(e, LineNoise) for e in events))
        assert any(isinstance(e, LineNoise) for e in events)
        assert not any(isinstance(e, PortClosed) for e in events) and modem.port_gone is None
        dev.close()                                  # the emulator stops: its pty and link go away
        run_until(lambda: modem.port_gone is not None)
        assert modem.port_gone is not None and modem.port_gone.port == link
        dev = device()                               # started again: a new pty behind the same link
        run_until(lambda: any(isinstance(e, PortReopened) for e in events))
        assert [type(e) for e in events if isinstance(e, PortReopened)] == [PortReopened]
        got: list[object] = []
        modem.probe(got.append, tries=3)
        run_until(lambda: got)
        assert got == [Ok(None)]
    finally:
        modem.close()
        dev.close()
