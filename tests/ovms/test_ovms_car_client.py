"""CarSession, sans-IO: metric formatting, change-only cadence, pings, commands and delivery proofs."""

from __future__ import annotations

import random

from ovms_v2 import messages as m
from ovms_v2.connection import NEED_DATA, Message, ServerConnection
from tcu.ovms.car_client import (
    LIVENESS_IDLE,
    PING_INTERVAL,
    PING_TIMEOUT,
    REPORT_INTERVAL_APPS,
    REPORT_INTERVAL_IDLE,
    AppsChanged,
    CarSession,
    CommandRequest,
    Delivered,
    LinkLost,
    LoggedIn,
    build_environment,
    build_location,
    build_status,
    build_tpms,
    csq_from_dbm,
)


def test_status_fields_and_units() -> None:
    s = build_status({"v.b.soc": 80.4, "v.c.state": "charging", "v.c.mode": "range", "v.b.range.ideal": 350.2,
                      "v.b.range.est": 299.6, "v.c.voltage": 230, "v.c.current": 16, "v.c.kwh": 11.04,
                      "v.b.cac": 160, "v.c.power": 3.68, "v.b.voltage": 390.46, "v.b.soh": 98,
                      "v.c.time": 7200, "v.c.duration.full": 95})
    fields = s.encode()[1:].split(",")
    assert len(fields) == 34
    assert fields[:8] == ["80", "K", "230", "16", "charging", "range", "350", "300"]
    assert fields[9] == "120"            # minutes
    assert fields[11] == "110"           # 1/10 kWh
    assert fields[13:15] == ["1", "3"]   # state number, mode number
    assert fields[17] == "1"             # not stale
    assert fields[18] == "160.00"
    assert fields[19] == "95"
    assert fields[31:34] == ["3.7", "390.5", "98"]


def test_status_with_nothing_known() -> None:
    s = build_status({})
    assert (s.soc, s.charge_state, s.charge_state_num, s.stale, s.charge_mode) == ("", "stopped", "21", "-1", "")
    assert (s.soh, s.battery_voltage, s.cac, s.ideal_range) == ("", "", "", "")   # never an invented 0
    assert (s.mins_to_full, s.etr_soc_limit) == ("-1", "-1")                      # the spec's own "none"


def test_environment_bits() -> None:
    d = build_environment({"v.d.fl": True, "v.d.cp": True, "v.e.on": True, "v.e.locked": True,
                           "v.d.trunk": True, "v.e.alarm": True, "v.d.rr": True,
                           "v.p.odometer": 12345.67, "v.b.12v.voltage": 12.64, "v.e.temp": -3.4})
    assert d.doors1 == str(1 | 4 | 32 | 128)
    assert d.doors2 == str(8 | 128) and d.lock_state == "4"
    assert d.doors4 == "4" and d.doors5 == "2"
    assert d.odometer_tenths == "123457" and d.v12_line == "12.6" and d.temp_ambient == "-3"
    assert build_environment({"v.e.locked": False}).lock_state == "5"
    assert build_environment({}).doors1 == "32"      # bit 5 always set (spec §3 D)


def test_location_six_decimals() -> None:
    loc = build_location({"v.p.latitude": -33.8688197, "v.p.longitude": 151.2092957, "v.p.gpslock": True,
                          "v.p.speed": 51.6, "v.b.power": -7.25, "v.e.drivemode": 0x1F})
    assert loc.encode().startswith("L-33.868820,151.209296,,,1,1,52,")   # direction, altitude never read
    assert loc.drive_mode == "1f" and loc.power_kw == "-7.2"
    assert build_location({}).stale_gps == "-1"


def test_tpms_and_csq() -> None:
    assert build_tpms({}) is None
    w = build_tpms({"v.tp.fl.p": 250.0, "v.tp.fl.t": 21})
    assert w is not None and w.fl_pressure == "36.3" and w.fl_temp == "21" and w.fr_pressure == "0.0"
    assert (csq_from_dbm(-113), csq_from_dbm(-73), csq_from_dbm(-40), csq_from_dbm(None)) == (0, 20, 31, 99)


