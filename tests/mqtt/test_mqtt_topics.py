"""The OVMS v3 topic tree, value formatting and the Home Assistant discovery configs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt311 import packets as p
from tcu.mqtt.discovery import ENTITIES, discovery_messages, node_id
from tcu.mqtt.topics import Topics, default_prefix, format_value, safe_level

T = Topics(default_prefix("owner", "CAR1"))


def test_layout_matches_ovms_v3() -> None:
    assert T.metric("v.b.soc") == "ovms/owner/CAR1/metric/v/b/soc"
    assert T.connected == "ovms/owner/CAR1/metric/s/v3/connected"
    assert T.notify("alert", "batt.12v") == "ovms/owner/CAR1/notify/alert/batt/12v"
    assert T.command_filter == "ovms/owner/CAR1/client/+/command/+"
    assert T.response("app", "7") == "ovms/owner/CAR1/client/app/response/7"


@pytest.mark.parametrize("value, text", [(True, "yes"), (False, "no"), (81.0, "81"), (12.45, "12.45"),
                                         (51.1234567, "51.123457"), (-0.0, "0"), (3, "3"), ("on", "on"),
                                         (float("nan"), "")])
def test_values_print_as_ovms_does(value: object, text: str) -> None:
    assert format_value(value) == text


_level = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(_level, _level)
def test_command_topics_round_trip_and_responses_are_valid_topic_names(client: str, ref: str) -> None:
    c, r = safe_level(client), safe_level(ref)
    assert T.parse_command(T.command(c, r)) == (c, r)
    resp = T.response(c, r)
    assert p.encode(p.Publish(resp, b"x", 1, packet_id=1))   # no wildcard, no NUL: encodable


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=60))
def test_parse_command_never_crashes_and_only_takes_our_command_topics(topic: str) -> None:
    got = T.parse_command(topic)
    if got is not None:
        assert topic == T.command(*got)


def test_a_prefix_must_end_with_a_slash() -> None:
    with pytest.raises(ValueError):
        Topics("ovms/x")


def test_discovery_configs_are_json_with_unique_ids_and_point_at_published_topics() -> None:
    msgs = discovery_messages(T, "My Car.1", "fw", "tcu")
    assert len(msgs) == len(ENTITIES)
    ids = set()
    for topic, payload in msgs:
        comp, node, obj, last = topic.split("/")[1:]
        assert (node, last) == (node_id("My Car.1"), "config") and node == "My_Car_1"
        cfg = json.loads(payload)
        ids.add(cfg["unique_id"])
        assert cfg["availability_topic"] == T.connected
        if comp in ("sensor", "binary_sensor", "lock"):
            assert cfg["state_topic"].startswith(T.prefix)
        if comp == "binary_sensor":
            assert (cfg["payload_on"], cfg["payload_off"]) == ("yes", "no")
    assert len(ids) == len(msgs)
    by_obj = {t.split("/")[3]: json.loads(pl) for t, pl in msgs}
    assert by_obj["range"]["unit_of_measurement"] == "km" and by_obj["range"]["device_class"] == "distance"
    assert by_obj["location"]["json_attributes_topic"] == T.location
    assert T.parse_command(by_obj["lock"]["command_topic"]) == ("homeassistant", "lock")
    assert by_obj["alert"]["state_topic"] == T.notify("alert", "tcu")
