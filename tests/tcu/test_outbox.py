"""The outbox: ordered, confirmed delivery, and survival of SIGKILL at any instant."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from outbox_crash_child import work  # noqa: E402  (a helper next to this test, not a package)

from tcu.outbox import Outbox
from tcu.sms_log import SmsLog, mask_secrets


def test_add_send_confirm_by_ping(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    a, b, c = ob.add_many([("alert", "one", "al-1"), ("history", "two", None), ("reply", "three", None)], 10.0)
    assert [a.id, b.id, c.id] == sorted([a.id, b.id, c.id])
    assert a.state == "queued" and a.created == 10.0 and a.ref == "al-1"
    assert [i.id for i in ob.to_send(1)] == [a.id, b.id, c.id]
    ob.mark_sent([a.id, b.id], conn_no=1, first_line=7, now=11.0)
    assert [i.id for i in ob.to_send(1)] == [c.id]  # already on this connection
    assert ob.get(b.id).line == 8 and ob.get(b.id).attempts == 1
    assert ob.confirm_upto(1, 7, 12.0) == [a.id]  # ping after line 7 answered
    assert ob.get(a.id).state == "delivered" and ob.get(a.id).via == "server"
    assert ob.confirm_upto(2, 100, 12.0) == []  # another connection proves nothing about conn 1
    assert ob.queued_count() == 2
    assert ob.counts() == {"queued": 1, "sent": 1, "delivered": 1}


def test_resend_after_reconnect_in_order(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ids = [i.id for i in ob.add_many([("alert", str(n), None) for n in range(4)], 0.0)]
    ob.mark_sent(ids[:3], 1, 0, 1.0)
    ob.confirm(ids[1:2], "server", 2.0)  # an h ack for the second
    # connection 1 dies; on connection 2 the unconfirmed ones come back in original order
    assert [i.id for i in ob.to_send(2)] == [ids[0], ids[2], ids[3]]
    ob.mark_sent([ids[0], ids[2], ids[3]], 2, 0, 3.0)
    assert ob.get(ids[0]).attempts == 2
    assert ob.confirm_upto(1, 99, 4.0) == []  # a late answer on the dead connection confirms nothing
    assert ob.confirm_upto(2, 2, 4.0) == [ids[0], ids[2], ids[3]]
    assert ob.pending() == []


def test_sms_confirmation_and_idempotence(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    a = ob.add("alert", "ALARM sounding", 0.0, ref="al-7")
    ob.note_sms_attempt([a.id])
    assert ob.confirm([a.id], "sms", 1.0) == [a.id]
    assert ob.confirm([a.id], "server", 2.0) == []
    item = ob.get(a.id)
    assert item.via == "sms" and item.sms_attempts == 1 and item.delivered_at == 1.0
    ob.mark_sent([a.id], 1, 0, 3.0)  # a stale send does not reopen it
    assert ob.get(a.id).state == "delivered"
    assert ob.find_ref("al-7").id == a.id
    with pytest.raises(ValueError):
        ob.confirm([a.id], "pigeon", 0.0)
    with pytest.raises(ValueError):
        ob.add("spam", "x", 0.0)


def test_ids_never_reused_after_purge(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    a = ob.add("alert", "x", 0.0)
    ob.confirm([a.id], "server", 1.0)
    assert ob.purge(older_than=2.0) == 1
    ob.close()
    ob = Outbox(path)
    assert ob.add("alert", "y", 3.0).id > a.id


def test_wal_mode(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    assert ob.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sms_log_masks_secrets(tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "o.sqlite")
    log.add("in", "+447700900123", "SERVER host.example netpass99", 1.0, note="command", secrets=["netpass99"])
    log.add("in", "Vodafone", "Your balance is 5.00", 2.0, note="operator")
    entries = log.recent()
    assert [e.text for e in entries] == ["SERVER host.example ***", "Your balance is 5.00"]
    assert entries[1].note == "operator"
    assert mask_secrets("abcabc", ["abc", ""]) == "******"
    with pytest.raises(ValueError):
        log.add("sideways", "x", "y", 0.0)




def _journal(text: str) -> tuple[dict[int, str], set[int]]:
    added: dict[int, str] = {}
    confirmed: set[int] = set()
    lines = text.split("\n")[:-1]  # the last piece may be cut mid-line by the kill
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "A":
            added[int(parts[1])] = parts[2]
        elif parts[0] == "C":
            confirmed.update(int(p) for p in parts[1:])
    return added, confirmed


def test_sigkill_at_random_instants_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL a writer at random instants; on reopen every promise it printed must hold."""
    db = tmp_path / "o.sqlite"
    rng = random.Random(7)
    all_added: dict[int, str] = {}
    all_confirmed: set[int] = set()
    max_id = 0
    iterations = 60
    for run in range(1, iterations + 1):
        # fork (not exec) so each child starts in milliseconds; it is a real process, really SIGKILLed
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(rfd)
            try:
                work(str(db), run, rng.randrange(1 << 30), os.fdopen(wfd, "w", buffering=1))
            finally:
                os._exit(1)
        os.close(wfd)
        reader = os.fdopen(rfd)
        assert reader.readline() == "READY\n"
        seen = ""
        if run % 2 == 0:  # on a loaded machine a child may die before its first commit: make every
            while True:  # other child reach a real confirmation first, so the run always has substance
                line = reader.readline()
                seen += line
                if line.startswith("C ") and len(line.split()) > 1:
                    break
        time.sleep(rng.uniform(0.0, 0.03))  # the test (not the firmware) picks a random instant
        os.kill(pid, signal.SIGKILL)
        out = seen + reader.read()
        reader.close()
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        added, confirmed = _journal(out)
        all_added.update(added)
        all_confirmed |= confirmed

        ob, damage = Outbox.open(db, wall=0.0)   # the start-up check: a killed writer's WAL is not damage
        assert damage is None
        assert ob.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {r[0]: r[1:] for r in ob.conn.execute("SELECT id, payload, state FROM outbox")}
        for item_id, payload in all_added.items():  # nothing reported added is lost or altered
            assert rows[item_id][0] == payload
        for item_id in all_confirmed:  # nothing reported confirmed comes back
            assert rows[item_id][1] == "delivered"
        pending = [i.id for i in ob.to_send(10_000 + run)]
        assert pending == sorted(pending)
        assert not set(pending) & all_confirmed
        assert set(pending) == {i for i, r in rows.items() if r[1] != "delivered"}
        # ids are stable and never reused: a new item gets an id above everything ever handed out
        if rows:
            assert min(rows) > 0
        assert max(rows, default=0) >= max_id
        max_id = max(rows, default=0)
        ob.close()
    ob = Outbox(db)
    fresh = ob.add("alert", "after", 0.0)
    assert fresh.id > max_id
    assert len(all_added) >= iterations // 2  # the children did real work before dying
    assert all_confirmed
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(DISTINCT payload) = COUNT(*) FROM outbox").fetchone()[0] == 1
