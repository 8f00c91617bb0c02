"""Vehicle logic: each alert rule, its hysteresis and its text."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcu.metrics import Metrics, MetricValue
from tcu.params import Params
from tcu.vehicle_logic import Alert, HistoryRecord, LogicSettings, VehicleLogic, distance_m, format_distance

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


class Rig:
    def __init__(self, remembered: set[str] | None = None, **settings: Any) -> None:  # LogicSettings fields
        self.m = Metrics()
        self.conditions: set[str] = set(remembered or ())

        def on_condition(kind: str, active: bool) -> None:
            (self.conditions.add if active else self.conditions.discard)(kind)

        self.logic = VehicleLogic(self.m, replace(LogicSettings(), **settings), remembered=self.conditions,
                                  on_condition=on_condition)
        self.m.subscribe(self.logic.on_metric)
        self.now = T0
        self.alerts: list[Alert] = []

    def set(self, **kv: MetricValue) -> list[Alert]:
        for k, v in kv.items():
            self.m.set("v." + k.replace("_", "."), v, self.now)
        return self.tick()

    def advance(self, dt: float) -> list[Alert]:
        self.now += dt
        return self.tick()

    def tick(self) -> list[Alert]:
        new = self.logic.tick(self.now)
        self.alerts += new
        return new

    def texts(self) -> list[str]:
        return [a.text[6:] for a in self.alerts]


def plugged_charging(r: Rig, soc: float = 50) -> None:
    r.m.apply([("v.b.soc", soc), ("v.c.pilot", True), ("v.d.cp", True), ("v.c.limit.soc", 80.0),
               ("v.c.charging", False), ("v.c.state", "stopped")], r.now)
    r.m.apply([("v.c.charging", True), ("v.c.state", "charging")], r.now)
    r.tick()


def test_charge_started_and_unexpected_stop() -> None:
    r = Rig()
    plugged_charging(r, 64)
    assert r.texts() == ["Charging started at 64%"]
    r.set(c_charging=False)
    assert r.advance(1.0) == []  # settling: the state frame may still be on its way
    r.set(c_state="stopped")
    new = r.advance(5.0)
    assert [a.text[6:] for a in new] == ["Charge stopped unexpectedly at 64% (port still plugged)"]
    assert new[0].kind == "charge_interrupted" and not new[0].critical


def test_planned_stop_and_done_and_unplug() -> None:
    r = Rig()
    plugged_charging(r)
    r.logic.note_command("charge_stop", r.now)
    r.set(c_charging=False)
    assert [a.kind for a in r.advance(5)] == ["charge_stopped"]

    r = Rig()
    plugged_charging(r)
    r.m.apply([("v.b.soc", 80.0), ("v.c.charging", False)], r.now)
    r.advance(1)
    r.set(c_state="done")
    assert [a.text[6:] for a in r.advance(5)] == ["Charge done at 80%"]

    r = Rig()
    plugged_charging(r)
    r.m.apply([("v.c.charging", False), ("v.c.pilot", False), ("v.d.cp", False)], r.now)
    assert [a.text[6:] for a in r.advance(5)] == ["Charge stopped at 50% (cable removed)"]


def test_stop_and_resume_within_settle_is_silent() -> None:
    r = Rig()
    plugged_charging(r)
    r.set(c_charging=False)
    r.advance(1)
    r.set(c_charging=True)
    assert r.advance(10) == []


def test_alarm_is_critical_once_per_sounding() -> None:
    r = Rig()
    new = r.set(e_alarm=True)
    assert [(a.text, a.critical, a.kind) for a in new] == [("22:13 ALARM sounding", True, "alarm")]
    r.set(e_alarm=True)
    assert r.set(e_alarm=False) == []
    assert len(r.set(e_alarm=True)) == 1


def test_alert_text_uses_local_time_and_ids_are_unique() -> None:
    m = Metrics()
    logic = VehicleLogic(m, LogicSettings(tz_offset_min=60), wall=lambda now: now + T0)
    m.subscribe(logic.on_metric)
    m.set("v.e.alarm", True, 0.0)
    m.set("v.e.alarm", False, 0.0)
    m.set("v.e.alarm", True, 0.0)
    a, b = logic.tick(0.0)
    assert a.text == "23:13 ALARM sounding" and a.raised_at == T0
    assert a.id != b.id


def test_moved_while_parked() -> None:
    r = Rig(moved_m=500)
    r.m.apply([("v.p.latitude", 51.5), ("v.p.longitude", -0.12), ("v.e.on", True)], r.now)
    r.set(e_on=False, e_locked=True)
    r.set(p_latitude=51.5 + 0.002)  # ~220 m: GPS drift or a careful neighbour, no alert
    r.set(p_gpslock=False)
    r.set(p_latitude=51.6)  # no fix: a wild guess is no evidence
    r.set(p_latitude=51.5 + 0.002)
    r.set(p_gpslock=True)
    assert r.alerts == []
    r.set(p_latitude=51.5 + 0.0108)  # ~1.2 km
    assert r.texts() == ["Car moved while parked (1.2 km)"]
    assert r.alerts[0].critical
    r.set(p_latitude=51.6)
    assert len(r.alerts) == 1  # once per parking
    r.set(e_on=True)
    r.set(p_latitude=51.7)  # driving: no alert
    r.set(e_on=False)
    r.set(p_latitude=51.7005)
    assert len(r.alerts) == 1


def test_12v_low_with_hold_and_hysteresis() -> None:
    r = Rig(v12_low_drop=1.0, v12_recover=0.6)
    r.set(b_12v_voltage_ref=12.6, b_12v_voltage=12.5)
    r.set(b_12v_voltage=11.4)
    assert r.advance(10) == []  # a crank dip is not an alert
    r.set(b_12v_voltage=12.4)
    assert r.advance(60) == []
    r.set(b_12v_voltage=11.4)
    assert r.logic.next_deadline() == r.now + 30
    assert [a.text[6:] for a in r.advance(30)] == ["12V battery low: 11.4V"]
    r.set(b_12v_voltage=11.9)  # above the low line but below the recovery line: still low
    assert r.advance(60) == []
    r.set(b_12v_voltage=12.1)
    assert [a.kind for a in r.alerts] == ["12v_low", "12v_ok"]
    assert r.texts()[-1] == "12V battery recovered: 12.1V"


def test_a_restart_does_not_raise_still_active_conditions_again() -> None:
    """Alarm sounding, 12 V low, SOC low, car left on: raised once; after a restart (a new logic with the
    remembered conditions and the metrics arriving afresh) not again while they last (issue 12 item 10)."""
    def live(r: Rig) -> None:
        r.set(b_12v_voltage_ref=12.6, b_12v_voltage=11.2, b_soc=8.0, e_alarm=True, e_on=True, e_handbrake=True,
              p_speed=0.0)
        r.advance(LogicSettings().left_on_s + 60)

    first = Rig()
    live(first)
    assert sorted(a.kind for a in first.alerts) == ["12v_low", "alarm", "left_on", "soc_low"]
    assert first.conditions == {"alarm", "12v_low", "soc_low", "left_on"}
    again = Rig(remembered=set(first.conditions))
    live(again)
    assert again.alerts == []
    # when they end and begin again, they are new alerts
    again.set(e_alarm=False, b_12v_voltage=12.4, b_soc=20.0)
    assert sorted(a.kind for a in again.alerts) == ["12v_ok"] and again.conditions == {"left_on"}
    again.set(e_alarm=True)
    again.set(b_soc=8.0)
    assert sorted(a.kind for a in again.alerts) == ["12v_ok", "alarm", "soc_low"]


def test_soc_below_threshold_rearms_with_margin() -> None:
    r = Rig(soc_low=10)
    r.set(b_soc=12.0)
    r.set(b_soc=9.0)
    assert r.texts() == ["SOC below 10% (9%)"]
    r.set(b_soc=10.5)
    r.set(b_soc=9.5)
    assert len(r.alerts) == 1  # no flapping around the threshold
    r.set(b_soc=13.0)
    r.set(b_soc=8.0)
    assert len(r.alerts) == 2


def test_car_left_on() -> None:
    r = Rig(left_on_s=900)
    r.set(e_on=True, p_speed=0.0, e_handbrake=True)
    assert r.advance(600) == []
    r.set(d_fl=True)  # someone opened a door: the timer restarts
    assert r.advance(600) == []
    assert [a.kind for a in r.advance(300)] == ["left_on"]
    assert r.advance(3600) == []  # once
    r.set(p_speed=20.0)
    r.set(p_speed=0.0)
    assert [a.kind for a in r.advance(900)] == ["left_on"]
    r.set(e_on=False)
    assert r.logic.next_deadline() is None


def test_valet_trunk_and_bonnet() -> None:
    r = Rig()
    r.set(d_trunk=False, d_hood=False, e_valet=False)
    r.set(d_trunk=True)
    r.set(d_trunk=False)
    assert r.alerts == []
    r.set(e_valet=True)
    r.set(d_trunk=True)
    r.set(d_hood=True)
    assert r.texts() == ["Trunk opened in valet mode", "Bonnet opened in valet mode"]


def test_settings_from_params() -> None:
    p = Params({"tz_offset": "+02:00", "alert.soc_low": 15})
    s = LogicSettings.from_params(p)
    assert s.tz_offset_min == 120 and s.soc_low == 15.0


def test_geometry() -> None:
    assert distance_m(51.5, 0, 51.5, 0) == 0
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)
    assert format_distance(1234) == "1.2 km" and format_distance(650) == "650 m"


def test_alert_payload_round_trip() -> None:
    a = Alert("1-2-alarm", "alarm", "14:02 ALARM sounding", True, T0)
    assert Alert.from_payload(a.to_payload()) == a


def test_trip_and_breadcrumbs() -> None:
    r = Rig(breadcrumb_s=60)
    r.m.apply([("v.p.latitude", 51.5), ("v.p.longitude", -0.1), ("v.p.odometer", 1000.0), ("v.b.soc", 80.0),
               ("v.e.on", False)], r.now)
    r.set(e_on=True)
    r.set(p_speed=50.0)
    for _ in range(3):
        r.advance(60)
        lat = r.m.get("v.p.latitude")
        assert isinstance(lat, float)
        r.set(p_latitude=lat + 0.01)
    r.m.apply([("v.p.odometer", 1003.5), ("v.b.soc", 78.0)], r.now)
    r.set(e_on=False)
    r.advance(600)
    recs = r.logic.take_records()
    kinds = [x.kind for x in recs]
    assert kinds == ["breadcrumb"] * 4 + ["trip"]
    trip = recs[-1]
    assert trip.data["distance_km"] == 3.5 and trip.data["duration_s"] == 180.0
    assert trip.data["soc_start"] == 80.0 and trip.data["soc_end"] == 78.0
    assert HistoryRecord.from_payload(trip.to_payload()) == trip
    assert r.logic.take_records() == []


def test_charge_session_record() -> None:
    r = Rig()
    r.m.set("v.c.kwh", 0.0, r.now)
    plugged_charging(r, 50)
    r.advance(3600)
    r.m.apply([("v.c.kwh", 7.2), ("v.b.soc", 80.0), ("v.c.state", "done"), ("v.c.charging", False)], r.now)
    r.advance(5)
    (rec,) = r.logic.take_records()
    assert rec.kind == "charge"
    assert rec.data["kwh"] == 7.2 and rec.data["soc_start"] == 50.0 and rec.data["soc_end"] == 80.0
    assert rec.data["result"] == "done" and rec.data["duration_s"] == 3600.0


class _PlainDispatch(VehicleLogic):
    """The rules without `on_metric`'s speed shortcut: every change goes to its handler."""

    def on_metric(self, name: str, old: MetricValue | None, new: MetricValue, now: float) -> None:
        handler = self._handlers.get(name)
        if handler is not None:
            handler(self, old, new, now)


