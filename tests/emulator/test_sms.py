"""SMS: text and PDU mode, stores SM/ME, indications per CNMI, the SMS centre, SMS faults."""

from __future__ import annotations

import pytest

from modem.emulator import VirtualNetwork
from modem.sms import SmsSubmit, decode_deliver, encode_submit, make_submits
from tests.emulator.rig import Rig

PHONE = "+447700900123"


@pytest.fixture
def r() -> Rig:
    rig = Rig()
    rig.at("ATE0;+CMEE=1")
    return rig


def test_text_mode_send_lands_in_outbox_with_increasing_refs(r: Rig) -> None:
    r.at("AT+CMGF=1")
    assert r.at(f'AT+CMGS="{PHONE}"') == "\r\n> "
    assert r.send(b"hello\x1a") == "\r\n+CMGS: 1\r\n\r\nOK\r\n"
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"again\x1a") == "\r\n+CMGS: 2\r\n\r\nOK\r\n"
    assert [(s.to, s.text) for s in r.modem.outbox] == [(PHONE, "hello"), (PHONE, "again")]
    assert r.net.smsc.outbox[0].sender == r.modem.number


def test_text_mode_multiline_and_echo() -> None:
    r = Rig()
    r.at("AT+CMGF=1")
    assert r.at(f'AT+CMGS="{PHONE}"') == f'AT+CMGS="{PHONE}"\r\r\n> '
    assert r.send(b"line1\r") == "line1\r\r\n> "
    assert r.send(b"line2\x1a").endswith("\r\n+CMGS: 1\r\n\r\nOK\r\n")
    assert r.modem.outbox[0].text == "line1\nline2"


def test_esc_cancels_the_prompt(r: Rig) -> None:
    r.at("AT+CMGF=1")
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"never mind\x1b") == "\r\nOK\r\n"
    assert r.modem.outbox == []
    assert r.at("AT") == "\r\nOK\r\n"


def test_ucs2_text_mode(r: Rig) -> None:
    r.at('AT+CMGF=1;+CSCS="UCS2";+CSMP=17,167,0,8')
    number = PHONE.encode("utf-16-be").hex().upper()
    r.at(f'AT+CMGS="{number}"')
    r.send("héllo ✓".encode("utf-16-be").hex().upper().encode() + b"\x1a")
    assert r.modem.outbox[0].text == "héllo ✓"
    assert r.modem.outbox[0].to == PHONE


def test_pdu_mode_send_and_concatenated_reassembly(r: Rig) -> None:
    text = "x" * 200 + " the end"
    parts = make_submits(PHONE, text, concat_ref=7)
    assert len(parts) == 2
    for part in parts:
        enc = encode_submit(part)
        assert r.at(f"AT+CMGS={enc.tpdu_length}") == "\r\n> "
        assert r.send(enc.hex.encode() + b"\x1a").startswith("\r\n+CMGS: ")
    assert len(r.modem.outbox) == 1
    sent = r.modem.outbox[0]
    assert (sent.to, sent.text, sent.parts) == (PHONE, text, 2)


def test_pdu_mode_bad_pdu_is_rejected(r: Rig) -> None:
    enc = encode_submit(SmsSubmit(PHONE, "hi"))
    r.at(f"AT+CMGS={enc.tpdu_length + 1}")
    assert r.send(enc.hex.encode() + b"\x1a") == "\r\n+CMS ERROR: 304\r\n"
    r.at("AT+CMGS=20")
    assert r.send(b"ZZZZ\x1a") == "\r\n+CMS ERROR: 304\r\n"
    assert r.modem.outbox == []


def test_incoming_stored_cmti_text_mode_read_list_delete(r: Rig) -> None:
    r.at("AT+CMGF=1")
    r.modem.inject_sms(PHONE, "STAT")
    assert r.run(0.01) == '\r\n+CMTI: "SM",1\r\n'
    out = r.at("AT+CMGR=1")
    assert out.startswith(f'\r\n+CMGR: "REC UNREAD","{PHONE}","","26/01/01,00:00:00+00"\r\nSTAT\r\n')
    assert '"REC READ"' in r.at('AT+CMGL="ALL"')
    assert r.at('AT+CMGL="REC UNREAD"') == "\r\nOK\r\n"
    assert r.at("AT+CPMS?") == '\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n\r\nOK\r\n'
    r.at("AT+CMGD=1")
    assert r.at("AT+CMGR=1") == "\r\nOK\r\n"
    assert r.at("AT+CMGR=99") == "\r\n+CMS ERROR: 321\r\n"


def test_sm_and_me_are_separate_stores(r: Rig) -> None:
    r.modem.inject_sms(PHONE, "to sim")
    r.run(0.01)
    assert r.at('AT+CPMS="ME","ME","ME"') == "\r\n+CPMS: 0,50,0,50,0,50\r\n\r\nOK\r\n"
    r.modem.inject_sms(PHONE, "to flash")
    assert r.run(0.01) == '\r\n+CMTI: "ME",1\r\n'
    r.at("AT+CMGF=1")
    assert "to flash" in r.at('AT+CMGL="ALL"') and "to sim" not in r.at('AT+CMGL="ALL"')
    r.at('AT+CPMS="SM"')
    listing = r.at('AT+CMGL="ALL"')
    assert "to sim" in listing and "to flash" not in listing


