"""Property tests: the supervisor survives any event order; the alert tag and server address parsers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modem.driver.commands import Registration
from tcu import link as L
from tcu.alert_tag import alert_ids, alert_tag
from tcu.server_link import split_server

EVENTS = st.one_of(
    st.builds(L.StepDone, st.sampled_from([*L.STATES, "bogus"]), st.booleans(), st.text(max_size=5)),
    st.just(L.ModemActivity()),
    st.builds(lambda r: L.RegistrationChanged(Registration(1 if r else 0)), st.booleans()),
    st.just(L.ModemRebooted()),
    st.just(L.ModemPoweredDown()),
    st.builds(L.TcpClosed, st.text(max_size=5)),
    st.just(L.GprsLost()),
    st.just(L.ServerAlive()),
    st.builds(L.SessionStalled, st.text(max_size=5)),
    st.builds(L.Restart, st.text(max_size=5)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.floats(0, 200)), max_size=60))
def test_supervisor_never_raises_and_stays_in_the_table(steps: list[tuple[object, float]]) -> None:
    sup = L.LinkSupervisor()
    now = 0.0
    actions = sup.start(now)
    for event, dt in steps:
        now += dt
        actions += sup.handle(event, now)  # type: ignore[arg-type]
        actions += sup.tick(now)
        assert sup.state in L.STATES
        assert sup.online == (sup.offline_since is None)
        assert not (sup.online and not sup.registered and sup.state == "register")
    assert all(a.kind in L.ACTION_KINDS for a in actions)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(0, 10**9), st.text())
def test_alert_tag_is_found_in_any_surrounding_text(before: str, n: int, after: str) -> None:
    text = f"{before} {alert_tag(n)}\n{after}"
    assert n in alert_ids(text)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z0-9.\-]{1,30}", fullmatch=True), st.integers(1, 65535))
def test_split_server_round_trip(host: str, port: int) -> None:
    assert split_server(f"{host}:{port}") == (host, port)
    assert split_server(host) == (host, 6867)
