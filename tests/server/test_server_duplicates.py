"""Retransmitted records and alerts (a unit killed before it recorded our acknowledgement) are
acknowledged again but stored and relayed once; distinct ones are always stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from car_link import CarLink
from ovms_world import World

from ovms_v2 import messages as m
from runtime import VirtualLoop
from tcu.ovms.car_client import CarSession, Delivered
from tools.server import OvmsServer, core, store


def resend(world: World, send) -> tuple[CarLink, CarLink]:
    """`send(car)` on one connection, then again on a fresh one (as a restarted unit does)."""
    first = world.car()
    world.run(1)
    send(first)
    world.run(1)
    first.close()
    world.run(1)
    second = world.car()
    world.run(1)
    send(second)
    world.run(1)
    return first, second


def history(rec_id: str, recno: int = 7, data: str = "12.5,km", timediff: int = 0):
    def send(car: CarLink) -> None:
        car.write(car.session.send_history(rec_id, "*-LOG-Trip", data, car.loop.time(), recno=recno,
                                           timediff=timediff))
    return send


def alert(alert_id: str, text: str, kind: str = "A"):
    def send(car: CarLink) -> None:
        car.write(car.session.send_alert(alert_id, text, car.loop.time(), kind=kind))
    return send


def test_resent_record_is_acked_twice_and_stored_once(world: World) -> None:
    first, second = resend(world, history("rec-1", timediff=-30))
    assert Delivered(("rec-1",)) in first.events and Delivered(("rec-1",)) in second.events
    recs = world.server.records("TESTCAR")
    assert [(r.rtype, r.recno, r.data) for r in recs] == [("*-LOG-Trip", 7, "12.5,km")]
    assert world.server.stats["duplicates_dropped"] == 1


def test_unacked_H_record_resent_is_stored_once(world: World) -> None:
    def send(car: CarLink) -> None:
        car.write(car.session.send_raw(m.History("*-LOG-Grid", 3, 3600, "1,2,3"), car.loop.time()))
    resend(world, send)
    assert len(world.server.records("TESTCAR")) == 1
    assert world.server.stats["duplicates_dropped"] == 1


def test_different_recno_or_data_or_vehicle_is_stored(world: World) -> None:
    car = world.car()
    other = world.car("OTHER", "otherpass")
    world.run(1)
    for send in (history("a", recno=7), history("b", recno=8), history("c", recno=7, data="99,km")):
        send(car)
    history("d", recno=7)(other)
    world.run(1)
    assert [(r.recno, r.data) for r in world.server.records("TESTCAR")] == [(7, "12.5,km"), (8, "12.5,km"),
                                                                             (7, "99,km")]
    assert len(world.server.records("OTHER")) == 1
    assert world.server.stats["duplicates_dropped"] == 0
    assert all(Delivered((i,)) in car.events for i in "abc")


def test_resent_tagged_alert_is_stored_and_relayed_once(world: World) -> None:
    app = world.app()
    first, second = resend(world, alert("x", "Vehicle alarm is sounding! #a41"))
    assert Delivered(("x",)) in first.events and Delivered(("x",)) in second.events
    assert [a.text for a in world.server.alerts("TESTCAR")] == ["Vehicle alarm is sounding! #a41"]
    relayed = [x for _, x in app.received if isinstance(x, m.PushAlert)]
    assert relayed == [m.PushAlert("A", "Vehicle alarm is sounding! #a41")]
    assert world.server.stats["duplicates_dropped"] == 1


def test_distinct_or_untagged_alerts_are_all_stored(world: World) -> None:
    car = world.car()
    world.run(1)
    texts = ["Alarm #a1", "Alarm #a2", "Alarm #a1"]
    for n, text in enumerate(texts):
        alert(f"t{n}", text, kind="I" if n == 2 else "A")(car)   # same text, other kind: not the same payload
    for n in range(2):
        alert(f"u{n}", "Charging stopped")(car)                   # real cars repeat untagged texts
    world.run(1)
    assert [a.text for a in world.server.alerts("TESTCAR")] == [*texts, "Charging stopped", "Charging stopped"]
    assert world.server.stats["duplicates_dropped"] == 0


def _server_with_alert(db: Path, epoch: float, text: str) -> None:
    loop = VirtualLoop(seed=1, epoch=epoch)
    server = OvmsServer(loop, db, "127.0.0.1", 6867)
    server.add_vehicle("TESTCAR", "pw123")
    link = CarLink(loop, "127.0.0.1", 6867, CarSession("TESTCAR", "pw123", loop.random("c"), 0.0), dict)
    link.connect()
    loop.run_for(1)
    link.write(link.session.send_alert("x", text, loop.time()))
    loop.run_for(1)
    link.close()
    server.close()


def test_alert_window_survives_a_restart_and_ends_after_24_h(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    epoch = 1_800_000_000.0
    _server_with_alert(db, epoch, "Alarm #a5")
    _server_with_alert(db, epoch + 3600, "Alarm #a5")          # lazily loaded from the table: dropped
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    _server_with_alert(db, epoch + 86400 + 10, "Alarm #a5")    # a day later it is news again
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2


def test_beyond_the_memory_cap_the_database_decides(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "ALERT_DEDUP_MEMORY", 3)
    car = world.car()
    world.run(1)
    for n in range(6):
        alert(f"a{n}", f"Alarm #a{n}")(car)
    world.run(1)
    assert len(world.server._recent_alerts["TESTCAR"]) == 3
    alert("again", "Alarm #a0")(car)                  # forgotten in memory, found in the table
    alert("new", "Alarm #a6")(car)
    world.run(1)
    assert [a.text for a in world.server.alerts("TESTCAR")] == [f"Alarm #a{n}" for n in range(7)]
    assert world.server.stats["duplicates_dropped"] == 1
    assert Delivered(("again",)) in car.events


def test_old_database_with_duplicate_records_gets_the_unique_index(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(store.SCHEMA)
    rows = [("CAR", "*-LOG-Trip", 7, 86400, "1,km", 1.0, 1.0)] * 3 + [("CAR", "*-LOG-Trip", 8, 86400, "1,km", 2.0, 2.0)]
    conn.executemany("INSERT INTO records(vehicle_id, rtype, recno, lifetime, data, time, received) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    new = store.open_db(db)
    assert [(r.recno, r.time) for r in store.load_records(new, "CAR")] == [(7, 1.0), (8, 2.0)]
    assert not store.save_record(new, "CAR", "*-LOG-Trip", 7, 86400, "1,km", 5.0, 5.0)
    assert store.save_record(new, "CAR", "*-LOG-Trip", 9, 86400, "1,km", 5.0, 5.0)
    store.open_db(db)   # a second open finds the index and leaves the rows alone
    assert len(store.load_records(new, "CAR")) == 3
