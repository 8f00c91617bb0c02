"""Profiles: the compiled fast path equals cantools, encode/decode round trips, commands."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from can_bus.profile import (
    ProfileError,
    UnsupportedCommand,
    available_profiles,
    load_profile,
    physical_range,
)

DEMO = load_profile("demo-ev")
PROFILES = available_profiles()
DECODERS: dict = {}


def test_shipped_profiles_load() -> None:
    assert "demo-ev" in PROFILES
    assert len(PROFILES) >= 2
    for name in PROFILES:
        profile = load_profile(name)
        assert profile.metrics, name
        assert profile.decoder().ids


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_path_equals_cantools(name: str, data: st.DataObject) -> None:
    """Arbitrary frame bytes for every used message: fast decode == cantools + mapping."""
    profile = load_profile(name)
    message = data.draw(st.sampled_from(profile.metric_messages))
    payload = data.draw(st.binary(min_size=message.length, max_size=message.length))
    decoder = DECODERS.setdefault(name, profile.decoder())
    decoder.reset()  # forget last values: everything is "changed"
    fast = dict(decoder.feed(message.frame_id, payload))
    slow = profile.reference_decode(message.frame_id, payload)
    fast = {k: v for k, v in fast.items() if k in slow}  # ascii parts are reassembled, not per frame
    assert fast == slow


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_demo_encode_decode_round_trip(data: st.DataObject) -> None:
    """Metric values in each signal's range survive car-encode → unit-decode within resolution."""
    message = data.draw(st.sampled_from(DEMO.metric_messages))
    metrics: dict[str, Any] = {}
    for spec in DEMO.metrics:
        if spec.message != message.name:
            continue
        sig = message.get_signal_by_name(spec.signal)
        if spec.type == "bool":
            metrics[spec.metric] = data.draw(st.booleans())
        elif spec.type == "choice":
            metrics[spec.metric] = data.draw(st.sampled_from(sorted(str(v) for v in (sig.choices or {}).values())))
        elif spec.map is not None:
            metrics[spec.metric] = data.draw(st.sampled_from(sorted(set(spec.map.values()))))
        elif spec.type == "ascii":
            metrics[spec.metric] = data.draw(st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17))
        else:
            lo, hi = physical_range(sig)
            metrics[spec.metric] = data.draw(st.floats(lo, hi, allow_nan=False))
    decoder = DEMO.decoder()
    decoded: dict = {}
    for fid, payload in DEMO.encode_metrics(message, metrics):
        decoded.update(decoder.feed(fid, payload))
    for spec in DEMO.metrics:
        if spec.metric not in metrics:
            continue
        want, got = metrics[spec.metric], decoded[spec.metric]
        if isinstance(want, float):
            sig = message.get_signal_by_name(spec.signal)
            tolerance = abs(sig.scale) / 2 + (10 ** -spec.round if spec.round is not None else 0) + 1.0
            assert math.isclose(got, want, abs_tol=tolerance), spec.metric
        else:
            assert got == want, spec.metric


def test_only_changes_are_emitted_and_same_bytes_are_free() -> None:
    decoder = DEMO.decoder()
    msg = DEMO.message("BMS_Pack")
    [(fid, a)] = DEMO.encode_metrics(msg, {"v.b.soc": 50.0, "v.b.voltage": 380.0})
    [(_, b)] = DEMO.encode_metrics(msg, {"v.b.soc": 50.1, "v.b.voltage": 380.0})
    first = dict(decoder.feed(fid, a))
    assert first["v.b.soc"] == 50.0 and first["v.b.voltage"] == 380.0
    assert decoder.feed(fid, a) == []
    assert decoder.feed(fid, b) == [("v.b.soc", 50.1)]
    decoder.reset()
    assert dict(decoder.feed(fid, b))["v.b.voltage"] == 380.0  # after reset, everything again


def test_malformed_and_unknown_frames_are_counted_not_raised() -> None:
    decoder = DEMO.decoder()
    assert decoder.feed(0x7FF, b"\x00") == []
    assert decoder.feed(0x102, b"\x01\x02") == []  # DLC 2, message needs 8
    assert decoder.feed(0x102, b"") == []
    longer = decoder.feed(0x102, bytes(12))  # longer than the DBC says: decode the first 8 bytes
    assert ("v.b.soc", 0.0) in longer
    assert decoder.stats.unknown == 1
    assert decoder.stats.malformed == 2


SHARED = DEMO.decoder()
KNOWN_IDS = sorted(SHARED.ids)


@settings(max_examples=200, deadline=None)
@given(fid=st.one_of(st.sampled_from(KNOWN_IDS), st.integers(0, 0x1FFFFFFF)), payload=st.binary(max_size=64))
def test_decoder_never_raises(fid: int, payload: bytes) -> None:
    assert isinstance(SHARED.feed(fid, payload), list)


def test_vin_reassembled_from_parts() -> None:
    decoder = DEMO.decoder()
    frames = DEMO.encode_metrics(DEMO.message("VIN"), {"v.vin": "TCUSIM0DEMO000001"})
    assert len(frames) == 3
    out = [decoder.feed(fid, data) for fid, data in frames]
    assert out[:2] == [[], []]
    assert out[2] == [("v.vin", "TCUSIM0DEMO000001")]


