"""The whole unit when its storage fails: alerts still delivered, replies still sent, the owner told."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tiny_fs import tiny_fs  # noqa: E402  (a helper next to this test, not a package)

from runtime import VirtualLoop
from sim.direct_modem import DirectModem, Smsc
from tcu.alert_tag import alert_ids
from tcu.params import Params
from tcu.unit import Unit
from tcu.vehicle_logic import Alert
from tools.server.core import OvmsServer

OWNER = "+447700900123"
CONFIG = {"owner": OWNER, "server": "127.0.0.1:6867", "server_password": "carpass123",
          "vehicle_id": "TESTCAR", "module_password": "modpass1", "profile": "demo-ev"}


class World:
    def __init__(self, tmp_path: Path, seed: int = 1) -> None:
        self.loop = VirtualLoop(seed=seed)
        self.server = OvmsServer(self.loop, tmp_path / "server.db", "127.0.0.1", 6867)
        self.server.add_vehicle("TESTCAR", "carpass123")
        self.smsc = Smsc(self.loop)
        self.modem = DirectModem(self.loop, self.smsc)

    def unit(self, state: Path, params_db: Path | None = None) -> Unit:
        params = Params(CONFIG, params_db)
        unit = Unit(self.loop, params, self.modem, None, state)
        unit.start()
        return unit

    def server_texts(self) -> list[str]:
        return [a.text for a in self.server.alerts("TESTCAR")]

    def phone(self) -> list[str]:
        return [text for _, _, text in self.smsc.inboxes.get(OWNER, [])]


def alert(n: int) -> Alert:
    return Alert(f"t-{n}", "test", f"12:00 test alert {n}", True, 1_767_225_600.0 + n)


def make_full(conn: sqlite3.Connection) -> None:
    """SQLITE_FULL for real: the file may not grow, and the room left in its pages is taken by
    delivered rows (which change no queue), down to the last byte."""
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    table = conn.execute("SELECT name FROM sqlite_master WHERE name IN ('outbox', 'sms_log')").fetchone()[0]
    sql = ("INSERT INTO outbox (kind, payload, created, state) VALUES ('info', ?, 0, 'delivered')"
           if table == "outbox" else "INSERT INTO sms_log (at, direction, number, text) VALUES (0, 'in', '', ?)")
    for size in (1000, 100, 10, 1, 0):
        try:
            while True:
                conn.execute(sql, ("f" * size,))
        except sqlite3.OperationalError as e:
            assert "full" in str(e)


def test_an_alert_raised_on_a_full_disk_is_delivered_and_written_when_the_disk_recovers(tmp_path: Path) -> None:
    w = World(tmp_path)
    unit = w.unit(tmp_path / "unit")
    w.loop.run_for(60)
    assert unit.link.online
    make_full(unit.outbox.conn)
    make_full(unit.storage.sms_log.conn)
    big = Alert("t-1", "test", "12:00 ALARM " + "x" * 5000, True, 1_767_225_600.0)
    aid = unit.raise_alert(big)                     # raised: the outbox write fails, nothing raises
    problem = unit.health.get("storage")
    assert problem is not None and "disk full" in problem.text and "outbox.db" in problem.text
    w.loop.run_for(60)
    assert [i for t in w.server_texts() for i in alert_ids(t)] == [aid]       # delivered from memory
    # an SMS command is answered although its log line cannot be written
    w.smsc.submit(OWNER, w.modem.number, "STAT")
    w.loop.run_for(30)
    assert any("SOC" in t for t in w.phone())
    # the disk recovers: the back-off retry writes what is owed, the problem clears
    unit.outbox.conn.execute("PRAGMA max_page_count=1000000")
    unit.storage.sms_log.conn.execute("PRAGMA max_page_count=1000000")
    w.loop.run_for(300)
    assert unit.health.get("storage") is None
    assert unit.outbox.memory_items == 0
    rows = sqlite3.connect(tmp_path / "unit" / "sms_log.db").execute("SELECT text FROM sms_log").fetchall()
    assert any(r[0] == "STAT" for r in rows)


def test_an_alert_on_a_full_disk_during_an_outage_goes_by_sms_saying_storage_fails(tmp_path: Path) -> None:
    w = World(tmp_path)
    unit = w.unit(tmp_path / "unit")
    w.loop.run_for(60)
    w.modem.set_gprs(False)
    w.loop.run_for(5)
    make_full(unit.outbox.conn)
    aid = unit.raise_alert(Alert("t-1", "test", "12:00 ALARM", True, 1_767_225_600.0))
    assert unit.outbox.memory_items == 1
    w.loop.run_for(300)
    sms = [t for t in w.phone() if aid in alert_ids(t)]
    assert sms and "storage failing" in sms[0]
    w.modem.set_gprs(True)
    unit.outbox.conn.execute("PRAGMA max_page_count=1000000")
    w.loop.run_for(900)
    assert aid in [i for t in w.server_texts() for i in alert_ids(t)]
    assert unit.outbox.queued_count() == 0


def test_a_real_full_filesystem_under_the_unit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The state directory on a 512 KiB tmpfs filled to the last byte, then freed. (SQLite may reuse
    WAL space it already has, so some writes succeed on the full disk: what must hold is no loss.)"""
    with tiny_fs(tmp_path) as fs:
        w = World(tmp_path)
        unit = w.unit(fs.path / "state", fs.path / "state" / "params.db")
        w.loop.run_for(60)
        fs.fill()
        ids = [unit.raise_alert(Alert(f"t-{n}", "test", f"12:00 ALARM {n} " + "y" * 3000, True,
                                      1_767_225_600.0 + n)) for n in range(3)]
        assert "state directory failing: disk full (outbox.db)" in caplog.text
        w.loop.run_for(120)
        assert sorted(i for t in w.server_texts() for i in alert_ids(t)) == ids
        fs.free()
        w.loop.run_for(300)
        assert unit.health.get("storage") is None and unit.outbox.memory_items == 0
        assert unit.outbox.queued_count() == 0
        # delivered from memory, so never written; but their ids are never handed out again
        assert unit.raise_alert(alert(9)) == ids[-1] + 1
        unit.stop()


