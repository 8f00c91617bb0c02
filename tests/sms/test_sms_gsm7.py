"""GSM 03.38 alphabet and 7-bit packing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import SmsError, gsm7

GSM_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà\f^{}\\[~]|€"
)
gsm_text = st.text(alphabet=GSM_CHARS, max_size=200)


def test_alphabet_has_137_characters() -> None:
    assert len(set(GSM_CHARS)) == 127 + 10  # 128 codes minus ESC, plus 10 extension characters
    assert gsm7.is_gsm7(GSM_CHARS)


def test_known_codes() -> None:
    assert gsm7.encode_septets("@£A€[") == [0x00, 0x01, 0x41, 0x1B, 0x65, 0x1B, 0x3C]
    assert gsm7.decode_septets([0x1B, 0x65, 0x11, 0x7F]) == "€_à"
    assert not gsm7.is_gsm7("á")  # only the listed accented letters exist
    assert not gsm7.is_gsm7("`")


def test_unknown_escape_shows_default_character_and_lone_esc_is_space() -> None:
    assert gsm7.decode_septets([0x1B, 0x41]) == "A"
    assert gsm7.decode_septets([0x41, 0x1B]) == "A "


def test_pack_textbook_hellohello() -> None:
    assert gsm7.pack_septets(gsm7.encode_septets("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


def test_pack_with_fill_bits() -> None:
    # one septet 0x41 after one fill bit: 0x41 << 1 = 0x82
    assert gsm7.pack_septets([0x41], fill_bits=1) == b"\x82"
    assert gsm7.unpack_septets(b"\x82", 1, fill_bits=1) == [0x41]


def test_encode_rejects_non_gsm() -> None:
    with pytest.raises(SmsError):
        gsm7.encode_septets("日本")


def test_unpack_rejects_short_data() -> None:
    with pytest.raises(SmsError):
        gsm7.unpack_septets(b"\x00", 2)


@settings(max_examples=200, deadline=None)
@given(gsm_text)
def test_text_round_trip(text: str) -> None:
    assert gsm7.decode_septets(gsm7.encode_septets(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 127), max_size=200), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: list[int], fill: int) -> None:
    packed = gsm7.pack_septets(septets, fill)
    assert len(packed) == gsm7.packed_length(len(septets), fill)
    assert gsm7.unpack_septets(packed, len(septets), fill) == septets


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 300), max_size=20))
def test_decode_septets_only_raises_sms_error(septets: list[int]) -> None:
    try:
        gsm7.decode_septets(septets)
    except SmsError:
        pass
