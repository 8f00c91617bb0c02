"""Pure parsers and builders of `modem.driver.commands`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.driver import commands as C
from modem.driver.at_channel import CTRL_Z
from modem.driver.commands import ParseError, Registration


def test_csq_to_dbm_table():
    assert C.csq_to_dbm(0) == -113
    assert C.csq_to_dbm(1) == -111
    assert C.csq_to_dbm(2) == -109
    assert C.csq_to_dbm(30) == -53
    assert C.csq_to_dbm(31) == -51
    assert C.csq_to_dbm(99) is None
    assert C.csq_to_dbm(45) is None


def test_creg_variants():
    assert C.parse_creg(("+CREG: 0,1",)) == Registration(1)
    assert C.parse_creg(('+CREG: 2,5,"00A1","1B2C"',)).roaming
    assert not C.parse_creg(("+CREG: 1,3",)).registered
    assert C.parse_creg(("+CGREG: 0,1",), "+CGREG:").registered
    with pytest.raises(ParseError):
        C.parse_creg(("+CREG: 1",))
    with pytest.raises(ParseError):
        C.parse_creg(("+CSQ: 1,2",))


def test_cops_and_time():
    assert C.parse_cops(("+COPS: 0",)).name is None
    assert C.parse_cops(('+COPS: 0,0,"Vodafone, UK"',)).name == "Vodafone, UK"
    t = C.parse_cclk(('+CCLK: "24/12/31,23:59:59-20"',))
    assert t == datetime(2024, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(ParseError):
        C.parse_cclk(('+CCLK: "24/13/31,23:59:59+00"',))


def test_split_fields_respects_quotes():
    assert C.split_fields('"+44",,"24/05/01,10:00:00+04",145') == ["+44", "", "24/05/01,10:00:00+04", "145"]


def test_text_headers():
    h = C.parse_cmt_text_header('+CMT: "+4917","","24/05/01,10:00:00+08",145,4,0,0,"+49",145,5')
    assert h.sender == "+4917" and h.time.utcoffset() == timedelta(hours=2)
    h = C.parse_cmgl_text_header('+CMGL: 3,"REC READ","+4917","","24/05/01,10:00:00+08"')
    assert (h.index, h.status, h.sender) == (3, "REC READ", "+4917")
    assert C.is_pdu_cmt("+CMT: ,24") and C.is_pdu_cmt('+CMT: "alpha",24')
    assert not C.is_pdu_cmt('+CMT: "+4917","","24/05/01,10:00:00+08"')
    assert C.is_pdu_cmgr("+CMGR: 0,,24") and not C.is_pdu_cmgr('+CMGR: "REC UNREAD","+1","",""')


def test_builders():
    assert C.cipsend(b"abc").text == "AT+CIPSEND=3"
    assert C.cipsend(b"abc", fixed_length=False).terminator == CTRL_Z
    with pytest.raises(ValueError):
        C.cipsend(b"a\x1a", fixed_length=False)
    with pytest.raises(ValueError):
        C.cstt('in"ternet')
    with pytest.raises(ValueError):
        C.cipstart("host", 0)
    assert C.cipstart("127.0.0.1", 6867).text == 'AT+CIPSTART="TCP","127.0.0.1",6867'


PARSERS = [C.parse_csq, C.parse_cops, C.parse_cclk, C.parse_cpin, C.parse_csmins, C.parse_creg,
           C.parse_identity]
LINE_PARSERS = [C.parse_cmt_text_header, C.parse_cmgr_text_header, C.parse_cmgl_text_header,
                C.parse_cmgl_pdu_index, C.parse_state, C.parse_sim_time]
PREFIXES = ["+CSQ: ", "+COPS: ", "+CCLK: ", "+CPIN: ", "+CSMINS: ", "+CREG: ", "+CMT: ", "+CMGR: ",
            "+CMGL: ", "STATE: ", ""]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PREFIXES), st.text(max_size=60))
def test_parsers_raise_only_parse_error(prefix, rest):
    line = prefix + rest
    for parse in PARSERS:
        try:
            parse((line,))
        except ParseError:
            pass
    for parse in LINE_PARSERS:
        try:
            parse(line)
        except ParseError:
            pass
    C.is_pdu_cmt(line)
    C.is_pdu_cmgr(line)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 99), st.integers(0, 99))
def test_csq_round_trip(rssi, ber):
    s = C.parse_csq((f"+CSQ: {rssi},{ber}",))
    assert (s.rssi, s.ber) == (rssi, ber)
    assert s.dbm is None or -113 <= s.dbm <= -51
