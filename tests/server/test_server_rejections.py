"""Each bad peer is cut off alone: the server keeps serving the other car and its app."""

from __future__ import annotations

import pytest
from car_link import CarLink
from ovms_world import World

from ovms_v2 import messages as m
from ovms_v2.connection import ClientConnection
from ovms_v2.crypto import digest
from tcu.ovms.car_client import CarSession, LinkLost, LoggedIn, LoginFailed


def raw_peer(world: World, lines: list[bytes], login: bool = True) -> dict:
    """Connect, optionally log in as car OTHER, then write `lines`; report whether we were cut off."""
    state: dict = {"closed": False, "got": b""}
    conn = ClientConnection("C", "OTHER", "otherpass")

    def connected(stream, err) -> None:
        state["stream"] = stream
        stream.set_handlers(lambda d: state.__setitem__("got", state["got"] + d),
                            lambda: state.__setitem__("closed", True))
        if login:
            stream.write(conn.initial_bytes())
        world.loop.call_later(0.5, lambda: [stream.write(x) for x in lines])

    world.loop.connect_tcp("127.0.0.1", 6867, connected)
    return state


@pytest.mark.parametrize("bad", [
    [b"!!!! not base64\r\n"],
    [b"B1ze2MQ\r\n"],                              # truncated base64
    [b"AAAAAAAAAAAA\r\n"],                         # decodes, but not to "MP-0 "
    [b"A" * 1_048_576 + b"\r\n"],                  # a 1 MB line
    ["Grüße\r\n".encode()],                        # non-ASCII
])
def test_bad_line_terminates_only_that_connection(world: World, bad: list[bytes]) -> None:
    good = world.car()
    world.run(1)
    app = world.app()
    world.run(1)
    state = raw_peer(world, bad)
    world.run(2)
    assert state["closed"], "the bad peer must be disconnected"
    assert not world.server.connected("OTHER")
    # The good car still reports, and its app still gets it.
    app.received.clear()
    good.metrics_dict["v.b.soc"] = 42  # type: ignore[attr-defined]
    good.tick(force=True)
    world.run(1)
    assert app.last["S"].soc == "42"
    assert world.server.connected("TESTCAR") and app.state == "open"


@pytest.mark.parametrize("hello", [
    b"MP-C 0 sometoken " + digest("wrongpass", "sometoken").encode() + b" OTHER\r\n",
    b"MP-C 0 sometoken " + digest("otherpass", "sometoken").encode() + b" NOSUCHCAR\r\n",
    "MP-C 0 tøken x OTHER\r\n".encode(),
    b"MP-C 0 " + b"A" * 1_048_576 + b"\r\n",
])
def test_bad_logins_are_closed_without_a_word(world: World, hello: bytes) -> None:
    good = world.car()
    world.run(1)
    state = raw_peer(world, [hello], login=False)
    world.run(2)
    assert state["closed"] and state["got"] == b""   # spec §2: the server just closes
    assert world.server.connected("TESTCAR") and good.session.logged_in


def test_car_with_wrong_password_gets_login_failed(world: World) -> None:
    link = world.car("OTHER", "not-the-password")
    world.run(2)
    assert any(isinstance(e, LoginFailed) for e in link.events)
    assert not world.server.connected("OTHER")


def test_app_with_wrong_password_fails(world: World) -> None:
    app = world.app(password="nope")
    world.run(2)
    assert app.state == "failed" and "login failed" in (app.error or "")


def fake_server(world: World, port: int, script) -> None:
    """A hostile 'server' that answers the hello with `script(hello_line) -> bytes`."""
    def on_accept(stream) -> None:
        buf = bytearray()

        def on_data(d: bytes) -> None:
            buf.extend(d)
            if b"\n" in buf:
                stream.write(script(bytes(buf).split(b"\n")[0].decode()))
        stream.set_handlers(on_data)
    world.loop.listen_tcp("127.0.0.1", port, on_accept)


def car_against(world: World, port: int) -> CarLink:
    session = CarSession("TESTCAR", "carpass123", world.loop.random("c"), world.loop.time())
    link = CarLink(world.loop, "127.0.0.1", port, session, dict)
    link.connect()
    return link


def test_car_refuses_replayed_welcome(world: World) -> None:
    def replay(hello: str) -> bytes:
        token = hello.split(" ")[2]
        return f"MP-S 0 {token} {digest('carpass123', token)}\r\n".encode()
    fake_server(world, 7001, replay)
    link = car_against(world, 7001)
    world.run(2)
    assert [e for e in link.events if isinstance(e, LoginFailed)][0].reason.startswith("server welcome replays")
    assert link.stream is None


def test_car_refuses_forged_welcome(world: World) -> None:
    forged = f"MP-S 0 ServerTokenABCDEFGHIJK {digest('guessed', 'ServerTokenABCDEFGHIJK')}\r\n".encode()
    fake_server(world, 7002, lambda hello: forged)
    link = car_against(world, 7002)
    world.run(2)
    assert any(isinstance(e, LoginFailed) and "digest" in e.reason for e in link.events)


@pytest.mark.parametrize("garbage", [b"!!!\r\n", b"B1ze2MQ\r\n", b"AAAAAAAA\r\n", b"x" * 1_048_576])
def test_car_drops_a_server_that_sends_bad_lines(world: World, garbage: bytes) -> None:
    def welcome_then_garbage(hello: str) -> bytes:
        return f"MP-S 0 ServerTokenABCDEFGHIJK {digest('carpass123', 'ServerTokenABCDEFGHIJK')}\r\n".encode() + garbage
    fake_server(world, 7003, welcome_then_garbage)
    link = car_against(world, 7003)
    world.run(2)
    assert any(isinstance(e, LoggedIn) for e in link.events)
    assert any(isinstance(e, LinkLost) for e in link.events)
    assert link.stream is None


def test_car_gives_up_without_welcome(world: World) -> None:
    fake_server(world, 7004, lambda hello: b"")
    link = car_against(world, 7004)
    world.run(40)
    assert any(isinstance(e, LoginFailed) and "no welcome" in e.reason for e in link.events)


def test_unreadable_message_is_ignored_not_fatal(world: World) -> None:
    car = world.car()
    world.run(1)
    app = world.app()
    world.run(1)
    app.send("Cxyz")
    app.send(m.Ping())
    world.run(1)
    assert app.state == "open" and app.last.get("a") == m.PingAck()
    assert car.session.logged_in
