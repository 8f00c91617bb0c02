"""The unit's health registry: never silent, never a storm, the owner told once per problem."""

from __future__ import annotations

import logging

import pytest

from tcu.health import Health


def test_first_report_logs_error_repeats_do_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tcu.health")
    h = Health()
    for i in range(100):
        h.report("can", "CAN adapter slcan:/tmp/can is gone", float(i), retries=i, next_try=i + 5.0)
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert not h.ok
    assert h.summary(160.0) == "CAN adapter slcan:/tmp/can is gone for 3 min (99 retries, next in 0 s)"
    h.clear("can", 200.0)
    assert h.ok and h.summary(200.0) == "OK"
    assert caplog.records[-1].levelno == logging.WARNING
    assert "after 3 min" in caplog.records[-1].getMessage()


def test_summary_lists_oldest_first() -> None:
    h = Health()
    h.report("storage", "state directory failing: disk full", 50.0)
    h.report("can", "CAN adapter gone", 10.0)
    assert h.summary(70.0) == "CAN adapter gone for 60 s; state directory failing: disk full for 20 s"


def test_owner_told_once_after_the_delay_and_again_after_a_new_outage() -> None:
    h = Health()
    h.report("can", "CAN adapter gone", 0.0)
    assert h.due_for_owner(599.0, 600.0) == []
    due = h.due_for_owner(600.0, 600.0)
    assert [p.key for p in due] == ["can"]
    h.report("can", "CAN adapter gone", 700.0, retries=3)
    assert h.due_for_owner(5000.0, 600.0) == []      # still the same problem: told already
    h.clear("can", 5001.0)
    h.report("can", "CAN adapter gone", 6000.0)
    assert [p.key for p in h.due_for_owner(6600.0, 600.0)] == ["can"]
