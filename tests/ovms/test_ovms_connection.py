"""Sans-IO connections: the spec's wire vectors, both roles together, and every rejection."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ovms_v2 import messages as m
from ovms_v2.connection import (
    MAX_LINE_BYTES,
    NEED_DATA,
    AuthFailed,
    ClientConnection,
    ConnectionClosed,
    Malformed,
    Message,
    ProtocolError,
    ServerConnection,
    Welcomed,
)
from ovms_v2.crypto import digest

PASS = "carpass123"
VECTOR_HELLO = b"MP-C 0 ClientToken0123456789A 5FR5XJkB6iYZlbwK6R90Qw== TESTCAR\r\n"
VECTOR_WELCOME = b"MP-S 0 ServerTokenABCDEFGHIJK 6Bb+ifeOguNijmnJ4lGFDQ==\r\n"


def drain(conn) -> list:
    out = []
    while (ev := conn.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def vector_client() -> ClientConnection:
    c = ClientConnection("C", "TESTCAR", PASS)
    c.token = "ClientToken0123456789A"
    return c


def lookup(vid: str) -> str | None:
    return {"TESTCAR": PASS, "OTHER": "x" * 8}.get(vid)


def test_client_speaks_the_vector_hello_and_lines() -> None:
    c = vector_client()
    assert c.initial_bytes() == VECTOR_HELLO
    c.receive_data(VECTOR_WELCOME)
    assert drain(c) == [Welcomed("C", "TESTCAR", 0)]
    assert c.send(m.Ping()) == b"B1ze2MQN\r\n"
    assert c.send("Z0") == b"6QjzW7u8bA==\r\n"


def test_client_decrypts_vector_lines_from_server() -> None:
    c = vector_client()
    c.receive_data(VECTOR_WELCOME + b"B1ze2MQN\r\n6QjzW7u8bA==\r\n")
    evs = drain(c)
    assert evs[1:] == [Message(m.Ping(), "A"), Message(m.Peers(0), "Z0")]


def pair(role: str = "C", password: str = PASS, vid: str = "TESTCAR"):
    c = ClientConnection(role, vid, password, random.Random(1))
    s = ServerConnection(lookup, random.Random(2))
    s.receive_data(c.initial_bytes())
    return c, s, drain(s)


def test_both_roles_talk() -> None:
    for role in "CAB":
        c, s, evs = pair(role, vid="testcar")
        assert len(evs) == 1 and isinstance(evs[0], Welcomed)
        assert (evs[0].role, evs[0].vehicle_id) == (role, "TESTCAR")   # upper-cased (spec §2)
        c.receive_data(evs[0].reply)
        assert drain(c) == [Welcomed(role, "testcar", 0)]
        s.receive_data(c.send(m.Command(7, "STAT, please")) + c.send("A"))
        assert [e.msg for e in drain(s)] == [m.Command(7, "STAT, please"), m.Ping()]
        c.receive_data(s.send(m.CommandReply(7, 0, "ok")))
        assert [e.msg for e in drain(c)] == [m.CommandReply(7, 0, "ok")]
        c.receive_data(b"")
        assert drain(c) == [ConnectionClosed()]


def test_byte_at_a_time() -> None:
    c, s, evs = pair()
    c.receive_data(evs[0].reply)
    drain(c)
    wire = c.send(SPEC := "S80,K,230") + c.send("L1.000000,2.000000")
    got = []
    for i in range(len(wire)):
        s.receive_data(wire[i:i + 1])
        got += drain(s)
    assert [e.payload for e in got] == [SPEC, "L1.000000,2.000000"]


def test_scheme1_plaintext() -> None:
    s = ServerConnection(lookup)
    s.receive_data(b"MP-A 1 owner carpass123 testcar\r\n")
    (ev,) = drain(s)
    assert isinstance(ev, Welcomed) and ev.scheme == 1
    assert ev.reply == b"MP-S 1 owner TESTCAR TESTCAR\r\n"
    s.receive_data(b"C7,STAT\r\n")
    assert drain(s) == [Message(m.Command(7, "STAT"), "C7,STAT")]
    assert s.send(m.Peers(1)) == b"Z1\r\n"


# --- server-side rejections --------------------------------------------------------------------------------
def test_server_rejects_wrong_password_and_unknown_vehicle() -> None:
    _, _, evs = pair(password="wrong")
    assert isinstance(evs[0], AuthFailed) and "wrong password" in evs[0].reason
    assert "wrong" not in evs[0].reason.replace("wrong password", "")    # the secret is not echoed
    _, _, evs = pair(vid="NOBODY")
    assert isinstance(evs[0], AuthFailed)


def test_server_rejects_garbage_lines() -> None:
    for bad in (b"!!!notbase64!!!\r\n", b"B1ze2MQ\r\n", b"AAAAAAAA\r\n", "BÄze2MQN\r\n".encode()):
        c, s, evs = pair()
        s.receive_data(bad)
        (ev,) = drain(s)
        assert isinstance(ev, ProtocolError), bad
        assert s.dead
        s.receive_data(b"more\r\n")
        assert drain(s) == []


def test_server_rejects_a_1mb_line_early() -> None:
    _, s, _ = pair()
    chunk = b"A" * 65536
    evs = []
    for _ in range(16):
        s.receive_data(chunk)
        evs += drain(s)
        if evs:
            break
    assert isinstance(evs[0], ProtocolError) and "longer" in evs[0].reason


def test_server_rejects_bad_hellos() -> None:
    for hello in (b"GET / HTTP/1.1\r\n", "MP-C 0 tök dig TESTCAR\r\n".encode(), b"MP-X 0 a b TESTCAR\r\n",
                  b"MP-C 9 a b TESTCAR\r\n", b"MP-C 0 abc\r\n"):
        s = ServerConnection(lookup)
        s.receive_data(hello)
        (ev,) = drain(s)
        assert isinstance(ev, AuthFailed | ProtocolError), hello


# --- client-side rejections ---------------------------------------------------------------------------------
def test_client_rejects_replayed_welcome() -> None:
    c = ClientConnection("C", "TESTCAR", PASS, random.Random(3))
    c.receive_data(f"MP-S 0 {c.token} {digest(PASS, c.token)}\r\n".encode())
    (ev,) = drain(c)
    assert isinstance(ev, AuthFailed) and "replays" in ev.reason


def test_client_rejects_forged_digest() -> None:
    c = ClientConnection("C", "TESTCAR", PASS, random.Random(3))
    c.receive_data(f"MP-S 0 ServerTokenABCDEFGHIJK {digest('guess', 'ServerTokenABCDEFGHIJK')}\r\n".encode())
    (ev,) = drain(c)
    assert isinstance(ev, AuthFailed) and "digest" in ev.reason


def test_client_sees_silent_close_as_auth_failure() -> None:
    c = ClientConnection("C", "TESTCAR", PASS)
    c.receive_data(b"")
    assert isinstance(drain(c)[0], AuthFailed)


def test_client_rejects_bad_lines_after_welcome() -> None:
    for bad in (b"!!!\r\n", b"B1ze2MQ\r\n", b"AAAAAAAA\r\n", "é\r\n".encode(), b"x" * (MAX_LINE_BYTES + 2)):
        c, _, evs = pair()
        c.receive_data(evs[0].reply)
        drain(c)
        c.receive_data(bad)
        (ev,) = drain(c)
        assert isinstance(ev, ProtocolError), bad


def test_unreadable_fields_do_not_kill_the_link() -> None:
    c, s, evs = pair()
    c.receive_data(evs[0].reply)
    drain(c)
    s.receive_data(c.send("Cxyz") + c.send("A"))
    evs = drain(s)
    assert isinstance(evs[0], Malformed) and evs[1] == Message(m.Ping(), "A")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_never_crashes_on_arbitrary_bytes(data: bytes, after_login: bool) -> None:
    c, s, evs = pair()
    c.receive_data(evs[0].reply)
    drain(c)
    for conn in (c, s) if after_login else (ClientConnection("A", "X", "y"), ServerConnection(lookup)):
        conn.receive_data(data)
        conn.receive_data(b"\n")
        for ev in drain(conn):
            assert isinstance(ev, Welcomed | Message | Malformed | AuthFailed | ProtocolError | ConnectionClosed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60),
                min_size=1, max_size=8), st.integers(1, 50))
def test_any_payloads_survive_the_encrypted_wire(payloads: list[str], chunk: int) -> None:
    c, s, evs = pair()
    c.receive_data(evs[0].reply)
    drain(c)
    wire = b"".join(c.send(p) for p in payloads)
    got = []
    for i in range(0, len(wire), chunk):
        s.receive_data(wire[i:i + chunk])
        got += drain(s)
    assert [e.payload for e in got] == payloads
