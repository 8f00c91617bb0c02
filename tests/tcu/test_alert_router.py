"""The SMS fallback policy: deadlines, link state, critical-at-once, coalescing, rate and budget."""

from __future__ import annotations

import random
from dataclasses import replace

from tcu.alert_router import (
    RETRY_CAP_S,
    RETRY_FIRST_S,
    AlertRouter,
    Drop,
    RouterSettings,
    SendSms,
    SendToServer,
    sms_parts,
)
from tcu.params import Params
from tcu.vehicle_logic import Alert

OWNER = "+447700900123"


def alert(n: int, critical: bool = False, text: str | None = None, at: float = 0.0) -> Alert:
    return Alert(f"a{n}", "alarm" if critical else "soc_low", text or f"14:02 alert {n}", critical, at + n)


def sms(actions: list) -> list[SendSms]:
    return [a for a in actions if isinstance(a, SendSms)]


def router(**kw: int) -> AlertRouter:
    s = replace(RouterSettings(server_deadline_s=60, sms_min_interval_s=60, coalesce_s=5), **kw)
    return AlertRouter(OWNER, s, server_up=True)


def test_confirmed_by_server_no_sms() -> None:
    r = router()
    acts = r.alert_raised(alert(1), 0.0)
    assert acts == [SendToServer(alert(1))]
    assert r.next_deadline() == 60.0
    r.server_confirmed("a1")
    assert r.tick(1000.0) == [] and r.next_deadline() is None


def test_unconfirmed_within_deadline_goes_by_sms() -> None:
    r = router()
    r.alert_raised(alert(1), 0.0)
    assert r.tick(59.9) == []
    assert r.tick(60.0) == []  # deadline passed: queued for SMS, coalescing window
    assert r.next_deadline() == 65.0
    assert r.tick(65.0) == [SendSms(OWNER, "14:02 alert 1", ("a1",))]
    r.server_confirmed("a1")  # too late to matter
    assert r.tick(500.0) == []


def test_raised_while_down_coalesced_into_one_sms() -> None:
    r = router()
    r.link_changed(False, 0.0)
    for n in range(1, 4):
        r.alert_raised(alert(n), 1.0)
    (msg,) = sms(r.tick(6.0))
    assert msg.text == "14:02 alert 1\n14:02 alert 2\n14:02 alert 3"
    assert msg.alert_ids == ("a1", "a2", "a3")


def test_critical_at_once_when_down_and_ignores_min_gap() -> None:
    r = router()
    r.link_changed(False, 0.0)
    r.alert_raised(alert(1), 0.0)
    assert len(sms(r.tick(5.0))) == 1
    acts = r.alert_raised(alert(2, critical=True, text="14:03 ALARM sounding"), 10.0)
    assert sms(acts) == [SendSms(OWNER, "14:03 ALARM sounding", ("a2",))]
    r.alert_raised(alert(3), 11.0)  # non-critical waits for the minimum gap
    assert sms(r.tick(20.0)) == []
    assert sms(r.tick(70.0))[0].alert_ids == ("a3",)


def test_critical_waiting_for_server_goes_by_sms_when_link_drops() -> None:
    r = router()
    r.alert_raised(alert(1, critical=True), 0.0)
    r.alert_raised(alert(2), 0.0)
    acts = r.link_changed(False, 10.0)
    assert [m.alert_ids for m in sms(acts)] == [("a1",)]
    assert sms(r.tick(60.0)) == []  # non-critical keeps its deadline, then coalescing and the min gap
    assert sms(r.tick(70.0))[0].alert_ids == ("a2",)


def test_link_back_before_sms_gives_server_a_chance() -> None:
    r = router()
    r.link_changed(False, 0.0)
    r.alert_raised(alert(1), 0.0)
    r.link_changed(True, 2.0)
    assert r.tick(10.0) == []
    r.server_confirmed("a1")
    assert r.tick(100.0) == []


def test_no_gsm_no_sms_but_nothing_dropped() -> None:
    r = router()
    r.link_changed(False, 0.0)
    r.gsm_changed(False, 0.0)
    r.alert_raised(alert(1, critical=True), 0.0)
    assert sms(r.tick(100.0)) == []
    assert sms(r.gsm_changed(True, 200.0))[0].alert_ids == ("a1",)


