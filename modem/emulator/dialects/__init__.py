"""Emulator dialects: what makes one modem model differ from another, chosen by name.

A dialect is a table of command handlers plus the model's identity and its boot and link figures.
The interpreter (line discipline, prompts, URC queue, timers, faults) is shared; a new model is one
module here that builds its `Dialect` — usually from a copy of another's command table — and one
line in `DIALECTS`. `vmodem serve --dialect NAME` and `VirtualModem(..., dialect=NAME)` pick one.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from modem.emulator.command import Handler

# name -> the module that defines `DIALECT` (imported on first use: a dialect's command modules
# register their handlers on import, and only the dialects in use need to be loaded).
DIALECTS: dict[str, str] = {
    "sim800": "modem.emulator.dialects.sim800",
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
