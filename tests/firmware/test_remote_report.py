"""Remote commands confirmed by the car's next frames; the report's receiving-end matching."""

from __future__ import annotations

from runtime import VirtualLoop
from sim.report import Observations, Outage, RaisedAlert, build_report
from tcu.alert_tag import alert_ids, alert_tag
from tcu.metrics import Metrics
from tcu.remote import CommandResult, RemoteCommands


class FakeCar:
    """Obeys lock/unlock after 0.5 s by setting the metric, as decoded frames would."""

    def __init__(self, loop: VirtualLoop, metrics: Metrics, obey: bool = True) -> None:
        self.loop, self.metrics, self.obey = loop, metrics, obey
        self.frames: list[tuple[int, bytes]] = []

    def encode(self, name: str, **args: object) -> list[tuple[int, bytes]]:
        if name == "charge_mode" and args.get("mode") not in ("standard", "range"):
            raise ValueError(f"bad mode {args.get('mode')}")
        return [(0x300, name.encode()[:8])]

    def send(self, can_id: int, data: bytes) -> None:
        self.frames.append((can_id, data))
        if self.obey and data.startswith(b"lock"):
            self.loop.call_later(0.5, self.metrics.set, "v.e.locked", True, self.loop.time() + 0.5)


def run(name: str, obey: bool = True, **args: object) -> tuple[CommandResult, FakeCar, RemoteCommands]:
    loop = VirtualLoop()
    metrics = Metrics()
    metrics.set("v.e.locked", False, 0.0)
    car = FakeCar(loop, metrics, obey)
    rc = RemoteCommands(loop, metrics, car.encode, car.send)
    results: list[CommandResult] = []
    rc.execute(name, args, results.append)
    loop.run_for(10)
    assert len(results) == 1
    return results[0], car, rc


def test_lock_is_confirmed_by_the_car() -> None:
    res, car, rc = run("lock")
    assert res == CommandResult(True, "Locked")
    assert car.frames and rc.executed == 1


def test_lock_not_obeyed_fails_with_a_reason() -> None:
    res, _, rc = run("lock", obey=False)
    assert not res.ok and res.text.startswith("Lock failed") and rc.failed == 1


def test_already_in_state_still_needs_a_fresh_frame() -> None:
    res, _, _ = run("unlock", obey=False)   # metric says unlocked, but the car never re-reported it
    assert not res.ok


def test_profile_rejection_and_homelink() -> None:
    res, car, _ = run("charge_mode", mode="warp")
    assert not res.ok and not car.frames
    res, car, _ = run("homelink", button=2)
    assert res.ok and res.text == "Homelink 2 activated" and car.frames


def test_server_command_mapping() -> None:
    loop = VirtualLoop()
    metrics = Metrics()
    car = FakeCar(loop, metrics)
    rc = RemoteCommands(loop, metrics, car.encode, car.send)
    out: list[CommandResult] = []
    assert rc.server_command(20, (), out.append)
    assert not rc.server_command(7, ("STAT",), out.append)
    assert rc.server_command(24, ("9",), out.append)
    loop.run_for(10)
    assert [r.ok for r in out] == [False, True] or [r.ok for r in out] == [True, False]


def test_report_counts_at_the_receiving_end() -> None:
    raised = [RaisedAlert(i, float(i * 10), f"alert {i}") for i in range(1, 6)]
    obs = Observations(
        seed=3, sim_seconds=100, wall_seconds=0.5, raised=raised,
        server_alert_texts=[f"x {alert_tag(1)}", f"x {alert_tag(2)}", f"x {alert_tag(2)}", "x #a99"],
        phone_sms_texts=[f"12:00 a {alert_tag(3)}; b {alert_tag(4)}"],
        still_queued_ids={5},
        outages=[Outage(25.0, 45.0, 50.0)],
    )
    r = build_report(obs)
    assert r["alerts"]["raised"] == 5
    assert r["alerts"]["via_server"] == 2 and r["alerts"]["via_sms"] == 2
    assert r["alerts"]["queued"] == 1 and r["alerts"]["lost"] == 0
    assert r["duplicates"] == 1
    assert r["alerts"]["unmatched_deliveries"] == [99]
    assert r["outages"] == [{"start": 25.0, "end": 45.0, "recovered_after_s": 5.0}]
    assert r["alerts"]["raised_during_outage"] == 2   # alerts 3 and 4 (t=30, 40)
    assert alert_ids("a #a12 b #a7x #a8") == [12, 8]


def test_history_line_formats_each_record_kind() -> None:
    from tcu.unit import history_line
    from tcu.vehicle_logic import HistoryRecord

    crumb = HistoryRecord("breadcrumb", 0.0, {"lat": 52.520008, "lon": 13.404954, "speed": 48.0,
                                              "soc": 80.0, "odometer": None})
    assert history_line(crumb) == ("*-LOG-Location", "52.520008,13.404954,48.0,80.0,")
    charge = HistoryRecord("charge", 0.0, {"duration_s": 3600.0, "soc_start": 20.0, "soc_end": 80.0,
                                           "kwh": 24.5, "result": "done, at limit"})
    assert history_line(charge) == ("*-LOG-Charge", "3600.0,20.0,80.0,24.5,done; at limit")
