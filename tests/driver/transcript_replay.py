"""Replay a recorded SIM800 session through the AT channel and compare the events.

File format, one step per line (`#` comments, blank lines ignored):
    tx <command text> [<<< <payload>]   the host queues a command (built like the driver builds it)
    out <bytes>                         the channel must now want to write exactly these bytes
    rx <bytes>                          bytes from the modem (Python escapes: \\r \\n \\x1a ...)
    tick <seconds>                      advance the clock and fire deadlines
    ev <summary>                        the next event, rendered by `summary()`
    end                                 no events may be left over
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from modem.driver import commands as C
from modem.driver.at_channel import (
    Aborted,
    ATChannel,
    Command,
    Event,
    Garbage,
    Response,
    Timeout,
    UrcTable,
)
from modem.driver.dialects.sim800 import URCS
from modem.driver.urc import SmsDirect, TcpData


def unescape(text: str) -> bytes:
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def command_for(text: str, payload: bytes | None) -> Command:
    """Build the Command the driver would build for this command line."""
    up = text.upper()
    if up.startswith("AT+CIPSTART="):
        m = re.match(r'AT\+CIPSTART="TCP","([^"]+)",(\d+)', text, re.I)
        assert m, text
        return C.cipstart(m.group(1), int(m.group(2)))
    if up == "AT+CIFSR":
        return C.cifsr()
    if up == "AT+CIPSHUT":
        return C.cipshut()
    if up == "AT+CIPSTATUS":
        return C.cipstatus()
    if up == "AT+CIPCLOSE":
        return C.cipclose()
    if up == "AT+CIICR":
        return C.ciicr()
    if up.startswith("AT+CIPSEND"):
        assert payload is not None
        return C.cipsend(payload, fixed_length="=" in text)
    if up.startswith("AT+CMGS="):
        assert payload is not None
        arg = text.split("=", 1)[1]
        if arg.isdigit():
            return C.cmgs_pdu(payload.decode(), int(arg))
        return C.cmgs_text(arg.strip('"'), payload.decode())
    if up.startswith("AT+CMGR="):
        return C.cmgr(int(text.split("=")[1]))
    if up.startswith("AT+CMGL"):
        return C.cmgl("=4" in text)
    prefixes = tuple(f"+{name}:" for name in re.findall(r"\+([A-Z]+)\??(?:;|$)", up))
    return Command(text, prefixes=prefixes)


def summary(ev: Event) -> str:
    if isinstance(ev, Response):
        return " | ".join([f"Response {ev.command.text} -> {ev.final.line}", *ev.lines])
    if isinstance(ev, Timeout):
        return f"Timeout {ev.command.text}"
    if isinstance(ev, Aborted):
        return f"Aborted {ev.command.text} by {ev.reason}"
    if isinstance(ev, Garbage):
        return f"Garbage {ev.data!r}"
    if isinstance(ev, TcpData):
        return f"TcpData {ev.data!r}" + (" truncated" if ev.truncated else "")
    if isinstance(ev, SmsDirect):
        return f"SmsDirect {ev.header} | {ev.text}"
    return f"{type(ev).__name__} {ev.line}"


def replay(path: Path, urcs: UrcTable = URCS,
           command_for: Callable[[str, bytes | None], Command] = command_for) -> int:
    """Run a transcript through a channel with `urcs` (a dialect's table; SIM800 by default), building
    each `tx` command with `command_for`; returns the number of events checked. AssertionError names
    the line."""
    ch = ATChannel(urcs, echo=True)
    now = 0.0
    pending: list[Event] = []
    checked = 0
    for no, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        where = f"{path.name}:{no}"
        if op == "tx":
            text, sep, payload = arg.rstrip().partition(" <<< ")
            out = ch.send(command_for(text.strip(), unescape(payload) if sep else None), now)
            if out is not None:
                assert out == text.strip().encode() + b"\r", where
        elif op == "out":
            assert ch.data_to_send() == unescape(arg), where
        elif op == "rx":
            ch.receive_data(unescape(arg), now)
        elif op == "tick":
            now += float(arg)
            ch.tick(now)
        elif op == "ev":
            pending += ch.events()
            assert pending, f"{where}: expected {arg!r}, no event"
            got = summary(pending.pop(0))
            assert got == arg, f"{where}: expected {arg!r}, got {got!r}"
            checked += 1
        elif op == "end":
            pending += ch.events()
            assert not pending, f"{where}: unexpected events {[summary(e) for e in pending]}"
        else:
            raise AssertionError(f"{where}: unknown step {op!r}")
    return checked
