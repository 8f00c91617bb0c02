"""The server seam (issue 18): per-server delivery records in the outbox, one link per server with its
own back-off, the unit reporting to OVMS v2, MQTT or both."""

from __future__ import annotations

from pathlib import Path

from sim.report import build_report
from sim.world import MQTT_USER, VEHICLE_ID, World, WorldConfig
from tcu.outbox import Outbox
from tcu.sqlite_store import open_db
from tcu.vehicle_logic import Alert


def state(ob: Outbox, item_id: int) -> str:
    item = ob.get(item_id)
    assert item is not None
    return item.state


def test_the_outbox_records_delivery_per_server_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["ovms", "mqtt"], 0.0)
    a, b = ob.add_many([("alert", "one", "al-1"), ("history", "two", None)], 1.0)
    assert [i.id for i in ob.to_send(11, server="ovms")] == [a.id, b.id]
    ob.mark_sent([a.id, b.id], 11, 0, 2.0, server="ovms")
    ob.mark_sent([a.id], 21, 0, 2.0, server="mqtt")
    assert ob.to_send(11, server="ovms") == []                        # written on this connection
    assert [i.id for i in ob.to_send(21, server="mqtt")] == [b.id]
    assert ob.confirm([a.id, b.id], "server", 3.0, server="ovms") == []   # MQTT has not confirmed yet
    assert state(ob, a.id) != "delivered"
    assert ob.to_send(12, server="ovms") == []                        # OVMS has them: never again there
    ob.close()

    ob = Outbox(tmp_path / "o.sqlite")                                # a restart (or a SIGKILL)
    ob.set_servers(["ovms", "mqtt"], 4.0)
    assert ob.to_send(13, server="ovms") == []
    assert [i.id for i in ob.to_send(22, server="mqtt")] == [a.id, b.id]   # a new MQTT connection
    assert ob.confirm([a.id], "server", 5.0, server="mqtt") == [a.id]
    assert state(ob, a.id) == "delivered" and ob.queued_count() == 1


def test_a_server_dropped_from_the_configuration_no_longer_holds_items_back(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["ovms", "mqtt"], 0.0)
    (a,) = ob.add_many([("alert", "one", "al-1")], 1.0)
    ob.mark_sent([a.id], 11, 0, 2.0, server="ovms")
    ob.confirm([a.id], "server", 3.0, server="ovms")
    assert ob.queued_count() == 1
    ob.set_servers(["ovms"], 4.0)
    assert ob.queued_count() == 0 and state(ob, a.id) == "delivered"


def test_per_server_records_on_a_full_disk_stay_in_memory_and_are_written_when_it_recovers(
        tmp_path: Path) -> None:
    """H5's memory tier holds per-server records too: nothing is sent twice to the server that has it,
    nothing is lost for the other, and the records reach the disk with the first write that succeeds."""
    path = tmp_path / "outbox.db"
    conn = open_db(path)
    ob = Outbox(conn)
    ob.set_servers(["ovms", "mqtt"], 0.0)
    (a,) = ob.add_many([("alert", "one", "al-1")], 1.0)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")                   # the disk is full
    (b,) = ob.add_many([("alert", "x" * 5000, "al-2")], 2.0)
    assert ob.guard.failing
    ob.mark_sent([a.id, b.id], 11, 0, 3.0, server="ovms")
    assert ob.confirm([a.id, b.id], "server", 4.0, server="ovms") == []
    assert ob.to_send(12, server="ovms") == []
    assert [i.id for i in ob.to_send(21, server="mqtt")] == [a.id, b.id]
    conn.execute("PRAGMA max_page_count=1000000")                    # the disk recovers
    assert ob.retry(1000.0) is True
    ob.close()
    ob = Outbox(tmp_path / "outbox.db")
    ob.set_servers(["ovms", "mqtt"], 1001.0)
    assert ob.to_send(13, server="ovms") == []
    assert [i.id for i in ob.to_send(22, server="mqtt")] == [a.id, b.id]


def test_one_server_confirms_as_before(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["mqtt"], 0.0)
    (a,) = ob.add_many([("alert", "one", "al-1")], 1.0)
    ob.mark_sent([a.id], 11, 0, 2.0, server="mqtt")
    assert ob.confirm([a.id], "server", 3.0, server="mqtt") == [a.id]
    assert ob.to_send(12, server="mqtt") == [] and ob.queued_count() == 0


# -- the unit with both servers, on the virtual clock -------------------------------------------------
def _report(cfg: WorldConfig) -> dict:
    world = World(cfg)
    try:
        world.run()
        r = build_report(world.observations(0.0))
    finally:
        world.close()
    return r


def test_sim_with_both_servers_loses_and_duplicates_nothing_at_either_end_and_is_deterministic() -> None:
    cfg = WorldConfig(seed=3, hours=4, weather="harsh", server="both", incidents_per_hour=2, drain_s=1800)
    first = _report(cfg)
    per = first["per_server"]
    raised = first["alerts"]["raised"]
    assert raised >= 5 and set(per) == {"ovms", "mqtt"}
    for name in ("ovms", "mqtt"):
        assert per[name]["received"] == raised and per[name]["lost"] == 0 and per[name]["duplicates"] == 0, per
    assert _report(WorldConfig(seed=3, hours=4, weather="harsh", server="both", incidents_per_hour=2,
                               drain_s=1800)) == first


