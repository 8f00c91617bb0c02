"""The login guard alone (sans-IO): delays grow, an address is locked out, a vehicle never is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.server.login_guard import GuardPolicy, LoginGuard

P = GuardPolicy()


def fail(guard: LoginGuard, n: int, address: str = "10.0.0.9", vehicle: str | None = "CAR", t: float = 0.0) -> list:
    notices = []
    for _ in range(n):
        notices += guard.failed(address, vehicle, t)
    return notices


def test_no_failures_no_delay() -> None:
    guard = LoginGuard()
    assert guard.refusal("10.0.0.1", 0.0) is None
    assert guard.delay("10.0.0.1", "CAR", 0.0) == 0.0


def test_delay_grows_and_is_capped() -> None:
    guard = LoginGuard()
    delays = []
    for i in range(P.lockout_after - 1):
        guard.failed(f"10.0.1.{i}", "CAR", 0.0)        # many addresses: only the vehicle key grows
        delays.append(guard.delay("10.0.0.1", "CAR", 0.0))
    assert delays[: P.slow_after - 1] == [0.0] * (P.slow_after - 1)
    grown = delays[P.slow_after - 1:]
    assert grown == sorted(grown) and grown[0] == P.base_delay and grown[-1] == P.max_delay


def test_address_is_locked_out_after_n_failures_and_the_lockout_grows() -> None:
    guard = LoginGuard()
    notices = fail(guard, P.lockout_after, t=0.0)
    assert any("locked out for 60 s" in n.text for n in notices)
    assert "locked out" in (guard.refusal("10.0.0.9", 1.0) or "")
    assert guard.refusal("10.0.0.8", 1.0) is None                # another address is not
    assert guard.refusal("10.0.0.9", P.lockout + 0.1) is None     # over
    notices = fail(guard, 1, t=P.lockout + 0.1)
    assert any("locked out for 120 s" in n.text for n in notices)   # the next failure locks it again, longer
    assert guard.locked_out(P.lockout + 1) == ["10.0.0.9"]


def test_lockout_is_capped_and_forgotten_after_a_quiet_window() -> None:
    guard = LoginGuard()
    t = 0.0
    for _ in range(20):
        fail(guard, P.lockout_after, t=t)
        t += P.max_lockout + 1
    assert guard.refusal("10.0.0.9", t - 2) is None   # every lockout ended within the cap
    t += P.window + 1
    guard.prune(t)
    assert guard.tracked() == 0


def test_pending_answers_per_address_are_capped() -> None:
    guard = LoginGuard()
    for _ in range(P.max_pending):
        guard.hold("10.0.0.9")
    assert "waiting" in (guard.refusal("10.0.0.9", 0.0) or "")
    assert guard.refusal("10.0.0.1", 0.0) is None
    guard.release("10.0.0.9")
    assert guard.refusal("10.0.0.9", 0.0) is None


def test_notices_are_once_per_burst_not_per_attempt() -> None:
    guard = LoginGuard()
    notices = []
    for i in range(1000):                               # 1,000 failures in 10 s from 100 addresses
        notices += guard.failed(f"10.0.{i % 100}.1", "CAR", i * 0.01)
    vehicle_lines = [n for n in notices if "vehicle CAR" in n.text]
    assert len(vehicle_lines) == 1
    assert len(notices) <= 1 + 2                        # plus one lockout line per 10 s for all addresses


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 5000, allow_nan=False)), max_size=300))
def test_the_real_car_on_its_own_address_always_gets_an_answer_within_the_cap(attempts) -> None:
    """Whatever other addresses do to the vehicle, its own address is never refused or held beyond the cap."""
    guard = LoginGuard()
    for addr, t in sorted(attempts, key=lambda a: a[1]):
        guard.failed(f"10.1.0.{addr}", "CAR", t)
        guard.failed(f"10.1.0.{addr}", None, t)         # unknown vehicle ids too
    for t in (0.0, 100.0, 5000.0, 10000.0):
        assert guard.refusal("192.0.2.1", t) is None
        assert guard.delay("192.0.2.1", "CAR", t) <= P.max_delay


def test_counts_in_words() -> None:
    """Issue 13 (`1 items queued`): a summary of one failure says "1 failed login", not "1 failed logins"."""
    guard = LoginGuard()
    first = fail(guard, P.slow_after, t=0.0)
    assert any(n.text.startswith(f"{P.slow_after} failed logins for vehicle CAR") for n in first)
    later = fail(guard, 1, t=P.summary_interval + 1)
    assert [n.text.split(" since")[0] for n in later] == ["1 failed login for vehicle CAR"]
