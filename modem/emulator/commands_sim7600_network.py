"""SIM7600 registration on LTE and GSM: +CEREG, +CPSI, +CNMP, +CNSMOD and +COPS with <AcT>.

SIM7500/SIM7600 Series AT Command Manual, chapter 4 (network) and 27.007. The radio access
technology itself is the interpreter's network model (`Interpreter.rat()`, `rat_choice()`): LTE when
the mode allows it and the radio finds it, else GSM; the `rat-fallback-2g` and `no-service-online`
faults latch until a mode toggle (any `AT+CNMP=`) or a reset, as real units do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.emulator.command import Command, Reply
from modem.emulator.commands_network import OPERATOR_NUMERIC
from modem.emulator.commands_network import cops as sim800_cops
from modem.emulator.commands_sim7600_basic import command
from modem.emulator.errors import AtError

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

# Manual §4.2.6 AT+CNMP <mode> -> the technologies it allows on a network of GSM and LTE cells
# (14 WCDMA only and 59 TDS-CDMA only find nothing here).
CNMP_MODES: dict[int, tuple[str, ...]] = {
    2: ("LTE", "GSM"),  # automatic
    13: ("GSM",),
    14: (),
    38: ("LTE",),
    48: ("GSM",),  # any but LTE
    51: ("LTE", "GSM"),  # GSM + LTE
    59: (),
}
# 27.007 <AcT>: 0 GSM, 7 E-UTRAN.
ACT = {"GSM": 0, "LTE": 7}
# Manual §4.2.8 AT+CNSMOD <stat>: 0 no service, 1 GSM, 8 LTE.
CNSMOD = {"": 0, "GSM": 1, "LTE": 8}
MCC_MNC = f"{OPERATOR_NUMERIC[:3]}-{OPERATOR_NUMERIC[3:]}"
TAC = 0x1A2B
LTE_CELL = 0x01A2D003
GSM_CELL = 0x00C3


def cnmp_mode(m: Interpreter) -> int:
    for mode, rats in CNMP_MODES.items():
        if rats == m.rat_allowed:
            return mode
    return 2


@command("+CEREG")
def cereg(m: Interpreter, c: Command) -> Reply:
    """27.007 §10.1.22: EPS registration; `=1` URCs `+CEREG: <stat>`, `=2` with TAC, cell and AcT."""
    if c.op == "test":
        return Reply(lines=["+CEREG: (0-2)"])
    if c.op == "read":
        return Reply(lines=[m.cereg_line(m.settings.cereg, m.eps_stat(), query=True)])
    if c.op != "set":
        raise AtError()
    v = c.int_arg(0, 0)
    if v not in (0, 1, 2):
        raise AtError()
    m.settings.cereg = v
    return Reply()


def cpsi_line(m: Interpreter) -> str:
    """Manual §4.2.12 +CPSI: the serving cell for the technology in use, or NO SERVICE."""
    operation = "Online" if m.settings.cfun == 1 else "Low Power Mode"
    rat = m.rat()
    if not rat or m.settings.cfun != 1:
        return f"+CPSI: NO SERVICE,{operation}"
    rssi = m.rssi()[0]
    dbm = -113 + 2 * rssi
    if rat == "GSM":
        # <mode>,<op>,<mcc>-<mnc>,<lac>,<cellid>,<arfcn>,<rxlev dBm>,<track LO adjust>,<C1>-<C2>
        return f"+CPSI: GSM,Online,{MCC_MNC},0x{TAC:04x},{GSM_CELL},26 EGSM 900,{dbm},2110,42-42"
    # <mode>,<op>,<mcc>-<mnc>,<tac>,<scellid>,<pcellid>,<band>,<earfcn>,<dlbw>,<ulbw>,<rsrq>,<rsrp>,<rssi>,<rssnr>
    rsrp = dbm - 27
    return (
        f"+CPSI: LTE,Online,{MCC_MNC},0x{TAC:04X},{LTE_CELL},293,EUTRAN-BAND3,1300,5,5,"
        f"-94,{rsrp * 10},{dbm * 10},14"
    )


@command("+CPSI")
def cpsi(m: Interpreter, c: Command) -> Reply:
    """`AT+CPSI?`; `AT+CPSI=<time>` reports it every <time> seconds (0 stops)."""
    if c.op == "test":
        return Reply(lines=["+CPSI: (0-255)"])
    if c.op == "read":
        return Reply(lines=[cpsi_line(m)])
    if c.op != "set":
        raise AtError()
    period = c.int_arg(0)
    if not 0 <= period <= 255:
        raise AtError()
    regs = m.settings.registers
    regs["+CPSI"] = period
    regs["+CPSI run"] = run = regs.get("+CPSI run", 0) + 1
    if period:
        m.later(period, _cpsi_report, m, period, run)
    return Reply()


def _cpsi_report(m: Interpreter, period: int, run: int) -> None:
    if m.settings.registers.get("+CPSI run") == run:
        m.urc(cpsi_line(m))
        m.later(period, _cpsi_report, m, period, run)


@command("+CNMP")
def cnmp(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.6 preferred mode. Any `=` is a mode toggle: the radio searches again, and a
    latched 2G fallback or NO SERVICE ends (the recovery OVMS v3 users apply)."""
    if c.op == "test":
        return Reply(lines=["+CNMP: (" + ",".join(str(k) for k in CNMP_MODES) + ")"])
    if c.op == "read":
        return Reply(lines=[f"+CNMP: {cnmp_mode(m)}"])
    if c.op != "set":
        raise AtError()
    mode = c.int_arg(0)
    if mode not in CNMP_MODES:
        raise AtError()
    m.rat_allowed = CNMP_MODES[mode]
    m.rat_stuck_2g = False
    m.no_service = False
    if m.settings.cfun == 1:
        m.net_ready = False
        m.later(m.timing.draw("register", m.rng), m._network_found)
    m.check_registration()
    return Reply()


@command("+CNSMOD")
def cnsmod(m: Interpreter, c: Command) -> Reply:
    """Manual §4.2.8 network system mode: `+CNSMOD: <n>,<stat>` (0 none, 1 GSM, 8 LTE)."""
    if c.op == "test":
        return Reply(lines=["+CNSMOD: (0-1)"])
    if c.op == "read":
        return Reply(lines=[f"+CNSMOD: {m.settings.registers.get('+CNSMOD', 0)},{CNSMOD[m.rat()]}"])
    if c.op != "set" or c.int_arg(0) not in (0, 1):
        raise AtError()
    m.settings.registers["+CNSMOD"] = c.int_arg(0)
    return Reply()


@command("+COPS")
def cops(m: Interpreter, c: Command) -> Reply:
    """27.007 +COPS with the access technology: `+COPS: 0,0,"VMODEM TEST",7` on LTE, `,0` on GSM."""
    reply = sim800_cops(m, c)
    rat = m.rat()
    if c.op == "read" and rat and reply.lines:
        reply.lines = [f"{reply.lines[0]!s},{ACT[rat]}"]
    return reply
