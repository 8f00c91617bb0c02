"""AT+CMUX: switch the serial line to the 3GPP TS 27.010 (GSM 07.10) multiplexer.

SIM800 Series AT Command Manual V1.09, AT+CMUX (the SIM7600 manual lists the same syntax):

    AT+CMUX=<mode>[,<subset>[,<port_speed>[,<N1>[,<T1>[,<N2>[,<T2>[,<T3>[,<k>]]]]]]]]
    AT+CMUX=?  ->  +CMUX: (0),(0),(1-7),(1-255),(1-255),(0-100),(2-255),(1-255),(1-7)

Only the basic option (<mode> 0) with UIH frames (<subset> 0) exists; <port_speed> 1..7 is 9600 ..
460800 bit/s; N1 is the largest information field in octets (default 127); T1 and T2 are in units
of 10 ms (defaults 10 and 30), N2 the retransmissions (default 3), T3 and k are accepted and stored
(wake-up and window size belong to the advanced option). Anything else is ERROR. The OK goes out on
the plain line; then the adapter (`mux_serve`) answers frames only. On a line already multiplexed
AT+CMUX=... is ERROR; AT+CMUX? reads the values in force there (ERROR on a plain line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.emulator.command import Command, Reply, command
from modem.emulator.errors import AtError
from modem.emulator.events import MuxStart

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

# (low, high, default) per parameter, in the manual's order
RANGES = (
    (0, 0, 0),  # mode: basic option only
    (0, 0, 0),  # subset: UIH frames only
    (1, 7, 5),  # port_speed: 5 = 115200
    (1, 255, 127),  # N1
    (1, 255, 10),  # T1, 10 ms units
    (0, 100, 3),  # N2
    (2, 255, 30),  # T2, 10 ms units
    (1, 255, 10),  # T3, seconds
    (1, 7, 2),  # k
)


@command("+CMUX")
def cmux(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=["+CMUX: " + ",".join(
            f"({lo})" if lo == hi else f"({lo}-{hi})" for lo, hi, _ in RANGES)])
    if c.op == "read":
        if m.settings.cmux is None:
            raise AtError()
        return Reply(lines=["+CMUX: " + ",".join(str(v) for v in m.settings.cmux)])
    if c.op != "set" or m.settings.cmux is not None:
        raise AtError()
    args = c.args()
    if not 1 <= len(args) <= len(RANGES):
        raise AtError()
    values = []
    for i, (lo, hi, default) in enumerate(RANGES):
        v = c.int_arg(i, default)
        if not lo <= v <= hi:
            raise AtError()
        values.append(v)
    _mode, _subset, _speed, n1, t1, n2, t2, _t3, _k = values
    start = MuxStart(n1=n1, t1=t1 / 100, n2=n2, t2=t2 / 100)
    m.settings.cmux = tuple(values)
    return Reply(after=lambda: m.action(start))