def test_daily_budget_with_critical_reserve_and_rolling_window() -> None:
    r = router(sms_per_day=2, critical_reserve=1, sms_min_interval_s=0, coalesce_s=0)
    r.link_changed(False, 0.0)
    assert len(sms(r.alert_raised(alert(1), 0.0))) == 1
    assert len(sms(r.alert_raised(alert(2), 1.0))) == 1
    acts = r.alert_raised(alert(3), 2.0)
    assert acts[-1] == Drop("a3", "daily SMS budget spent (2/2 parts)")
    assert len(sms(r.alert_raised(alert(4, critical=True), 3.0))) == 1  # the reserve
    assert isinstance(r.alert_raised(alert(5, critical=True), 4.0)[-1], Drop)
    assert len(sms(r.alert_raised(alert(6), 86_401.0))) == 1  # a day later the budget is back
    assert r.stats["dropped"] == 2


def test_failed_sms_is_retried_and_refunded() -> None:
    r = router(sms_per_day=1, sms_min_interval_s=0, coalesce_s=0)
    r.link_changed(False, 0.0)
    (m,) = sms(r.alert_raised(alert(1), 0.0))
    assert sms(r.sms_result(m.alert_ids, ok=False, now=1.0)) == []     # not at once: back-off
    again = sms(r.tick(1.0 + RETRY_FIRST_S * 1.1))
    assert again and again[0].alert_ids == ("a1",)
    r.sms_result(again[0].alert_ids, ok=True, now=20.0)
    assert isinstance(r.alert_raised(alert(2), 30.0)[-1], Drop)


def test_failing_sms_backs_off_and_keeps_every_alert() -> None:
    """SMS centre down: retries 10 s, 20 s, 40 s … apart (capped at 10 min), critical ones too, and an
    alert raised meanwhile waits in the queue and goes with the next attempt (issue 12 items 2, 3)."""
    r = AlertRouter(OWNER, RouterSettings(sms_min_interval_s=0, coalesce_s=0, sms_per_day=1000),
                    server_up=False, rng=random.Random(1))
    sends: list[tuple[float, SendSms]] = []
    now = 0.0
    pending = sms(r.alert_raised(alert(1, critical=True), now))
    while now < 3600.0:
        for m in pending:
            sends.append((now, m))
        acts = [a for m in pending for a in r.sms_result(m.alert_ids, ok=False, now=now, reason="+CMS ERROR: 332")]
        if now >= 25.0 and r.pending_sms + len(acts) < 2 and not any("a2" in m.alert_ids for _, m in sends):
            acts += r.alert_raised(alert(2, critical=True), now)    # raised while SMS keeps failing
        pending = sms(acts)
        nxt = r.next_deadline()
        assert nxt is not None and nxt > now
        now = nxt
        pending += sms(r.tick(now))
    times = [t for t, _ in sends]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(sends) <= 14                                # not 870 a second
    assert gaps[0] >= RETRY_FIRST_S * 0.9 and max(gaps) <= RETRY_CAP_S * 1.1
    assert all(b >= a * 0.8 for a, b in zip(gaps, gaps[1:], strict=False))   # growing, then capped
    assert r.stats["dropped"] == 0
    assert {i for _, m in sends[3:] for i in m.alert_ids} == {"a1", "a2"}     # a2 joined the retries
    # the SMS centre is back: the attempt in flight succeeds, and success resets the back-off
    (last,) = pending
    assert set(last.alert_ids) == {"a1", "a2"} and r.status(now)["in_flight"] == 1
    assert r.status(now)["failures"] == len(sends) and r.status(now)["last_error"] == "+CMS ERROR: 332"
    r.sms_result(last.alert_ids, ok=True, now=now)
    st = r.status(now)
    assert st["failures"] == 0 and st["pending"] == 0 and st["in_flight"] == 0 and st["next_try"] is None


def test_long_bursts_split_at_four_parts() -> None:
    r = router(sms_per_day=100)
    r.link_changed(False, 0.0)
    for n in range(30):
        r.alert_raised(alert(n, text=f"14:02 Charge stopped unexpectedly at {n}% (port still plugged)"), 0.0)
    msgs = sms(r.tick(10.0))
    assert len(msgs) >= 2
    assert all(sms_parts(m.text) <= 4 for m in msgs)
    assert sorted(i for m in msgs for i in m.alert_ids) == sorted(f"a{n}" for n in range(30))


def test_sms_parts() -> None:
    assert sms_parts("x" * 160) == 1 and sms_parts("x" * 161) == 2
    assert sms_parts("é" * 70) == 1  # é is in GSM-7
    assert sms_parts("ł" * 71) == 2  # UCS-2


def test_settings_from_params() -> None:
    s = RouterSettings.from_params(Params({"alert.sms_per_day": 3}))
    assert s.sms_per_day == 3 and s.server_deadline_s == 60.0
