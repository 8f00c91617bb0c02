"""The sim7600 dialect never crashes: arbitrary bytes, arbitrary arguments to its own commands, and
network events and faults in any order get an answer every time and no handler error in the log."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.emulator.commands_sim7600_gnss import cgnssinfo_line, cgpsinfo_line
from modem.emulator.events import TcpConnect
from modem.emulator.gnss import Fix
from modem.emulator.interpreter import Interpreter

NAMES = ["+NETOPEN", "+NETCLOSE", "+IPADDR", "+CIPOPEN", "+CIPSEND", "+CIPCLOSE", "+CIPRXGET", "+CIPSRIP",
         "+CIPHEAD", "+CIPMODE", "+CSOCKSETPN", "+CEREG", "+CPSI", "+CNMP", "+CNSMOD", "+COPS", "+CGPS",
         "+CGPSINFO", "+CGNSSINFO", "+CGPSINFOCFG", "+CRESET", "+CFUN", "+CGDCONT", "+CICCID", "+CSUB", "+CGACT"]  # fmt: skip
FAULTS = ["rat-fallback-2g", "no-service-online", "netopen-fail", "no-coverage", "gprs-down", "remote-close",
          "stall", "send-fail", "tcp-refused"]  # fmt: skip
args = st.lists(
    st.one_of(st.integers(-2, 70000).map(str), st.sampled_from(['"TCP"', '"UDP"', '"127.0.0.1"', "", '"x"'])),
    max_size=5,
).map(",".join)
random_line = st.tuples(st.sampled_from(NAMES), st.sampled_from(["", "?", "=?", "="]), args).map(
    lambda t: f"AT{t[0]}{t[1]}{t[2] if t[1] == '=' else ''}\r"
)
SETUP = ["AT+NETOPEN", 'AT+CIPOPEN=0,"TCP","127.0.0.1",1', 'AT+CIPOPEN=9,"TCP","127.0.0.1",2', "AT+CIPRXGET=1",
         "AT+CIPSRIP=1", "AT+CGPS=1", "AT+CGPSINFOCFG=1,3", "AT+CIPSEND=0,5", "AT+CIPSEND=9,"]  # fmt: skip
line = st.one_of(
    st.sampled_from(SETUP).map(lambda t: t + "\r"), random_line, st.binary(min_size=1, max_size=30)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=25), st.data())
def test_sim7600_never_crashes(
    caplog: pytest.LogCaptureFixture, lines: list[str | bytes], data: st.DataObject
) -> None:
    caplog.clear()
    m = Interpreter(now=0.0, dialect="sim7600")
    assert set(NAMES) <= set(m.dialect.commands)  # a fuzz of commands the modem lacks proves nothing
    m.tick(1.0)
    now = 1.0
    for text in lines:
        m.receive(text.encode() if isinstance(text, str) else text, now)
        m.receive(b"\x1b", now)  # ends any prompt the line opened
        if data.draw(st.booleans()):
            m.fault(data.draw(st.sampled_from(FAULTS)), data.draw(st.sampled_from([None, 5.0, 300.0])), now)
        now += 100.0
        m.tick(now)
        for act in m.take_actions():
            if isinstance(act, TcpConnect):
                ok = data.draw(st.booleans())
                m.tcp_connected(act.conn_id, ok, None if ok else "connection refused", now)
                if ok:
                    m.tcp_data(act.conn_id, data.draw(st.binary(max_size=4000)), now + 1)
                    if data.draw(st.booleans()):
                        m.tcp_closed(act.conn_id, now + 2)
        m.take_output()
    # Still serving: out of any prompt, AT answers OK.
    m.clear_faults(now)
    m.receive(b"\x1b\rATE0\r", now + 500)
    m.tick(now + 1000)
    m.take_output()
    m.receive(b"AT\r", now + 1000)
    m.tick(now + 1001)
    assert b"\r\nOK\r\n" in m.take_output()  # (NMEA or other periodic reports may follow)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]


def _degrees(text: str, hemi: str, degree_digits: int) -> float:
    assert len(text) == degree_digits + 9 and text[degree_digits + 2] == "."
    minutes = float(text[degree_digits:])
    assert 0 <= minutes < 60
    value = int(text[:degree_digits]) + minutes / 60
    return -value if hemi in "SW" else value


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-400, 9000),
    st.floats(0, 400),
    st.floats(0, 359.9),
    st.floats(0, 4e9),
)
def test_gnss_lines_carry_the_fix(
    lat: float, lon: float, alt: float, kmh: float, course: float, wall: float
) -> None:
    """+CGPSINFO / +CGNSSINFO give back the position to a millionth of a minute, in ddmm.mmmmmm."""
    fix = Fix(lat, lon, alt=alt, speed_kmh=kmh, course=course)
    m = Interpreter(dialect="sim7600", gnss=lambda now: fix, wall_of=lambda t: wall)
    m.tick(1.0)
    m.receive(b"AT+CGPS=1\r", 1.0)
    m.tick(2.0)
    for line, skip in ((cgpsinfo_line(m), 0), (cgnssinfo_line(m), 4)):
        fields = line.split(": ", 1)[1].split(",")
        f = fields[skip:]
        assert abs(_degrees(f[0], f[1], 2) - lat) < 1e-7 and abs(_degrees(f[2], f[3], 3) - lon) < 1e-7
        assert len(f[4]) == 6 and len(f[5]) == 8
        assert abs(float(f[6]) - alt) <= 0.05 and abs(float(f[7]) - kmh / 1.852) <= 0.05
