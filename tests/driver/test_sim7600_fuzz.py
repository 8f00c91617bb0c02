"""Hypothesis on the sim7600 driver's readings: data headers split at any point, URC lines, the +CPSI,
+CNSMOD and +CGPSINFO parsers, and the whole adapter fed arbitrary modem output."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.driver.at_channel import ATChannel
from modem.driver.commands import ParseError
from modem.driver.dialects.sim7600 import URCS, classify_urc, parse_cnsmod, parse_cpsi
from modem.driver.modem import Failed, Modem, Ok
from modem.driver.urc import TcpData
from modem.gnss import GnssError, parse_cgpsinfo
from runtime import VirtualLoop, pipe_pair

payloads = st.binary(max_size=64)


def _frames(conn: int, data: bytes, rest: int) -> bytes:
    return f"\r\n+CIPRXGET: 2,{conn},{len(data)},{rest}\r\n".encode() + data + b"\r\nOK\r\n"


def _feed(chunks: list[bytes]) -> list:
    ch = ATChannel(URCS, echo=False)
    for c in chunks:
        ch.receive_data(c, 0.0)
    return ch.events()


@given(st.integers(0, 9), payloads, st.integers(0, 99999), st.data())
def test_ciprxget_read_survives_any_split(conn: int, data: bytes, rest: int, split: st.DataObject) -> None:
    wire = _frames(conn, data, rest)
    cuts = sorted(split.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    got = [e for e in _feed(chunks) if isinstance(e, TcpData)]
    assert [(e.conn, e.data, e.truncated) for e in got] == [(conn, data, False)]


@given(payloads, st.data())
def test_pushed_ipd_survives_any_split(data: bytes, split: st.DataObject) -> None:
    wire = b"\r\nRECV FROM:127.0.0.1:6867\r\n+IPD" + str(len(data)).encode() + b"\r\n" + data
    cut = split.draw(st.integers(0, len(wire)))
    got = [e for e in _feed([wire[:cut], wire[cut:]]) if isinstance(e, TcpData)]
    assert [(e.conn, e.data) for e in got] == [(0, data)]


@given(st.binary(max_size=200))
def test_channel_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    ch = ATChannel(URCS)
    for i in range(0, len(data), 7):
        ch.receive_data(data[i:i + 7], float(i))
    ch.tick(1e6)
    ch.events()


@given(st.text(max_size=80))
def test_classify_never_raises(line: str) -> None:
    classify_urc(line)
    for prefix in ("+CEREG: ", "+IPCLOSE: ", "+CIPRXGET: ", "+CMTI: ", "+CPIN: ", "+CREG: "):
        classify_urc(prefix + line)


@given(st.text(max_size=80))
def test_parsers_raise_only_their_own_errors(text: str) -> None:
    for parse, prefix in ((parse_cpsi, "+CPSI: "), (parse_cnsmod, "+CNSMOD: ")):
        for line in (text, prefix + text):
            try:
                parse((line,))
            except ParseError:
                pass
    for line in (text, "+CGPSINFO: " + text):
        try:
            parse_cgpsinfo(line)
        except GnssError:
            pass


LINES = [b"\r\nOK\r\n", b"\r\nERROR\r\n", b"\r\n>", b"\r\nRDY\r\n", b"\r\n+CIPRXGET: 1,0\r\n",
         b"\r\n+CIPRXGET: 2,0,3,0\r\n", b"\r\n+NETOPEN: 0\r\n", b"\r\n+NETOPEN: 1\r\n", b"\r\n+CIPOPEN: 0,0\r\n",
         b"\r\n+CIPSEND: 0,3,3\r\n", b"\r\n+CIPSEND: 0,3,-1\r\n", b"\r\n+IPCLOSE: 0,1\r\n", b"\r\n+CIPERROR: 4\r\n",
         b"\r\n+IP ERROR: Network is already opened\r\n", b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n",
         b"\r\n+CPSI: GSM,Online\r\n", b"\r\n+CPSI: NO SERVICE,Online\r\n", b"\r\n+IPADDR: 10.0.0.1\r\n",
         b"\r\n+CGPSINFO: ,,,,,,,,\r\n", b"\r\n+IPD3\r\n", b"\r\n+CMTI: \"ME\",1\r\n", b"\x00\xff"]

OPS = [("probe", (), {"tries": 2}), ("init", (), {}), ("gprs_attach", ("apn",), {}),
       ("tcp_connect", ("127.0.0.1", 1), {}), ("tcp_send", (b"abc",), {}), ("tcp_close", (), {}),
       ("ip_status", (), {}), ("network_info", (), {}), ("radio_recover", (), {}), ("gnss_fix", (), {}),
       ("gnss_power", (True,), {}), ("gprs_shutdown", (), {}), ("soft_reset", (), {"boot_timeout": 5})]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 3), st.one_of(st.sampled_from(LINES), st.binary(max_size=10))),
                max_size=30),
       st.lists(st.sampled_from(range(len(OPS))), min_size=1, max_size=5))
def test_every_operation_ends_and_nothing_crashes(caplog, noise, ops) -> None:  # type: ignore[no-untyped-def]
    caplog.clear()
    loop = VirtualLoop(seed=3)
    a, b = pipe_pair(loop)
    b.set_handlers(lambda _d: None)
    modem = Modem(loop, a, dialect="sim7600")
    results: list = []
    for i in ops:
        name, args, kw = OPS[i]
        getattr(modem, name)(*args, on_done=results.append, **kw)
    t = 0.0
    for delay, chunk in noise:
        t += delay
        loop.call_at(t, b.write, chunk)
    with caplog.at_level(logging.ERROR):
        loop.run(until=900)
    assert len(results) == len(ops)
    assert all(isinstance(r, Ok | Failed) for r in results)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
