"""The server on the virtual clock: login, storage, replay, relay, commands, records, timers."""

from __future__ import annotations

from car_link import CarLink
from ovms_world import World

from ovms_v2 import messages as m
from tcu.ovms.car_client import AppsChanged, Delivered, LinkLost, LoggedIn


def codes(app) -> list[str]:
    return [msg.encode()[:1] if not isinstance(msg, m.Unknown) else msg.code for _, msg in app.received]


def test_car_login_store_and_app_replay(world: World) -> None:
    car = world.car()
    world.run(1)
    assert any(isinstance(e, LoggedIn) for e in car.events)
    assert world.server.connected("testcar")
    stored = world.server.messages("TESTCAR")
    assert set(stored) >= {"S", "D", "L", "F", "V"}
    assert stored["S"].startswith("S80,K,")
    world.run(5)
    app = world.app()
    world.run(1)
    assert app.state == "open" and app.car_connected is True
    seen = codes(app)
    assert seen[0] == "Z" and seen[-1] == "T"
    assert set(seen) >= {"S", "D", "L", "F", "V"}
    assert isinstance(app.last["T"], m.Time) and app.last["T"].seconds >= 5
    # The car learns that one interactive app watches.
    assert AppsChanged(1) in car.events


def test_relay_with_t0_and_server_version(world: World) -> None:
    car = world.car()
    world.run(1)
    app = world.app()
    world.run(1)
    app.received.clear()
    car.metrics_dict["v.b.soc"] = 79  # type: ignore[attr-defined]
    car.tick(force=True)
    world.run(1)
    seen = codes(app)
    assert seen == ["S", "T"]            # change-only: only S changed
    assert app.last["S"].soc == "79" and app.last["T"] == m.Time(0)
    car.write(car.session.send_raw(m.Firmware("1.0/X"), world.loop.time()))
    world.run(1)
    assert codes(app)[-3:] == ["F", "T", "f"]


def test_z_changes_reach_both_sides(world: World) -> None:
    car = world.car()
    world.run(1)
    app = world.app()
    batch = world.app(role="B")
    world.run(1)
    assert car.session.apps == 1            # batch clients are not counted
    app.close()
    world.run(1)
    assert car.session.apps == 0
    car.close()
    world.run(1)
    assert batch.car_connected is False
    assert not world.server.connected("TESTCAR")


def test_command_routing_to_requesting_app_only(world: World) -> None:
    def on_command(link: CarLink, req) -> None:
        if req.cmd == m.CMD_FEATURES:
            link.write(link.session.reply_lines(req.cmd, ["0", "1", "2"]))
        elif req.cmd == m.CMD_LOCK:
            link.write(link.session.reply(req.cmd, 0 if req.params == ("1234",) else 1, "bad pin"))
        else:
            link.write(link.session.reply(req.cmd, m.RESULT_UNIMPLEMENTED))

    world.car(on_command=on_command)
    world.run(1)
    a1, a2 = world.app(), world.app()
    world.run(1)
    a1.received.clear()
    a2.received.clear()
    a1.command(m.CMD_FEATURES)
    a2.command(m.CMD_LOCK, "1234")
    world.run(1)
    r1 = [msg for _, msg in a1.received if isinstance(msg, m.CommandReply)]
    r2 = [msg for _, msg in a2.received if isinstance(msg, m.CommandReply)]
    assert r1 == [m.CommandReply(1, 0, "0,3,0"), m.CommandReply(1, 0, "1,3,1"), m.CommandReply(1, 0, "2,3,2")]
    assert r2 == [m.CommandReply(20, 0, "bad pin")]
    a2.received.clear()
    a2.command(m.CMD_SERVER_GPRS)
    world.run(1)
    assert m.CommandReply(30, 1, "No GPRS utilisation data available") in [x for _, x in a2.received]


def test_command_to_offline_car_is_dropped(world: World) -> None:
    app = world.app()
    world.run(1)
    assert app.car_connected is False
    app.command(m.CMD_LOCK, "1234")
    world.run(5)
    assert not any(isinstance(x, m.CommandReply) for _, x in app.received)
    assert app.state == "open"


