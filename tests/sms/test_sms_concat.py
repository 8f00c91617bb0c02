"""Splitting long texts into parts and putting them back together."""

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    ConcatInfo,
    Reassembler,
    SmsTooLong,
    decode_deliver,
    decode_submit,
    encode_deliver,
    encode_submit,
    gsm7,
    make_delivers,
    make_submits,
    split_text,
)

TS = datetime(2024, 5, 17, 13, 45, 30, tzinfo=UTC)
texts = st.text(alphabet="ab €[Ж😀", max_size=700) | st.text(max_size=300)


def test_single_part_boundaries() -> None:
    assert split_text("a" * 160) == ("gsm7", ["a" * 160])
    assert split_text("a" * 161)[1] == ["a" * 153, "a" * 8]
    assert split_text("Ж" * 70) == ("ucs2", ["Ж" * 70])
    assert split_text("Ж" * 71)[1] == ["Ж" * 67, "Ж" * 4]
    assert split_text("a" * 161, ref_bits=16)[1] == ["a" * 152, "a" * 9]
    assert split_text("") == ("gsm7", [""])


def test_any_non_gsm_character_forces_ucs2() -> None:
    encoding, parts = split_text("a" * 100 + "ą")
    assert encoding == "ucs2"
    assert len(parts) == 2


def test_escape_pair_never_split() -> None:
    # 152 plain septets then "€" (2 septets) does not fit in 153: "€" moves to part 2 whole.
    _, parts = split_text("a" * 152 + "€" + "b" * 10)
    assert parts == ["a" * 152, "€" + "b" * 10]


def test_surrogate_pair_never_split() -> None:
    _, parts = split_text("Ж" * 66 + "😀" + "x" * 5)
    assert parts == ["Ж" * 66, "😀" + "x" * 5]


def test_too_long_raises() -> None:
    make_submits("+1", "a" * 153 * 4, max_parts=4)
    with pytest.raises(SmsTooLong):
        make_submits("+1", "a" * (153 * 4 + 1), max_parts=4)
    with pytest.raises(SmsTooLong):
        make_submits("+1", "a" * 161, max_parts=1)


def test_make_submits_numbers_parts_and_references() -> None:
    parts = make_submits("+1", "a" * 400, reference=254, concat_ref=300)
    assert [p.reference for p in parts] == [254, 255, 0]
    assert [p.concat for p in parts] == [ConcatInfo(300, 3, i, 16) for i in (1, 2, 3)]
    single = make_submits("+1", "short", concat_ref=9)
    assert single[0].concat is None


@settings(max_examples=100, deadline=None)
@given(texts, st.integers(0, 65535), st.randoms(use_true_random=False))
def test_submit_split_encode_reassemble_in_random_order_with_duplicates(text, ref, rnd) -> None:
    try:
        parts = make_submits("+4915112345678", text, concat_ref=ref, max_parts=20)
    except SmsTooLong:
        assert len(text) > 20 * 66 // 2
        return
    pdus = [encode_submit(p).hex for p in parts]
    received = pdus + rnd.sample(pdus, k=min(2, len(pdus)))
    rnd.shuffle(received)
    r = Reassembler()
    results = []
    for h in received:
        m = decode_submit(h)
        results.append(r.add(m.number, m.text, m.concat, now=0.0))
    done = [x for x in results if x is not None]
    assert text in done
    assert all(x == text for x in done)


@settings(max_examples=60, deadline=None)
@given(texts, st.integers(0, 255), st.randoms(use_true_random=False))
def test_deliver_split_round_trip(text, ref, rnd) -> None:
    parts = make_delivers("Vodafone", text, TS, concat_ref=ref)
    for p in parts:
        cost = (
            len(gsm7.encode_septets(p.text)) if gsm7.is_gsm7(text) else len(p.text.encode("utf-16-be")) // 2
        )
        assert cost <= (160 if len(parts) == 1 else 153) if gsm7.is_gsm7(text) else cost <= 70
    decoded = [decode_deliver(encode_deliver(p).hex) for p in parts]
    rnd.shuffle(decoded)
    r = Reassembler()
    out = [r.add(d.originator, d.text, d.concat, now=1.0) for d in decoded]
    assert out[-1] == text
    assert r.pending() == 0


def test_reassembler_keys_by_sender_and_ref_and_expires() -> None:
    r = Reassembler(timeout=60)
    assert r.add("A", "x", None, now=0) == "x"
    assert r.add("A", "hello ", ConcatInfo(1, 2, 1), now=0) is None
    assert r.add("B", "WORLD", ConcatInfo(1, 2, 2), now=1) is None  # other sender
    assert r.add("A", "OTHER", ConcatInfo(2, 2, 2), now=1) is None  # other ref
    assert r.pending() == 3
    assert r.add("A", "world", ConcatInfo(1, 2, 2), now=2) == "hello world"
    assert r.pending() == 2
    assert sorted(r.expire(now=61)) == [("A", 2, 2), ("B", 1, 2)]
    assert r.pending() == 0
    # a part arriving after its partner expired starts over
    assert r.add("B", "WORLD", ConcatInfo(1, 2, 2), now=62) is None


def test_reassembler_expires_inside_add() -> None:
    r = Reassembler(timeout=10)
    r.add("A", "a", ConcatInfo(7, 2, 1), now=0)
    assert r.add("A", "b", ConcatInfo(7, 2, 2), now=11) is None
    assert r.pending() == 1


def test_reassembler_ignores_duplicate_with_different_text() -> None:
    r = Reassembler()
    r.add("A", "one ", ConcatInfo(3, 2, 1), now=0)
    r.add("A", "ONE ", ConcatInfo(3, 2, 1), now=0)
    assert r.add("A", "two", ConcatInfo(3, 2, 2), now=0) == "one two"


def test_random_order_example() -> None:
    text = "".join(random.Random(4).choice("abc€😀") for _ in range(500))
    parts = make_delivers("+1", text, TS, concat_ref=77)
    assert len(parts) > 1
