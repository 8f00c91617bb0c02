"""The SIMCom SIM7600 (SIM7500/SIM7600 Series AT Command Manual): LTE with GSM fallback.

Its handlers live in the `commands_sim7600_*` modules (identity and power, registration on LTE/GSM,
the NETOPEN/CIPOPEN IP stack, GNSS), registered in a copy of the SIM800's table whose SMS, SIM and
27.007 commands answer the same. Coverage against the manual: docs/vmodem-sim7600-coverage.md.
"""

from __future__ import annotations

# Imported for their registrations in SIM7600_COMMANDS.
from modem.emulator import (  # noqa: F401
    commands_sim7600_gnss,
    commands_sim7600_ip,
    commands_sim7600_network,
)
from modem.emulator.commands_sim7600_basic import MANUFACTURER, MODEL, REVISION, SIM7600_COMMANDS
from modem.emulator.dialects import GSM_FAULTS, Dialect
from modem.emulator.faults import LTE_ONLY

DIALECT = Dialect(
    name="sim7600",
    commands=SIM7600_COMMANDS,
    manufacturer=MANUFACTURER,
    model=MODEL,
    revision=REVISION,
    links=10,  # AT+CIPOPEN <link_num> 0..9
    power_on_urcs=("RDY",),  # then +CPIN: READY, SMS DONE, PB DONE; no Call Ready
    radio_urcs=(),
    ready_urcs=("SMS DONE", "PB DONE"),
    rats=("LTE", "GSM"),
    faults=GSM_FAULTS | LTE_ONLY,
    network_lost=commands_sim7600_ip.network_lost,
    remote_close=commands_sim7600_ip.remote_close,
)
