"""Registration, signal, operator, GPRS attach and clock (sim800-at.md §2 row network)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator.command import Command, Reply, command
from modem.emulator.commands_basic import require_sim
from modem.emulator.errors import AtError, CmeError

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

# A test network (MCC 001 is reserved for tests): nobody mistakes it for a real operator.
OPERATOR_LONG = "VMODEM TEST"
OPERATOR_SHORT = "VMODEM"
OPERATOR_NUMERIC = "00101"


def _reg(prefix: str, attr: str):  # type: ignore[no-untyped-def]
    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "test":
            return Reply(lines=[f"{prefix}: (0-2)"])
        if c.op == "read":
            mode = getattr(m.settings, attr)
            stat = m.reg_stat() if prefix == "+CREG" else m.gprs_stat()
            return Reply(lines=[m.creg_line(prefix, mode, stat, query=True)])
        if c.op != "set":
            raise AtError()
        v = c.int_arg(0, 0)
        if v not in (0, 1, 2):
            raise AtError()
        setattr(m.settings, attr, v)
        return Reply()

    return handler


command("+CREG")(_reg("+CREG", "creg"))
command("+CGREG")(_reg("+CGREG", "cgreg"))


@command("+CSQ")
def csq(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CSQ: (0-31,99),(0-7,99)"])
    rssi, ber = m.rssi()
    return Reply(lines=[f"+CSQ: {rssi},{ber}"])


def operator_name(fmt: int) -> str:
    return {0: OPERATOR_LONG, 1: OPERATOR_SHORT, 2: OPERATOR_NUMERIC}.get(fmt, OPERATOR_LONG)


@command("+COPS")
def cops(m: Interpreter, c: Command) -> Reply:
    s = m.settings
    if c.op == "read":
        if not m.registered():
            return Reply(lines=[f"+COPS: {s.cops_mode}"])
        return Reply(lines=[f'+COPS: {s.cops_mode},{s.cops_format},"{operator_name(s.cops_format)}"'])
    if c.op == "test":
        require_sim(m)
        if m.faults.on("no-coverage", m.now) or s.cfun != 1:
            ops = ""
        else:
            ops = f'(2,"{OPERATOR_LONG}","{OPERATOR_SHORT}","{OPERATOR_NUMERIC}"),'
        return Reply(lines=[f"+COPS: {ops},(0-4),(0-2)"], delay=m.delay("cops_scan"))
    if c.op != "set":
        raise AtError()
    mode = c.int_arg(0)
    if mode not in (0, 1, 2, 3, 4):
        raise AtError()
    if len(c.args()) > 1:
        fmt = c.int_arg(1)
        if fmt not in (0, 1, 2):
            raise AtError()
        s.cops_format = fmt
    if mode == 3:
        return Reply()
    if (
        mode in (1, 4)
        and len(c.args()) > 2
        and c.str_arg(2) not in (OPERATOR_LONG, OPERATOR_SHORT, OPERATOR_NUMERIC)
    ):
        raise CmeError(30)
    s.cops_mode = mode
    if mode == 2:
        m.net_ready = False
        m.check_registration()
        return Reply()
    if not m.net_ready:
        m.later(m.timing.draw("register", m.rng), m._network_found)
    return Reply()


@command("+CGATT")
def cgatt(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CGATT: (0,1)"])
    if c.op == "read":
        return Reply(lines=[f"+CGATT: {1 if m.gprs_stat() in (1, 5) else 0}"])
    if c.op != "set":
        raise AtError()
    v = c.int_arg(0)
    if v == 1:
        if not m.registered() or m.faults.on("gprs-down", m.now):
            raise CmeError(148)
        m.cgatt = True
    elif v == 0:
        m.cgatt = False
        if m.tcp_state in st.PDP_ACTIVE_STATES:
            m.pdp_deact()
    else:
        raise AtError()
    m.check_registration()
    return Reply(delay=m.delay("command") * 10)


@command("+CCLK")
def cclk(m: Interpreter, c: Command) -> Reply:
    """27.007 §8.15 real-time clock "yy/MM/dd,hh:mm:ss±zz" (zz: quarter hours).

    Until set, the clock is the network's time in UTC; `=` sets it (kept as an offset from network
    time and the zone, both lost with the other settings on a reboot, as without a backup battery).
    """
    regs = m.settings.registers
    if c.op == "test":
        return Reply()
    if c.op == "read":
        quarters = regs.get("+CCLK zone", 0)
        t = datetime.fromtimestamp(m.wall() + regs.get("+CCLK offset", 0), UTC) + timedelta(minutes=15 * quarters)
        return Reply(lines=[f'+CCLK: "{t.strftime("%y/%m/%d,%H:%M:%S")}{quarters:+03d}"'])
    if c.op != "set":
        raise AtError()
    mo = _CCLK.fullmatch(c.str_arg(0))
    if mo is None:
        raise AtError()
    quarters = int(mo.group(2))
    try:
        local = datetime.strptime(mo.group(1), "%y/%m/%d,%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise AtError() from None
    if not -48 <= quarters <= 56:
        raise AtError()
    utc = local - timedelta(minutes=15 * quarters)
    regs["+CCLK offset"] = round(utc.timestamp() - m.wall())
    regs["+CCLK zone"] = quarters
    return Reply()


_CCLK = re.compile(r"(\d\d/\d\d/\d\d,\d\d:\d\d:\d\d)([+-]\d\d)")


@command("+CLTS")
def clts(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CLTS: {m.settings.clts}"])
    if c.op == "test":
        return Reply(lines=["+CLTS: (0,1)"])
    if c.op == "set":
        m.settings.clts = c.int_arg(0)
    return Reply()


@command("+CNUM")
def cnum(m: Interpreter, c: Command) -> Reply:
    require_sim(m)
    return Reply(lines=[f'+CNUM: "","{m.number}",145'])


# ------------------------------------------------------------------ misc of manual V1.09 ch. 3 and 6
@command("+CPOL")
def cpol(m: Interpreter, c: Command) -> Reply:
    """manual ch. 3: preferred operator list on the SIM: empty; entries may be written (and are not kept)."""
    if c.op == "test":
        return Reply(lines=["+CPOL: (1-50),(0-2)"])
    require_sim(m)
    return Reply()


@command("+COPN")
def copn(m: Interpreter, c: Command) -> Reply:
    """manual ch. 3: operator names the module knows."""
    if c.op == "test":
        return Reply()
    return Reply(lines=[f'+COPN: "{OPERATOR_NUMERIC}","{OPERATOR_LONG}"'])


@command("+CSPN")
def cspn(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: service provider name from the SIM; <display mode> 0."""
    if c.op == "test":
        return Reply()
    if c.op != "read":
        raise AtError()
    require_sim(m)
    return Reply(lines=[f'+CSPN: "{OPERATOR_SHORT}",0'])