_STEPS = st.one_of(
    st.tuples(st.just("v.p.speed"), st.sampled_from([0.0, 0.5, 0.99, 1.0, 1.01, 3.0, 50.0, 120.0])),
    st.tuples(st.just("v.e.on"), st.booleans()),
    st.tuples(st.just("v.e.handbrake"), st.booleans()),
    st.tuples(st.just("v.d.fl"), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 300.0, 899.0, 901.0])),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_STEPS, max_size=40))
def test_speed_shortcut_changes_no_alert_or_record(steps: list[tuple[str, object]]) -> None:
    """The fast `v.p.speed` path in `on_metric` gives the same alerts, records and deadlines."""
    rigs = []
    for cls in (VehicleLogic, _PlainDispatch):
        m = Metrics()
        logic = cls(m, LogicSettings(left_on_s=900, breadcrumb_s=0))  # deadlines: left-on only
        m.subscribe(logic.on_metric, names=logic.watched_metrics())
        rigs.append((m, logic))
    now = T0
    for what, value in steps:
        if what == "advance":
            now += value  # type: ignore[operator]
        else:
            for m, _ in rigs:
                m.set(what, value, now)  # type: ignore[arg-type]
        fast, plain = (logic.tick(now) for _, logic in rigs)
        assert [(a.kind, a.text) for a in fast] == [(a.kind, a.text) for a in plain]
        assert rigs[0][1].next_deadline() == rigs[1][1].next_deadline()
        assert rigs[0][1].take_records() == rigs[1][1].take_records()


def test_one_kmh_is_moving_below_is_standing_still() -> None:
    r = Rig(left_on_s=900)
    r.set(e_on=True, p_speed=0.0, e_handbrake=True)
    r.advance(600)
    r.set(p_speed=1.0)  # the threshold itself counts as moving: the timer stops
    assert [a.kind for a in r.advance(900)] == []
    r.set(p_speed=0.5)  # below it the car stands still again: the timer restarts from here
    assert r.advance(899) == []
    assert [a.kind for a in r.advance(1)] == ["left_on"]
