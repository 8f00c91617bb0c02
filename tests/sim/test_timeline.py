"""The run's timeline (`sim.timeline`, `world.timeline`): the recorder itself, then what a demo world fills in."""

from __future__ import annotations

import json

from sim.timeline import Timeline, link_word
from sim.world import OWNER, SAMPLE_EVERY, demo_config


def test_link_spans_merge_retries_and_drop_zero_width() -> None:
    tl = Timeline()
    for t, state in ((0, "probe"), (1, "init"), (2, "register"), (3, "gprs"), (4, "tcp"), (4, "login"),
                     (5, "online"), (100, "tcp_wait"), (100, "tcp"), (130, "tcp_wait"), (160, "gprs"),
                     (200, "tcp"), (200, "online")):
        tl.link_state(float(t), state)
    got = [(s.start, s.end, s.state) for s in tl.link]
    assert got == [(0, 2, "modem starting"), (2, 3, "no coverage"), (3, 4, "no data link"),
                   (4, 5, "connecting"), (5, 100, "online"), (100, 160, "connecting"),
                   (160, 200, "no data link"), (200, None, "online")]
    assert tl.link_at(150) == "connecting" and tl.link_at(-1) is None
    assert tl.link_totals(260) == {"modem starting": 2, "no coverage": 1, "no data link": 41, "connecting": 61,
                                   "online": 155}
    assert link_word("soft_reset") == link_word("power_cycle") == "modem restarting"


def test_outage_recovery_is_the_first_online_after_its_end() -> None:
    tl = Timeline()
    tl.link_state(0.0, "online")
    mark = tl.outage_started(100.0, "gprs-down")
    tl.link_state(101.0, "tcp_wait")
    tl.link_state(150.0, "online")         # a login inside the window does not count …
    tl.link_state(160.0, "tcp_wait")
    assert mark.end is None and mark.recovered_at is None
    tl.outage_ended(mark, 200.0)
    assert mark.recovered_at is None
    tl.link_state(212.5, "online")         # … the first one after its end does
    assert (mark.end, mark.recovered_at, mark.recovery_s) == (200.0, 212.5, 12.5)
    close = tl.outage_started(300.0, "remote-close")
    assert close.end == 300.0               # an instant


def test_alert_path_and_latency_from_the_first_arrival_at_each_end() -> None:
    tl = Timeline()
    tl.alert_raised(10.0, 1, "ALARM", True)
    tl.alert_raised(20.0, 2, "Trunk", False)
    tl.alert_raised(30.0, 3, "Tow", True)
    assert [a.path for a in tl.alerts] == ["pending"] * 3
    tl.alert_delivered(12.0, [1], "sms")
    tl.alert_delivered(15.0, [1], "sms")           # a second SMS with the same tag: the first counts
    tl.alert_delivered(90.0, [1, 2], "server")
    tl.alert_delivered(80.0, [2], "server")        # the MQTT broker had it earlier than the OVMS store
    tl.alert_delivered(5.0, [99], "server")        # not raised in this run: ignored
    a1, a2, a3 = tl.alerts
    assert (a1.path, a1.sms_at, a1.server_at, a1.latency) == ("both", 12.0, 90.0, 2.0)
    assert (a2.path, a2.server_at, a2.latency) == ("server", 80.0, 60.0)
    assert (a3.path, a3.latency) == ("pending", None)


def test_commands_pair_by_the_units_number_and_sms_by_sender_and_text() -> None:
    tl = Timeline()
    tl.command_received(5.0, 1, "sms", "LOCK")
    tl.command_received(6.0, 2, "sms", "STAT")
    tl.command_answered(6.0, 2, "Not charging")
    tl.command_answered(9.5, 1, "Locked")
    tl.command_answered(12.0, 1, "Locked again")   # only the first answer
    assert [(c.command, c.done_at, c.result) for c in tl.commands] == [("LOCK", 9.5, "Locked"),
                                                                      ("STAT", 6.0, "Not charging")]
    tl.sms_sent(1.0, OWNER, "+1", "STAT")
    tl.sms_sent(2.0, OWNER, "+1", "STAT")
    a = tl.sms_received(4.0, "in", OWNER, "STAT", to="+1")
    b = tl.sms_received(7.0, "in", OWNER, "STAT", to="+1")
    c = tl.sms_received(8.0, "in", OWNER, "GPS", to="+1")
    assert (a.sent_at, b.sent_at, c.sent_at) == (1.0, 2.0, None)
    # The emulated modem's OK for AT+CMGS comes after the SMS centre delivered: the receipt waits.
    d = tl.sms_received(10.0, "out", OWNER, "Locked", to=OWNER)
    tl.sms_sent(10.4, "+1", OWNER, "Locked")
    tl.sms_sent(20.0, "+1", OWNER, "Locked")
    e = tl.sms_received(21.0, "out", OWNER, "Locked", to=OWNER)
    assert (d.sent_at, e.sent_at) == (10.4, 20.0)


