"""Basic, identity, SIM and character-set commands (sim800-at.md §2 rows basic/identity/SIM/charset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.emulator.command import Command, Reply, basic_value, command
from modem.emulator.errors import AtError, CmeError
from modem.emulator.state import Settings

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

MANUFACTURER = "SIMCOM_Ltd"
MODEL = "SIMCOM_SIM800"
REVISION = "Revision:1418B04SIM800C24"
CHARSETS = ("IRA", "GSM", "UCS2", "HEX", "PCCP", "PCDN", "8859-1")


@command("E")
def echo(m: Interpreter, c: Command) -> Reply:
    v = basic_value(c)
    if v not in (0, 1):
        raise AtError()
    m.settings.echo = bool(v)
    return Reply()


@command("V")
def verbose(m: Interpreter, c: Command) -> Reply:
    # sim800-at.md §1: ATV0 (numeric result codes) may be refused.
    if basic_value(c, 1) != 1:
        raise AtError()
    return Reply()


@command("H")
def hang_up(m: Interpreter, c: Command) -> Reply:
    m.call_from = None
    return Reply()


@command("Q", "X", "&C", "&D", "&W", "&K", "L", "M")
def accepted(m: Interpreter, c: Command) -> Reply:
    return Reply()


@command("Z", "&F")
def reset_profile(m: Interpreter, c: Command) -> Reply:
    keep_pin = m.settings.pin_ok
    m.settings = Settings(pin_ok=keep_pin)
    return Reply()


@command("I")
def info(m: Interpreter, c: Command) -> Reply:
    return Reply(lines=["SIM800 R14.18"])


@command("+CMEE")
def cmee(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CMEE: {m.settings.cmee}"])
    if c.op == "test":
        return Reply(lines=["+CMEE: (0-2)"])
    v = c.int_arg(0, 0) if c.op == "set" else 0
    if v not in (0, 1, 2):
        raise AtError()
    m.settings.cmee = v
    return Reply()


@command("+IPR")
def ipr(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+IPR: {m.settings.ipr}"])
    if c.op == "test":
        return Reply(lines=["+IPR: (),(0,1200,2400,4800,9600,19200,38400,57600,115200,230400,460800)"])
    if c.op == "set":
        m.settings.ipr = c.int_arg(0)
    return Reply()


@command("+CLAC")
def clac(m: Interpreter, c: Command) -> Reply:
    names = sorted(n for n in m.dialect.commands if n.startswith("+"))
    return Reply(lines=["AT" + n for n in names])


@command("+GCAP")
def gcap(m: Interpreter, c: Command) -> Reply:
    return Reply(lines=["+GCAP: +CGSM"])


@command("+CFUN")
def cfun(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CFUN: {m.settings.cfun}"])
    if c.op == "test":
        return Reply(lines=["+CFUN: (0,1,4),(0,1)"])
    if c.op != "set":
        raise AtError()
    fun = c.int_arg(0)
    rst = c.int_arg(1, 0)
    if fun not in (0, 1, 4) or rst not in (0, 1):
        raise CmeError(3)
    if rst == 1:
        # +CFUN=1,1: answer OK, then restart with the boot URCs.
        return Reply(after=lambda: m.reboot(None))
    if fun == 1 and m.settings.cfun == 1:
        # Already at full functionality: a real SIM800 answers OK and stays registered (gammu's
        # init sends AT+CFUN=1; restarting the radio here would deregister a ready modem).
        return Reply()
    m.settings.cfun = fun
    if fun == 1:
        m.net_ready = False
        m.later(m.timing.draw("register", m.rng), m._network_found)
    m.check_registration()
    return Reply()


def _identity(value_of):  # type: ignore[no-untyped-def]
    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "test":
            return Reply()
        return Reply(lines=[value_of(m)])

    return handler


command("+CGMI", "+GMI")(_identity(lambda m: m.dialect.manufacturer))
command("+CGMM", "+GMM")(_identity(lambda m: m.dialect.model))
command("+CGMR", "+GMR")(_identity(lambda m: m.dialect.revision))
command("+CGSN", "+GSN")(_identity(lambda m: m.imei))


@command("+CIMI")
def cimi(m: Interpreter, c: Command) -> Reply:
    require_sim(m)
    return Reply(lines=[m.imsi])


@command("+CCID")
def ccid(m: Interpreter, c: Command) -> Reply:
    require_sim(m, pin=False)
    return Reply(lines=[m.iccid])


def require_sim(m: Interpreter, pin: bool = True) -> None:
    if m.faults.on("no-sim", m.now) or not m.sim_ready:
        raise CmeError(10)
    if pin and not m.sim_usable():
        raise CmeError(11)


@command("+CPIN")
def cpin(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if m.faults.on("no-sim", m.now) or not m.sim_ready:
        raise CmeError(10)
    if c.op == "read":
        return Reply(lines=["+CPIN: READY" if m.sim_usable() else "+CPIN: SIM PIN"])
    if c.op != "set":
        raise AtError()
    if m.sim_usable():
        raise CmeError(3)
    if c.str_arg(0) != "1234":
        raise CmeError(16)
    m.settings.pin_ok = True
    m.urc("+CPIN: READY")
    m.later(m.timing.draw("boot_ready", m.rng) * 0.3, m._boot_ready)
    m.check_registration()
    return Reply()


@command("+CSMINS")
def csmins(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        inserted = 0 if m.faults.on("no-sim", m.now) else 1
        return Reply(lines=[f"+CSMINS: 0,{inserted}"])
    if c.op == "test":
        return Reply(lines=["+CSMINS: (0,1)"])
    return Reply()


@command("+CSCS")
def cscs(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f'+CSCS: "{m.settings.cscs}"'])
    if c.op == "test":
        return Reply(lines=["+CSCS: (" + ",".join(f'"{x}"' for x in CHARSETS) + ")"])
    if c.op != "set":
        raise AtError()
    value = c.str_arg(0).upper()
    if value not in CHARSETS:
        raise AtError()
    m.settings.cscs = value
    return Reply()


def _harmless(name: str, read: str | None = None):  # type: ignore[no-untyped-def]
    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "read" and read is not None:
            return Reply(lines=[read])
        return Reply()

    command(name)(handler)


_harmless("+CRC", "+CRC: 0")
_harmless("+CVHU", "+CVHU: 0")
_harmless("+CUSD", "+CUSD: 0")
_harmless("+CCWA", "+CCWA: 0")
_harmless("+CMIC")
_harmless("+CLVL", "+CLVL: 50")
_harmless("+CSCLK", "+CSCLK: 0")
_harmless("+CIURC", "+CIURC: 1")
_harmless("+CSNS", "+CSNS: 0")
_harmless("+CBST")
_harmless("+CRSL", "+CRSL: 100")
_harmless("+CALM", "+CALM: 0")


@command("+CLIP")
def clip(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CLIP: {m.settings.clip},1"])
    if c.op == "set":
        m.settings.clip = c.int_arg(0)
    return Reply()


@command("S0", "S3", "S4", "S5", "S7", "S8", "S10")
def sreg(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        defaults = {"S0": 0, "S3": 13, "S4": 10, "S5": 8, "S7": 60, "S8": 2, "S10": 15}
        return Reply(lines=[f"{defaults.get(c.name, 0):03d}"])
    return Reply()


@command("+CBC")
def cbc(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CBC: (0,1,2),(1-100),(voltage)"])
    return Reply(lines=["+CBC: 0,85,4100"])


@command("D", "A")
def dial(m: Interpreter, c: Command) -> Reply:
    # No voice calls in this emulator: a dial attempt finds no carrier.
    return Reply(final="NO CARRIER")


@command("+CPOWD")
def cpowd(m: Interpreter, c: Command) -> Reply:
    """AT+CPOWD=1: normal power down (NORMAL POWER DOWN, then off until the power key)."""
    if c.op == "test":
        return Reply(lines=["+CPOWD: (0,1)"])
    if c.op != "set" or c.int_arg(0) not in (0, 1):
        raise AtError()
    m.mode = "busy"
    m.later(0.0, m.power_off, "NORMAL POWER DOWN")
    return Reply(final=None)


@command("+CHUP")
def chup(m: Interpreter, c: Command) -> Reply:
    m.call_from = None
    return Reply()
