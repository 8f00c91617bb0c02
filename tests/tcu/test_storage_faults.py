"""Storage that fails (issue 12 items 4, 5, 11): full disks, damaged files, lost state, modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_fs import tiny_fs  # noqa: E402  (a helper next to this test, not a package)

from tcu.alert_tag import alert_ids, alert_tag
from tcu.outbox import _TAG_ALPHABET, Outbox
from tcu.sms_log import SmsLog
from tcu.sqlite_store import open_db, storage_fault
from tcu.wal_check import wal_damage


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


def test_sms_log_write_failures_never_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tcu.sms_log.TEXT_CAP", 100_000)   # the 20,000-character line must overflow the disk
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


# -- damaged state --------------------------------------------------------------------------------

def _outbox_with(path: Path, n: int) -> list[int]:
    ob = Outbox(path)
    ids = [i.id for i in ob.add_many([("alert", f"alert {k} " + "p" * 200, None) for k in range(n)], 1.0)]
    ob.close()
    return ids


def _quarantined(d: Path, name: str) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(f"{name}.damaged-"))


def test_an_overwritten_page_no_longer_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    ids = _outbox_with(path, 300)
    with open(path, "r+b") as f:           # one page in the middle of the table overwritten
        f.seek(4096 * 8)
        f.write(bytes(range(256)) * 16)
    ob, damage = Outbox.open(path, wall=1_767_225_600.0)
    assert damage is not None and "malformed" in damage.reason
    assert damage.quarantined.endswith("outbox.db.damaged-20260101T000000Z")
    assert _quarantined(tmp_path, "outbox.db")[0] == "outbox.db.damaged-20260101T000000Z"
    pending = [i.id for i in ob.pending()]
    assert 250 <= len(pending) < 300 and damage.salvaged == len(pending)   # one page of rows lost, no more
    assert set(pending) <= set(ids) and pending == sorted(pending)
    assert "rows saved" in damage.describe()
    assert ob.add("alert", "new", 2.0).id > max(pending)
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_truncated_database_is_reported_not_silently_empty(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    _outbox_with(path, 300)
    with open(path, "r+b") as f:
        f.truncate(4096 * 10)
    ob, damage = Outbox.open(path, wall=0.0)
    assert damage is not None
    assert 0 < damage.salvaged == ob.queued_count() < 300


def _killed_with_wal(path: Path, n: int) -> None:
    """A writer SIGKILLed after `n` committed alerts: its transactions are only in the WAL."""
    import signal
    pid = os.fork()
    if pid == 0:
        try:
            ob = Outbox(path)
            for k in range(n):
                ob.add("alert", f"alert {k}", float(k))
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    assert Path(f"{path}-wal").stat().st_size > 0


def test_a_damaged_wal_is_found_and_what_precedes_the_damage_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    _killed_with_wal(path, 40)
    wal = Path(f"{path}-wal")
    size = wal.stat().st_size
    with open(wal, "r+b") as f:            # a damaged byte in the middle of the log
        f.seek(size // 2)
        f.write(b"\xff\x00\xff\x00")
    ob, damage = Outbox.open(path, wall=0.0)
    assert damage is not None and "WAL damaged" in damage.reason and "committed" in damage.reason
    assert 0 < ob.queued_count() < 40       # the transactions before the damage were saved
    assert Path(f"{damage.quarantined}-wal").exists()


def test_a_sound_wal_after_sigkill_is_not_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    _killed_with_wal(path, 40)
    ob, damage = Outbox.open(path, wall=0.0)
    assert damage is None and ob.queued_count() == 40


def test_a_garbage_file_is_quarantined_and_the_outbox_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not a database at all" * 200)
    ob, damage = Outbox.open(path, wall=0.0)
    assert damage is not None and damage.salvaged == 0
    assert ob.queued_count() == 0 and ob.add("alert", "x", 1.0).id == 1


# -- alert tags across state loss -----------------------------------------------------------------

def test_a_new_outbox_file_means_a_new_tag_space(tmp_path: Path) -> None:
    import random
    a = Outbox(tmp_path / "a" / "outbox.db", rng=random.Random(1))
    again = Outbox(tmp_path / "a" / "outbox.db", rng=random.Random(99))
    assert again.tag_space == a.tag_space            # stored with the state
    rng = random.Random(1)
    first = Outbox(tmp_path / "b" / "outbox.db", rng=rng)
    lost = Outbox(tmp_path / "c" / "outbox.db", rng=rng)   # the state directory was lost: same loop, next draw
    assert first.tag_space != lost.tag_space
    assert first.add("alert", "x", 0.0).id == lost.add("alert", "x", 0.0).id == 1


def test_a_damaged_params_db_is_set_aside_and_its_readable_overrides_kept(tmp_path: Path) -> None:
    from tcu.params import Params
    path = tmp_path / "params.db"
    p = Params({"owner": "+447700900123"}, path)
    p.set("apn", "internet.example")
    p.set("module_password", "n3wpass99")
    p._conn.close()   # type: ignore[union-attr]
    with open(path, "r+b") as f:    # the header's page size field: SQLite refuses the whole file
        f.seek(16)
        f.write(b"\x00\x07")
    again = Params.open({"owner": "+447700900123"}, path, wall=0.0)
    assert again.damage is not None and again.damage.db == "params.db"
    assert again.store_fault is None
    again.set("apn", "after.example")              # the fresh file takes writes


@given(st.binary(max_size=4096), st.binary(max_size=64))
@settings(max_examples=200, deadline=None)
def test_wal_reader_never_crashes_on_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, body: bytes,
                                                     head: bytes) -> None:
    d = tmp_path_factory.mktemp("wal")
    # a valid-looking header (so the frame walk is reached) or arbitrary bytes
    header = struct.pack(">8I", 0x377F0682, 3007000, 512, 0, 1, 2, 0, 0) if len(head) % 2 else head
    (d / "x.db-wal").write_bytes(header + body)
    result = wal_damage(d / "x.db")
    assert result is None or isinstance(result, str)


@given(st.integers(min_value=1, max_value=10**12), st.text(alphabet=_TAG_ALPHABET, min_size=1, max_size=8),
       st.text(max_size=40), st.text(max_size=40))
def test_alert_tags_with_a_space_are_found_in_any_text(n: int, space: str, before: str, after: str) -> None:
    text = f"{before} {alert_tag(n, space)}\n{after}"
    assert n in alert_ids(text)
    assert alert_tag(n, space) != alert_tag(n, space + "x")


def test_a_parameter_changed_on_a_full_disk_takes_effect_and_is_written_later(tmp_path: Path) -> None:
    from tcu.params import Params
    path = tmp_path / "params.db"
    p = Params({"owner": "+447700900123"}, path)
    conn = p._conn
    assert conn is not None
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    p.set("apn", "a" * 9000 + ".example")            # SMS `GPRS …` on a full disk: no exception
    assert str(p["apn"]).startswith("aaa") and p.guard.fault == "disk full"
    assert p.retry(1.0) is False
    conn.execute("PRAGMA max_page_count=1000000")
    assert p.retry(500.0) is True and not p.guard.failing
    assert str(Params({}, path)["apn"]).startswith("aaa")
