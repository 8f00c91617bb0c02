"""The chaos runner's bookkeeping with a fake world (no processes): what counts as delivered, lost,
duplicated, unexpected and a log storm — and that a scenario is one registered function."""

from __future__ import annotations

import time
import time as _real_time
from dataclasses import dataclass, field

import pytest

from tools.chaos import scenarios
from tools.chaos.scenarios import SCENARIOS, Run, run_scenario, scenario, selected
from tools.chaos.world import ChaosWorld, Delivery


@dataclass
class FakeProc:
    alive: bool = True
    popen: None = None


@dataclass
class FakeWorld:
    """Each alarm the runner raises arrives as the script says: a list of channels per alarm."""

    script: list[list[str]]
    extra_lines: int = 0
    arrived: list[Delivery] = field(default_factory=list)
    alarms: int = 0
    vcar: FakeProc = field(default_factory=FakeProc)
    tcu: FakeProc = field(default_factory=FakeProc)
    lines: int = 0

    def vcar_do(self, *args: str) -> bool:
        if args == ("unlock",):                        # alarms are apart in time, as for real
            end = time.monotonic() + 0.02
            while time.monotonic() < end:
                pass
        if args == ("alarm",):
            channels = self.script[self.alarms] if self.alarms < len(self.script) else []
            self.alarms += 1
            for ch in channels:
                self.arrived.append(Delivery(ch, f"#a{self.alarms}-test", f"ALARM sounding #a{self.alarms}-test",
                                             time.time() + 0.01))     # arrives just after it sounded
        return True

    def deliveries(self) -> list[Delivery]:
        return list(self.arrived)

    def log_lines(self) -> dict[str, int]:
        self.lines += self.extra_lines
        return {"tcu": self.lines, "tcu-server": 0}


class _Clock:
    """The runner's waits skipped; its clock real."""

    time = staticmethod(_real_time.time)
    monotonic = staticmethod(_real_time.monotonic)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenarios, "time", _Clock)


def run_fake(world: FakeWorld, fn) -> scenarios.Result:
    sc = scenarios.Scenario("fake", "test", "a fake fault", fn, quick=True)
    return run_scenario(world, sc, quick=True, recovery_timeout=1.0, late_timeout=0.5)  # type: ignore[arg-type]


def one_alarm_in_the_fault(w: ChaosWorld, run: Run) -> None:
    run.fault_started()
    run.raise_alarm()
    run.fault_ended()                                  # + the probe


def test_all_delivered_once_is_ok() -> None:
    r = run_fake(FakeWorld([["server"], ["sms"]]), one_alarm_in_the_fault)
    assert (r.status, r.raised, r.delivered, r.by_server, r.by_sms, r.lost, r.duplicated) == ("ok", 2, 2, 1, 1, 0, 0)
    assert r.recovery_s is not None


def test_server_and_sms_copies_of_one_alert_are_not_a_duplicate_but_two_on_one_channel_are() -> None:
    r = run_fake(FakeWorld([["server", "sms"], ["server", "server"]]), one_alarm_in_the_fault)
    assert r.delivered == 2 and r.duplicated == 1 and r.status == "failed"


def test_an_alarm_that_never_arrives_is_lost() -> None:
    r = run_fake(FakeWorld([[], ["server"]]), one_alarm_in_the_fault)
    assert r.lost == 1 and "1 alert(s) lost" in r.problems


def test_no_delivery_after_the_probe_is_not_recovered() -> None:
    r = run_fake(FakeWorld([["server"], []]), one_alarm_in_the_fault)
    assert r.recovery_s is None and "not recovered" in r.problems


def test_a_log_storm_is_a_problem() -> None:
    r = run_fake(FakeWorld([["server"], ["server"]], extra_lines=500), one_alarm_in_the_fault)
    assert any(p.startswith("log storm: tcu") for p in r.problems)


def test_an_alert_nobody_raised_is_unexpected() -> None:
    def with_restart_reraise(w: ChaosWorld, run: Run) -> None:
        fake: FakeWorld = w  # type: ignore[assignment]
        fake.arrived.append(Delivery("server", "#a99-old", "ALARM sounding #a99-old", time.time()))
        run.fault_ended()
    r = run_fake(FakeWorld([["server"]]), with_restart_reraise)
    assert r.unexpected == 1 and r.status == "failed"


def test_a_scenario_is_one_registered_function() -> None:
    @scenario("test-only-scenario", "test", "registered by a test")
    def fn(w: ChaosWorld, run: Run) -> None:
        run.fault_ended()
    try:
        assert selected(False, ["test-only-scenario"])[0].fn is fn
        assert "test-only-scenario" not in {s.name for s in selected(True)}     # not in --quick
        with pytest.raises(ValueError):
            scenario("test-only-scenario", "test", "twice")(fn)
    finally:
        del SCENARIOS["test-only-scenario"]


def test_quick_has_one_scenario_per_fault_class() -> None:
    quick = selected(True)
    assert len(quick) == len({s.fault_class for s in quick})
    assert {s.fault_class for s in quick} >= {"device", "disk", "state", "sms-flood", "tcp-flood", "emfile"}