def test_alert_tags_stay_unique_after_the_state_directory_is_lost(tmp_path: Path) -> None:
    """Before: both alarms were `#a1`, and the server dropped the second as a duplicate of the first."""
    w = World(tmp_path)
    first = w.unit(tmp_path / "state")
    w.loop.run_for(60)
    first.raise_alert(alert(1))
    w.loop.run_for(60)
    first.stop()
    w.loop.run_for(5)
    second = w.unit(tmp_path / "state-after-loss")         # the SD card was replaced: ids start over
    w.loop.run_for(120)
    assert second.link.online
    second.raise_alert(alert(1))                          # same alarm text an hour later, in the same minute
    w.loop.run_for(120)
    texts = w.server_texts()
    assert len(texts) == 2 and texts[0] != texts[1]
    assert alert_ids(texts[0]) == alert_ids(texts[1]) == [1]


def test_a_damaged_outbox_at_start_is_reported_and_the_unit_runs(tmp_path: Path) -> None:
    w = World(tmp_path)
    state = tmp_path / "state"
    unit = w.unit(state)
    w.modem.set_gprs(False)
    w.modem.set_coverage(False)
    w.loop.run_for(5)
    for n in range(200):
        unit.raise_alert(Alert(f"t-{n}", "test", f"queued {n} " + "q" * 200, False, 1_767_225_600.0))
    unit.stop()
    unit.outbox.close()
    with open(state / "outbox.db", "r+b") as f:
        f.seek(4096 * 5)
        f.write(b"\xde\xad" * 2048)
    w.modem.set_coverage(True)
    w.modem.set_gprs(True)
    again = w.unit(state)                                  # before: sqlite3.DatabaseError, no unit
    problem = again.health.get("storage")
    assert problem is not None and "outbox.db was damaged" in problem.text and "rows saved" in problem.text
    w.loop.run_for(1800)
    assert any("Storage: outbox.db was damaged" in t for t in w.server_texts())   # the owner's app hears it
    assert (len(w.server_texts()) >= 150)                 # what was saved is delivered