class Pair:
    """A CarSession against a bare ServerConnection, no loop, explicit time."""

    def __init__(self) -> None:
        self.t = 0.0
        self.car = CarSession("TESTCAR", "carpass123", random.Random(1), self.t)
        self.srv = ServerConnection(lambda vid: "carpass123", random.Random(2))
        self.srv.receive_data(self.car.connect(self.t))
        (welcome,) = self.drain_server_events()
        assert self.car.receive_data(welcome.reply, self.t) == b""
        assert self.car.events() == [LoggedIn()]

    def drain_server_events(self) -> list:
        out = []
        while (ev := self.srv.next_event()) is not NEED_DATA:
            out.append(ev)
        return out

    def to_server(self, data: bytes) -> list[str]:
        if not data:
            return []    # b"" would mean end of stream (h11 convention)
        self.srv.receive_data(data)
        return [e.payload for e in self.drain_server_events() if isinstance(e, Message)]

    def from_server(self, *msgs: m.Message | str) -> list[str]:
        wire = b"".join(self.srv.send(x) for x in msgs)
        return self.to_server(self.car.receive_data(wire, self.t))

    def tick(self, metrics: dict, dt: float = 0.0) -> list[str]:
        self.t += dt
        return self.to_server(self.car.tick(metrics, self.t))


def test_change_only_reporting_on_the_cadence() -> None:
    p = Pair()
    metrics = {"v.b.soc": 80}
    first = p.tick(metrics)
    assert [x[0] for x in first] == ["S", "D", "L", "F", "V"]
    assert p.car.next_deadline() == min(REPORT_INTERVAL_IDLE, PING_INTERVAL, LIVENESS_IDLE)
    metrics["v.b.soc"] = 79
    assert p.tick(metrics, 10) == []              # not due yet: 10 min cadence without apps
    p.t = REPORT_INTERVAL_IDLE - 1
    p.from_server(m.Peers(0))                     # the server keeps talking: no liveness ping needed
    assert [x[0] for x in p.tick(metrics, 1)] == ["S"]   # only what changed
    p.t += PING_INTERVAL - 1
    p.from_server(m.Peers(0))
    assert p.tick(metrics, 1) == ["A"]            # nothing to say for 9 min: a ping keeps the link


def test_apps_watching_speed_up_reports() -> None:
    p = Pair()
    metrics = {"v.b.soc": 80}
    p.tick(metrics)
    p.from_server(m.Peers(2))
    assert p.car.events() == [AppsChanged(2)]
    metrics["v.b.soc"] = 81
    assert [x[0] for x in p.tick(metrics, 1)] == ["S"]      # immediately once someone watches
    metrics["v.b.soc"] = 82
    assert p.tick(metrics, REPORT_INTERVAL_APPS - 2) == []
    assert [x[0] for x in p.tick(metrics, 2)] == ["S"]


def test_pings_answers_and_dead_link() -> None:
    p = Pair()
    p.tick({})
    assert p.from_server(m.Ping()) == ["a"]
    assert p.car.next_deadline() == p.t + LIVENESS_IDLE
    assert p.tick({}, LIVENESS_IDLE - 1) == []
    assert p.tick({}, 1) == ["A"]                  # the server has been quiet for LIVENESS_IDLE: ping
    assert p.car.next_deadline() == p.t + PING_TIMEOUT
    p.from_server(m.PingAck())
    assert p.car.next_deadline() == p.t + LIVENESS_IDLE
    assert p.tick({}, LIVENESS_IDLE) == ["A"]
    p.tick({}, PING_TIMEOUT)
    assert p.car.events() == [LinkLost("ping not answered")]
    assert p.car.next_deadline() is None and not p.car.logged_in


def test_our_own_sends_never_postpone_the_dead_link() -> None:
    """A stall swallows what we send without an error: reports, alerts and more pings are no sign of life."""
    p = Pair()
    p.tick({})
    p.t += LIVENESS_IDLE
    assert p.tick({}) == ["A"]
    pinged = p.t
    for n in range(5):                             # alerts and reports keep going out meanwhile
        p.t += PING_TIMEOUT / 6
        p.car.send_alert(n, f"alert {n}", p.t)
        p.car.tick({"v.b.soc": n}, p.t, force=True)
        assert p.car.next_deadline() == pinged + PING_TIMEOUT
    assert p.car.events() == []
    p.car.tick({}, pinged + PING_TIMEOUT)
    assert p.car.events() == [LinkLost("ping not answered")]


def test_any_byte_from_the_server_is_life() -> None:
    p = Pair()
    p.tick({})
    assert p.tick({}, LIVENESS_IDLE) == ["A"]
    p.t += PING_TIMEOUT - 1
    p.from_server(m.Peers(1))                      # not the `a` yet, but the path works
    assert p.car.next_deadline() <= p.t + PING_TIMEOUT
    p.tick({}, PING_TIMEOUT - 1)
    assert p.car.logged_in and p.car.events() == [AppsChanged(1)]


