"""The shared retry pacing and the storm-proof logger (issue 12: back-off everywhere, no log storms)."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.backoff import Backoff
from runtime.ratelog import RateLimitedLog


def test_backoff_doubles_to_the_cap_and_starts_over_on_success() -> None:
    b = Backoff(first=2.0, cap=30.0, jitter=0.0)
    delays = [b.failed(100.0) for _ in range(6)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert b.attempts == 6 and b.next_at == 130.0
    assert not b.ready(129.9) and b.ready(130.0)
    b.succeeded()
    assert b.ready(0.0) and b.failed(0.0) == 2.0


def test_backoff_jitter_is_seeded_and_bounded() -> None:
    a = Backoff(first=10.0, cap=10.0, jitter=0.2, rng=random.Random(5))
    b = Backoff(first=10.0, cap=10.0, jitter=0.2, rng=random.Random(5))
    da = [a.failed(0) for _ in range(50)]
    assert da == [b.failed(0) for _ in range(50)]
    assert all(8.0 <= d <= 12.0 for d in da) and len(set(da)) > 1


def test_backoff_describe_for_diag() -> None:
    b = Backoff(first=16.0, cap=16.0, jitter=0.0)
    assert b.describe(0.0) == "ok"
    b.failed(0.0)
    b.failed(0.0)
    assert b.describe(4.0) == "2 failures, next try in 12 s"


@pytest.mark.parametrize("kw", [{"first": 0}, {"first": 5, "cap": 1}, {"factor": 0.5}, {"jitter": 1.0}])
def test_backoff_rejects_parameters_that_would_storm(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kw)


@given(st.floats(0.01, 100), st.floats(1, 10), st.integers(0, 200))
def test_backoff_never_exceeds_cap_nor_goes_below_first(first: float, mult: float, n: int) -> None:
    b = Backoff(first=first, cap=first * mult, jitter=0.0)
    for _ in range(n):
        d = b.failed(0.0)
        assert first <= d <= first * mult


def test_ratelog_one_line_per_interval_with_count(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.ratelog")
    limited = RateLimitedLog(log, interval=10.0)
    caplog.set_level(logging.WARNING, "test.ratelog")
    written = [limited.warning("sms", t / 10, "SMS failed: %s", "smsc down") for t in range(1000)]  # 1000 in 100 s
    lines = [r.getMessage() for r in caplog.records]
    assert sum(written) == len(lines) == 10
    assert lines[0] == "SMS failed: smsc down"
    assert lines[1] == "SMS failed: smsc down (repeated 99 times in the last 10 s)"


def test_ratelog_keys_are_independent_and_reset(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.ratelog2")
    limited = RateLimitedLog(log, interval=60.0)
    caplog.set_level(logging.INFO, "test.ratelog2")
    assert limited.error("a", 0.0, "a broke")
    assert limited.error("b", 0.0, "b broke")
    assert not limited.error("a", 1.0, "a broke")
    assert limited.suppressed("a") == 1
    limited.reset("a")
    assert limited.error("a", 2.0, "a broke again")
    assert [r.levelno for r in caplog.records] == [logging.ERROR] * 3
