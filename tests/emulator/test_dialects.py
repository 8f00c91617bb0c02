"""Emulator dialects: a second modem model is a table and a few figures, not a fork of the interpreter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modem.emulator import VirtualModem, VirtualNetwork
from modem.emulator.command import COMMANDS, Command, CommandTable, Reply
from modem.emulator.dialects import UnknownDialect, dialect_named, known_dialects
from modem.emulator.interpreter import Interpreter
from runtime import VirtualLoop, pipe_pair


def made_up_dialect():  # type: ignore[no-untyped-def]
    """What a new dialect module does: copy a table, change what differs, name the model."""
    base = dialect_named("sim800")
    table = CommandTable(base.commands)
    del table["+CIPSTART"]

    @table.command("+NETOPEN")
    def netopen(m: Interpreter, c: Command) -> Reply:
        return Reply(lines=["+NETOPEN: 0"])

    return replace(
        base,
        name="sim7600ish",
        commands=table,
        manufacturer="SIMCOM INCORPORATED",
        model="SIMCOM_SIM7600E",
        revision="Revision:SIM7600M22_V2.0",
        links=10,
        radio_urcs=(),
        ready_urcs=("SMS DONE", "PB DONE"),
    )


def run(m: Interpreter, line: str) -> bytes:
    m.take_output()
    m.receive(line.encode() + b"\r", 1.0)
    return m.take_output()


def test_a_new_dialect_changes_commands_identity_links_and_boot_urcs() -> None:
    d = made_up_dialect()
    m = Interpreter(dialect=d)
    boot = Interpreter(dialect=d, powered=False)
    boot.power_key(0.0)
    boot.tick(1.0)
    out = boot.take_output()
    assert out == b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    run(m, "ATE0")
    assert run(m, "AT+CGMM") == b"\r\nSIMCOM_SIM7600E\r\n\r\nOK\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n"
    assert run(m, 'AT+CIPSTART="TCP","127.0.0.1",1') == b"\r\nERROR\r\n"
    assert b"AT+NETOPEN" in run(m, "AT+CLAC")
    run(m, "AT+CIPMUX=1")
    assert run(m, "AT+CIPSTATUS").count(b"C: ") == 10
    sim800 = Interpreter()
    run(sim800, "ATE0")
    assert run(sim800, "AT+NETOPEN") == b"\r\nERROR\r\n"
    assert run(sim800, "AT+CGMM") == b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
    assert "+NETOPEN" not in COMMANDS


def test_dialects_by_name() -> None:
    assert known_dialects() == ["sim7600", "sim800"]
    assert dialect_named("sim800").links == 6
    with pytest.raises(UnknownDialect, match="unknown dialect 'sim900'; known: sim7600, sim800"):
        dialect_named("sim900")
    loop = VirtualLoop(seed=1)
    _, dev = pipe_pair(loop)
    modem = VirtualModem(loop, dev, VirtualNetwork(loop), profile="instant", dialect=made_up_dialect())
    assert modem.interp.dialect.name == "sim7600ish"
    with pytest.raises(UnknownDialect):
        VirtualModem(loop, None, VirtualNetwork(loop), dialect="nope")
