"""The MQTT 3.1.1 codec: known bytes from the spec, round trips of every packet type, never-crash on
arbitrary bytes, and any chunking of a stream gives the same packets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt311 import packets as p

# --- known bytes -----------------------------------------------------------------------------------------


def test_remaining_length_boundaries_from_the_spec_table() -> None:
    # §2.2.3 table 2.4
    assert p.encode_remaining_length(0) == b"\x00"
    assert p.encode_remaining_length(127) == b"\x7f"
    assert p.encode_remaining_length(128) == b"\x80\x01"
    assert p.encode_remaining_length(16_383) == b"\xff\x7f"
    assert p.encode_remaining_length(16_384) == b"\x80\x80\x01"
    assert p.encode_remaining_length(268_435_455) == b"\xff\xff\xff\x7f"
    with pytest.raises(ValueError):
        p.encode_remaining_length(268_435_456)


def test_connect_bytes_with_will_and_credentials() -> None:
    pkt = p.Connect("car1", 300, clean_session=False, username="u", password=b"pw",
                    will_topic="t/c", will_message=b"no", will_qos=1, will_retain=True)
    body = (b"\x00\x04MQTT\x04" + bytes((0x80 | 0x40 | 0x20 | 0x08 | 0x04,)) + b"\x01\x2c"
            + b"\x00\x04car1" + b"\x00\x03t/c" + b"\x00\x02no" + b"\x00\x01u" + b"\x00\x02pw")
    assert p.encode(pkt) == b"\x10" + bytes((len(body),)) + body
    assert "pw" not in repr(pkt)


def test_fixed_small_packets() -> None:
    assert p.encode(p.Pingreq()) == b"\xc0\x00"
    assert p.encode(p.Pingresp()) == b"\xd0\x00"
    assert p.encode(p.Disconnect()) == b"\xe0\x00"
    assert p.encode(p.Connack(True, 0)) == b"\x20\x02\x01\x00"
    assert p.encode(p.Puback(0x1234)) == b"\x40\x02\x12\x34"
    assert p.encode(p.Publish("a/b", b"x", 1, True, True, 7)) == b"\x3b\x08\x00\x03a/b\x00\x07x"
    assert p.encode(p.Subscribe(1, (("a/+", 1),))) == b"\x82\x08\x00\x01\x00\x03a/+\x01"


def _decode_all(data: bytes) -> list[p.Packet]:
    r = p.PacketReader()
    r.feed(data)
    out = []
    while (pkt := r.next_packet()) is not None:
        out.append(pkt)
    return out


@pytest.mark.parametrize("raw, why", [
    (b"\x30\x03\x00\x01+", "wildcard in a topic name"),
    (b"\x36\x05\x00\x01a\x00\x01", "QoS 3"),
    (b"\x38\x03\x00\x01a", "DUP on QoS 0"),
    (b"\x32\x03\x00\x01a", "QoS 1 without a packet id"),
    (b"\x32\x05\x00\x01a\x00\x00", "packet id 0"),
    (b"\x41\x02\x00\x01", "reserved flags on PUBACK"),
    (b"\x80\x06\x00\x01\x00\x01a\x01", "SUBSCRIBE flags must be 0010"),
    (b"\x20\x02\x00\x09", "unknown CONNACK code"),
    (b"\x20\x02\x01\x05", "session present with a refusal"),
    (b"\x50\x02\x00\x01", "PUBREC is not spoken"),
    (b"\x00\x00", "reserved type 0"),
    (b"\xc0\x01\x00", "trailing bytes on PINGREQ"),
    (b"\x30\xff\xff\xff\xff\x01", "remaining length of five bytes"),
    (b"\x30\x80\x00", "remaining length not minimal"),
    (b"\x30\x04\x00\x02\xc3\x28", "not UTF-8"),
    (b"\x30\x04\x00\x02a\x00", "U+0000 in a string"),
    (b"\x90\x03\x00\x01\x03", "SUBACK code 3"),
])
def test_malformed_packets_raise_mqtt_error(raw: bytes, why: str) -> None:
    with pytest.raises(p.MqttError):
        _decode_all(raw)


def test_a_packet_larger_than_the_limit_is_refused_before_it_is_buffered() -> None:
    r = p.PacketReader(max_packet=1000)
    r.feed(b"\x30" + p.encode_remaining_length(1001))
    with pytest.raises(p.MqttError):
        r.next_packet()
    with pytest.raises(p.MqttError):       # the framing is gone: stays broken
        r.next_packet()


def test_encoding_a_forbidden_packet_is_our_bug() -> None:
    for bad in (p.Publish("a/#", b""), p.Publish("a", b"", 0, dup=True), p.Publish("a", b"", 1),
                p.Subscribe(1, ()), p.Connect("c", password=b"x"), p.Puback(0), p.Publish("a\x00b")):
        with pytest.raises(ValueError):
            p.encode(bad)


# --- hypothesis ------------------------------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
_topic = _text.filter(lambda t: t and "+" not in t and "#" not in t)
_filter = _text.filter(bool)
_pid = st.integers(1, 0xFFFF)
_qos = st.integers(0, 2)


@st.composite
def _publish(draw: st.DrawFn) -> p.Publish:
    qos = draw(_qos)
    return p.Publish(draw(_topic), draw(st.binary(max_size=300)), qos, draw(st.booleans()),
                     draw(st.booleans()) if qos else False, draw(_pid) if qos else None)


@st.composite
def _connect(draw: st.DrawFn) -> p.Connect:
    will = draw(st.booleans())
    user = draw(st.none() | _text)
    return p.Connect(draw(_text), draw(st.integers(0, 0xFFFF)), draw(st.booleans()), user,
                     draw(st.none() | st.binary(max_size=40)) if user is not None else None,
                     draw(_topic) if will else None, draw(st.binary(max_size=40)) if will else b"",
                     draw(_qos) if will else 0, draw(st.booleans()) if will else False)


_packets = st.one_of(
    _connect(),
    st.builds(lambda sp, rc: p.Connack(sp and rc == 0, rc), st.booleans(), st.integers(0, 5)),
    _publish(),
    st.builds(p.Puback, _pid),
    st.builds(p.Subscribe, _pid, st.lists(st.tuples(_filter, _qos), min_size=1, max_size=4).map(tuple)),
    st.builds(p.Suback, _pid, st.lists(st.sampled_from((0, 1, 2, 0x80)), min_size=1, max_size=4).map(tuple)),
    st.builds(p.Unsubscribe, _pid, st.lists(_filter, min_size=1, max_size=4).map(tuple)),
    st.builds(p.Unsuback, _pid),
    st.just(p.Pingreq()), st.just(p.Pingresp()), st.just(p.Disconnect()),
)


@settings(max_examples=500, deadline=None)
@given(_packets)
def test_every_packet_type_round_trips(pkt: p.Packet) -> None:
    assert _decode_all(p.encode(pkt)) == [pkt]


@settings(max_examples=200, deadline=None)
@given(st.lists(_packets, max_size=8), st.data())
def test_any_chunking_gives_the_same_packets(pkts: list[p.Packet], data: st.DataObject) -> None:
    stream = b"".join(p.encode(x) for x in pkts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    r = p.PacketReader()
    got: list[p.Packet] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        r.feed(stream[prev:cut])
        prev = cut
        while (pkt := r.next_packet()) is not None:
            got.append(pkt)
    assert got == pkts


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 16))
def test_arbitrary_bytes_raise_only_mqtt_error(data: bytes, step: int) -> None:
    r = p.PacketReader()
    try:
        for i in range(0, len(data), step):
            r.feed(data[i:i + step])
            while r.next_packet() is not None:
                pass
    except p.MqttError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 15), st.binary(max_size=120))
def test_arbitrary_bodies_behind_a_valid_header_raise_only_mqtt_error(ptype: int, body: bytes) -> None:
    for flags in (0, 2, 0x0B):
        try:
            _decode_all(bytes(((ptype << 4) | flags,)) + p.encode_remaining_length(len(body)) + body)
        except p.MqttError:
            pass