@command("+CROAMING")
def croaming(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: roaming state: 0 home, 1 international roaming."""
    if c.op == "test":
        return Reply(lines=["+CROAMING: (0-2)"])
    return Reply(lines=[f"+CROAMING: {1 if m.reg_stat() == 5 else 0}"])


BANDS = ("DCS_MODE", "EGSM_MODE", "PCS_MODE", "GSM850_MODE", "EGSM_DCS_MODE", "GSM850_PCS_MODE", "ALL_BAND")


@command("+CBAND")
def cband(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: radio band: the virtual radio hears every band."""
    if c.op == "read":
        return Reply(lines=['+CBAND: "ALL_BAND"'])
    if c.op == "test":
        return Reply(lines=['+CBAND: ("' + ",".join(BANDS) + '")'])
    if c.op != "set" or c.str_arg(0).upper() not in BANDS:
        raise AtError()
    return Reply()


@command("+CENG")
def ceng(m: Interpreter, c: Command) -> Reply:
    """manual ch. 6: engineering mode: `=<mode>[,<Ncell>]`; `?` gives the mode and, in modes 1-2 and 4,
    the serving cell: <cell>,"<arfcn>,<rxl>,<rxq>,<mcc>,<mnc>,<bsic>,<cellid>,<rla>,<txp>,<lac>,<TA>"."""
    mode = m.settings.registers.get("+CENG", 0)
    if c.op == "test":
        return Reply(lines=["+CENG: (0-4),(0-1)"])
    if c.op == "set":
        value = c.int_arg(0)
        if value not in (0, 1, 2, 3, 4) or c.int_arg(1, 0) not in (0, 1):
            raise AtError()
        m.settings.registers["+CENG"] = value
        return Reply()
    if c.op != "read":
        raise AtError()
    lines: list[str | bytes] = [f"+CENG: {mode},0"]
    if mode in (1, 2, 4) and m.registered():
        rxl = min(63, 2 * m.rssi()[0] + 1)  # CSQ 0..31 is -113..-51 dBm; rxlev counts from -110 dBm
        lines.append(f'+CENG: 0,"0017,{rxl:02d},00,001,01,34,00c3,{rxl:02d},05,1a2b,00"')
    return Reply(lines=lines)