def test_commands_encode_and_match() -> None:
    assert set(DEMO.commands) >= {"lock", "unlock", "valet_on", "valet_off", "charge_start", "charge_stop",
                                   "charge_mode", "charge_limit", "climate_on", "climate_off", "homelink",
                                   "wakeup"}
    cases: dict[str, dict[str, Any]] = {"lock": {}, "charge_limit": {"amps": 16}, "charge_mode": {"mode": "range"},
             "homelink": {"button": 2}, "wakeup": {}}
    for name, args in cases.items():
        frames = DEMO.encode_command(name, **args)
        assert frames
        assert DEMO.match_command(*frames[0]) == (name, args)
    assert DEMO.match_command(0x123, b"\x00") is None
    with pytest.raises(UnsupportedCommand):
        DEMO.encode_command("launch_rocket")
    with pytest.raises(ValueError):
        DEMO.encode_command("charge_limit")  # missing amps
    with pytest.raises(ValueError):
        DEMO.encode_command("charge_limit", amps=500)  # out of the signal's range
    with pytest.raises(ValueError):
        DEMO.encode_command("charge_mode", mode="warp")


def test_profile_by_path_and_errors(tmp_path) -> None:
    assert load_profile(DEMO.path).name == "demo-ev"
    with pytest.raises(ProfileError):
        load_profile("no-such-car")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "profile.toml").write_text('dbc = "x.dbc"\n')
    with pytest.raises(ProfileError):
        load_profile(bad)
    (bad / "x.dbc").write_text((DEMO.path / "demo_ev.dbc").read_text())
    (bad / "profile.toml").write_text('dbc = "x.dbc"\n[metrics]\n"v.b.soc" = { signal = "BMS_Pack.Nope" }\n')
    with pytest.raises(ProfileError):
        load_profile(bad)


def test_bench_ingest_reports_both_rates() -> None:
    from can_bus.bench import bench_ingest, frame_mix

    result = bench_ingest("demo-ev", 2000)
    assert result["profile"] == "demo-ev" and result["frames"] == 2000
    assert result["decoder_fps"] > 0 and result["cantools_fps"] > 0 and result["ratio"] > 0
    assert result["decoder_stats"]["malformed"] == 0
    assert frame_mix(DEMO, 500, seed=4) == frame_mix(DEMO, 500, seed=4)  # same frames every run


@settings(max_examples=60, deadline=None)
@given(amps=st.integers(0, 127), mode=st.sampled_from(["standard", "storage", "range", "performance"]),
       button=st.integers(0, 3))
def test_command_round_trips(amps: int, mode: str, button: int) -> None:
    for name, args in (("charge_limit", {"amps": amps}), ("charge_mode", {"mode": mode}),
                       ("homelink", {"button": button})):
        [(fid, data)] = DEMO.encode_command(name, **args)
        assert DEMO.match_command(fid, data) == (name, args)


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_frame_sequences_emit_exactly_the_changes(name: str, data: st.DataObject) -> None:
    """Over a run of frames of one ID (fields that stay, fields that move), the decoder emits
    exactly the metrics whose reference value changed, with that value; never a stale one."""
    profile = load_profile(name)
    message = data.draw(st.sampled_from(profile.metric_messages))
    first = data.draw(st.binary(min_size=message.length, max_size=message.length))
    frames = [first]
    for _ in range(data.draw(st.integers(1, 8))):
        prev = bytearray(frames[-1])
        for _ in range(data.draw(st.integers(0, 3))):  # flip a few bits: most fields stay put
            bit = data.draw(st.integers(0, message.length * 8 - 1))
            prev[bit // 8] ^= 1 << (bit % 8)
        frames.append(bytes(prev))
    decoder = profile.decoder()
    state: dict = {}
    for payload in frames:
        out = dict(decoder.feed(message.frame_id, payload))
        ref = profile.reference_decode(message.frame_id, payload)
        expected = {k: v for k, v in ref.items() if k not in state or state[k] != v}
        assert {k: v for k, v in out.items() if k in ref} == expected
        state.update(ref)


def test_compiled_decoder_skips_fields_whose_bits_did_not_move() -> None:
    """Unchanged fields are not converted again (the XOR test in the generated source)."""
    fn = DEMO.decoder()._fns[DEMO.message("Drive_Status").frame_id]
    source = vars(fn)["source"]
    assert " ^ lv" in source and "if d & " in source


def test_a_reused_mutable_buffer_is_snapshotted() -> None:
    """Drivers may hand the same bytearray for every frame: the last-frame copy must not alias it."""
    decoder = DEMO.decoder()
    msg = DEMO.message("BMS_Pack")
    [(fid, a)] = DEMO.encode_metrics(msg, {"v.b.soc": 50.0, "v.b.voltage": 380.0})
    [(_, b)] = DEMO.encode_metrics(msg, {"v.b.soc": 50.1, "v.b.voltage": 380.0})
    buf = bytearray(a)
    assert dict(decoder.feed(fid, buf))["v.b.soc"] == 50.0
    buf[:] = b
    assert decoder.feed(fid, buf) == [("v.b.soc", 50.1)]
    assert decoder.feed(fid, buf) == []
