"""MqttSession, sans-IO: bytes and times in, packets and events out (a scripted broker in the test)."""

from __future__ import annotations

import json
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt311 import packets as p
from tcu.mqtt.session import (
    CONNACK_TIMEOUT,
    LIVENESS_IDLE,
    PING_TIMEOUT,
    UPDATE_IDLE,
    UPDATE_ON,
    MqttSession,
    TextCommand,
)
from tcu.server_session import Delivered, LinkLost, LoggedIn, LoginFailed

PREFIX = "ovms/owner/CAR1/"


def _packets(data: bytes) -> list[p.Packet]:
    r = p.PacketReader(max_packet=1 << 20)
    r.feed(data)
    out = []
    while (pkt := r.next_packet()) is not None:
        out.append(pkt)
    return out


def _publishes(data: bytes) -> list[p.Publish]:
    return [x for x in _packets(data) if isinstance(x, p.Publish)]


def _session(**kw: object) -> MqttSession:
    return MqttSession("CAR1", random.Random(1), username="owner", password="s3cret", **kw)  # type: ignore[arg-type]


def _online(s: MqttSession, now: float = 0.0, session_present: bool = False) -> bytes:
    s.connect(now)
    out = s.receive_data(p.encode(p.Connack(session_present, 0)), now)
    assert isinstance(s.events()[0], LoggedIn)
    return out


def test_connect_carries_credentials_and_the_retained_last_will() -> None:
    s = _session()
    [c] = _packets(s.connect(0.0))
    assert isinstance(c, p.Connect)
    assert (c.client_id, c.username, c.password) == ("CAR1", "owner", b"s3cret")
    assert (c.will_topic, c.will_message, c.will_retain) == (PREFIX + "metric/s/v3/connected", b"no", True)
    assert not c.clean_session and c.keep_alive > 0


def test_connack_subscribes_to_commands_says_online_and_publishes_discovery() -> None:
    s = _session()
    out = _online(s)
    pkts = _packets(out)
    subs = [x for x in pkts if isinstance(x, p.Subscribe)]
    assert subs[0].topics == ((PREFIX + "client/+/command/+", 1),)
    pubs = {x.topic: x for x in _publishes(out)}
    assert pubs[PREFIX + "metric/s/v3/connected"].payload == b"yes"
    assert pubs[PREFIX + "metric/s/v3/connected"].retain
    soc = json.loads(pubs["homeassistant/sensor/CAR1/soc/config"].payload)
    assert soc["state_topic"] == PREFIX + "metric/v/b/soc"
    assert (soc["device_class"], soc["unit_of_measurement"]) == ("battery", "%")
    assert soc["availability_topic"] == PREFIX + "metric/s/v3/connected"
    lock = json.loads(pubs["homeassistant/lock/CAR1/lock/config"].payload)
    assert lock["command_topic"] == PREFIX + "client/homeassistant/command/lock"
    assert "homeassistant/device_tracker/CAR1/location/config" in pubs
    assert "homeassistant/binary_sensor/CAR1/charging/config" in pubs
    assert all(x.retain for t, x in pubs.items() if t.startswith("homeassistant/"))


def test_refused_connack_is_login_failed() -> None:
    s = _session()
    s.connect(0.0)
    s.receive_data(p.encode(p.Connack(False, 4)), 1.0)
    [ev] = s.events()
    assert isinstance(ev, LoginFailed) and "user name or password" in ev.reason
    assert s.next_deadline() is None


def test_no_connack_in_time() -> None:
    s = _session()
    s.connect(0.0)
    assert s.next_deadline() == CONNACK_TIMEOUT
    s.tick({}, CONNACK_TIMEOUT)
    assert isinstance(s.events()[0], LoginFailed)


