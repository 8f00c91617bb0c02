"""Line discipline (sim800-at.md §1): echo, chaining, A/, ESC, errors, long lines, URC placement."""

from __future__ import annotations

from modem.emulator import Interpreter
from modem.emulator.timing import Timing
from tests.emulator.rig import Rig


def test_boot_urcs_in_order() -> None:
    out = Rig(boot=False).run(0.01)
    assert out == "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"


def test_echo_on_by_default_then_off() -> None:
    r = Rig()
    assert r.at("AT") == "AT\r\r\nOK\r\n"
    assert r.at("ATE0") == "ATE0\r\r\nOK\r\n"
    assert r.at("AT") == "\r\nOK\r\n"
    assert r.at("ATE1") == "\r\nOK\r\n"
    assert r.at("at") == "at\r\r\nOK\r\n"


def test_chained_commands_one_final_ok() -> None:
    r = Rig()
    r.at("ATE0")
    out = r.at("AT+CREG?;+CSQ")
    assert out.startswith("\r\n+CREG: 0,1\r\n\r\n+CSQ: ")
    assert out.endswith("\r\n\r\nOK\r\n") and out.count("OK") == 1


def test_chain_stops_at_first_error() -> None:
    r = Rig()
    r.at("ATE0")
    assert r.at("AT+CGMI;+NOPE;+CGMM") == "\r\nSIMCOM_Ltd\r\n\r\nERROR\r\n"


def test_ovms_init_line_is_accepted() -> None:
    r = Rig()
    out = r.at("AT+IPR?;+CREG=1;+CLIP=1;+CMGF=1;+CNMI=2,2;+CSDH=1;+CMEE=2;+CIPSPRT=1;+CIPQSEND=1;+CLTS=1;E0")
    assert out.endswith("\r\n+IPR: 115200\r\n\r\nOK\r\n")
    assert r.at("AT+CMGF?") == "\r\n+CMGF: 1\r\n\r\nOK\r\n"


def test_a_slash_repeats_last_command() -> None:
    r = Rig()
    r.at("ATE0")
    r.at("AT+CGMM")
    assert r.send("A/") == "\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"


def test_unknown_commands_and_probes_answer_error_immediately() -> None:
    r = Rig(profile="realistic")
    r.at("ATE0", wait=1)
    for probe in ("AT+SYNCML=?", "AT$TSSPCSW=?", "AT+FOO", "AT+CPROT=?", "ATV0"):
        r.host.write(probe.encode() + b"\r")
        r.loop.run_for(0.2)
        assert r.take() == "\r\nERROR\r\n", probe


def test_bare_esc_and_ctrl_z_outside_prompt_are_ignored() -> None:
    r = Rig()
    r.at("ATE0")
    assert r.send(b"\x1b\x1a") == ""
    assert r.at("AT") == "\r\nOK\r\n"


def test_cmee_selects_error_format() -> None:
    r = Rig()
    r.at("ATE0")
    r.modem.fault("no-sim")
    r.run(0.01)  # +CPIN: NOT INSERTED
    assert r.at("AT+CPIN?") == "\r\nERROR\r\n"
    r.at("AT+CMEE=1")
    assert r.at("AT+CPIN?") == "\r\n+CME ERROR: 10\r\n"
    r.at("AT+CMEE=2")
    assert r.at("AT+CPIN?") == "\r\n+CME ERROR: SIM not inserted\r\n"
    assert r.at("AT+CMEE?") == "\r\n+CMEE: 2\r\n\r\nOK\r\n"


def test_line_of_10_kb_answers_error_and_keeps_serving() -> None:
    r = Rig()
    r.at("ATE0")
    assert r.send(b"AT" + b"X" * 10_000 + b"\r") == "\r\nERROR\r\n"
    assert r.at("AT") == "\r\nOK\r\n"


def test_noise_before_at_is_skipped() -> None:
    r = Rig()
    r.at("ATE0")
    assert r.send(b"\x00\xff garbage AT\r") == "\r\nOK\r\n"


def test_backspace_edits_the_line() -> None:
    r = Rig()
    r.at("ATE0")
    assert r.send(b"AT+CGMX\x08I\r") == "\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"


def test_urc_never_inside_a_response() -> None:
    """A URC raised while a slow command runs comes out after its final result code."""
    m = Interpreter(timing=Timing(command=1.0))
    m.tick(10)
    m.take_output()
    m.receive(b"ATE0\r", 10)
    m.tick(11)
    m.take_output()
    m.receive(b"AT+CGMM\r", 20)
    m.urc("RING")
    assert m.take_output() == b""
    m.tick(21)
    assert m.take_output() == b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n\r\nRING\r\n"


def test_input_while_busy_waits_its_turn() -> None:
    m = Interpreter(timing=Timing(command=1.0))
    m.tick(10)
    m.receive(b"ATE0\r", 10)
    m.tick(11)
    m.take_output()
    m.receive(b"AT+CGMI\rAT+CGMM\r", 20)
    m.tick(22)
    assert m.take_output() == b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"


def test_realistic_delay_is_applied() -> None:
    r = Rig(profile="realistic")
    r.at("ATE0", wait=1)
    r.host.write(b'AT+CSTT="apn";+CIICR\r')
    r.loop.run_for(0.2)
    assert r.take() == ""
    assert r.run(5) == "\r\nOK\r\n"
