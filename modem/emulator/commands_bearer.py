"""The IP application bearer (AT+SAPBR, SIM800 manual V1.09 §9.2.1) and PDP contexts (AT+CGACT).

The bearer is the other common way SIM800 clients bring GPRS up (the HTTP, FTP and email
applications run on it). It is separate from the CIPSTART stack of `commands_tcp`, as on the module:
`AT+SAPBR=1,1` does not change `AT+CIPSTATUS`, and `AT+CIPSHUT` leaves the bearer up. When GPRS goes
away an open bearer reports `+SAPBR <cid>: DEACT` (see `Interpreter.bearers_lost`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator.command import Command, Reply, command
from modem.emulator.errors import AtError, CmeError

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)

# §9.2.1 <ConParamTag> -> the BearerProfile field it sets.
_PARAMS = {"CONTYPE": "contype", "APN": "apn", "USER": "user", "PWD": "pwd", "PHONENUM": "phonenum", "RATE": "rate"}


def gprs_up(m: Interpreter) -> bool:
    return m.gprs_stat() in (1, 5) and not m.faults.on("gprs-down", m.now)


@command("+SAPBR")
def sapbr(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply(lines=['+SAPBR: (0-4),(1-3),"ConParamTag","ConParamValue"'])
    if c.op != "set":
        raise AtError()
    args = c.args()
    cmd_type = c.int_arg(0)
    cid = c.int_arg(1)
    bearer = m.bearer(cid)
    if bearer is None:
        raise AtError()
    if cmd_type == 3:  # set a parameter
        if len(args) != 4:
            raise AtError()
        field = _PARAMS.get(args[2].upper())
        if field is None:
            raise AtError()
        if field == "contype" and args[3].upper() not in ("GPRS", "CSD"):
            raise AtError()
        setattr(bearer, field, args[3])
        return Reply()
    if len(args) != 2:
        raise AtError()
    if cmd_type == 4:  # query the parameters
        lines: list[str | bytes] = ["+SAPBR:"]
        lines += [f"{tag}: {getattr(bearer, field)}" for tag, field in _PARAMS.items()]
        return Reply(lines=lines)
    if cmd_type == 2:  # query the status
        return Reply(lines=[f'+SAPBR: {cid},{bearer.status},"{bearer.ip}"'])
    if cmd_type == 1:  # open: takes as long as CIICR (§9.2.1: up to 85 s)
        delay = m.delay("ciicr")
        if bearer.status == st.BEARER_CONNECTED or not gprs_up(m):
            if bearer.status != st.BEARER_CONNECTED:
                log.info("%s: bearer %d: no GPRS; AT+SAPBR=1 fails", m.name, cid)
            return Reply(final="ERROR", delay=delay)
        bearer.status, bearer.ip = st.BEARER_CONNECTED, m.new_ip()
        return Reply(delay=delay)
    if cmd_type == 0:  # close
        if bearer.status != st.BEARER_CONNECTED:
            raise AtError()
        bearer.status, bearer.ip = st.BEARER_CLOSED, "0.0.0.0"
        if m.http is not None and m.http.cid == cid:
            m.http.bearer_closed(m)
        return Reply(delay=m.delay("command") * 10)
    raise AtError()


@command("+CGACT")
def cgact(m: Interpreter, c: Command) -> Reply:
    """27.007 §10.1.10: activate or deactivate PDP contexts."""
    if c.op == "test":
        return Reply(lines=["+CGACT: (0,1)"])
    if c.op == "read":
        return Reply(lines=[f"+CGACT: {cid},{state}" for cid, state in sorted(m.cgact.items())])
    if c.op != "set":
        raise AtError()
    args = c.args()
    state = c.int_arg(0)
    if state not in (0, 1):
        raise AtError()
    cids = [c.int_arg(i) for i in range(1, len(args))] or sorted(m.cgact)
    if any(not 1 <= cid <= 3 for cid in cids):
        raise AtError()
    if state == 1 and not gprs_up(m):
        raise CmeError(148)  # unspecified GPRS error
    for cid in cids:
        m.cgact[cid] = state
    return Reply(delay=m.delay("ciicr") if state else m.delay("command"))
