"""Malformed input never crashes the modem: it answers ERROR or ignores, and keeps serving."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modem.emulator import Interpreter
from modem.emulator.command import ParseError, parse_line

AT_WORDS = [b"AT", b"AT+CMGS=\"+4477\"\r", b"AT+CMGS=20\r", b"AT+CIPSEND\r", b"AT+CIPSEND=3\r", b"\x1a", b"\x1b",
            b"\r", b"\n", b"AT+CMGF=1\r", b"A/", b"AT+CSTT=\"a\";+CIICR;+CIFSR\r", b";", b"\"", b"=?", b"?",
            b"AT+CPMS=\"ME\"\r", b"AT+CMGL=4\r", b"AT+CMGR=1\r", b"AT+CFUN=1,1\r", b"ATE0\r", b"\x00\xff"]  # fmt: skip


def fresh() -> Interpreter:
    m = Interpreter()
    m.take_output()
    return m


def still_serves(m: Interpreter) -> None:
    """After any abuse: leave a prompt, reset the line, and AT must answer OK."""
    m.receive(b"\x1b\r", 1000)
    m.tick(2000)
    m.take_output()
    m.receive(b"ATE0\r", 2000)
    m.tick(3000)
    m.take_output()
    m.receive(b"AT\r", 3000)
    m.tick(4000)
    assert m.take_output().endswith(b"\r\nOK\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_binary_noise_never_crashes(chunks: list[bytes]) -> None:
    m = fresh()
    for i, chunk in enumerate(chunks):
        m.receive(chunk, float(i))
        m.take_output()
        m.take_actions()
    still_serves(m)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(AT_WORDS) | st.binary(max_size=20), max_size=25))
def test_command_soup_never_crashes(words: list[bytes]) -> None:
    m = fresh()
    for i, w in enumerate(words):
        m.receive(w, i * 0.5)
        m.tick(i * 0.5 + 0.1)
        m.take_output()
        m.take_actions()
    still_serves(m)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parser_raises_only_parse_error(body: str) -> None:
    try:
        parse_line(body)
    except ParseError:
        pass


def test_ten_kilobyte_line_and_prompt() -> None:
    m = fresh()
    m.receive(b"AT" + b"A" * 10_240 + b"\r", 0)
    assert m.take_output().endswith(b"\r\nERROR\r\n")
    m.receive(b"ATE0;+CMGF=1\r", 1)
    m.receive(b'AT+CMGS="+447700900123"\r', 2)
    m.receive(b"x" * 10_240, 3)
    assert b"ERROR" in m.take_output()
    still_serves(m)


def test_ctrl_z_without_prompt_is_ignored() -> None:
    m = fresh()
    m.receive(b"ATE0\r", 0)
    m.take_output()
    m.receive(b"\x1a\x1a\x1a", 1)
    assert m.take_output() == b""
    still_serves(m)


def test_client_gone_mid_prompt_then_new_client() -> None:
    """The host opened a prompt and vanished; the next client's ESC and AT still work."""
    m = fresh()
    m.receive(b'ATE0;+CMGF=1\rAT+CMGS="+447700900123"\rhalf a mess', 0)
    assert m.mode == "prompt"
    still_serves(m)
    assert m.take_actions() == []


FAULTS = [
    "garbage",
    "drop-chars",
    "slow",
    "reboot",
    "brownout",
    "no-coverage",
    "gprs-down",
    "stall",
    "no-sim",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(AT_WORDS) | st.binary(max_size=20), st.sampled_from([None, *FAULTS])))
)
def test_commands_under_random_faults_never_crash(steps: list[tuple[bytes, str | None]]) -> None:
    m = fresh()
    t = 0.0
    for data, fault in steps:
        t += 0.7
        if fault is not None:
            m.fault(fault, 5.0, t)
        m.receive(data, t)
        m.tick(t + 0.3)
        m.take_output()
        m.take_actions()
    m.clear_faults(t + 1)
    if not m.powered:
        m.power_key(t + 1)
    still_serves(m)
