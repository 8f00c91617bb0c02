"""Storage that fails (issue 12 items 4, 5, 11): full disks, damaged files, lost state, modes."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from tiny_fs import tiny_fs  # noqa: E402  (a helper next to this test, not a package)

from tcu.outbox import Outbox
from tcu.sms_log import SmsLog
from tcu.sqlite_store import open_db, storage_fault


def full_outbox(path: Path) -> tuple[Outbox, sqlite3.Connection]:
    """An outbox whose database cannot grow past its current size: full for real (SQLITE_FULL)."""
    conn = open_db(path)
    ob = Outbox(conn)
    return ob, conn


def fill_db(conn: sqlite3.Connection) -> None:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")


def test_a_full_database_keeps_new_items_in_memory_in_order_and_writes_them_when_it_recovers(
        tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    ob, conn = full_outbox(path)
    first = ob.add("alert", "before", 1.0, ref="al-0")
    fill_db(conn)
    items = [ob.add("alert", "x" * 5000 + str(n), 2.0 + n, ref=f"al-{n + 1}") for n in range(3)]
    assert ob.guard.failing and ob.guard.fault == "disk full"
    assert [i.id for i in items] == [first.id + 1, first.id + 2, first.id + 3]   # ids as the disk would give
    assert ob.memory_items == 3
    assert [i.id for i in ob.to_send(1)] == [first.id] + [i.id for i in items]
    ob.mark_sent([first.id, items[0].id], 1, 0, 10.0)      # a disk row and a memory item, both in memory
    assert ob.confirm_upto(1, 1, 11.0) == [first.id, items[0].id]
    assert ob.confirm([items[1].id], "sms", 12.0) == [items[1].id]
    assert [i.id for i in ob.pending()] == [items[2].id]
    assert ob.queued_count() == 1
    assert ob.counts() == {"queued": 1, "sent": 0, "delivered": 3}
    found, got = ob.find_ref("al-2"), ob.get(items[1].id)
    assert found is not None and found.id == items[1].id and got is not None and got.via == "sms"
    assert ob.retry(13.0) is False                       # still full (back-off allows the try: it fails)
    conn.execute("PRAGMA max_page_count=1000000")        # the disk recovers
    assert ob.retry(1000.0) is True
    assert not ob.guard.failing and ob.memory_items == 0
    disk = sqlite3.connect(path)
    rows = dict(disk.execute("SELECT id, state FROM outbox"))
    # the confirmed-delivered memory-only items are not needed any more; the others are on disk
    assert rows == {first.id: "delivered", items[2].id: "queued"}
    assert ob.add("alert", "after", 1001.0).id == items[2].id + 1


def test_back_off_spares_a_full_disk_between_tries(tmp_path: Path) -> None:
    ob, conn = full_outbox(tmp_path / "outbox.db")
    fill_db(conn)
    tries: list[int] = []
    real_flush = ob._flush

    def counting_flush(c: sqlite3.Connection) -> None:
        tries.append(1)
        real_flush(c)

    ob._flush = counting_flush  # type: ignore[method-assign]
    for n in range(50):
        ob.add("history", "y" * 5000, 100.0 + n * 0.1)   # 50 writes in 5 s
    assert len(tries) <= 3                                  # first at once, then 2 s, 4 s …
    assert ob.memory_items == 50


def test_the_memory_tier_is_bounded_and_never_drops_an_alert(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import tcu.outbox as outbox_mod
    monkeypatch.setattr(outbox_mod, "MEMORY_LIMIT", 10)
    ob, conn = full_outbox(tmp_path / "outbox.db")
    fill_db(conn)
    ob.add("alert", "a" * 5000, 0.0)
    for n in range(20):
        ob.add("history", "h" * 5000, float(n))
    alerts = [ob.add("alert", "b" * 5000, 30.0 + n) for n in range(15)]
    pending = ob.pending()
    assert sum(1 for i in pending if i.kind == "alert") == 16
    assert all(a.id in {i.id for i in pending} for a in alerts)
    assert ob.dropped == 20


def test_our_own_sql_bugs_still_raise(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "outbox.db")
    with pytest.raises(sqlite3.OperationalError):
        ob._write(0.0, lambda c: c.execute("SELECT nosuchcolumn FROM outbox"), lambda: None)
    assert storage_fault(sqlite3.OperationalError("no such table: x")) is None
    assert not ob.guard.failing


def test_a_real_full_filesystem(tmp_path: Path) -> None:
    """tmpfs of 512 KiB filled to the last byte: an alert is kept, delivered from memory, then written."""
    with tiny_fs(tmp_path) as fs:
        ob = Outbox(fs.path / "outbox.db")
        ob.add("alert", "warm-up", 0.0)
        fs.fill()
        item = ob.add("alert", "ALARM " + "z" * 4000, 1.0, ref="al-1")
        assert ob.guard.fault == "disk full" and ob.memory_items == 1
        assert [i.id for i in ob.to_send(1)][-1] == item.id
        fs.free()
        assert ob.retry(500.0)
        ob.close()
        again = Outbox(fs.path / "outbox.db")
        stored = again.get(item.id)
        assert stored is not None and stored.payload.startswith("ALARM")


def test_sms_log_write_failures_never_raise(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "sms_log.db")
    sms = SmsLog(conn)
    sms.add("in", "+447700900123", "STAT", 1.0)
    fill_db(conn)
    entry = sms.add("out", "+447700900123", "r" * 20000, 2.0, note="reply")
    assert entry.text.startswith("r")
    assert sms.guard.fault == "disk full"
    assert [e.text[:4] for e in sms.recent()] == ["STAT", "rrrr"]   # the unwritten line is still shown
    conn.execute("PRAGMA max_page_count=1000000")
    sms.add("in", "+447700900123", "GPS", 500.0)
    assert not sms.guard.failing
    assert [r[0][:4] for r in sqlite3.connect(tmp_path / "sms_log.db").execute(
        "SELECT text FROM sms_log ORDER BY id")] == ["STAT", "rrrr", "GPS"]


# -- secrets at rest ------------------------------------------------------------------------------

def test_state_directory_is_0700_and_databases_0600_even_when_they_existed(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        state = tmp_path / "state"
        state.mkdir(mode=0o755)
        legacy = sqlite3.connect(state / "params.db")
        legacy.execute("CREATE TABLE t (x)")
        legacy.close()
        os.chmod(state / "params.db", 0o644)
        open_db(state / "params.db").close()
        open_db(state / "outbox.db").close()
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for name in ("params.db", "outbox.db"):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
        fresh = tmp_path / "new" / "deeper"
        open_db(fresh / "unit.db").close()
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_a_shared_directory_is_not_chmodded(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    (shared / "someone-elses-file").write_text("x")
    open_db(shared / "outbox.db").close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "outbox.db").stat().st_mode) == 0o600