def test_metrics_are_retained_change_only_and_stale_ones_are_held_back() -> None:
    stale = {"v.b.range.est"}
    s = _session(is_stale=lambda name, now: name in stale)
    _online(s)
    metrics: dict[str, object] = {"v.b.soc": 81.5, "v.e.locked": True, "v.b.range.est": 200.0,
                                  "v.p.latitude": 51.5, "v.p.longitude": -0.125, "v.p.odometer": None}
    pubs = {x.topic: x for x in _publishes(s.tick(metrics, 1.0))}
    assert pubs[PREFIX + "metric/v/b/soc"].payload == b"81.5"
    assert pubs[PREFIX + "metric/v/e/locked"].payload == b"yes"
    assert all(x.retain and x.qos == 0 for x in pubs.values())
    assert PREFIX + "metric/v/b/range/est" not in pubs          # stale
    assert PREFIX + "metric/v/p/odometer" not in pubs           # unknown
    assert json.loads(pubs[PREFIX + "ha/location"].payload) == {"latitude": 51.5, "longitude": -0.125}
    # next report on the idle cadence; only what changed
    deadline = s.next_deadline()
    assert deadline is not None and deadline <= 1.0 + UPDATE_IDLE
    metrics["v.b.soc"] = 81.0
    pubs2 = _publishes(s.tick(metrics, 1.0, force=True))
    assert [x.topic for x in pubs2] == [PREFIX + "metric/v/b/soc"]
    # ignition on: 5 s cadence
    metrics["v.e.on"] = True
    s.tick(metrics, 2.0, force=True)
    assert s.next_deadline() == 2.0 + UPDATE_ON


def test_a_reconnect_sends_every_metric_again() -> None:
    s = _session()
    _online(s)
    s.tick({"v.b.soc": 80.0}, 1.0)
    s.disconnected("tcp reset")
    assert isinstance(s.events()[0], LinkLost)
    _online(s, 10.0)
    assert [x.payload for x in _publishes(s.tick({"v.b.soc": 80.0}, 10.0))] == [b"80"]


def test_alert_is_delivered_on_puback_and_retransmitted_with_dup_after_reconnect() -> None:
    s = _session()
    _online(s)
    [pub] = _publishes(s.send_alert("a1", "Alarm sounding #T1", 1.0))
    assert (pub.topic, pub.qos, pub.retain, pub.dup) == (PREFIX + "notify/alert/tcu", 1, False, False)
    assert s.in_flight() == ("a1",)
    s.disconnected("broker gone")
    s.events()
    assert s.send_alert("a1", "Alarm sounding #T1", 2.0) == b""    # outbox re-offers: no second copy
    out = _online(s, 5.0)
    [again] = [x for x in _publishes(out) if x.qos == 1]
    assert (again.packet_id, again.dup, again.payload) == (pub.packet_id, True, pub.payload)
    assert pub.packet_id is not None
    s.receive_data(p.encode(p.Puback(pub.packet_id)), 6.0)
    assert s.events() == [Delivered(("a1",))]
    assert s.in_flight() == ()


def test_an_alert_offered_offline_goes_after_connack_without_dup() -> None:
    s = _session()
    assert s.send_alert("a2", "12V low", 0.0) == b""
    out = _online(s, 1.0)
    [pub] = [x for x in _publishes(out) if x.qos == 1]
    assert pub.payload == b"12V low" and not pub.dup


def test_history_record_topic_and_payload() -> None:
    s = _session()
    _online(s)
    [pub] = _publishes(s.send_history("r1", "*-LOG-Trip", "1,2,3\nmore", 1.0, recno=7, timediff=-30))
    assert (pub.topic, pub.payload, pub.qos) == (PREFIX + "notify/data/*-LOG-Trip/7/-30", b"1,2,3", 1)


