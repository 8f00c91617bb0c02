"""SIM7600 GNSS: AT+CGPS power, +CGPSINFO and +CGNSSINFO (ddmm.mmmmmm), NMEA per AT+CGPSINFOCFG.

SIM7500/SIM7600 Series AT Command Manual, chapter "GPS" (V3.00 ch. 14), as read here:

    AT+CGPS=1[,<mode>]   power on (ERROR when already on); AT+CGPS=0 off; AT+CGPS? -> +CGPS: <on>,<mode>
    AT+CGPSINFO          +CGPSINFO: <lat>,<N/S>,<lon>,<E/W>,<ddmmyy>,<hhmmss.s>,<alt>,<knots>,<course>
                         (no fix: +CGPSINFO: ,,,,,,,,); AT+CGPSINFO=<s> reports it every <s> seconds
    AT+CGNSSINFO         +CGNSSINFO: <fix 2|3>,<GPS SVs>,<GLONASS SVs>,<BEIDOU SVs>,<lat>,<N/S>,<lon>,
                         <E/W>,<ddmmyy>,<hhmmss.s>,<alt>,<knots>,<course>,<PDOP>,<HDOP>,<VDOP>
                         (no fix: 15 commas); AT+CGNSSINFO=<s> reports it every <s> seconds
    AT+CGPSINFOCFG=<s>,<cfg>  NMEA sentences on this port every <s> seconds (0 stops); <cfg> bits:
                         1 GGA, 2 RMC (the sentences the virtual receiver makes)

lat is ddmm.mmmmmm and lon dddmm.mmmmmm, as the SIM7600 prints them (not the SIM808's degrees).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modem.emulator.command import Command, Reply
from modem.emulator.commands_gnss import current_fix
from modem.emulator.commands_sim7600_basic import command
from modem.emulator.errors import AtError
from modem.emulator.gnss import Fix, nmea_sentences

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

NMEA_GGA = 1
NMEA_RMC = 2


def _dm(value: float, degree_digits: int) -> str:
    """|value| degrees as d..dmm.mmmmmm, rounded in millionths of a minute (so never `60.000000`)."""
    micro = round(abs(value) * 60_000_000)
    deg, rest = divmod(micro, 60_000_000)
    return f"{deg:0{degree_digits}d}{rest // 1_000_000:02d}.{rest % 1_000_000:06d}"


def _position(fix: Fix, wall: float) -> list[str]:
    """lat, N/S, lon, E/W, ddmmyy, hhmmss.s, alt, knots, course."""
    t = datetime.fromtimestamp(wall, UTC)
    return [
        _dm(fix.lat, 2), "N" if fix.lat >= 0 else "S", _dm(fix.lon, 3), "E" if fix.lon >= 0 else "W",
        t.strftime("%d%m%y"), t.strftime("%H%M%S") + f".{t.microsecond // 100000}", f"{fix.alt:.1f}",
        f"{fix.speed_kmh / 1.852:.1f}", f"{fix.course:.1f}",
    ]  # fmt: skip


def cgpsinfo_line(m: Interpreter) -> str:
    fix = current_fix(m)
    if fix is None:
        return "+CGPSINFO: " + "," * 8
    return "+CGPSINFO: " + ",".join(_position(fix, m.wall()))


def cgnssinfo_line(m: Interpreter) -> str:
    fix = current_fix(m)
    if fix is None:
        return "+CGNSSINFO: " + "," * 15
    glonass = max(0, fix.sats_used - 6)
    head = ["3", str(min(fix.sats_used, 6)), str(glonass), "0"]
    dop = [f"{fix.hdop * 1.3:.1f}", f"{fix.hdop:.1f}", f"{fix.hdop * 0.8:.1f}"]
    return "+CGNSSINFO: " + ",".join(head + _position(fix, m.wall()) + dop)


@command("+CGPS")
def cgps(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CGPS: {int(m.settings.gnss_power)},1"])
    if c.op == "test":
        return Reply(lines=["+CGPS: (0,1),(1-3)"])
    if c.op != "set":
        raise AtError()
    on = c.int_arg(0)
    mode = c.int_arg(1, 1)
    if on not in (0, 1) or mode not in (1, 2, 3):
        raise AtError()
    if on and m.settings.gnss_power:
        raise AtError()  # manual: starting a session that runs is an error
    if on:
        m.gnss_fix_at = m.now + m.timing.draw("gnss_ttff", m.rng)
    else:
        m.gnss_fix_at = None
    m.settings.gnss_power = bool(on)
    return Reply()


def _periodic(name: str, line_of, limit: int = 255):  # type: ignore[no-untyped-def]
    """`AT+X` answers the line now; `AT+X=<s>` repeats it as a URC every <s> seconds (0 stops)."""

    def report(m: Interpreter, period: int, run: int) -> None:
        if m.settings.registers.get(name + " run") == run:
            m.urc(line_of(m))
            m.later(period, report, m, period, run)

    def handler(m: Interpreter, c: Command) -> Reply:
        if c.op == "test":
            return Reply(lines=[f"{name}: (0-{limit})"])
        if c.op == "read":
            return Reply(lines=[f"{name}: {m.settings.registers.get(name, 0)}"])
        if c.op == "exec":
            return Reply(lines=[line_of(m)])
        period = c.int_arg(0)
        if not 0 <= period <= limit:
            raise AtError()
        m.settings.registers[name] = period
        run = _new_run(m, name)
        if period:
            m.later(period, report, m, period, run)
        return Reply()

    return handler


command("+CGPSINFO")(_periodic("+CGPSINFO", cgpsinfo_line))
command("+CGNSSINFO")(_periodic("+CGNSSINFO", cgnssinfo_line))


@command("+CGPSINFOCFG")
def cgpsinfocfg(m: Interpreter, c: Command) -> Reply:
    regs = m.settings.registers
    if c.op == "test":
        return Reply(lines=["+CGPSINFOCFG: (0-255),(0-31)"])
    if c.op == "read":
        return Reply(lines=[f"+CGPSINFOCFG: {regs.get('+CGPSINFOCFG', 0)},{regs.get('+CGPSINFOCFG cfg', 0)}"])
    if c.op != "set":
        raise AtError()
    period, cfg = c.int_arg(0), c.int_arg(1, 31)
    if not 0 <= period <= 255 or not 0 <= cfg <= 0x3FFFF:
        raise AtError()
    regs["+CGPSINFOCFG"] = period
    regs["+CGPSINFOCFG cfg"] = cfg
    run = _new_run(m, "+CGPSINFOCFG")
    if period:
        m.later(period, _nmea, m, period, run)
    return Reply()


def _new_run(m: Interpreter, name: str) -> int:
    """A new number for a periodic report: the timers of the one it replaces see theirs is gone."""
    run = m.settings.registers.get(name + " run", 0) + 1
    m.settings.registers[name + " run"] = run
    return run


def _nmea(m: Interpreter, period: int, run: int) -> None:
    regs = m.settings.registers
    if regs.get("+CGPSINFOCFG run") != run:
        return
    if m.settings.gnss_power:
        cfg = regs.get("+CGPSINFOCFG cfg", 0)
        rmc, gga = nmea_sentences(current_fix(m), m.wall())
        out = (gga + "\r\n" if cfg & NMEA_GGA else "") + (rmc + "\r\n" if cfg & NMEA_RMC else "")
        if out:
            m.urc(out.encode(), raw=True)
    m.later(period, _nmea, m, period, run)
