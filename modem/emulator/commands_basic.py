"""Basic, identity, SIM and character-set commands (sim800-at.md §2 rows basic/identity/SIM/charset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.emulator.command import Command, Reply, basic_value, command
from modem.emulator.errors import AtError, CmeError
from modem.emulator.state import Settings
from modem.emulator.text_mode import string_to_te

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

MANUFACTURER = "SIMCOM_Ltd"
MODEL = "SIMCOM_SIM800"
REVISION = "Revision:1418B04SIM800C24"
CHARSETS = ("IRA", "GSM", "UCS2", "HEX", "PCCP", "PCDN", "8859-1")
# A HAT on a steady 4.1 V supply: what +CBC and +CADC report (manual V1.09 ch. 6).
BATTERY_PERCENT = 85
BATTERY_MV = 4100
ADC_MV = 1650  # +CADC: the ADC pin, 0..2800 mV


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
_harmless("+CCWA", "+CCWA: 0")
_harmless("+CMIC")
_harmless("+CLVL", "+CLVL: 50")
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


S_DEFAULTS = {"S0": 0, "S3": 13, "S4": 10, "S5": 8, "S6": 2, "S7": 60, "S8": 2, "S10": 15}


@command(*S_DEFAULTS)
def sreg(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        defaults = S_DEFAULTS
        return Reply(lines=[f"{defaults.get(c.name, 0):03d}"])
    return Reply()


@command("+CBC")
def cbc(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CBC: (0-2),(1-100),(voltage)"])
    if c.op != "exec":
        raise AtError()
    return Reply(lines=[f"+CBC: 0,{BATTERY_PERCENT},{BATTERY_MV}"])


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


# ------------------------------------------------------------------ misc of manual V1.09 ch. 2, 3, 6
def _register(name: str, allowed: tuple[int, ...], default: int, test: str) -> None:
    """A setting the module only stores and reports: `=<n>` (in `allowed`), `?`, `=?`."""

    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "read":
            return Reply(lines=[f"{name}: {m.settings.registers.get(name, default)}"])
        if c.op == "test":
            return Reply(lines=[f"{name}: {test}"])
        if c.op != "set":
            raise AtError()
        value = c.int_arg(0)
        if value not in allowed:
            raise AtError()
        m.settings.registers[name] = value
        return Reply()

    command(name)(handler)


_register("+CSCLK", (0, 1, 2), 0, "(0-2)")  # manual ch. 6: slow clock: 0 off, 1 DTR-driven, 2 automatic
_register("+CNETLIGHT", (0, 1), 1, "(0,1)")  # manual ch. 6: the network status LED
_register("+CBATCHK", (0, 1), 0, "(0,1)")  # manual ch. 6: VBAT check at power-on
_register("+CMGHEX", (0, 1), 0, "(0,1)")  # manual ch. 6: allow non-ASCII characters in text-mode SMS
_register("+CSGS", (0, 1, 2), 1, "(0-2)")  # manual ch. 6: netlight shows GPRS status
_register("+CFGRI", (0, 1, 2), 1, "(0-2)")  # manual ch. 6: RI pin on URCs
_register("+CMUT", (0, 1), 0, "(0,1)")  # manual ch. 3: mute
_register("+CR", (0, 1), 0, "(0,1)")  # manual ch. 3: service reporting
_register("+COLP", (0, 1), 0, "(0,1)")  # manual ch. 3: connected line presentation


@command("+CADC")
def cadc(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: read the ADC pin: +CADC: <status 1 = success>,<value mV>."""
    if c.op == "test":
        return Reply(lines=["+CADC: (0,1),(0-2800)"])
    if c.op != "read":
        raise AtError()
    return Reply(lines=[f"+CADC: 1,{ADC_MV}"])