def test_command_runs_once_and_the_response_goes_to_the_response_topic() -> None:
    s = _session()
    _online(s)
    cmd = p.Publish(PREFIX + "client/app7/command/3", b"LOCK 1234\n", 1, False, False, 99)
    out = s.receive_data(p.encode(cmd), 2.0)
    assert _packets(out) == [p.Puback(99)]
    [ev] = s.events()
    assert ev == TextCommand("app7/3", "LOCK 1234")
    # the broker redelivers (our PUBACK was lost): acknowledged, not run again
    dup = p.Publish(cmd.topic, cmd.payload, 1, False, True, 100)
    assert _packets(s.receive_data(p.encode(dup), 3.0)) == [p.Puback(100)]
    assert s.events() == []
    [resp] = _publishes(s.respond(ev.ref, "Vehicle locked", 3.0))
    assert (resp.topic, resp.payload, resp.qos) == (PREFIX + "client/app7/response/3", b"Vehicle locked", 1)
    assert resp.packet_id is not None
    s.receive_data(p.encode(p.Puback(resp.packet_id)), 3.5)
    assert s.events() == []          # a reply is no outbox item


def test_a_retained_command_is_not_run() -> None:
    s = _session()
    _online(s)
    s.receive_data(p.encode(p.Publish(PREFIX + "client/x/command/1", b"UNLOCK", 0, True)), 1.0)
    assert s.events() == []


def test_keep_alive_pings_when_the_broker_is_quiet_and_declares_the_link_dead() -> None:
    s = _session()
    out = _online(s)
    assert _packets(out)[-1] == p.Pingreq()        # proves the discovery burst arrived
    s.receive_data(p.encode(p.Pingresp()), 0.0)
    s.tick({}, 0.0)                 # the first report after CONNACK
    assert s.next_deadline() == LIVENESS_IDLE
    assert _packets(s.tick({}, LIVENESS_IDLE)) == [p.Pingreq()]
    assert s.next_deadline() == LIVENESS_IDLE + PING_TIMEOUT
    s.receive_data(p.encode(p.Pingresp()), LIVENESS_IDLE + 1)
    assert s.events() == []
    t = LIVENESS_IDLE + 1 + LIVENESS_IDLE
    assert _packets(s.tick({}, t)) == [p.Pingreq()]
    assert s.tick({}, t + PING_TIMEOUT) == b""
    [ev] = s.events()
    assert isinstance(ev, LinkLost) and "PINGREQ" in ev.reason


def test_a_malformed_packet_from_the_broker_drops_the_link() -> None:
    s = _session()
    _online(s)
    s.receive_data(b"\x50\x02\x00\x01", 1.0)        # PUBREC: we never publish QoS 2
    [ev] = s.events()
    assert isinstance(ev, LinkLost)


def test_packet_ids_come_from_the_injected_random_source() -> None:
    a = MqttSession("CAR1", random.Random(5))
    b = MqttSession("CAR1", random.Random(5))
    for s in (a, b):
        _online(s)
    assert a.send_alert(1, "x", 1.0) == b.send_alert(1, "x", 1.0)
    c = MqttSession("CAR1", random.Random(6))
    _online(c)
    assert c.send_alert(1, "x", 1.0) != a.send_alert(2, "x", 1.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=10))
def test_arbitrary_bytes_from_the_broker_never_crash_the_session(chunks: list[bytes]) -> None:
    s = _session()
    s.connect(0.0)
    for i, c in enumerate(chunks):
        s.receive_data(c, float(i))
        s.tick({"v.b.soc": 50.0}, float(i))
        if s.next_deadline() is None:
            s.connect(float(i))
    s.events()


def test_packet_ids_wrap_and_skip_those_still_in_flight() -> None:
    s = _session()
    _online(s)
    s._next_pid = 0xFFFE                   # test only: start next to the wrap
    pids = [x.packet_id for i in range(5) for x in _publishes(s.send_alert(i, "x", 1.0))]
    assert pids == [0xFFFE, 0xFFFF, 1, 2, 3]
    s._next_pid = 0xFFFF
    [nxt] = _publishes(s.send_alert("n", "x", 1.0))
    assert nxt.packet_id == 4              # 0xFFFF, 1, 2, 3 are still unacknowledged


