"""Logins an attacker would try, on the virtual clock: plaintext scheme 1, password guessing."""

from __future__ import annotations

from ovms_world import World

from ovms_v2 import messages as m
from ovms_v2.crypto import digest
from tools.server.login_guard import DEFAULT_POLICY as P


def hello(world: World, line: bytes) -> dict:
    """Connect, send one hello line; record what came back, whether and when we were closed."""
    state: dict = {"closed": None, "got": b""}

    def connected(stream, err) -> None:
        assert stream is not None, err
        state["stream"] = stream
        stream.set_handlers(lambda d: state.__setitem__("got", state["got"] + d),
                            lambda: state.__setitem__("closed", world.loop.time()))
        state["sent"] = world.loop.time()
        stream.write(line)

    world.loop.connect_tcp("127.0.0.1", 6867, connected)
    return state


def wrong(world: World, vid: str = "TESTCAR") -> dict:
    return hello(world, b"MP-A 0 tok " + digest("guess", "tok").encode() + b" " + vid.encode() + b"\r\n")


def test_scheme_1_plaintext_login_is_refused_and_closed(world: World) -> None:
    state = hello(world, b"MP-A 1 owner carpass123 TESTCAR\r\n")     # the right password, in clear
    world.run(2)
    assert state["closed"] is not None and state["got"] == b""        # no "MP-S 1", no session
    assert world.server.apps_connected("TESTCAR") == 0
    assert world.server.stats["refused_plaintext"] == 1


def test_scheme_1_car_login_is_refused_too_and_scheme_0_still_works(world: World) -> None:
    state = hello(world, b"MP-C 1 owner carpass123 TESTCAR\r\n")
    world.run(2)
    assert state["closed"] is not None and not world.server.connected("TESTCAR")
    app = world.app()
    car = world.car()
    world.run(2)
    assert app.state == "open" and world.server.connected("TESTCAR") and car.session.logged_in


def test_after_failures_every_answer_waits_the_same_right_or_wrong(world: World) -> None:
    for _ in range(P.slow_after + 1):
        wrong(world)
        world.run(P.max_delay + 1)
    start = world.loop.time()
    app = world.app()               # the right password, same (virtual) address, same vehicle
    bad = wrong(world)              # checked right after it: the same count of failures so far
    opened: list[float] = []
    app.on_state = lambda c: opened.append(world.loop.time()) if c.state == "open" else None
    world.run(P.max_delay + 1)
    assert opened, "the right password must still get in"
    held = opened[0] - start
    assert held >= P.base_delay * 2 - 0.01                # not answered at once: no timing oracle
    assert abs((bad["closed"] - bad["sent"]) - held) < 0.01
    assert world.server.stats["logins_delayed"] >= 2
    # The car gets in through a held answer too, and what it sends then reaches the app.
    car = world.car()
    world.run(P.max_delay + 1)
    assert car.session.logged_in and world.server.connected("TESTCAR")
    status = app.last["S"]
    assert isinstance(status, m.Status) and status.soc == "80"


def test_a_guessing_address_is_locked_out_and_then_closed_unchecked(world: World) -> None:
    for _ in range(P.lockout_after):
        wrong(world)
        world.run(P.max_delay + 1)
    assert world.server.stats["lockouts"] == 1
    checked = world.server.stats["logins_failed"]
    for _ in range(50):
        wrong(world)
    world.run(1)
    assert world.server.stats["logins_failed"] == checked     # not one more password checked
    assert world.server.stats["refused_locked_out"] == 50
    world.run(P.lockout)                                       # the lockout ends by itself
    app = world.app()
    world.run(P.max_delay + 1)
    assert app.state == "open"



def test_only_hellos_that_reach_a_password_check_count_as_failures(world: World) -> None:
    """Refusals that test no password (a server-type hello, garbage, a silent close) lock nobody out:
    a flood of them from the car's own address must not keep the car away."""
    for i in range(3 * P.lockout_after):
        hello(world, (b"MP-S 0 tok dig TESTCAR\r\n", b"GET / HTTP/1.0\r\n", b"")[i % 3])
        world.run(0.2)
    assert world.server.stats["logins_failed"] == 0 and world.server.stats["lockouts"] == 0
    car = world.car()
    world.run(0.5)                                        # answered at once: no delay, no lockout
    assert car.session.logged_in