def test_alert_delivered_by_the_answer_to_a_later_ping() -> None:
    p = Pair()
    p.tick({})
    assert p.to_server(p.car.send_alert(11, "Car is charging,\nslowly", p.t)) == ["PACar is charging, slowly", "A"]
    assert p.to_server(p.car.send_alert(12, "second", p.t)) == ["PAsecond", "A"]
    p.from_server(m.PingAck())
    assert p.car.events() == [Delivered((11,))]
    p.from_server(m.PingAck())
    assert p.car.events() == [Delivered((12,))]


def test_history_ack_is_delivery() -> None:
    p = Pair()
    p.tick({})
    sent = p.to_server(p.car.send_history("r1", "*-LOG-Trip", "12.5,km", p.t, recno=3, timediff=-30))
    assert sent == ["h1,-30,*-LOG-Trip,3,86400,12.5,km"]
    p.to_server(p.car.send_history("r2", "*-LOG-Trip", "x", p.t))
    p.from_server(m.HistoryAck(2), m.HistoryAck(99))
    assert p.car.events() == [Delivered(("r2",))]
    p.from_server(m.HistoryAck(1))
    assert p.car.events() == [Delivered(("r1",))]


def test_commands_become_events_and_replies() -> None:
    p = Pair()
    p.from_server(m.Command(20, "1234"), "C7,STAT")
    assert p.car.events() == [CommandRequest(20, ("1234",)), CommandRequest(7, ("STAT",))]
    assert p.to_server(p.car.reply(20, 0)) == ["c20,0"]
    assert p.to_server(p.car.reply(7, 0, "SOC 80%,\nok")) == ["c7,0,SOC 80%;\rok"]
    assert p.to_server(p.car.reply_lines(1, ["0", "1"])) == ["c1,0,0,2,0", "c1,0,1,2,1"]


def test_reconnect_reports_everything_again() -> None:
    p = Pair()
    p.tick({"v.b.soc": 5})
    p.car.disconnected()
    assert p.car.events() == [LinkLost("connection closed")]
    srv = ServerConnection(lambda vid: "carpass123", random.Random(3))
    srv.receive_data(p.car.connect(p.t))
    welcome = srv.next_event()
    p.car.receive_data(welcome.reply, p.t)
    srv.receive_data(p.car.tick({"v.b.soc": 5}, p.t))
    codes = []
    while (ev := srv.next_event()) is not NEED_DATA:
        codes.append(ev.payload[0])
    assert codes == ["S", "D", "L", "F", "V"]


def test_paranoid_mode_wraps_everything_but_e_a_g_p() -> None:
    from ovms_v2.crypto import ParanoidCipher

    t = 0.0
    car = CarSession("TESTCAR", "carpass123", random.Random(1), t, paranoid_password="modulepw")
    srv = ServerConnection(lambda vid: "carpass123", random.Random(2))
    srv.receive_data(car.connect(t))
    welcome = srv.next_event()
    srv.receive_data(car.receive_data(welcome.reply, t))
    (token_ev,) = [e for e in iter(srv.next_event, NEED_DATA)]
    assert isinstance(token_ev.msg, m.ParanoidToken) and len(token_ev.msg.token) == 22
    cipher = ParanoidCipher("modulepw", token_ev.msg.token)
    srv.receive_data(car.tick({"v.b.soc": 80}, t) + car.send_alert(1, "plain alert", t))
    evs = [e.msg for e in iter(srv.next_event, NEED_DATA)]
    assert [type(x).__name__ for x in evs] == ["ParanoidMessage"] * 5 + ["PushAlert", "Ping"]
    s_msg = evs[0]
    assert s_msg.inner_code == "S" and cipher.decrypt(s_msg.data).startswith("80,K,")
    # A paranoid command from an app is decrypted and executed; the reply is wrapped again.
    car.receive_data(srv.send(m.ParanoidMessage("C", cipher.encrypt("20,1234"))), t)
    assert CommandRequest(20, ("1234",)) in car.events()
    srv.receive_data(car.reply(20, 0))
    (reply,) = [e.msg for e in iter(srv.next_event, NEED_DATA)]
    assert reply.inner_code == "c" and cipher.decrypt(reply.data) == "20,0"
