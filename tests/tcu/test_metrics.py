"""The metrics store: typing, staleness, change tracking, listeners."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcu.metrics import STANDARD_METRICS, MetricDef, Metrics


def test_standard_names_and_units() -> None:
    m = Metrics()
    assert m.definition("v.b.soc").unit == "%"
    assert m.definition("v.b.range.est").unit == "km"
    assert m.definition("m.net.sq").unit == "dBm"
    assert m.definition("v.b.12v.voltage").unit == "V"
    names = {d.name for d in STANDARD_METRICS}
    for n in ("v.c.limit.soc", "v.d.hood", "v.e.alarm", "v.p.gpshdop", "v.vin", "m.net.provider"):
        assert n in names


def test_set_get_and_coercion() -> None:
    m = Metrics()
    assert m.set("v.b.soc", 80, 1.0) is True
    assert m.get("v.b.soc") == 80.0 and isinstance(m.get("v.b.soc"), float)
    assert m.set("v.b.soc", 80.0, 2.0) is False  # same value: not a change
    assert m.updated_at("v.b.soc") == 2.0  # but freshness refreshed
    assert m.set("v.e.locked", 1, 2.0) is True
    assert m.get("v.e.locked") is True
    assert m.set("v.p.satcount", 7.0, 2.0) and m.get("v.p.satcount") == 7
    with pytest.raises(TypeError):
        m.set("v.b.soc", "high", 3.0)
    with pytest.raises(ValueError):
        m.set("v.b.soc", float("nan"), 3.0)
    assert m.get("v.b.soc") == 80.0


def test_free_registration() -> None:
    m = Metrics()
    assert m.set("x.custom.thing", 3, 0.0)
    assert m.definition("x.custom.thing").kind is int
    m.register(MetricDef("x.volt", float, "V", 10.0))
    m.set("x.volt", 1, 0.0)
    assert m.format("x.volt") == "1V"


def test_staleness() -> None:
    m = Metrics()
    assert m.is_stale("v.b.soc", 0.0)  # no value at all
    m.set("v.b.soc", 50, 100.0)
    stale_after = m.definition("v.b.soc").stale_after
    assert not m.is_stale("v.b.soc", 100.0 + stale_after)
    assert m.is_stale("v.b.soc", 100.0 + stale_after + 0.1)
    assert m.format("v.b.soc", 100.0 + stale_after + 1) == "50% (stale)"
    m.set("v.vin", "WVWZZZ", 0.0)
    assert not m.is_stale("v.vin", 1e9)


def test_apply_returns_changes_and_skips_bad_values(caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics()
    m.set("v.b.soc", 10, 0.0)
    with caplog.at_level(logging.WARNING):
        changed = m.apply([("v.b.soc", 10), ("v.b.soc", 11), ("v.e.on", True), ("v.e.temp", "x")], 1.0)
    assert changed == ["v.b.soc", "v.e.on"]
    assert "v.e.temp" in caplog.text
    assert "v.e.temp" not in m.view


def test_trackers_are_independent() -> None:
    m = Metrics()
    m.set("v.b.soc", 10, 0.0)
    server = m.tracker("server")
    ui = m.tracker("ui")
    assert server.changed() == {"v.b.soc"}  # a new consumer starts with everything
    server.clear()
    m.set("v.e.locked", True, 1.0)
    m.set("v.b.soc", 10, 1.0)  # unchanged
    assert server.changed() == {"v.e.locked"}
    assert ui.changed() == {"v.b.soc", "v.e.locked"}
    ui.clear(["v.b.soc"])
    assert ui.changed() == {"v.e.locked"}
    assert m.tracker("server") is server


def test_listeners_and_unsubscribe(caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics()
    seen: list[tuple] = []
    unsub = m.subscribe(lambda *a: seen.append(a))

    def broken(*a: object) -> None:
        raise RuntimeError("consumer bug")

    m.subscribe(broken)
    m.set("v.b.soc", 10, 1.0)
    m.set("v.b.soc", 10, 2.0)
    m.set("v.b.soc", 11, 3.0)
    assert seen == [("v.b.soc", None, 10.0, 1.0), ("v.b.soc", 10.0, 11.0, 3.0)]
    unsub()
    m.set("v.b.soc", 12, 4.0)
    assert len(seen) == 2
    assert "consumer bug" in caplog.text


def test_view_is_read_only_mapping() -> None:
    m = Metrics()
    m.set("v.b.soc", 10, 0.0)
    v = m.view
    assert dict(v) == {"v.b.soc": 10.0}
    assert v.get("v.e.on") is None
    with pytest.raises(TypeError):
        v["v.b.soc"] = 5  # type: ignore[index]
    m.set("v.e.on", True, 0.0)
    assert len(v) == 2


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["v.b.soc", "v.e.on", "v.vin", "v.p.satcount", "zz"]),
                          st.one_of(st.floats(), st.integers(), st.booleans(), st.text(max_size=5)))))
def test_apply_never_raises(updates: list) -> None:
    m = Metrics()
    t = m.tracker("t")
    changed = m.apply(updates, 0.0)
    assert set(changed) <= t.changed()
    for name in m.view:
        assert isinstance(m.view[name], m.definition(name).kind)


def test_subscribe_with_names_only_hears_those_names_in_subscription_order() -> None:
    m = Metrics()
    heard: list[tuple[str, str]] = []
    m.subscribe(lambda n, o, v, t: heard.append(("all", n)))
    unsub = m.subscribe(lambda n, o, v, t: heard.append(("soc", n)), names=["v.b.soc"])
    m.set("v.b.soc", 50.0, 1.0)
    m.set("v.p.speed", 10.0, 1.0)
    assert heard == [("all", "v.b.soc"), ("soc", "v.b.soc"), ("all", "v.p.speed")]
    unsub()
    heard.clear()
    m.set("v.b.soc", 51.0, 2.0)
    assert heard == [("all", "v.b.soc")]
