"""Hypothesis: the AT channel never raises, whatever the modem sends, in any state."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.driver import commands as C
from modem.driver.at_channel import ATChannel, Command, Response, Timeout
from modem.driver.dialects.sim800 import URCS
from modem.driver.urc import Urc

TOKENS = [b"\r\n", b"\r", b"\n", b"OK", b"ERROR", b"> ", b">", b"+IPD,", b"+IPD,5:", b"+IPD,99999:",
          b"RDY", b"+CMT: ,23", b"+CMT: \"+1\",\"\",\"24/01/01,00:00:00+00\"", b"+CMTI: \"SM\",",
          b"+CME ERROR: ", b"CLOSED", b"SEND OK", b"CONNECT OK", b"STATE: IP INITIAL", b"\x1a", b"\x1b",
          b"\x00", b"\xff\xfe", b"+CREG: ", b"1", b",", b"\"", b"+CMGR: ", b"10.0.0.1", b"NORMAL POWER DOWN"]

chunks = st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(TOKENS)), max_size=40)

COMMANDS = [
    Command("AT"), C.cipsend(b"data\r\nOK\r\n"), C.cipsend(b"x", fixed_length=False), C.cipstart("h", 1),
    C.cifsr(), C.cipstatus(), C.cmgr(1), C.cmgl(True), C.cmgs_pdu("00", 1), C.query("AT+CREG?", "+CREG:"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks, st.lists(st.sampled_from(range(len(COMMANDS))), max_size=4), st.booleans(),
       st.lists(st.floats(0, 100), max_size=40))
def test_never_raises_and_always_settles(caplog, parts, cmd_ids, echo, gaps):
    """Also: the parser's last-resort `except` (log and resync) is never what saved us."""
    caplog.clear()
    ch = ATChannel(URCS, echo=echo)
    now = 0.0
    for i in cmd_ids:
        ch.send(COMMANDS[i], now)
    for k, part in enumerate(parts):
        now += gaps[k] if k < len(gaps) else 0.01
        ch.tick(now)
        ch.receive_data(part, now)
        ch.data_to_send()
        for ev in ch.events():
            assert isinstance(ev, object)
    # Whatever happened, the channel finishes every command (response, timeout or abort) and is idle.
    for _ in range(20):
        d = ch.next_deadline()
        if d is None:
            break
        now = max(now, d)
        ch.tick(now)
        ch.events()
    assert ch.in_flight is None and ch.queued == 0 and ch.next_deadline() is None
    ch.send(Command("AT"), now)
    ch.receive_data(b"\r\nOK\r\n", now)
    assert [type(e) for e in ch.events()] == [Response]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@settings(max_examples=100, deadline=None)
@given(chunks, st.integers(1, 7))
def test_chunking_does_not_change_events(parts, step):
    data = b"".join(parts)
    cmd = C.query("AT+CSQ", "+CSQ:")

    def run(pieces):
        ch = ATChannel(URCS, echo=False)
        ch.send(cmd, 0)
        for p in pieces:
            ch.receive_data(p, 0)
        return ch.events()

    whole = run([data])
    split = run([data[i:i + step] for i in range(0, len(data), step)])
    assert split == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_resync_after_any_noise(noise):
    ch = ATChannel(URCS, echo=False)
    ch.receive_data(noise, 0)
    ch.tick(10)  # flush whatever is half-parsed (a partial line, a +IPD payload, a +CMT body)
    ch.events()
    cmd = Command("AT+CSQ", prefixes=("+CSQ:",))
    ch.send(cmd, 10)
    ch.receive_data(b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n\r\nRING\r\n", 10)
    evs = ch.events()
    assert [e for e in evs if isinstance(e, Response)][0].lines == ("+CSQ: 20,0",)
    assert not [e for e in evs if isinstance(e, Timeout)]
    assert isinstance(evs[-1], Urc) and evs[-1].line == "RING"
