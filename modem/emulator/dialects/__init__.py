"""Emulator dialects: what makes one modem model differ from another, chosen by name.

A dialect is a table of command handlers plus the model's identity and its boot and link figures.
The interpreter (line discipline, prompts, URC queue, timers, faults) is shared; a new model is one
module here that builds its `Dialect` — usually from a copy of another's command table — and one
line in `DIALECTS`. `vmodem serve --dialect NAME` and `VirtualModem(..., dialect=NAME)` pick one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.emulator.command import Handler
from modem.emulator.faults import FAULT_KINDS, LTE_ONLY

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

# Every fault kind but the LTE-only ones: what a GSM/GPRS module can suffer.
GSM_FAULTS = frozenset(FAULT_KINDS) - LTE_ONLY

# name -> the module that defines `DIALECT` (imported on first use: a dialect's command modules
# register their handlers on import, and only the dialects in use need to be loaded).
DIALECTS: dict[str, str] = {
    "sim800": "modem.emulator.dialects.sim800",
    "sim7600": "modem.emulator.dialects.sim7600",
}


@dataclass(frozen=True)
class Dialect:
    """One modem model as the emulator presents it."""

    name: str
    commands: Mapping[str, Handler]
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR
    links: int  # TCP links in multi-connection mode (SIM800: 6, numbered 0..5)
    # The boot sequence, in three steps the interpreter times (timing.py boot_rdy/boot_cfun/boot_ready):
    power_on_urcs: tuple[str, ...]  # the UART is up (SIM800: RDY)
    radio_urcs: tuple[str, ...]  # full functionality, said just before +CPIN: (SIM800: +CFUN: 1)
    ready_urcs: tuple[str, ...]  # the modem can take calls and SMS (SIM800: Call Ready, SMS Ready)
    # Radio access technologies, preferred first: the network model registers on the first one the
    # module's mode (AT+CNMP) and its faults allow (SIM800: GSM only; SIM7600: LTE, then GSM).
    rats: tuple[str, ...] = ("GSM",)
    faults: frozenset[str] = GSM_FAULTS  # the fault kinds `vmodem fault` may inject into this model
    # The model's own IP stack, when it is not the SIM800's CIPSTART one: called when the packet
    # network is lost (registration or GPRS gone) and for the `remote-close` fault.
    network_lost: Callable[[Interpreter], None] | None = None
    remote_close: Callable[[Interpreter], None] | None = None


class UnknownDialect(ValueError):
    """A dialect name nobody registered: the caller typed it wrong."""


def known_dialects() -> list[str]:
    return sorted(DIALECTS)


def dialect_named(name_or_dialect: str | Dialect) -> Dialect:
    if isinstance(name_or_dialect, Dialect):
        return name_or_dialect
    module = DIALECTS.get(name_or_dialect)
    if module is None:
        raise UnknownDialect(f"unknown dialect {name_or_dialect!r}; known: {', '.join(known_dialects())}")
    dialect = importlib.import_module(module).DIALECT
    assert isinstance(dialect, Dialect), module
    return dialect
