"""The sans-IO pieces composed the way the wiring will compose them: metrics → vehicle logic →
outbox + alert router → (fake) server and SMS, including an outage and a restart."""

from __future__ import annotations

from pathlib import Path

from tcu.alert_router import AlertRouter, RouterSettings, SendSms, SendToServer
from tcu.metrics import Metrics
from tcu.outbox import Outbox
from tcu.vehicle_logic import Alert, LogicSettings, VehicleLogic

OWNER = "+447700900123"


class Unit:
    def __init__(self, db: Path, server_up: bool = True) -> None:
        self.m = Metrics()
        self.logic = VehicleLogic(self.m, LogicSettings(moved_m=500), wall=lambda now: 1_700_000_000 + now)
        self.m.subscribe(self.logic.on_metric)
        self.outbox = Outbox(db)
        self.router = AlertRouter(OWNER, RouterSettings(server_deadline_s=30, coalesce_s=5,
                                                        sms_min_interval_s=60), server_up=server_up)
        self.sms: list[SendSms] = []
        self.conn_no = 1
        self.line = 0
        self.server_rx: list[str] = []  # what the fake server read, in order

    def step(self, now: float) -> None:
        for alert in self.logic.tick(now):
            self.do(self.router.alert_raised(alert, now), now)
        self.do(self.router.tick(now), now)

    def do(self, actions: list, now: float) -> None:
        for a in actions:
            if isinstance(a, SendToServer):
                self.outbox.add("alert", a.alert.to_payload(), now, ref=a.alert.id)
            elif isinstance(a, SendSms):
                self.sms.append(a)
                self.do(self.router.sms_result(a.alert_ids, True, now), now)

    def server_round(self, now: float, answer_ping: bool = True) -> None:
        """Send what is queued, then a ping; the server reads and answers it (if the link holds)."""
        items = self.outbox.to_send(self.conn_no)
        if items:
            self.outbox.mark_sent([i.id for i in items], self.conn_no, self.line, now)
            self.line += len(items)
            self.server_rx += [Alert.from_payload(i.payload).id for i in items]
        if answer_ping:
            done = self.outbox.confirm_upto(self.conn_no, self.line - 1, now)
            for ref in self.outbox.refs(done).values():
                if ref:
                    self.router.server_confirmed(ref)


def test_outage_fallback_and_catch_up(tmp_path: Path) -> None:
    u = Unit(tmp_path / "unit.sqlite")
    u.m.apply([("v.p.latitude", 51.5), ("v.p.longitude", -0.1), ("v.e.on", False), ("v.e.alarm", False)], 0.0)
    u.m.set("v.e.alarm", True, 1.0)
    u.step(1.0)
    u.server_round(2.0)
    u.step(100.0)
    assert u.sms == [] and len(u.server_rx) == 1  # confirmed in time: no SMS

    u.do(u.router.link_changed(False, 200.0), 200.0)  # outage
    u.m.set("v.e.alarm", False, 201.0)
    u.m.set("v.p.latitude", 51.52, 210.0)  # towed: critical
    u.step(210.0)
    assert [s.text for s in u.sms] == ["22:16 Car moved while parked (2.2 km)"]  # at once
    u.m.set("v.e.alarm", True, 211.0)
    u.step(211.0)
    assert len(u.sms) == 2  # critical again, no coalescing delay

    u.conn_no += 1  # link back on a new connection
    u.line = 0
    u.do(u.router.link_changed(True, 400.0), 400.0)
    u.server_round(401.0)
    assert len(u.server_rx) == 3 and u.outbox.pending() == []
    u.step(1000.0)
    assert len(u.sms) == 2  # nothing SMSed twice
    assert len(set(u.server_rx)) == 3  # nothing the server confirmed was sent again


def test_unconfirmed_alert_goes_by_sms_and_restart_keeps_it(tmp_path: Path) -> None:
    db = tmp_path / "unit.sqlite"
    u = Unit(db)
    u.m.apply([("v.b.soc", 12.0)], 0.0)
    u.m.set("v.b.soc", 9.0, 1.0)
    u.step(1.0)
    u.server_round(2.0, answer_ping=False)  # a silent stall: written, never confirmed
    u.step(31.0)
    u.step(36.0)
    assert [s.text[6:] for s in u.sms] == ["SOC below 10% (9%)"]

    # crash and restart: the alert is still in the outbox with the same id; the server gets it again
    u.outbox.close()
    u2 = Unit(db)
    pending = u2.outbox.pending()
    assert len(pending) == 1
    alert = Alert.from_payload(pending[0].payload)
    u2.do(u2.router.alert_restored(alert, 0.0), 0.0)
    assert u2.outbox.queued_count() == 1  # restoring does not queue it twice
    u2.conn_no = 7
    u2.server_round(1.0)
    assert u2.server_rx == [alert.id] and u2.outbox.pending() == []
    assert u2.router.next_deadline() is None


def test_budget_survives_restart_via_history() -> None:
    r = AlertRouter(OWNER, RouterSettings(sms_per_day=2, coalesce_s=0, sms_min_interval_s=0),
                    sent_history=[(0.0, 1), (10.0, 1)])
    a = Alert("x", "soc_low", "14:00 SOC below 10% (9%)", False, 0.0)
    acts = r.alert_raised(a, 20.0)
    assert [type(x).__name__ for x in acts] == ["SendToServer", "Drop"]