def test_records_alerts_and_delivery_events(world: World) -> None:
    car = world.car()
    world.run(1)
    app = world.app()
    world.run(1)
    car.events.clear()
    now = world.loop.time()
    wall = world.loop.wall()
    car.write(car.session.send_history("rec-1", "*-LOG-Trip", "12.5,km", now, recno=7, timediff=-60))
    car.write(car.session.send_alert("alert-1", "Charging stopped, cable out", now))
    world.run(1)
    assert Delivered(("rec-1",)) in car.events and Delivered(("alert-1",)) in car.events
    recs = world.server.records("TESTCAR")
    assert len(recs) == 1 and recs[0].rtype == "*-LOG-Trip" and recs[0].data == "12.5,km"
    assert recs[0].time == wall - 60 and recs[0].recno == 7
    alerts = world.server.alerts("TESTCAR")
    assert [(a.kind, a.text) for a in alerts] == [("A", "Charging stopped, cable out")]
    assert m.PushAlert("A", "Charging stopped, cable out") in [x for _, x in app.received]


def test_duplicate_car_login_drops_the_older(world: World) -> None:
    first = world.car()
    world.run(1)
    second = world.car()
    world.run(1)
    assert any(isinstance(e, LinkLost) for e in first.events)
    assert world.server.connected("TESTCAR")
    app = world.app()
    world.run(1)
    assert app.car_connected is True
    assert second.session.logged_in


def test_car_pings_keep_it_alive_for_an_hour(world: World) -> None:
    car = world.car()
    world.run(3600)
    assert world.server.connected("TESTCAR")
    assert car.session.logged_in
    assert not any(isinstance(e, LinkLost) for e in car.events)


def test_server_pings_idle_car_and_drops_silent_one(world: World) -> None:
    # A car that logs in and then never sends anything (not even answers to pings).
    from ovms_v2.connection import ClientConnection

    got: list[bytes] = []
    conn = ClientConnection("C", "TESTCAR", "carpass123")

    def connected(stream, err) -> None:
        stream.set_handlers(got.append)
        stream.write(conn.initial_bytes())

    world.loop.connect_tcp("127.0.0.1", 6867, connected)
    world.run(5)
    assert world.server.connected("TESTCAR")
    world.run(900)
    conn.receive_data(b"".join(got))
    events = []
    while (ev := conn.next_event()) is not None and repr(ev) != "NEED_DATA":
        events.append(ev)
    assert any(getattr(ev, "msg", None) == m.Ping() for ev in events)
    world.run(100)
    assert not world.server.connected("TESTCAR")


def test_group_subscription(world: World) -> None:
    car = world.car()
    world.run(1)
    car.write(car.session.send_raw(m.GroupLocation("friends", "80", "0", "90", "30", "1", "1", "52.5",
                                                   "13.4"), world.loop.time()))
    world.run(1)
    app = world.app(vid="OTHER", password="otherpass")
    world.run(1)
    app.send(m.GroupSubscribe("friends"))
    world.run(1)
    assert m.GroupRelay("TESTCAR", "friends,80,0,90,30,1,1,52.5,13.4") in [x for _, x in app.received]


def test_telemetry_reaches_sqlite_in_batches(world: World) -> None:
    world.car()
    world.run(0.5)
    rows = world.server.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    world.run(2)
    rows_after = world.server.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert rows_after >= 5 and rows_after >= rows


def test_idle_app_stays_connected_by_its_keepalive(world: World) -> None:
    app = world.app()
    quiet = world.app()
    quiet.keepalive = None
    world.run(1300)
    assert app.state == "open"
    assert quiet.state == "closed"        # spec §6 timeout_app 1200 s


def test_stored_messages_survive_a_server_restart(tmp_path) -> None:
    from runtime import VirtualLoop
    from tcu.ovms.car_client import CarSession
    from tools.app.client import AppClient
    from tools.server import OvmsServer

    db = tmp_path / "s.db"
    loop = VirtualLoop(seed=5)
    server = OvmsServer(loop, db, "127.0.0.1", 6867)
    server.add_vehicle("TESTCAR", "pw123")
    link = CarLink(loop, "127.0.0.1", 6867, CarSession("TESTCAR", "pw123", loop.random("c"), 0.0),
                   lambda: {"v.b.soc": 66})
    link.connect()
    loop.run_for(5)
    link.close()
    server.close()

    loop2 = VirtualLoop(seed=6)
    server2 = OvmsServer(loop2, db, "127.0.0.1", 6867)
    assert server2.messages("TESTCAR")["S"].startswith("S66,")
    app = AppClient(loop2, "127.0.0.1", 6867, "TESTCAR", "pw123", rng=loop2.random("a"))
    app.connect()
    loop2.run_for(1)
    assert app.car_connected is False and app.last["S"].soc == "66"


def test_performance_kludge(world: World) -> None:
    car = world.car()
    world.run(1)
    car.write(car.session.send_raw(m.Unknown("S", "80,K,230,16,charging,performance,,350"), world.loop.time()))
    world.run(1)
    assert world.server.messages("TESTCAR")["S"] == "S80,K,230,16,charging,performance,350"
