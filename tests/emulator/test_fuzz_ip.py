"""Arbitrary arguments to the TCP, bearer and HTTP commands: an answer every time, never a handler crash."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.emulator.events import TcpConnect
from modem.emulator.interpreter import Interpreter

NAMES = ["+CIPMUX", "+CIPSTART", "+CIPSEND", "+CIPCLOSE", "+CIPSTATUS", "+CIPRXGET", "+CIPSHUT", "+CSTT",
         "+CIICR", "+CIFSR", "+CIPSSL", "+CIPSRIP", "+CIPQSEND", "+SAPBR", "+CGACT", "+HTTPINIT", "+HTTPPARA",
         "+HTTPDATA", "+HTTPACTION", "+HTTPREAD", "+HTTPHEAD", "+HTTPSTATUS", "+HTTPTERM"]  # fmt: skip
args = st.lists(
    st.one_of(st.integers(-2, 70000).map(str), st.sampled_from(['"TCP"', '"127.0.0.1"', '"URL"', '"CID"', '"APN"', "",
                                                                '"http://127.0.0.1:1/"', '"x"'])),  # fmt: skip
    max_size=5,
).map(",".join)
random_line = st.tuples(st.sampled_from(NAMES), st.sampled_from(["", "?", "=?", "="]), args).map(
    lambda t: f"AT{t[0]}{t[1]}{t[2] if t[1] == '=' else ''}\r"
)
# Lines that move the state machines on, so random commands also meet open links, bearers, sessions.
SETUP = ["AT+CIPMUX=1", 'AT+CSTT="x"', "AT+CIICR", "AT+CIFSR", "AT+SAPBR=1,1", "AT+HTTPINIT", "AT+CIPRXGET=1",
         'AT+HTTPPARA="URL","http://127.0.0.1:1/"', 'AT+CIPSTART=1,"TCP","127.0.0.1",1',
         'AT+CIPSTART="TCP","127.0.0.1",1', "AT+HTTPACTION=0"]  # fmt: skip
line = st.one_of(st.sampled_from(SETUP).map(lambda t: t + "\r"), random_line)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=25), st.binary(max_size=40), st.data())
def test_ip_commands_never_crash(caplog: pytest.LogCaptureFixture, lines: list[str], noise: bytes,
                                 data: st.DataObject) -> None:  # fmt: skip
    caplog.clear()
    m = Interpreter(now=0.0)
    assert set(NAMES) <= set(m.dialect.commands)  # a fuzz of commands the modem lacks proves nothing
    m.tick(1.0)
    now = 1.0
    for text in lines:
        m.receive(text.encode(), now)
        m.receive(noise + b"\x1b", now)  # ends any prompt the line opened
        now += 200.0
        m.tick(now)
        for act in m.take_actions():
            if isinstance(act, TcpConnect):
                ok = data.draw(st.booleans())
                m.tcp_connected(act.conn_id, ok, None if ok else "connection refused", now)
                if ok:
                    m.tcp_data(act.conn_id, data.draw(st.binary(max_size=3000)), now)
                    if data.draw(st.booleans()):
                        m.tcp_closed(act.conn_id, now)
        out = m.take_output()
        assert out or m.mode != "cmd"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
