"""SMS command replies: retried with back-off while sending fails, dropped when stale (issue 12 item 6)."""

from __future__ import annotations

import random

import pytest

from tcu.reply_queue import MAX_AGE_S, RETRY_CAP_S, RETRY_FIRST_S, ReplyQueue

OWNER = "+447700900123"


def test_a_failed_reply_is_sent_again_after_a_back_off_in_order() -> None:
    q = ReplyQueue(rng=random.Random(1))
    q.add(OWNER, "STAT reply", 0.0)
    q.add(OWNER, "GPS reply", 1.0)
    first = q.take(1.0)
    assert first is not None and first.text == "STAT reply"
    assert q.take(1.0) is None                         # one at a time
    q.result(first.id, False, 2.0, "+CMS ERROR: 332")
    assert q.take(2.0) is None                         # not at once
    due = q.next_deadline()
    assert due is not None and 2.0 + RETRY_FIRST_S * 0.9 <= due <= 2.0 + RETRY_FIRST_S * 1.1
    again = q.take(due)
    assert again == first                              # the same reply, still first
    q.result(again.id, True, due)
    nxt = q.take(due)
    assert nxt is not None and nxt.text == "GPS reply"
    q.result(nxt.id, True, due)
    assert q.pending == 0 and q.next_deadline() is None and q.status(due)["failures"] == 0


def test_sending_that_keeps_failing_is_paced_and_stale_replies_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    q = ReplyQueue(rng=random.Random(2))
    q.add(OWNER, "STAT reply", 0.0)
    attempts: list[float] = []
    now = 0.0
    while (r := q.take(now)) is not None or q.next_deadline() is not None:
        if r is not None:
            attempts.append(now)
            q.result(r.id, False, now, "modem closed")
            continue
        due = q.next_deadline()
        assert due is not None and due > now
        now = due
    assert 4 <= len(attempts) <= 7                      # 10, 20, 40, 80, 160 ... within 10 min
    assert all(b - a <= RETRY_CAP_S * 1.1 for a, b in zip(attempts, attempts[1:], strict=False))
    assert now >= MAX_AGE_S and q.pending == 0 and q.stats["expired"] == 1
    assert "dropped" in caplog.text and "stale" in caplog.text


def test_result_for_a_reply_not_in_flight_is_our_bug() -> None:
    q = ReplyQueue()
    q.add(OWNER, "x", 0.0)
    with pytest.raises(ValueError):
        q.result(99, True, 0.0)