def _world(server: str = "both", **kw: object) -> World:
    return World(WorldConfig(seed=5, hours=2, weather="calm", server=server, incidents=False, outages=[],
                             owner_script=(), drain_s=60, **kw))  # type: ignore[arg-type]


def test_a_broker_down_for_two_minutes_leaves_ovms_online_and_its_alert_arrives_once_after() -> None:
    world = _world(modem="direct")
    try:
        world.loop.run(until=600)
        link = world.unit.link
        assert link.server_online("ovms") and link.server_online("mqtt")
        world.broker.stop()
        world.loop.run(until=610)
        alert_id = world.unit.raise_alert(Alert("t-1", "alarm", "Alarm!", True, world.loop.wall()))
        ovms_during = []
        for t in range(615, 720, 5):
            world.loop.run(until=t)
            ovms_during.append(link.server_online("ovms"))
        assert all(ovms_during) and not link.server_online("mqtt")
        assert [a for a in world.server.alerts(VEHICLE_ID) if f"#a{alert_id}" in a.text]   # OVMS has it
        assert not [t for t, _ in world.mqtt_alerts if f"#a{alert_id}" in t]
        assert link.channel("mqtt").backoff.attempts >= 2          # its own back-off, not the link ladder
        shown = world.unit.status_snapshot()["sources"]["servers"]  # type: ignore[index]  # `tcu state`
        assert shown["ovms"]["online"] and not shown["mqtt"]["online"] and shown["mqtt"]["failures"] >= 2  # type: ignore[index]
        world.broker.start()
        retry_at = link.channel("mqtt").backoff.next_at
        assert retry_at is not None
        world.loop.run(until=max(retry_at, 720) + 3)          # its next try (and no history record yet)
        assert link.server_online("mqtt") and link.server_online("ovms")
        tags = [t for t, _ in world.mqtt_alerts if f"#a{alert_id}" in t]
        assert len(tags) == 1
        item = world.unit.outbox.get(alert_id)
        assert item is not None and item.state == "delivered"
        assert world.unit.link.sup.counters.get("stall", 0) == 0
    finally:
        world.close()


def test_an_mqtt_lock_command_locks_the_car_and_the_response_topic_says_so() -> None:
    world = _world(server="mqtt", modem="direct")
    try:
        responses: list[bytes] = []
        prefix = f"ovms/{MQTT_USER}/{VEHICLE_ID}/"
        world.broker.watch(prefix + "client/app1/response/#", lambda client, pkt: responses.append(pkt.payload))
        world.loop.run(until=600)
        world.car.do("unlock")
        world.loop.run(until=620)
        assert world.unit.metrics.get("v.e.locked") is False
        world.broker.inject(prefix + "client/app1/command/1", b"LOCK")
        world.loop.run(until=680)
        assert world.car.s.locked and world.unit.metrics.get("v.e.locked") is True
        assert responses and b"lock" in responses[-1].lower(), responses
    finally:
        world.close()


def test_a_supervisor_whose_sessions_own_liveness_never_pings() -> None:
    """The same ladder as test_link's unanswered-ping case: told that the sessions prove the path, the
    supervisor sends no `A` of its own and never calls a quiet session a stall."""
    from test_link import ScriptedModem

    from runtime import VirtualLoop
    from tcu.link import LinkConfig, LinkSupervisor

    loop = VirtualLoop(seed=1)
    sup = LinkSupervisor(LinkConfig(ping_interval=60, ping_timeout=20), loop.random("link"), session_liveness=True)
    modem = ScriptedModem(loop, sup)
    modem.run(sup.start(loop.time()))
    loop.run_for(30)
    assert sup.online
    modem.answers_ping = False
    loop.run_for(600)
    assert sup.online and sup.counters["stall"] == 0 and sup.ping_sent_at is None


def test_an_alert_no_server_confirms_in_time_goes_by_sms_once() -> None:
    """Both links stay up but nothing flows (`stall` on the virtual modem): neither server confirms the
    alert within alert.server_deadline_s, so it goes to the owner by SMS — once, not once per server."""
    world = _world()
    try:
        world.loop.run(until=900)
        link = world.unit.link
        assert link.server_online("ovms") and link.server_online("mqtt")
        world.vmodem.fault("stall", 300)
        world.loop.run(until=905)
        alert_id = world.unit.raise_alert(Alert("t-2", "soc", "Battery low", False, world.loop.wall()))
        world.loop.run(until=905 + 60 + 60)
        tag = f"#a{alert_id}"
        sms = [t for t, _, text in world.phone.received if tag in text]
        assert len(sms) == 1 and sms[0] >= 905 + 60, sms      # after the server deadline, once
        assert not [a for a in world.server.alerts(VEHICLE_ID) if tag in a.text]
        assert not [t for t, _ in world.mqtt_alerts if tag in t]
    finally:
        world.close()


def test_puback_read_in_the_same_batch_as_a_pump_makes_no_duplicate_at_the_broker() -> None:
    """Seed found by a 24 h run: after a reconnect the session resends an alert (DUP) and the broker's
    PUBACKs for it and older items arrive together. Pumping on the first Delivered of that batch offered
    the alert again, which the session no longer held: a second, new publish at the broker."""
    r = _report(WorldConfig(seed=1, hours=0.8, weather="harsh", server="both", dialect="sim7600",
                            incidents_per_hour=3, drain_s=600))
    assert r["alerts"]["raised"] >= 2
    assert r["per_server"]["mqtt"]["duplicates"] == 0 and r["per_server"]["mqtt"]["lost"] == 0, r["per_server"]
