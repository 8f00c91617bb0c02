"""Hypothesis on the whole adapter: whatever the modem says, every operation ends, nothing crashes."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.driver.modem import Failed, Modem, Ok
from runtime import VirtualLoop, pipe_pair

LINES = [b"\r\nOK\r\n", b"\r\nERROR\r\n", b"\r\n> ", b"\r\nRDY\r\n", b"\r\n+CMT: ,24\r\n", b"\r\n+CMTI: \"SM\",1\r\n",
         b"\r\n+CMGR: 0,,5\r\n", b"\r\nSEND OK\r\n", b"\r\nCONNECT OK\r\n", b"\r\n+IPD,3:", b"\r\nCLOSED\r\n",
         b"\r\n+CSQ: 99,99\r\n", b"\r\n+CREG: 1,1\r\n", b"\r\n10.0.0.1\r\n", b"\r\nSTATE: IP INITIAL\r\n",
         b"\r\n+CGNSINF: 1,1,x\r\n", b"\r\n+CMGS: 300\r\n", b"\r\nNORMAL POWER DOWN\r\n", b"\x00\xff"]

OPS = [
    ("probe", (), {"tries": 2}), ("init", (), {}), ("sim_status", (), {}), ("poll", (), {}),
    ("operator", (), {}), ("network_time", (), {}), ("gprs_attach", ("apn",), {}),
    ("tcp_connect", ("127.0.0.1", 1), {}), ("tcp_send", (b"abc",), {}), ("ip_status", (), {}),
    ("send_sms", ("+441", "hi " * 60), {}), ("read_sms", (1,), {}), ("list_sms", (), {}),
    ("gnss_fix", (), {}), ("soft_reset", (), {"boot_timeout": 5}),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 3), st.one_of(st.sampled_from(LINES), st.binary(max_size=10))),
                max_size=30),
       st.lists(st.sampled_from(range(len(OPS))), min_size=1, max_size=5), st.booleans())
def test_every_operation_ends_and_nothing_crashes(caplog, noise, ops, pdu):
    caplog.clear()
    loop = VirtualLoop(seed=3)
    a, b = pipe_pair(loop)
    b.set_handlers(lambda _d: None)
    modem = Modem(loop, a, sms_pdu_mode=pdu)
    results: list = []
    for i in ops:
        name, args, kw = OPS[i]
        getattr(modem, name)(*args, on_done=results.append, **kw)
    t = 0.0
    for delay, chunk in noise:
        t += delay
        loop.call_at(t, b.write, chunk)
    with caplog.at_level(logging.ERROR):
        loop.run(until=600)
    assert len(results) == len(ops)
    assert all(isinstance(r, Ok | Failed) for r in results)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
