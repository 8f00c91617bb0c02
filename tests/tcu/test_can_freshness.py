"""A healthy bus keeps unchanged metrics fresh: the decoder reports changes only (a parked car's SOC
does not move), so the unit refreshes staleness from the frames it heard (Profile.freshness)."""

from __future__ import annotations

from pathlib import Path

from can_bus.profile import load_profile
from tests.tcu.test_health_unit import SOC_FRAME, make_unit


def test_soc_stays_fresh_while_its_frame_keeps_coming_unchanged(tmp_path: Path) -> None:
    loop, unit, adapter, _modem, _smsc = make_unit(tmp_path)
    for _ in range(300):                       # the same BMS frame once a second for 5 minutes
        adapter.send(*SOC_FRAME)
        loop.run_for(1.0)
    now = loop.time()
    assert unit.metrics.get("v.b.soc") is not None
    assert not unit.metrics.is_stale("v.b.soc", now)          # STALE_MID is 120 s: stale before the fix
    assert "(stale)" not in unit.stat_text().split("\n")[1]

    loop.run_for(200)                          # the frame stops: now it does go stale
    assert unit.metrics.is_stale("v.b.soc", loop.time())


def test_freshness_leaves_out_multiplexed_messages() -> None:
    profile = load_profile("gm-volt-bolt-hv")
    muxed = {m.frame_id for m in profile.db.messages if m.is_multiplexed() or any(s.multiplexer_ids for s in m.signals)}
    for ids, names in profile.freshness:
        assert names and not (ids & muxed)
    demo = load_profile("demo-ev")
    assert any("v.b.soc" in names for _, names in demo.freshness)
