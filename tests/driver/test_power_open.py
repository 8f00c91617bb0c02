"""Power key (gpiozero mock pins, virtual modem API) and opening the port by name."""

from __future__ import annotations

import pytest

from modem.driver.open import open_port, parse_spec
from modem.driver.power import GpioPowerKey, VirtualPowerKey
from runtime import RealLoop, VirtualLoop
from runtime.pty import PtyEndpoint


def test_gpio_power_key_pulses_the_pin():
    mock = pytest.importorskip("gpiozero.pins.mock")
    factory = mock.MockFactory()
    loop = VirtualLoop()
    key = GpioPowerKey(loop, 17, pin_factory=factory, pulse_s=1.2)
    pin = factory.pin(17)
    seen = []
    key.pulse(lambda: seen.append((loop.time(), pin.state)))
    assert pin.state is True
    loop.run_for(1.1)
    assert pin.state is True and seen == []
    loop.run_for(0.2)
    assert seen == [(pytest.approx(1.2), False)]
    key.close()


def test_gpio_power_key_active_low():
    mock = pytest.importorskip("gpiozero.pins.mock")
    factory = mock.MockFactory()
    loop = VirtualLoop()
    key = GpioPowerKey(loop, 27, pin_factory=factory, active_high=False)
    pin = factory.pin(27)
    assert pin.state is True  # released = high
    key.pulse(lambda: None)
    assert pin.state is False
    loop.run()
    assert pin.state is True


def test_virtual_power_key_calls_the_modem_api():
    class Target:
        presses: list[float] = []

        def power_key(self):
            self.presses.append(loop.time())

    loop = VirtualLoop()
    t = Target()
    done = []
    VirtualPowerKey(loop, t).pulse(lambda: done.append(loop.time()))
    loop.run()
    assert t.presses == [pytest.approx(1.2)] and done == t.presses


def test_virtual_power_key_survives_a_broken_target():
    class Broken:
        def power_key(self):
            raise ConnectionRefusedError("control socket gone")

    loop = VirtualLoop()
    done = []
    VirtualPowerKey(loop, Broken()).pulse(lambda: done.append(1))
    loop.run()
    assert done == [1]


def test_parse_spec():
    assert parse_spec("/dev/serial0") == ("/dev/serial0", 115200)
    assert parse_spec("/dev/ttyUSB2@9600") == ("/dev/ttyUSB2", 9600)
    assert parse_spec("loop://") == ("loop://", 115200)
    with pytest.raises(ValueError):
        parse_spec(" ")


def test_open_modem_on_pty_and_url():
    loop = RealLoop()
    ep = PtyEndpoint(loop)
    got = []
    try:
        s = open_port(loop, ep.path)
        ep.stream.set_handlers(got.append)
        s.write(b"AT\r")
        deadline = loop.time() + 2
        while not got and loop.time() < deadline:
            loop.run_for(0.05)
        assert b"".join(got) == b"AT\r"
        s.close()
    finally:
        ep.close()


def test_open_modem_pyserial_url():
    loop = RealLoop()
    u = open_port(loop, "loop://")
    echo = []
    u.set_handlers(echo.append)
    u.write(b"ping")
    loop.run_for(0.1)
    assert b"".join(echo) == b"ping"
    u.close()
