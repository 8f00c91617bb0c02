"""The SIM7600's command table, its identity, power commands and the SIM800 commands it lacks.

SIM7500/SIM7600 Series AT Command Manual, chapters 2-4 (V3.00): what the module answers to `ATI`,
`AT+CGMI/CGMM/CGMR`, `AT+CSUB`, `AT+CICCID`, `AT+CRESET` and `AT+CPOF`. The table starts as a copy of
the SIM800's (SMS per 27.005, SIM, registration, `+CSQ` answer the same) with the SIM800-only
chapters (CIPSTART stack, SAPBR bearer, SIM800 HTTP, SIM808 GNSS) removed: a SIM7600 answers ERROR
to those. The other `commands_sim7600_*` modules register in `SIM7600_COMMANDS` on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.emulator import commands_basic
from modem.emulator.command import Command, CommandTable, Reply
from modem.emulator.dialects import dialect_named
from modem.emulator.errors import AtError

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

MANUFACTURER = "SIMCOM INCORPORATED"
MODEL = "SIMCOM_SIM7600E-H"
REVISION = "LE20B04SIM7600M22"
SUBVERSION = ("B04V03", "MDM9x07_LE20_S_22_V1.03_210527")

# SIM800 commands a SIM7600 does not have (its own TCP/IP, HTTP and GNSS command sets differ).
SIM800_ONLY = (
    "+CIPSTART", "+CIPSHUT", "+CSTT", "+CIICR", "+CIFSR", "+CIPMUX", "+CIPSTATUS", "+CIPQSEND",
    "+CIPSPRT", "+CIPSSL", "+CDNSCFG", "+CLPORT", "+CIPDPDP", "+CIPSHOWTP", "+CIPATS", "+SAPBR",
    "+HTTPINIT", "+HTTPPARA", "+HTTPDATA", "+HTTPACTION", "+HTTPREAD", "+HTTPHEAD", "+HTTPSTATUS",
    "+HTTPTERM", "+HTTPSSL", "+CGNSPWR", "+CGNSINF", "+CGNSTST", "+CGNSSEQ", "+CGNSURC", "+CGNSCMD",
    "+CPOWD", "+CENG", "+CBAND", "+CBATCHK", "+CSGS", "+CMGHEX", "+CCID", "+CADC", "+CIPSEND",
    "+CIPCLOSE", "+CIPRXGET", "+CIPHEAD", "+CIPSRIP", "+CIPMODE", "+CIPCCFG",
)  # fmt: skip

# A copy of the SIM800 dialect's whole table (whatever its modules register, AT+CMUX included).
SIM7600_COMMANDS = CommandTable(dialect_named("sim800").commands)
for _name in SIM800_ONLY:
    SIM7600_COMMANDS.pop(_name, None)
command = SIM7600_COMMANDS.command


@command("I")
def info(m: Interpreter, c: Command) -> Reply:
    """Manual §2.2.6 ATI: the product block, one `<tag>: <value>` per line."""
    return Reply(
        lines=[
            f"Manufacturer: {MANUFACTURER}",
            f"Model: {MODEL}",
            f"Revision: {REVISION}",
            f"IMEI: {m.imei}",
            "+GCAP: +CGSM,+FCLASS,+DS",
        ]
    )


@command("+CGMR", "+GMR")
def cgmr(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.3: the revision carries its prefix (`+CGMR: LE20B04SIM7600M22`), unlike a SIM800's."""
    if c.op == "test":
        return Reply()
    return Reply(lines=[f"+CGMR: {REVISION}"])


@command("+GCAP")
def gcap(m: Interpreter, c: Command) -> Reply:
    return Reply(lines=["+GCAP: +CGSM,+FCLASS,+DS"])


@command("+CSUB")
def csub(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.9: module version and chip."""
    if c.op == "test":
        return Reply()
    return Reply(lines=[f"+CSUB: {v}" for v in SUBVERSION])


@command("+CICCID")
def ciccid(m: Interpreter, c: Command) -> Reply:
    """Manual §5.2.15: the SIM's ICCID as `+ICCID: <iccid>`."""
    if c.op == "test":
        return Reply()
    commands_basic.require_sim(m, pin=False)
    return Reply(lines=[f"+ICCID: {m.iccid}"])


@command("+CRESET")
def creset(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.1: OK, then the module resets (volatile state and latched faults gone, boot URCs)."""
    if c.op == "test":
        return Reply()
    if c.op != "exec":
        raise AtError()
    return Reply(after=lambda: m.reboot(None))


@command("+CPOF")
def cpof(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.2: OK, then the module powers off with no URC; the power key brings it back."""
    if c.op == "test":
        return Reply()
    if c.op != "exec":
        raise AtError()
    return Reply(after=lambda: m.power_off(None))


@command("+CFUN")
def cfun(m: Interpreter, c: Command) -> Reply:
    """As the SIM800's; leaving minimum functionality also ends a latched RAT fault (a radio restart)."""
    was = m.settings.cfun
    reply = commands_basic.cfun(m, c)
    if c.op == "set" and was != 1 and m.settings.cfun == 1:
        m.rat_stuck_2g = False
        m.no_service = False
    return reply


@command("+CSQ")
def csq(m: Interpreter, c: Command) -> Reply:
    """27.007 +CSQ as the SIM7600 gives it: <ber> is 99 (not known) on every technology."""
    if c.op == "test":
        return Reply(lines=["+CSQ: (0-31,99),(0-7,99)"])
    return Reply(lines=[f"+CSQ: {m.rssi()[0]},99"])


@command("+CBC")
def cbc(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.11: the supply voltage in volts (`+CBC: 4.100V`), not the SIM800's three fields."""
    if c.op == "test":
        return Reply()
    return Reply(lines=[f"+CBC: {commands_basic.BATTERY_MV / 1000:.3f}V"])


@command("+CPMUTEMP")
def cpmutemp(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.12: the module's temperature in °C."""
    if c.op == "test":
        return Reply()
    return Reply(lines=["+CPMUTEMP: 35"])


def _stored(name: str, allowed: range, default: int) -> None:
    """A setting the module stores and reports (`=<n>`, `?`, `=?`) with nothing behind it here."""

    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "read":
            return Reply(lines=[f"{name}: {m.settings.registers.get(name, default)}"])
        if c.op == "test":
            return Reply(lines=[f"{name}: ({allowed.start}-{allowed.stop - 1})"])
        if c.op != "set" or c.int_arg(0) not in allowed:
            raise AtError()
        m.settings.registers[name] = c.int_arg(0)
        return Reply()

    command(name)(handler)


_stored("+CTZU", range(2), 0)  # automatic time zone update from the network
_stored("+CGPSAUTO", range(2), 0)  # start GNSS at power-on
_stored("+CGPSNMEA", range(512), 511)  # NMEA sentences on the NMEA (USB) port