@command("+GSV")
def gsv(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: product information: manufacturer, model, revision on three lines."""
    if c.op == "test":
        return Reply()
    return Reply(lines=[MANUFACTURER, MODEL, REVISION])


@command("+GOI")
def goi(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    return Reply(lines=["SIM800"])


@command("+ICF")
def icf(m: Interpreter, c: Command) -> Reply:
    """manual ch. 2: character framing: 3,3 is 8 data bits, no parity, 1 stop bit."""
    if c.op == "read":
        return Reply(lines=["+ICF: 3,3"])
    if c.op == "test":
        return Reply(lines=["+ICF: (1-6),(0-3)"])
    return Reply()


@command("+IFC")
def ifc(m: Interpreter, c: Command) -> Reply:
    """manual ch. 2: flow control: none either way (a pty has no RTS/CTS anyway)."""
    if c.op == "read":
        return Reply(lines=["+IFC: 0,0"])
    if c.op == "test":
        return Reply(lines=["+IFC: (0-3),(0-3)"])
    return Reply()


@command("&V")
def show_profile(m: Interpreter, c: Command) -> Reply:
    """manual ch. 2: the active profile (a subset of what the module lists, with this modem's values)."""
    s = m.settings
    lines: list[str | bytes] = ["DEFAULT PROFILE"]
    lines += [f"{name}: {value}" for name, value in S_DEFAULTS.items()]
    lines += [
        "V: 1", f"E: {int(s.echo)}", "Q: 0", "X: 4", "&C: 1", "&D: 1", f"+CLTS: {s.clts}",
        f"+CREG: {s.creg}", f"+CLIP: {s.clip}", f"+CMEE: {s.cmee}", f"+CMGF: {s.cmgf}",
        f'+CSCS: "{s.cscs}"', f"+CNMI: {','.join(map(str, s.cnmi))}", f"+IPR: {s.ipr}",
    ]  # fmt: skip
    return Reply(lines=lines)


@command("+CPAS")
def cpas(m: Interpreter, c: Command) -> Reply:
    """manual ch. 3: activity status: 0 ready, 3 ringing."""
    if c.op == "test":
        return Reply(lines=["+CPAS: (0,2,3,4)"])
    return Reply(lines=[f"+CPAS: {3 if m.call_from else 0}"])


@command("+CEER")
def ceer(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    return Reply(lines=["+CEER: No Cause"])


@command("+CLCC")
def clcc(m: Interpreter, c: Command) -> Reply:
    """manual ch. 3: current calls: the ringing one, if any (<id>,<dir 1 MT>,<stat 4 incoming>,<mode 0 voice>)."""
    if c.op == "test":
        return Reply()
    if m.call_from is None:
        return Reply()
    toa = 145 if m.call_from.startswith("+") else 129
    return Reply(lines=[f'+CLCC: 1,1,4,0,0,"{m.call_from}",{toa},""'])


LOCK_FACILITIES = ("AO", "OI", "OX", "AI", "IR", "AB", "AG", "AC", "FD", "SC", "PN")


@command("+CLCK")
def clck(m: Interpreter, c: Command) -> Reply:
    """manual ch. 3: facility lock: every facility is unlocked; locking needs the SIM PIN 1234."""
    if c.op == "test":
        return Reply(lines=["+CLCK: (" + ",".join(f'"{f}"' for f in LOCK_FACILITIES) + ")"])
    if c.op != "set":
        raise AtError()
    require_sim(m)
    facility = c.str_arg(0).upper()
    mode = c.int_arg(1)
    if facility not in LOCK_FACILITIES or mode not in (0, 1, 2):
        raise CmeError(3)
    if mode == 2:
        return Reply(lines=["+CLCK: 0"])
    if c.str_arg(2, "") != "1234":
        raise CmeError(16)
    return Reply()


@command("+CLIR")
def clir(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CLIR: 0,2"])  # <n> subscription default, <m> 2 unknown
    if c.op == "test":
        return Reply(lines=["+CLIR: (0-2)"])
    return Reply()


@command("+CSSN")
def cssn(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CSSN: 0,0"])
    if c.op == "test":
        return Reply(lines=["+CSSN: (0,1),(0,1)"])
    return Reply()


@command("+CHLD")
def chld(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CHLD: (0,1,1x,2,2x,3,4)"])
    m.call_from = None
    return Reply()


@command("+VTS", "+VTD")
def dtmf(m: Interpreter, c: Command) -> Reply:
    if c.op == "read" and c.name == "+VTD":
        return Reply(lines=["+VTD: 1"])
    return Reply()


@command("+CCALR")
def ccalr(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: call ready: 1 once Call Ready was reported (TinyGSM-style clients poll it)."""
    if c.op == "test":
        return Reply(lines=["+CCALR: (0,1)"])
    return Reply(lines=[f"+CCALR: {int(m.sms_ready)}"])


USSD_REPLY = "VMODEM: balance 10.00, valid until 31/12"  # what the virtual network answers any USSD with


@command("+CUSD")
def cusd(m: Interpreter, c: Command) -> Reply:
    """27.007 §7.15 USSD: `=<n>[,<str>[,<dcs>]]`; a request gets OK, then the network's answer as
    `+CUSD: 0,"<text>",15` (in the TE character set) a moment later, if registered."""
    regs = m.settings.registers
    if c.op == "read":
        return Reply(lines=[f"+CUSD: {regs.get('+CUSD', 0)}"])
    if c.op == "test":
        return Reply(lines=["+CUSD: (0-2)"])
    if c.op != "set":
        raise AtError()
    n = c.int_arg(0, 0)
    if n not in (0, 1, 2):
        raise AtError()
    if n != 2:
        regs["+CUSD"] = n
    if len(c.args()) > 1 and n != 2:
        if not m.registered():
            raise CmeError(30)
        m.later(m.delay("command") * 50, _ussd_answer, m)
    return Reply()


def _ussd_answer(m: Interpreter) -> None:
    if m.registered():
        m.urc(f'+CUSD: 0,"{string_to_te(m.settings.cscs, USSD_REPLY)}",15')
