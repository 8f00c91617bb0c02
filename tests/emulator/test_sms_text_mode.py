"""Text-mode SMS per 3GPP TS 27.005 §3.1/§4.3: AT+CSCS and the DCS of AT+CSMP decide how the text after
the prompt is read and how received text and numbers are shown; the LF after AT+CMGS's CR is no text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.emulator import text_mode
from modem.sms import gsm7
from tests.emulator.rig import Rig

PHONE = "+447700900123"
SCTS = "26/01/01,00:00:00+00"


@pytest.fixture
def r() -> Rig:
    rig = Rig()
    rig.at("ATE0;+CMEE=1;+CMGF=1")
    return rig


def send(r: Rig, setup: str, body: bytes, da: str = PHONE) -> str:
    r.at(setup)
    assert r.at(f'AT+CMGS="{da}"') == "\r\n> "
    return r.send(body + b"\x1a")


@pytest.mark.parametrize("timing", ["instant", "realistic"])
def test_lf_after_the_commands_cr_is_not_part_of_the_body(timing: str) -> None:
    r = Rig(profile=timing)
    wait = 0.01 if timing == "instant" else 6.0
    r.at("ATE0;+CMGF=1", wait=wait)
    r.send(f'AT+CMGS="{PHONE}"\r\n'.encode(), wait=wait)  # CR LF, as most Arduino/C++ clients send it
    assert "+CMGS: 1" in r.send(b"hello\x1a", wait=wait)
    assert [s.text for s in r.modem.outbox] == ["hello"]


def test_hex_charset_with_ucs2_dcs_reads_ucs2_hex(r: Rig) -> None:
    body = "Grüße ✓ 你好".encode("utf-16-be").hex().upper().encode()
    assert "+CMGS: 1" in send(r, 'AT+CSCS="HEX";+CSMP=17,167,0,8', body)
    assert r.modem.outbox[0].text == "Grüße ✓ 你好"


def test_the_dcs_decides_even_under_ira(r: Rig) -> None:
    body = "Zürich".encode("utf-16-be").hex().encode()  # lower-case hex is hex too
    assert "+CMGS: 1" in send(r, "AT+CSMP=17,167,0,8", body)
    assert r.modem.outbox[0].text == "Zürich"


def test_ucs2_dcs_limit_is_70_characters(r: Rig) -> None:
    assert send(r, "AT+CSMP=17,167,0,8", ("é" * 71).encode("utf-16-be").hex().encode()) == "\r\n+CMS ERROR: 305\r\n"
    assert send(r, "", b"0041F") == "\r\n+CMS ERROR: 305\r\n"  # not whole characters
    assert r.modem.outbox == []


def test_gsm_charset_takes_gsm_alphabet_octets(r: Rig) -> None:
    # GSM 03.38: 0x00 '@', 0x01 '£', 0x24 '¤' (not '$'), 0x11 '_'. (0x1B, the escape to '€' and
    # friends, cannot be typed: ESC cancels the prompt.)
    assert "+CMGS: 1" in send(r, 'AT+CSCS="GSM"', b"\x00 costs \x01 \x24\x11")
    assert r.modem.outbox[0].text == "@ costs £ ¤_"


def test_hex_charset_with_gsm_dcs_takes_gsm_codes_in_hex(r: Rig) -> None:
    assert "+CMGS: 1" in send(r, 'AT+CSCS="HEX"', b"48454C4C4F2000")
    assert r.modem.outbox[0].text == "HELLO @"
    # The number may come hex-coded too (27.007 §5.5), or as the plain dial string most clients send.
    assert "+CMGS: 2" in send(r, "", b"4F4B", da=PHONE.encode().hex())
    assert [s.to for s in r.modem.outbox] == [PHONE, PHONE]


def test_ucs2_charset_with_gsm_dcs_numbers_and_text_in_ucs2(r: Rig) -> None:
    da = PHONE.encode("utf-16-be").hex().upper()
    assert "+CMGS: 1" in send(r, 'AT+CSCS="UCS2"', "Grüße ✓".encode("utf-16-be").hex().encode(), da=da)
    assert (r.modem.outbox[0].to, r.modem.outbox[0].text) == (PHONE, "Grüße ?")  # ✓ is not GSM 7-bit


def test_received_gsm_text_in_each_charset(r: Rig) -> None:
    r.modem.inject_sms(PHONE, "@£ ok")
    r.run(0.01)
    assert r.at("AT+CMGR=1,1") == f'\r\n+CMGR: "REC UNREAD","{PHONE}","","{SCTS}"\r\n@? ok\r\n\r\nOK\r\n'
    r.at('AT+CSCS="GSM"')
    assert "\r\n\x00\x01 ok\r\n" in r.at("AT+CMGR=1,1")
    r.at('AT+CSCS="HEX"')
    assert "\r\n0001206F6B\r\n" in r.at("AT+CMGR=1,1")
    r.at('AT+CSCS="UCS2"')
    number = PHONE.encode("utf-16-be").hex().upper()
    text = "@£ ok".encode("utf-16-be").hex().upper()
    assert r.at("AT+CMGR=1") == f'\r\n+CMGR: "REC UNREAD","{number}","","{SCTS}"\r\n{text}\r\n\r\nOK\r\n'


def test_received_ucs2_message_is_hex_whatever_the_charset(r: Rig) -> None:
    r.at("AT+CSDH=1")
    r.modem.inject_sms(PHONE, "Grüße ✓")
    r.run(0.01)
    octets = "Grüße ✓".encode("utf-16-be")
    listing = r.at('AT+CMGL="ALL"')
    assert listing == f'\r\n+CMGL: 1,"REC UNREAD","{PHONE}","","{SCTS}",145,{len(octets)}\r\n{octets.hex().upper()}\r\n\r\nOK\r\n'
    r.at("AT+CNMI=2,2,0,0,0")
    r.modem.inject_sms(PHONE, "✓")
    assert r.run(0.01) == f'\r\n+CMT: "{PHONE}","","{SCTS}",145,4,0,8,"+447700900000",145,2\r\n2713\r\n'


GSM_TEXT = st.text(alphabet=st.sampled_from([ch for ch in map(chr, range(0x2600)) if gsm7.is_gsm7(ch)]))


@given(GSM_TEXT, st.sampled_from(["GSM", "HEX", "UCS2"]))
def test_strings_round_trip_through_the_charsets_that_carry_gsm(text: str, cscs: str) -> None:
    assert text_mode.string_from_te(cscs, text_mode.string_to_te(cscs, text)) == text


@given(GSM_TEXT, st.sampled_from(["GSM", "HEX", "UCS2"]))
def test_gsm_bodies_round_trip(text: str, cscs: str) -> None:
    data, dcs, _ = text_mode.body_to_te(cscs, text)
    assert text_mode.body_from_te(cscs, dcs, data.encode("latin-1")) == text


@given(st.text(max_size=70))
def test_ucs2_bodies_round_trip(text: str) -> None:
    data, dcs, _ = text_mode.body_to_te("IRA", text)
    if dcs == 8:
        assert text_mode.body_from_te("IRA", dcs, data.encode()) == text.encode("utf-16-be", "replace").decode("utf-16-be", "replace")


@given(st.binary(max_size=300), st.sampled_from(sorted(["GSM", "HEX", "UCS2", "IRA", "8859-1", "PCCP", "PCDN"])),
       st.integers(0, 255))  # fmt: skip
def test_arbitrary_bytes_never_crash(raw: bytes, cscs: str, dcs: int) -> None:
    try:
        text = text_mode.body_from_te(cscs, dcs, raw)
    except text_mode.TextModeError:
        return
    assert isinstance(text, str)


def test_cmgw_stores_and_cmss_sends_text_mode(r: Rig) -> None:
    assert r.at(f'AT+CMGW="{PHONE}"') == "\r\n> "
    assert r.send(b"draft\x1a") == "\r\n+CMGW: 1\r\n\r\nOK\r\n"
    assert r.at("AT+CMGR=1") == f'\r\n+CMGR: "STO UNSENT","{PHONE}",""\r\ndraft\r\n\r\nOK\r\n'
    assert r.modem.outbox == []
    assert r.at("AT+CMSS=1") == "\r\n+CMSS: 1\r\n\r\nOK\r\n"
    assert r.at("AT+CMSS=1,\"+447700900555\"") == "\r\n+CMSS: 2\r\n\r\nOK\r\n"
    assert [(s.to, s.text) for s in r.modem.outbox] == [(PHONE, "draft"), ("+447700900555", "draft")]
    assert '"STO SENT"' in r.at('AT+CMGL="ALL"')
    assert r.at("AT+CMSS=9") == "\r\n+CMS ERROR: 321\r\n"


def test_cmgw_pdu_mode_then_read_back_and_send(r: Rig) -> None:
    from modem.sms import SmsSubmit, decode_submit, encode_submit

    r.at("AT+CMGF=0")
    enc = encode_submit(SmsSubmit(PHONE, "Grüße"))
    assert r.at(f"AT+CMGW={enc.tpdu_length}") == "\r\n> "
    assert r.send(enc.hex.encode() + b"\x1a") == "\r\n+CMGW: 1\r\n\r\nOK\r\n"
    lines = r.at("AT+CMGR=1").split("\r\n")
    assert lines[1] == f"+CMGR: 2,,{enc.tpdu_length}" and decode_submit(lines[2]).text == "Grüße"
    assert r.at("AT+CMSS=1").startswith("\r\n+CMSS: ")
    assert [(s.to, s.text) for s in r.modem.outbox] == [(PHONE, "Grüße")]
