"""The driver under CMUX: `Modem(mux=...)` against the virtual modem over a real pty, on the real clock.

After init the driver sends AT+CMUX and runs one AT channel per DLCI (1 data, 2 SMS and status,
3 GNSS) over the multiplexer; a modem that refuses, never answers SABM, closes the multiplexer or
reboots under it leaves the driver on plain AT, with a log line that says why.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from modem.driver.modem import (
    Failed,
    GnssFixReceived,
    ModemRebooted,
    Ok,
    SmsReceived,
    TcpDataReceived,
)
from modem.driver.open import open_modem
from modem.emulator import VirtualModem, VirtualNetwork
from modem.emulator.command import Command, CommandTable, Reply
from modem.emulator.dialects import Dialect, dialect_named
from modem.emulator.interpreter import Interpreter
from runtime import RealLoop
from runtime.pty import PtyEndpoint


class World:
    def __init__(self, dialect: str = "sim800", vm_dialect: str | Dialect | None = None, mux: str = "on") -> None:
        self.loop = RealLoop(seed=7)
        self.pty = PtyEndpoint(self.loop)
        self.network = VirtualNetwork(self.loop)
        self.vm = VirtualModem(self.loop, self.pty.stream, self.network, profile="instant", gnss=(51.5, -0.12),
                               dialect=vm_dialect or dialect)
        self.modem = open_modem(self.loop, f"{dialect}:{self.pty.path}", mux=mux)
        self.events: list = []
        self.modem.subscribe(self.events.append)
        self.server_rx = bytearray()
        self.listener = self.loop.listen_tcp("127.0.0.1", 0, self._accept)

    def _accept(self, stream) -> None:  # type: ignore[no-untyped-def]
        def on_data(data: bytes) -> None:
            self.server_rx.extend(data)
            stream.write(data)
        stream.set_handlers(on_data)

    def call(self, method: str, *args, limit: float = 15.0, **kw):  # type: ignore[no-untyped-def]
        got: list = []
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        self.run_until(lambda: got, limit, f"{method} did not finish")
        return got[0]

    def run_until(self, cond, limit: float = 5.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
        end = self.loop.time() + limit
        while not cond():
            assert self.loop.time() < end, f"timed out waiting for {what}"
            self.loop.run_for(0.01)

    def of(self, kind):  # type: ignore[no-untyped-def]
        return [e for e in self.events if isinstance(e, kind)]

    def up(self) -> None:
        assert self.call("probe") == Ok(None)
        assert isinstance(self.call("init"), Ok)
        self.run_until(lambda: self.call("registration").value.registered, 10, "registration")

    def close(self) -> None:
        self.modem.close()
        self.vm.close()
        self.listener.close()
        self.pty.close()
        self.loop.close()


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    w = World()
    yield w
    w.close()


@pytest.mark.parametrize("dialect", ["sim800", "sim7600"])
def test_under_cmux_link_sms_status_and_gnss_work(dialect: str) -> None:
    w = World(dialect)
    try:
        w.up()
        assert w.modem.multiplexed and w.vm.status()["mux"] == [1, 2, 3]
        assert w.call("sim_status") == Ok("READY")
        assert isinstance(w.call("signal"), Ok)
        assert isinstance(w.call("gprs_attach", "internet"), Ok)
        assert w.call("tcp_connect", "127.0.0.1", w.listener.port) == Ok(None)
        big = bytes(range(256)) * 12
        assert w.call("tcp_send", big) == Ok(None)
        w.run_until(lambda: bytes(w.server_rx) == big, what="server data")
        w.run_until(lambda: b"".join(e.data for e in w.of(TcpDataReceived)) == big, what="reply")
        assert isinstance(w.call("send_sms", "+447700900123", "Battery at 80%"), Ok)
        assert [s.text for s in w.vm.outbox] == ["Battery at 80%"]
        w.vm.inject_sms("+447700900123", "STAT")
        w.run_until(lambda: w.of(SmsReceived), 10, "SMS")
        assert w.of(SmsReceived)[0].text == "STAT"
        assert w.call("gnss_power", True) == Ok(None)
        w.run_until(lambda: isinstance(w.call("gnss_fix"), Ok), 60, "GNSS fix")
        assert w.modem.multiplexed
    finally:
        w.close()


def test_reboot_under_cmux_falls_back_then_init_multiplexes_again(world: World) -> None:
    world.up()
    assert world.modem.multiplexed
    world.events.clear()
    world.vm.fault("mux-reboot")
    world.run_until(lambda: world.of(ModemRebooted), 10, "reboot noticed")
    assert not world.modem.multiplexed and world.vm.status()["mux"] is None
    world.run_until(lambda: isinstance(world.call("init"), Ok), 20, "init after reboot")
    assert world.modem.multiplexed
    assert isinstance(world.call("signal"), Ok)


def test_cld_from_the_modem_returns_to_plain_at(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.up()
    assert world.vm.mux is not None
    world.vm.mux.port.close_down()
    world.run_until(lambda: not world.modem.multiplexed, 5, "CLD")
    assert "leaving CMUX (CLD from the peer)" in caplog.text
    assert isinstance(world.call("signal"), Ok)


def _dialect_with_cmux(handler) -> Dialect:  # type: ignore[no-untyped-def]
    base = dialect_named("sim800")
    table = CommandTable(base.commands)
    if handler is None:
        del table["+CMUX"]
    else:
        table["+CMUX"] = handler
    return replace(base, commands=table)


def _ok_but_no_mux(m: Interpreter, c: Command) -> Reply:
    return Reply()  # says OK, then goes on reading AT commands: never answers a SABM


def test_no_ua_to_sabm_falls_back_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    w = World(vm_dialect=_dialect_with_cmux(_ok_but_no_mux), mux="auto")
    try:
        w.up()
        assert not w.modem.multiplexed
        assert "leaving CMUX (no UA to SABM" in caplog.text
        assert isinstance(w.call("signal"), Ok)
        assert isinstance(w.call("init"), Ok)  # auto: not asked again
        assert caplog.text.count("AT+CMUX") <= 2
    finally:
        w.close()


def test_refused_cmux_stays_on_plain_at(caplog: pytest.LogCaptureFixture) -> None:
    w = World(vm_dialect=_dialect_with_cmux(None), mux="auto")
    try:
        w.up()
        assert not w.modem.multiplexed
        assert "AT+CMUX=0,0,5,127,10,3,30,10,2 refused" in caplog.text
        assert isinstance(w.call("signal"), Ok)
    finally:
        w.close()


def test_mux_off_never_sends_cmux() -> None:
    w = World(mux="off")
    try:
        w.up()
        assert not w.modem.multiplexed and w.vm.status()["mux"] is None
    finally:
        w.close()


def test_unknown_mux_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="modem mux 'sometimes'"):
        World(mux="sometimes")


_ = (Failed, GnssFixReceived)