def test_a_read_only_state_directory_runs_in_memory_and_says_so(tmp_path: Path) -> None:
    with tiny_fs(tmp_path) as fs:
        (fs.path / "state").mkdir()
        fs.readonly()
        w = World(tmp_path)
        params = Params.open(CONFIG, fs.path / "state" / "params.db", 0.0)
        assert params.store_fault == f"state_dir: {fs.path / 'state'} is read-only"
        unit = Unit(w.loop, params, w.modem, None, fs.path / "state")
        unit.start()
        problem = unit.health.get("storage")
        assert problem is not None and problem.text.startswith(f"state_dir: {fs.path / 'state'} is read-only")
        w.loop.run_for(60)
        aid = unit.raise_alert(alert(1))
        w.loop.run_for(60)
        assert [i for t in w.server_texts() for i in alert_ids(t)] == [aid]
        unit.stop()
        fs.readonly(False)


def test_an_outbox_lost_while_the_unit_state_survived_is_reported_not_silently_empty(tmp_path: Path) -> None:
    """Before: a deleted or emptied outbox.db opened as a first start: `0 items queued`, no word."""
    w = World(tmp_path)
    state = tmp_path / "state"
    unit = w.unit(state)
    w.modem.set_gprs(False)
    w.modem.set_coverage(False)
    w.loop.run_for(5)
    for n in range(3):
        unit.raise_alert(alert(n))
    unit.stop()
    unit.outbox.close()
    for side in ("", "-wal", "-shm"):
        Path(f"{state / 'outbox.db'}{side}").unlink(missing_ok=True)
    (state / "outbox.db").write_bytes(b"")
    again = w.unit(state)
    problem = again.health.get("storage")
    assert problem is not None and "outbox.db was missing or empty" in problem.text
    assert again.status_snapshot()["sources"]["storage"]["problem"] == problem.text  # type: ignore[index]
    w.modem.set_coverage(True)
    w.modem.set_gprs(True)
    w.loop.run_for(600)
    assert any("outbox.db was missing or empty" in t for t in w.server_texts())


def test_a_state_directory_that_turned_read_only_still_delivers_what_it_holds(tmp_path: Path) -> None:
    """An SD card remounted read-only after errors: the queued alert and the password the owner set by
    SMS are read from it (nothing can be written), and the unit runs on in memory from there."""
    with tiny_fs(tmp_path) as fs:
        state = fs.path / "state"
        w = World(tmp_path)
        w.server.add_vehicle("TESTCAR", "n3wserverpw")          # the owner changed it by SMS earlier
        params = Params.open(CONFIG, state / "params.db", 0.0)
        params.set("server_password", "n3wserverpw")
        unit = Unit(w.loop, params, w.modem, None, state)
        unit.start()
        w.modem.set_coverage(False)
        w.loop.run_for(5)
        aid = unit.raise_alert(alert(1))
        unit.stop()
        unit.storage.close()
        params.close()
        fs.readonly()
        try:
            w.modem.set_coverage(True)
            params2 = Params.open(CONFIG, state / "params.db", 0.0)
            assert params2.store_fault is not None and params2["server_password"] == "n3wserverpw"
            again = Unit(w.loop, params2, w.modem, None, state)
            again.start()
            assert again.outbox.queued_count() == 1
            w.loop.run_for(600)
            assert aid in [i for t in w.server_texts() for i in alert_ids(t)]
            again.stop()
        finally:
            fs.readonly(False)
