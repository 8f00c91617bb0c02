"""Unknown travels as unknown (issue 13): a metric the unit never read leaves it as an empty field,
and the codec keeps an empty field apart from 0 on the way through."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from ovms_v2 import messages as m
from tcu.ovms.car_client import build_environment, build_location, build_status

# metric -> (builder, field) for measured values that have no sentinel of their own in the protocol
MEASURED: dict[str, tuple[str, str]] = {
    "v.b.soc": ("S", "soc"), "v.b.soh": ("S", "soh"), "v.b.voltage": ("S", "battery_voltage"),
    "v.b.cac": ("S", "cac"), "v.b.range.ideal": ("S", "ideal_range"), "v.b.range.est": ("S", "est_range"),
    "v.c.voltage": ("S", "line_voltage"), "v.c.current": ("S", "charge_current"),
    "v.c.kwh": ("S", "charge_kwh_tenths"), "v.c.power": ("S", "charge_power_kw"),
    "v.b.range.full": ("S", "max_ideal_range"),
    "v.b.temp": ("D", "temp_battery"), "v.e.temp": ("D", "temp_ambient"), "v.p.odometer": ("D", "odometer_tenths"),
    "v.b.12v.voltage": ("D", "v12_line"), "v.i.temp": ("D", "temp_pem"), "v.e.cabintemp": ("D", "temp_cabin"),
    "v.p.latitude": ("L", "latitude"), "v.p.longitude": ("L", "longitude"), "v.p.altitude": ("L", "altitude"),
    "v.b.power": ("L", "power_kw"), "v.p.direction": ("L", "direction"),
}
BUILD = {"S": build_status, "D": build_environment, "L": build_location}

values = st.one_of(st.just(0), st.just(0.0), st.integers(-500, 500), st.floats(-500, 500, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(MEASURED)), values))
def test_never_read_is_empty_on_the_wire_and_read_is_not(known: dict[str, float]) -> None:
    """Any mix of read and unread metrics, through the encoder and back: a read 0 stays "0"-ish,
    an unread metric is an empty field (today's code sent 0 for both)."""
    decoded = {code: m.decode(build(known).encode()) for code, build in BUILD.items()}
    for metric, (code, field) in MEASURED.items():
        text = getattr(decoded[code], field)
        if metric in known:
            assert text != "" and m.as_float(text) is not None, (metric, text)
        else:
            assert text == "", (metric, text)


def test_soh_never_read_is_not_zero() -> None:
    s = build_status({"v.b.soc": 80, "v.b.voltage": 390.4})
    fields = s.encode()[1:].split(",")
    assert fields[32:34] == ["390.4", ""]
    assert build_status({"v.b.soh": 0}).soh == "0"          # a real 0 is still sent as 0


def test_performance_mode_never_meets_the_servers_1_2_0_kludge() -> None:
    """The real server rewrites `,performance,,` → `,performance,`; an unknown ideal range must not
    make our S hit it (every later field would shift)."""
    s = build_status({"v.c.mode": "performance"})
    assert ",performance,," not in s.encode()
    assert s.charge_mode_num == "4" and s.ideal_range == ""
    assert build_status({"v.c.mode": "performance", "v.b.range.ideal": 300}).charge_mode == "performance"


# --- the codec: empty fields round-trip as empty, 0 as 0 ----------------------------------------------
numeric_or_empty = st.one_of(st.just(""), st.just("0"), st.just("0.0"), st.just("-1"),
                             st.integers(-10**6, 10**6).map(str),
                             st.floats(-1e4, 1e4, allow_nan=False).map(lambda f: f"{f:.1f}"))


def _telemetry(cls: type) -> st.SearchStrategy:
    kw = {f.name: numeric_or_empty for f in dataclasses.fields(cls) if f.name != "extra"}
    return st.builds(cls, **kw)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_telemetry(m.Status), _telemetry(m.Environment), _telemetry(m.Location), _telemetry(m.Tpms),
                 _telemetry(m.GroupLocation)))
def test_empty_fields_round_trip_distinct_from_zero(msg: m.Message) -> None:
    back = m.decode(msg.encode())
    assert back == msg
    for f in dataclasses.fields(msg):
        if f.name != "extra" and getattr(msg, f.name) == "":
            assert getattr(back, f.name) == "" and m.as_float(getattr(back, f.name)) is None