def test_close_says_offline_then_disconnects() -> None:
    s = _session()
    _online(s)
    pkts = _packets(s.close(1.0))
    assert pkts == [p.Publish(PREFIX + "metric/s/v3/connected", b"no", 0, True), p.Disconnect()]
    assert s.next_deadline() is None and s.events() == []


def test_a_broker_that_lost_our_session_still_gets_the_unacknowledged_alert() -> None:
    s = _session()
    _online(s)
    [pub] = _publishes(s.send_alert("a", "x #1", 1.0))
    s.disconnected("reset")
    s.events()
    out = _online(s, 2.0, session_present=False)
    assert [x.packet_id for x in _publishes(out) if x.qos == 1] == [pub.packet_id]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alert", "ack", "drop", "reconnect", "tick"]), st.integers(0, 9)),
                max_size=40))
def test_no_alert_is_lost_or_confirmed_twice_whatever_the_link_does(steps: list[tuple[str, int]]) -> None:
    """A broker that acks some publishes and a link that drops at random: after a final good connection
    every offered alert is confirmed exactly once."""
    s = _session()
    t = 0.0
    wire: list[p.Publish] = []          # QoS 1 publishes the broker has received, not yet acked

    def take(out: bytes) -> None:
        wire.extend(x for x in _publishes(out) if x.qos == 1)

    take(_online(s))
    offered: set[int] = set()
    confirmed: list[object] = []
    for action, n in steps:
        t += 1.0
        if action == "alert" and n not in confirmed:     # an outbox re-offers what is unconfirmed
            offered.add(n)
            take(s.send_alert(n, f"alert #{n}", t))
        elif action == "ack" and wire and s.logged_in:
            pub = wire.pop(n % len(wire))
            assert pub.packet_id is not None
            s.receive_data(p.encode(p.Puback(pub.packet_id)), t)
        elif action == "drop":
            s.disconnected("drop")
            wire.clear()
        elif action == "reconnect" and not s.logged_in:
            take(_online(s, t))
        elif action == "tick":
            take(s.tick({}, t))
        confirmed += [i for e in s.events() if isinstance(e, Delivered) for i in e.ids]
    if not s.logged_in:
        s.connect(t)
        take(s.receive_data(p.encode(p.Connack(False, 0)), t))
    for pub in list(wire):
        assert pub.packet_id is not None
        s.receive_data(p.encode(p.Puback(pub.packet_id)), t)
    confirmed += [i for e in s.events() if isinstance(e, Delivered) for i in e.ids]
    assert Counter(confirmed) == Counter(offered)     # each once, none lost
    assert s.in_flight() == ()


def test_discovery_is_sent_again_only_when_the_broker_may_have_lost_it() -> None:
    def configs(out: bytes) -> int:
        return sum(x.topic.startswith("homeassistant/") for x in _publishes(out))

    def reset() -> None:
        s.disconnected("reset")
        assert isinstance(s.events()[0], LinkLost)

    s = _session()
    n = configs(_online(s))
    assert n > 0
    reset()                                      # before the PINGRESP: not proven stored
    assert configs(_online(s, 1.0, session_present=True)) == n
    s.receive_data(p.encode(p.Pingresp()), 1.5)
    reset()
    assert configs(_online(s, 2.0, session_present=True)) == 0      # the broker kept our session
    reset()
    assert configs(_online(s, 3.0, session_present=False)) == n     # a fresh broker


def test_a_prefix_without_its_slash_gets_one_and_a_wildcard_one_is_refused() -> None:
    s = MqttSession("CAR1", random.Random(1), prefix="home/car")
    assert s.topics.metric("v.b.soc") == "home/car/metric/v/b/soc"
    try:
        MqttSession("CAR1", random.Random(1), prefix="home/+/car/")
    except ValueError as exc:
        assert "wildcard" in str(exc)
    else:
        raise AssertionError("a wildcard prefix was taken")
