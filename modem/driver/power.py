"""The modem's power key: a GPIO pulse on a Pi, the control interface of a virtual modem.

A SIM800 switches on or off on a low pulse of PWRKEY of at least 1 s (SIM800 hardware design
manual); HATs invert it through a transistor, so the pin drives the key *active* for `pulse_s`.
`pulse(on_done)` never blocks: the end of the pulse is a loop timer, and `on_done()` follows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

PULSE_S = 1.2  # SIM800: PWRKEY low >= 1 s switches on/off; a little margin


class PowerKey(Protocol):
    """Anything that can press the modem's power key once."""

    def pulse(self, on_done: Callable[[], None]) -> None: ...


class GpioPowerKey:
    """PWRKEY wired to a GPIO pin, via gpiozero (optional dependency `tcu-sim[pi]`).

    `pin` is any gpiozero pin name (17, "GPIO17", "BOARD11"); `active_high` False for a key wired
    straight to the modem (pull low to press). `pin_factory` lets tests pass gpiozero's MockFactory.
    """

    def __init__(self, loop: Loop, pin: int | str, *, active_high: bool = True, pulse_s: float = PULSE_S,
                 pin_factory: Any = None) -> None:
        try:
            from gpiozero import DigitalOutputDevice
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("GpioPowerKey needs gpiozero: pip install 'tcu-sim[pi]'") from exc
        self._loop = loop
        self.pulse_s = pulse_s
        self.device = DigitalOutputDevice(pin, active_high=active_high, initial_value=False,
                                          pin_factory=pin_factory)
        self._busy = False

    def pulse(self, on_done: Callable[[], None]) -> None:
        if self._busy:  # a second press during a pulse would be the same press
            self._loop.call_later(self.pulse_s, on_done)
            return
        self._busy = True
        log.info("power key: pressing for %.1f s", self.pulse_s)
        self.device.on()
        self._loop.call_later(self.pulse_s, self._release, on_done)

    def _release(self, on_done: Callable[[], None]) -> None:
        self.device.off()
        self._busy = False
        on_done()

    def close(self) -> None:
        self.device.close()


class _HasPowerKey(Protocol):
    def power_key(self) -> Any: ...


class VirtualPowerKey:
    """Presses the virtual modem's power key through its public API (in-process object or client).

    `target` is anything with `.power_key()`: the `VirtualModem` itself, or its control client. The
    press takes `pulse_s` of loop time, like the real key, then `on_done()` runs.
    """

    def __init__(self, loop: Loop, target: _HasPowerKey, pulse_s: float = PULSE_S) -> None:
        self._loop = loop
        self.target = target
        self.pulse_s = pulse_s

    def pulse(self, on_done: Callable[[], None]) -> None:
        self._loop.call_later(self.pulse_s, self._press, on_done)

    def _press(self, on_done: Callable[[], None]) -> None:
        try:
            self.target.power_key()
        except Exception:  # the control socket may be gone: the caller's probe will find out
            log.exception("virtual power key failed")
        on_done()