def test_incoming_pdu_mode_cmgl_decodes(r: Rig) -> None:
    r.modem.inject_sms(PHONE, "Grüße")
    r.run(0.01)
    lines = r.at("AT+CMGL=4").split("\r\n")
    assert lines[1] == "+CMGL: 1,0,," + lines[1].rsplit(",", 1)[1]
    msg = decode_deliver(lines[2])
    assert (msg.originator, msg.text) == (PHONE, "Grüße")
    assert r.at("AT+CMGL=1").count("+CMGL:") == 1  # now read


def test_direct_delivery_cmt_text_and_pdu(r: Rig) -> None:
    r.at("AT+CMGF=1;+CNMI=2,2,0,0,0")
    r.modem.inject_sms(PHONE, "LOCK")
    assert r.run(0.01) == f'\r\n+CMT: "{PHONE}","","26/01/01,00:00:00+00"\r\nLOCK\r\n'
    r.at("AT+CSDH=1")
    r.modem.inject_sms(PHONE, "UNLOCK")
    assert r.run(0.01).startswith(
        f'\r\n+CMT: "{PHONE}","","26/01/01,00:00:00+00",145,4,0,0,"+447700900000",145,6\r\n'
    )
    r.at("AT+CMGF=0")
    r.modem.inject_sms(PHONE, "PDU")
    out = r.run(0.01).split("\r\n")
    assert out[1].startswith("+CMT: ,")
    assert decode_deliver(out[2]).text == "PDU"
    assert r.at("AT+CPMS?").startswith('\r\n+CPMS: "SM",0,')


def test_long_incoming_text_arrives_as_concatenated_parts(r: Rig) -> None:
    text = "long message " * 30
    r.modem.inject_sms(PHONE, text)
    assert r.run(0.01) == '\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n\r\n+CMTI: "SM",3\r\n'
    lines = r.at("AT+CMGL=4").split("\r\n")
    parts = [decode_deliver(line) for line in lines if line and line[0].isdigit()]
    assert [p.concat.seq for p in parts] == [1, 2, 3]
    assert "".join(p.text for p in parts) == text


def test_modem_to_modem_through_the_shared_smsc() -> None:
    a = Rig(number="+447700900001")
    b = Rig(number="+447700900002", network=a.net, loop=a.loop)
    a.at("ATE0;+CMGF=1")
    b.take()
    a.at('AT+CMGS="+447700900002"')
    a.send(b"ping\x1a")
    assert b.run(0.01) == '\r\n+CMTI: "SM",1\r\n'
    assert a.net.smsc.sent_to("+447700900002")[0].text == "ping"


def test_smsc_down_and_no_coverage_errors(r: Rig) -> None:
    r.at("AT+CMGF=1")
    r.modem.fault("smsc-down")
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"x\x1a") == "\r\n+CMS ERROR: 332\r\n"
    r.modem.clear_faults()
    r.modem.fault("no-coverage")
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"x\x1a") == "\r\n+CMS ERROR: 331\r\n"
    assert r.modem.outbox == []


def test_no_coverage_holds_incoming_sms_until_registered(r: Rig) -> None:
    r.modem.fault("no-coverage", 30)
    r.modem.inject_sms(PHONE, "later")
    assert r.run(10) == ""
    assert r.run(30) == '\r\n+CMTI: "SM",1\r\n'


def test_sms_delay(r: Rig) -> None:
    r.modem.fault("sms-delay")
    r.modem.inject_sms(PHONE, "slow")
    assert r.run(30) == ""
    assert r.run(60) == '\r\n+CMTI: "SM",1\r\n'


def test_cmgs_prompt_with_no_sim(r: Rig) -> None:
    r.modem.fault("no-sim")
    r.run(0.01)  # +CPIN: NOT INSERTED
    assert r.at(f'AT+CMGS="{PHONE}"') == "\r\n+CMS ERROR: 310\r\n"


def test_csca_and_cpms_probe(r: Rig) -> None:
    assert r.at("AT+CSCA?") == '\r\n+CSCA: "+447700900000",145\r\n\r\nOK\r\n'
    assert r.at("AT+CPMS=?") == '\r\n+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")\r\n\r\nOK\r\n'
    assert r.at('AT+CPMS="XX"') == "\r\n+CMS ERROR: 302\r\n"


def test_network_unknown_number_is_dropped() -> None:
    net = VirtualNetwork(Rig().loop)
    assert net.smsc.deliver(PHONE, "+440000", "nobody") is False


def test_text_mode_limits_and_status_report(r: Rig) -> None:
    r.at("AT+CMGF=1")
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"x" * 161 + b"\x1a") == "\r\n+CMS ERROR: 305\r\n"
    r.at("AT+CSMP=49,167,0,0;+CNMI=2,1,0,1,0")
    r.at(f'AT+CMGS="{PHONE}"')
    assert r.send(b"x" * 160 + b"\x1a") == "\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert r.run(5) == f'\r\n+CDS: 6,1,"{PHONE}",145,"26/01/01,00:00:01+00","26/01/01,00:00:01+00",0\r\n'