def _check_demo(run) -> None:  # type: ignore[no-untyped-def]
    tl, report = run.timeline, run.report
    # The scripted outage, 40–60 min, and the unit online again soon after it, as the report says.
    [o] = tl.outages
    assert (o.kind, o.start, o.end) == ("gprs-down", 2400.0, 3600.0)
    assert o.recovered_at is not None and 3600.0 <= o.recovered_at < 3700.0
    assert report["outages"][0]["recovered_after_s"] == round(o.recovery_s, 3)
    # The link bands: online before, not online inside the outage, online at the end; contiguous.
    assert tl.link_at(2300.0) == "online" and tl.link_at(3000.0) != "online"
    assert tl.link[-1].state == "online" and tl.link[-1].end is None
    assert all(a.end == b.start for a, b in zip(tl.link, tl.link[1:], strict=False))
    # The alarm at 44 min: by SMS at once, on the server after the outage (the catch-up).
    alarm = next(a for a in tl.alerts if 2640.0 <= a.raised_at < 2700.0)
    assert alarm.critical and alarm.path == "both"
    assert alarm.sms_at is not None and alarm.sms_at - alarm.raised_at < 60.0
    assert alarm.server_at is not None and alarm.server_at >= o.recovered_at
    assert alarm.latency == alarm.sms_at - alarm.raised_at
    assert len(tl.alerts) == report["alerts"]["raised"]
    assert all(a.path != "pending" for a in tl.alerts)
    assert sum(a.sms_at is not None for a in tl.alerts) == report["alerts"]["via_sms"]
    # Every owner SMS reached the unit and was a command with an answer; LOCK after the car confirmed.
    script = demo_config().owner_script or ()
    ins = [s for s in tl.sms if s.direction == "in"]
    assert [s.text for s in ins] == [text for _, text in script]
    assert all(s.sent_at is not None and s.t >= s.sent_at for s in ins)
    assert all(s.sent_at is not None for s in tl.sms)   # the unit's replies and alerts too
    assert len([s for s in tl.sms if s.direction == "out"]) == report["sms"]["received"]
    assert [c.command for c in tl.commands] == [text for _, text in script]
    lock = next(c for c in tl.commands if c.command == "LOCK")
    assert lock.source == "sms" and lock.result == "Locked" and lock.done_at is not None and lock.done_at > lock.t
    # The car once a simulated minute, from the start to the end of the drain; it drove to work.
    times = [s.t for s in tl.samples]
    assert times[0] == 0.0 and all(b - a == SAMPLE_EVERY for a, b in zip(times, times[1:], strict=False))
    assert times[-1] > report["sim_seconds"] - SAMPLE_EVERY - 1
    assert max(s.speed_kmh for s in tl.samples) > 30 and all(0 < s.soc <= 100 for s in tl.samples)
    # JSON-able, and the report carries the compact part.
    json.dumps(tl.to_dict())
    assert [a["path"] for a in report["timeline"]["alerts"]] == [a.path for a in tl.alerts]


def test_demo_world_timeline_direct_modem(demo_direct) -> None:  # type: ignore[no-untyped-def]
    _check_demo(demo_direct)


def test_demo_world_timeline_emulated_modem(demo_emulated) -> None:  # type: ignore[no-untyped-def]
    _check_demo(demo_emulated)


def test_live_outage_recovery_agrees_with_the_report_on_a_harsh_day() -> None:
    """The timeline marks recovery as it happens; the report works it out at the end from the same
    transitions. Stalls, remote closes, no coverage and GPRS loss: the same seconds, outage by outage."""
    from sim.report import build_report
    from sim.world import World, WorldConfig

    w = World(WorldConfig(seed=11, hours=8.0, weather="harsh", drain_s=600.0, modem="direct", can_rate=0.05))
    w.run()
    report = build_report(w.observations(0.0))
    w.close()
    kinds = {o.kind for o in w.timeline.outages}
    assert kinds == {"gprs-down", "no-coverage", "remote-close", "stall"}, kinds   # seed 11: all four
    got = [(o.kind, round(o.start, 3), None if o.end is None else round(o.end, 3),
            None if o.recovery_s is None else round(o.recovery_s, 3)) for o in w.timeline.outages]
    want = [(o["kind"], o["start"], o["end"], o["recovered_after_s"]) for o in report["outages"]]
    assert got == want


def test_a_server_command_7_is_a_command_from_the_server_with_its_answer() -> None:
    """OVMS command 7 (a text command through the server, from the app) lands in the timeline as well."""
    from ovms_v2 import messages as m
    from sim.world import CAR_PASSWORD, SERVER_PORT, VEHICLE_ID, World, WorldConfig
    from tools.app.client import AppClient

    world = World(WorldConfig(seed=3, hours=1.0, scenario="theft", modem="direct", incidents=False,
                              outages=[], owner_script=(), can_rate=0.05))
    loop = world.loop
    loop.run(until=120)
    app = AppClient(loop, "127.0.0.1", SERVER_PORT, VEHICLE_ID, CAR_PASSWORD)
    app.connect()
    loop.run(until=130)
    app.command(7, "UNLOCK")
    loop.run(until=160)
    app.close()
    world.close()
    [reply] = [msg for _, msg in app.received if isinstance(msg, m.CommandReply) and msg.cmd == 7]
    [cmd] = world.timeline.commands
    assert (cmd.source, cmd.command, cmd.result) == ("server", "UNLOCK", reply.text)
    assert cmd.done_at is not None and 130 <= cmd.t < cmd.done_at < 160
    assert not [s for s in world.timeline.sms if s.direction == "in"]
