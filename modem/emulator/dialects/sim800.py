"""The SIMCom SIM800 (SIM800 Series AT Command Manual V1.09): the emulator's first dialect.

Its handlers live in the `commands_*` modules, one per chapter group of sim800-at.md §2, and
register in the shared SIM800 table with `@command("+X")` when imported here.
"""

from __future__ import annotations

# Imported for their registrations in COMMANDS.
from modem.emulator import (  # noqa: F401
    commands_basic,
    commands_bearer,
    commands_cmux,
    commands_gnss,
    commands_http,
    commands_network,
    commands_sms,
    commands_tcp,
)
from modem.emulator.command import COMMANDS
from modem.emulator.dialects import Dialect

DIALECT = Dialect(
    name="sim800",
    commands=COMMANDS,
    manufacturer=commands_basic.MANUFACTURER,
    model=commands_basic.MODEL,
    revision=commands_basic.REVISION,
    links=6,  # manual §8.2.2: <n> 0..5
    power_on_urcs=("RDY",),  # sim800-at.md §4: RDY, +CFUN: 1, +CPIN: READY, Call Ready, SMS Ready
    radio_urcs=("+CFUN: 1",),
    ready_urcs=("Call Ready", "SMS Ready"),
)
