"""SIM808-style GNSS: power, fix after the time to first fix, +CGNSINF and streamed NMEA."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from modem.emulator.command import Command, Reply, command
from modem.emulator.errors import AtError
from modem.emulator.gnss import Fix, cgnsinf, nmea_sentences

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

NMEA_PERIOD = 1.0


class PositionSource(Protocol):
    """Where the antenna is: `gnss.as_source` turns a tuple, a Fix or a callable into one."""

    def fix(self, now: float) -> Fix | None: ...


def current_fix(m: Interpreter) -> Fix | None:
    if not m.settings.gnss_power or m.gnss_fix_at is None or m.now < m.gnss_fix_at:
        return None
    return cast(PositionSource, m.gnss).fix(m.now)


@command("+CGNSPWR")
def cgnspwr(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CGNSPWR: {int(m.settings.gnss_power)}"])
    if c.op == "test":
        return Reply(lines=["+CGNSPWR: (0,1)"])
    if c.op != "set":
        raise AtError()
    v = c.int_arg(0)
    if v not in (0, 1):
        raise AtError()
    if v and not m.settings.gnss_power:
        m.gnss_fix_at = m.now + m.timing.draw("gnss_ttff", m.rng)
    if not v:
        m.gnss_fix_at = None
    m.settings.gnss_power = bool(v)
    return Reply()


@command("+CGNSINF")
def cgnsinf_cmd(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    return Reply(lines=[cgnsinf(m.settings.gnss_power, current_fix(m), m.wall())])


@command("+CGNSTST")
def cgnstst(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CGNSTST: {int(m.settings.gnss_stream)}"])
    if c.op == "test":
        return Reply(lines=["+CGNSTST: (0,1)"])
    if c.op != "set":
        raise AtError()
    v = c.int_arg(0)
    if v not in (0, 1):
        raise AtError()
    start = v and not m.settings.gnss_stream
    m.settings.gnss_stream = bool(v)
    if start:
        m.later(NMEA_PERIOD, _stream, m)
    return Reply()


def _stream(m: Interpreter) -> None:
    if not m.settings.gnss_stream:
        return
    if m.settings.gnss_power:
        for sentence in nmea_sentences(current_fix(m), m.wall()):
            m.urc((sentence + "\r\n").encode(), raw=True)
    m.later(NMEA_PERIOD, _stream, m)


@command("+CGNSSEQ", "+CGNSURC", "+CGNSCMD")
def accepted(m: Interpreter, c: Command) -> Reply:
    return Reply()
