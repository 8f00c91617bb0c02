"""The decoder on generated DBCs (issue 14): for random layouts — both byte orders, signed and
unsigned, scales and offsets, lengths up to 64 bits, multiplexed pages (switch written `M` or `m`),
signals past the end of the message, frames shorter or longer than the message — the compiled
decoder equals cantools (+ the profile's conversion), or the profile is refused when it loads.
It never raises while decoding and never reports a value for a signal the frame does not carry.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from can_bus.profile import ProfileError, load_profile

SCALES = [1, 2, -1, 0.5, 0.25, 0.1, 0.01, 0.2, 0.05, 1 / 3, 0.00125, 10]
OFFSETS = [0, 1, -40, -70, 0.5, -0.1, 1000]
LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 12, 16, 24, 64]


@dataclass
class Sig:
    name: str
    start: int
    length: int
    little: bool
    signed: bool
    scale: float
    offset: float
    mux: str = ""  # "", "M", "m", "m0", "m1"


def frame_bits(sig: Sig, size: int) -> set[int] | None:
    """Which bits (byte*8 + bit) of the frame the signal covers; None if it runs past the end."""
    if sig.little:
        bits = range(sig.start, sig.start + sig.length)
        out = {b for b in bits}
    else:
        msb = (size - 1 - sig.start // 8) * 8 + sig.start % 8
        lo = msb - sig.length + 1
        if lo < 0 or sig.start // 8 >= size:
            return None
        out = {(size - 1 - j // 8) * 8 + j % 8 for j in range(lo, msb + 1)}
    if max(out) >= size * 8:
        return None
    return out


@st.composite
def layouts(draw: st.DrawFn) -> tuple[int, list[Sig]]:
    size = draw(st.sampled_from(LENGTHS))
    used: set[int] = set()
    sigs: list[Sig] = []

    def new(name: str, length: int | None = None, mux: str = "", may_overrun: bool = False) -> Sig | None:
        n = length or draw(st.integers(1, min(64, size * 8)))
        sig = Sig(name, draw(st.integers(0, size * 8 - 1)), n, draw(st.booleans()), draw(st.booleans()),
                  draw(st.sampled_from(SCALES)), draw(st.sampled_from(OFFSETS)), mux)
        bits = frame_bits(sig, size)
        if bits is None:
            return sig if may_overrun else None
        if bits & used:
            return None
        used.update(bits)
        return sig

    switch = None
    if size * 8 >= 4 and draw(st.booleans()):
        switch = new("Switch", length=draw(st.integers(1, 3)), mux=draw(st.sampled_from(["M", "m"])))
        if switch is not None:
            switch.scale, switch.offset, switch.signed = 1, 0, False
            sigs.append(switch)
    for i in range(draw(st.integers(1, 5))):
        if switch is not None and draw(st.booleans()):
            page0 = new(f"P{i}")
            if page0 is not None:
                page0.mux = "m0"
                page1 = Sig(**{**page0.__dict__, "name": f"Q{i}", "mux": "m1",
                               "scale": draw(st.sampled_from(SCALES))})
                sigs += [page0, page1]
            continue
        sig = new(f"S{i}", may_overrun=draw(st.integers(0, 9)) == 0)
        if sig is not None:
            sigs.append(sig)
    return size, sigs


def dbc_text(size: int, sigs: list[Sig]) -> str:
    lines = ['VERSION ""', "BS_:", "BU_: ECU", f"BO_ 291 Gen: {size} ECU"]
    for s in sigs:
        mux = f" {s.mux}" if s.mux else ""
        lines.append(f' SG_ {s.name}{mux} : {s.start}|{s.length}@{1 if s.little else 0}{"-" if s.signed else "+"}'
                     f' ({s.scale!r},{s.offset!r}) [0|0] "" ECU')
    lines.append('BO_ 292 Other: 1 ECU\n SG_ O : 0|8@1+ (1,0) [0|0] "" ECU')
    return "\n".join(lines) + "\n"


@st.composite
def mappings(draw: st.DrawFn, sigs: list[Sig]) -> dict[str, str]:
    out = {}
    for s in sigs:
        if s.mux in ("M", "m") and draw(st.booleans()):
            continue
        kind = draw(st.sampled_from(["float", "float", "int", "bool", "scaled"]))
        entry = f'signal = "Gen.{s.name}", custom = true'
        if kind == "float":
            r = draw(st.sampled_from([None, 0, 1, 2, 3]))
            entry += f", round = {r}" if r is not None else ""
        elif kind == "scaled":
            entry += f", scale = {draw(st.sampled_from([1.609344, 0.001, 3.6]))!r}, offset = 1, round = 2"
        else:
            entry += f', type = "{kind}"'
        out[f"x.{s.name.lower()}"] = "{ " + entry + " }"
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decoder_equals_cantools_or_refuses_at_load(data: st.DataObject) -> None:
    size, sigs = data.draw(layouts())
    metrics = data.draw(mappings(sigs))
    overrun = {s.name for s in sigs if frame_bits(s, size) is None}
    mapped_overrun = any(f'"Gen.{name}"' in entry for name in overrun for entry in metrics.values())
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "gen.dbc").write_text(dbc_text(size, sigs))
        body = "\n".join(f'"{m}" = {e}' for m, e in metrics.items())
        Path(tmp, "profile.toml").write_text(f'dbc = "gen.dbc"\nstrict = false\n[metrics]\n{body}\n')
        try:
            profile = load_profile(tmp)
        except ProfileError as exc:
            assert mapped_overrun, f"refused a sound profile: {exc}"
            return
    assert not mapped_overrun, "a signal past the end of its message was accepted"
    decoder = profile.decoder()
    switch = next((s for s in sigs if s.mux in ("M", "m")), None)
    for _ in range(data.draw(st.integers(1, 6))):
        payload = data.draw(st.binary(min_size=0, max_size=size + 2) | st.binary(min_size=size, max_size=size))
        decoder.reset()
        fast = dict(decoder.feed(291, payload))
        slow = profile.reference_decode(291, payload)
        assert _same(fast, slow), (fast, slow)
        if len(payload) < size:
            assert fast == {}  # a frame shorter than its message carries none of its signals
        if switch is not None and len(payload) >= size and fast:
            page = _raw(switch, payload[:size], size)
            for s in sigs:
                if s.mux in ("m0", "m1") and f"x.{s.name.lower()}" in fast:
                    assert int(s.mux[1]) == page  # never a value of another page
        for s in sigs:
            assert f"x.{s.name.lower()}" not in fast or s.name not in overrun


def _raw(sig: Sig, data: bytes, size: int) -> int:
    bits = frame_bits(sig, size)
    assert bits is not None
    if sig.little:
        return (int.from_bytes(data, "little") >> sig.start) & ((1 << sig.length) - 1)
    msb = (size - 1 - sig.start // 8) * 8 + sig.start % 8
    return (int.from_bytes(data, "big") >> (msb - sig.length + 1)) & ((1 << sig.length) - 1)


def _same(a: dict, b: dict) -> bool:
    """Equal, NaN-aware (a scale of 1/3 may give equal NaN-free floats; compare exactly)."""
    if a.keys() != b.keys():
        return False
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in ((a[k], b[k]) for k in a))
