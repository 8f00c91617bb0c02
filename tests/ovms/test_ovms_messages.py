"""Message codec: spec examples, round trips and never-crash on arbitrary text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ovms_v2 import messages as m

SPEC_S = ("S80,K,230,16,charging,standard,350,300,16,120,0,11,100,1,1,0,0,0,160.00,-1,-1,0,0,-1,"
          "0,0,0,350,1,3.7,390.5,98")


def test_spec_status_example() -> None:
    msg = m.decode(SPEC_S)
    assert isinstance(msg, m.Status)
    assert (msg.soc, msg.units, msg.charge_state, msg.charge_mode) == ("80", "K", "charging", "standard")
    assert msg.cac == "160.00"
    assert msg.soh == ""            # the spec's example is short: missing fields take defaults
    assert m.as_float(msg.soc) == 80.0


def test_location_and_extra_fields_kept() -> None:
    msg = m.decode("L52.520008,13.404954,90,34,1,1,0,0,0,0.0,0,0,future1,future2")
    assert isinstance(msg, m.Location)
    assert msg.latitude == "52.520008" and msg.extra == ("future1", "future2")
    assert msg.encode() == "L52.520008,13.404954,90,34,1,1,0,0,0,0.0,0,0,future1,future2"


@pytest.mark.parametrize("payload,expected", [
    ("A", m.Ping()),
    ("a", m.PingAck()),
    ("Z1", m.Peers(1)),
    ("T0", m.Time(0)),
    ("C7,STAT", m.Command(7, "STAT")),
    ("C20,1234", m.Command(20, "1234")),
    ("C1", m.Command(1, "")),
    ("c1,0,0,16,1", m.CommandReply(1, 0, "0,16,1")),
    ("c7,0,SOC 80%; range 300 km", m.CommandReply(7, 0, "SOC 80%; range 300 km")),
    ("c12,1,Cannot stop charge (charge not in progress)",
     m.CommandReply(12, 1, "Cannot stop charge (charge not in progress)")),
    ("PAhello, world", m.PushAlert("A", "hello, world")),
    ("H*-OVM-DebugCrash,3,86400,a,b,c", m.History("*-OVM-DebugCrash", 3, 86400, "a,b,c")),
    ("h17,-5,*-LOG-Trip,2,3600,x,y", m.AckedHistory(17, -5, "*-LOG-Trip", 2, 3600, "x,y")),
    ("h17", m.HistoryAck(17)),
    ("ETabcdefghijklmnopqrstuv", m.ParanoidToken("abcdefghijklmnopqrstuv")),
    ("EMSqwerty==", m.ParanoidMessage("S", "qwerty==")),
    ("Vxx,C1-6,C40-41,C49", m.Capabilities(("xx", "C1-6", "C40-41", "C49"))),
    ("f3.0.0", m.ServerVersion("3.0.0")),
    ("Gfriends", m.GroupSubscribe("friends")),
    ("gfriends,80,0,90,30,1,1,52.5,13.4", m.GroupLocation("friends", "80", "0", "90", "30", "1", "1",
                                                          "52.5", "13.4")),
    ("R1,2", m.Unknown("R", "1,2")),
])
def test_decode_known_payloads(payload: str, expected: m.Message) -> None:
    assert m.decode(payload) == expected
    assert m.decode(expected.encode()) == expected


def test_group_relay_from_server() -> None:
    msg = m.decode("gTESTCAR,friends,80,0", from_server=True)
    assert msg == m.GroupRelay("TESTCAR", "friends,80,0")


def test_capability_commands() -> None:
    assert m.Capabilities(("C1-6", "C40-41", "C49", "junk")).commands() == {1, 2, 3, 4, 5, 6, 40, 41, 49}


def test_multiline_reply_finality() -> None:
    assert not m.CommandReply(1, 0, "0,16,1").is_final
    assert m.CommandReply(1, 0, "15,16,1").is_final
    assert m.CommandReply(3, 1, "whatever").is_final
    assert m.CommandReply(20, 0, "").is_final


def test_bad_control_field_is_a_message_error() -> None:
    with pytest.raises(m.MessageError):
        m.decode("Cabc")
    with pytest.raises(m.MessageError):
        m.decode("")


def test_comma_in_fixed_field_is_our_bug() -> None:
    with pytest.raises(ValueError):
        m.Status(soc="8,0").encode()


# --- hypothesis -------------------------------------------------------------------------------------
field_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters=","),
                     max_size=12)
free_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
ints = st.integers(min_value=-10**9, max_value=10**9)


def _fixed(cls: type) -> st.SearchStrategy:
    import dataclasses
    kw = {f.name: field_text for f in dataclasses.fields(cls) if f.name != "extra"}
    return st.builds(cls, **kw, extra=st.tuples() | st.lists(field_text, min_size=1, max_size=3).map(tuple))


messages = st.one_of(
    _fixed(m.Status), _fixed(m.Environment), _fixed(m.Location), _fixed(m.Tpms), _fixed(m.Firmware),
    _fixed(m.GroupLocation),
    st.builds(m.Capabilities, st.lists(field_text, min_size=1, max_size=5).map(tuple).filter(
        lambda t: t != ("",))),
    st.builds(m.PushAlert, st.sampled_from("AEI"), free_text),
    st.builds(m.Command, st.integers(0, 10**6), free_text.filter(lambda t: not t.startswith(","))),
    st.builds(m.CommandReply, st.integers(0, 999), st.integers(0, 3), free_text),
    st.builds(m.Time, ints), st.builds(m.Peers, ints), st.builds(m.ServerVersion, free_text),
    st.builds(m.History, field_text, ints, ints, free_text),
    st.builds(m.AckedHistory, ints, ints, field_text, ints, ints, free_text),
    st.builds(m.HistoryAck, ints),
    st.builds(m.GroupSubscribe, free_text),
    st.builds(m.ParanoidToken, free_text),
    st.builds(m.ParanoidMessage, st.sampled_from("SDLFVWc"), free_text),
    st.just(m.Ping()), st.just(m.PingAck()),
)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_round_trip(msg: m.Message) -> None:
    assert m.decode(msg.encode()) == msg


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.booleans())
def test_never_crashes_on_arbitrary_text(text: str, from_server: bool) -> None:
    try:
        msg = m.decode(text, from_server=from_server)
    except m.MessageError:
        return
    assert isinstance(msg, m.Message)
    # Whatever decoded must re-encode without blowing up, except commas smuggled into fixed fields,
    # which cannot happen because decoding splits on them.
    msg.encode()
