"""Command groups of sim800-at.md §2: identity, SIM, network, charset, CFUN, harmless."""

from __future__ import annotations

import pytest

from tests.emulator.rig import Rig


@pytest.fixture
def r() -> Rig:
    rig = Rig(imei="867856031234567")
    rig.at("ATE0")
    return rig


def test_identity(r: Rig) -> None:
    assert r.at("AT+CGMI") == "\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"
    assert r.at("AT+CGMM") == "\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
    assert r.at("AT+CGMR") == "\r\nRevision:1418B04SIM800C24\r\n\r\nOK\r\n"
    assert r.at("AT+CGSN") == "\r\n867856031234567\r\n\r\nOK\r\n"
    assert r.at("AT+CIMI").split("\r\n")[1].isdigit()
    ccid = r.at("AT+CCID").split("\r\n")[1]
    assert ccid.isdigit() and len(ccid) == 20
    assert r.at("ATI") == "\r\nSIM800 R14.18\r\n\r\nOK\r\n"


def test_sim_states(r: Rig) -> None:
    assert r.at("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert r.at("AT+CSMINS?") == "\r\n+CSMINS: 0,1\r\n\r\nOK\r\n"
    r.modem.fault("no-sim")
    r.run(0.01)  # +CPIN: NOT INSERTED
    assert r.at("AT+CSMINS?") == "\r\n+CSMINS: 0,0\r\n\r\nOK\r\n"
    assert r.at("AT+CREG?") == "\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    r.at("AT+CMEE=1")
    assert r.at("AT+CIMI") == "\r\n+CME ERROR: 10\r\n"


def test_sim_pin(r: Rig) -> None:
    r.modem.fault("sim-pin")
    r.modem.fault("reboot")
    r.run(1)
    r.at("ATE0;+CMEE=1")
    assert r.at("AT+CPIN?") == "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert r.at('AT+CPIN="0000"') == "\r\n+CME ERROR: 16\r\n"
    out = r.at('AT+CPIN="1234"', wait=1)
    assert out.startswith("\r\nOK\r\n\r\n+CPIN: READY\r\n")
    assert "SMS Ready" in out
    assert r.at("AT+CREG?") == "\r\n+CREG: 0,1\r\n\r\nOK\r\n"


def test_creg_urcs_and_modes(r: Rig) -> None:
    r.at("AT+CREG=1")
    assert r.at("AT+CREG?") == "\r\n+CREG: 1,1\r\n\r\nOK\r\n"
    r.modem.fault("no-coverage", 60)
    assert r.run(0.01) == "\r\n+CREG: 2\r\n"
    assert r.at("AT+CSQ") == "\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert r.at("AT+COPS?") == "\r\n+COPS: 0\r\n\r\nOK\r\n"
    assert r.run(61) == "\r\n+CREG: 1\r\n"
    r.at("AT+CREG=2")
    assert r.at("AT+CREG?") == '\r\n+CREG: 2,1,"1A2B","00C3"\r\n\r\nOK\r\n'


def test_registration_denied_and_roaming(r: Rig) -> None:
    r.modem.fault("registration-denied")
    assert r.at("AT+CREG?") == "\r\n+CREG: 0,3\r\n\r\nOK\r\n"
    r.modem.clear_faults()
    r.modem.fault("roaming")
    r.run(1)
    assert r.at("AT+CREG?") == "\r\n+CREG: 0,5\r\n\r\nOK\r\n"


def test_weak_signal(r: Rig) -> None:
    strong = int(r.at("AT+CSQ").split(": ")[1].split(",")[0])
    assert 10 <= strong <= 31
    r.modem.fault("weak-signal")
    weak = int(r.at("AT+CSQ").split(": ")[1].split(",")[0])
    assert 2 <= weak <= 7


def test_cops_format(r: Rig) -> None:
    assert r.at("AT+COPS?") == '\r\n+COPS: 0,0,"VMODEM TEST"\r\n\r\nOK\r\n'
    r.at("AT+COPS=3,2")
    assert r.at("AT+COPS?") == '\r\n+COPS: 0,2,"00101"\r\n\r\nOK\r\n'
    r.at("AT+COPS=0,1")
    assert r.at("AT+COPS?") == '\r\n+COPS: 0,1,"VMODEM"\r\n\r\nOK\r\n'
    assert '(2,"VMODEM TEST","VMODEM","00101")' in r.at("AT+COPS=?")


def test_cscs_is_stateful(r: Rig) -> None:
    assert r.at("AT+CSCS?") == '\r\n+CSCS: "IRA"\r\n\r\nOK\r\n'
    assert '"UCS2"' in r.at("AT+CSCS=?")
    r.at('AT+CSCS="UCS2"')
    assert r.at("AT+CSCS?") == '\r\n+CSCS: "UCS2"\r\n\r\nOK\r\n'
    assert r.at('AT+CSCS="KLINGON"') == "\r\nERROR\r\n"


def test_cfun_flight_mode_and_reset(r: Rig) -> None:
    r.at("AT+CREG=1")
    assert r.at("AT+CFUN=4") == "\r\nOK\r\n\r\n+CREG: 0\r\n"
    assert r.at("AT+CFUN?") == "\r\n+CFUN: 4\r\n\r\nOK\r\n"
    assert r.at("AT+CFUN=1") + r.run(1) == "\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CREG: 1\r\n"
    out = r.at("AT+CFUN=1,1", wait=1)
    assert out.startswith("\r\nOK\r\n\r\nRDY\r\n")
    assert r.at("AT") == "AT\r\r\nOK\r\n"  # echo back on: the reset lost ATE0


def test_cfun_1_at_full_functionality_is_a_no_op() -> None:
    """gammu's init sends AT+CFUN=1: a registered SIM800 answers OK and stays registered."""
    r = Rig(profile="realistic")
    r.at("ATE0;+CREG=1", wait=0.5)
    assert r.at("AT+CREG?", wait=0.5) == "\r\n+CREG: 1,1\r\n\r\nOK\r\n"
    assert r.at("AT+CFUN=1", wait=0.5) == "\r\nOK\r\n"
    assert r.at("AT+CREG?", wait=0.5) == "\r\n+CREG: 1,1\r\n\r\nOK\r\n"
    assert r.run(60) == ""  # no +CREG: 2 / +CREG: 1 round trip


def test_atz_resets_settings(r: Rig) -> None:
    r.at("AT+CMGF=1")
    r.at("ATZ")
    assert r.at("AT") == "AT\r\r\nOK\r\n"
    assert r.at("AT+CMGF?").endswith("+CMGF: 0\r\n\r\nOK\r\n")


def test_harmless_and_misc(r: Rig) -> None:
    for line in (
        "AT+CLIP=1",
        "AT+CRC=1",
        "AT+CVHU=0",
        "AT+CCWA=0",
        "ATH",
        "AT&F",
        "AT+IPR=115200",
        "AT+CLTS=1",
    ):
        assert r.at(line).endswith("\r\nOK\r\n"), line
    r.at("ATE0")
    assert r.at("AT+CCLK?") == '\r\n+CCLK: "26/01/01,00:00:00+00"\r\n\r\nOK\r\n'
    assert "AT+CMGS" in r.at("AT+CLAC")


def test_cgatt_and_cgreg(r: Rig) -> None:
    assert r.at("AT+CGATT?") == "\r\n+CGATT: 1\r\n\r\nOK\r\n"
    r.at("AT+CGREG=1")
    r.modem.fault("gprs-down")
    assert r.run(0.01) == "\r\n+CGREG: 0\r\n"
    r.at("AT+CMEE=1")
    assert r.at("AT+CGATT=1") == "\r\n+CME ERROR: 148\r\n"
    assert r.at("AT+CGATT?") == "\r\n+CGATT: 0\r\n\r\nOK\r\n"


def test_incoming_call_rings_with_clip(r: Rig) -> None:
    r.at("AT+CLIP=1")
    r.modem.ring("+447700900123", rings=2)
    out = r.run(10)
    assert out.count("\r\nRING\r\n") == 2
    assert '+CLIP: "+447700900123",145,"",0,"",0' in out
    assert out.endswith("\r\nNO CARRIER\r\n")


def test_cpowd_normal_power_down(r: Rig) -> None:
    assert r.at("AT+CPOWD=1") == "\r\nNORMAL POWER DOWN\r\n"
    assert not r.modem.powered
    assert r.at("AT") == ""


# Manual V1.09 answers for the commands clients probe: (command, exact answer after ATE0).
MISC = [
    ("AT+CBC", "\r\n+CBC: 0,85,4100\r\n\r\nOK\r\n"),
    ("AT+CBC=?", "\r\n+CBC: (0-2),(1-100),(voltage)\r\n\r\nOK\r\n"),
    ("AT+CADC?", "\r\n+CADC: 1,1650\r\n\r\nOK\r\n"),
    ("AT+CADC=?", "\r\n+CADC: (0,1),(0-2800)\r\n\r\nOK\r\n"),
    ("AT+CBATCHK=?", "\r\n+CBATCHK: (0,1)\r\n\r\nOK\r\n"),
    ("AT+CBATCHK?", "\r\n+CBATCHK: 0\r\n\r\nOK\r\n"),
    ("AT+CSCLK=?", "\r\n+CSCLK: (0-2)\r\n\r\nOK\r\n"),
    ("AT+CNETLIGHT?", "\r\n+CNETLIGHT: 1\r\n\r\nOK\r\n"),
    ("AT+GSV", "\r\nSIMCOM_Ltd\r\nSIMCOM_SIM800\r\nRevision:1418B04SIM800C24\r\n\r\nOK\r\n"),
    ("AT+GOI", "\r\nSIM800\r\n\r\nOK\r\n"),
    ("AT+ICF?", "\r\n+ICF: 3,3\r\n\r\nOK\r\n"),
    ("AT+IFC?", "\r\n+IFC: 0,0\r\n\r\nOK\r\n"),
    ("AT+CPAS", "\r\n+CPAS: 0\r\n\r\nOK\r\n"),
    ("AT+CEER", "\r\n+CEER: No Cause\r\n\r\nOK\r\n"),
    ("AT+CLCC", "\r\nOK\r\n"),
    ('AT+CLCK="SC",2', "\r\n+CLCK: 0\r\n\r\nOK\r\n"),
    ('AT+CLCK="SC",1,"0000"', "\r\n+CME ERROR: 16\r\n"),
    ("AT+CLIR?", "\r\n+CLIR: 0,2\r\n\r\nOK\r\n"),
    ("AT+CSSN?", "\r\n+CSSN: 0,0\r\n\r\nOK\r\n"),
    ("AT+CCALR?", "\r\n+CCALR: 1\r\n\r\nOK\r\n"),
    ("AT+CPOL?", "\r\nOK\r\n"),
    ("AT+CPOL=?", "\r\n+CPOL: (1-50),(0-2)\r\n\r\nOK\r\n"),
    ("AT+COPN", '\r\n+COPN: "00101","VMODEM TEST"\r\n\r\nOK\r\n'),
    ("AT+CSPN?", '\r\n+CSPN: "VMODEM",0\r\n\r\nOK\r\n'),
    ("AT+CROAMING", "\r\n+CROAMING: 0\r\n\r\nOK\r\n"),
    ("AT+CBAND?", '\r\n+CBAND: "ALL_BAND"\r\n\r\nOK\r\n'),
    ('AT+CBAND="MARS_BAND"', "\r\nERROR\r\n"),
    ("AT+CSCB?", '\r\n+CSCB: 0,"",""\r\n\r\nOK\r\n'),
    ("AT+CSAS", "\r\nOK\r\n"),
    ("ATS6?", "\r\n002\r\n\r\nOK\r\n"),
    ("AT+CMEE=?", "\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"),
    ("AT+IPR?", "\r\n+IPR: 115200\r\n\r\nOK\r\n"),
    ("AT&W", "\r\nOK\r\n"),
    ("AT+CCID", "\r\n89001018560312345670\r\n\r\nOK\r\n"),
    ("AT+CMUX=1", "\r\nERROR\r\n"),  # 07.10 advanced option: not on a SIM800 (basic only; tests/cmux)
    ("AT+GCAP", "\r\n+GCAP: +CGSM\r\n\r\nOK\r\n"),
    ("AT+GMI", "\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"),
    ("AT+GMM", "\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"),
    ("ATV0", "\r\nERROR\r\n"),  # numeric result codes: refused (coverage table)
    ("ATD+447700900123;", "\r\nNO CARRIER\r\n"),
    ("AT+CSMS?", "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"),
    ("AT+CNUM", '\r\n+CNUM: "","+447700900999",145\r\n\r\nOK\r\n'),
]


@pytest.mark.parametrize(("line", "answer"), MISC)
def test_misc_commands_answer_as_the_manual_says(r: Rig, line: str, answer: str) -> None:
    r.at("AT+CMEE=1")
    assert r.at(line) == answer


def test_stored_settings_are_kept_until_reset(r: Rig) -> None:
    for line in ("AT+CSCLK=2", "AT+CNETLIGHT=0", "AT+CBATCHK=1"):
        assert r.at(line) == "\r\nOK\r\n"
    assert r.at("AT+CSCLK?;+CNETLIGHT?;+CBATCHK?") == (
        "\r\n+CSCLK: 2\r\n\r\n+CNETLIGHT: 0\r\n\r\n+CBATCHK: 1\r\n\r\nOK\r\n"
    )
    assert r.at("AT+CSCLK=3") == "\r\nERROR\r\n"
    r.at("ATZ;E0")
    assert r.at("AT+CSCLK?") == "\r\n+CSCLK: 0\r\n\r\nOK\r\n"


def test_engineering_mode_shows_the_serving_cell(r: Rig) -> None:
    assert r.at("AT+CENG?") == "\r\n+CENG: 0,0\r\n\r\nOK\r\n"
    r.at("AT+CENG=1")
    lines = r.at("AT+CENG?").split("\r\n")
    assert lines[1] == "+CENG: 1,0" and lines[2].startswith('+CENG: 0,"') and ",001,01," in lines[2]


def test_profile_and_call_list_while_ringing(r: Rig) -> None:
    assert "\r\nE: 0\r\n" in r.at("AT&V") and "+CMGF: 0" in r.at("AT&V")
    r.modem.ring("+447700900123", rings=1)
    r.run(0.01)
    assert r.at("AT+CLCC") == '\r\n+CLCC: 1,1,4,0,0,"+447700900123",145,""\r\n\r\nOK\r\n'
    assert r.at("AT+CPAS") == "\r\n+CPAS: 3\r\n\r\nOK\r\n"


def test_cclk_can_be_set_and_keeps_running(r: Rig) -> None:
    assert r.at("AT+CCLK?") == '\r\n+CCLK: "26/01/01,00:00:00+00"\r\n\r\nOK\r\n'
    assert r.at('AT+CCLK="24/05/01,14:30:00+08"') == "\r\nOK\r\n"  # local time, UTC+2
    r.run(10)
    assert r.at("AT+CCLK?") == '\r\n+CCLK: "24/05/01,14:30:10+08"\r\n\r\nOK\r\n'
    assert r.at('AT+CCLK="24/13/01,14:30:00+08"') == "\r\nERROR\r\n"
    assert r.at('AT+CCLK="tomorrow"') == "\r\nERROR\r\n"


def test_ussd_request_gets_the_networks_answer(r: Rig) -> None:
    out = r.at('AT+CUSD=1,"*100#",15')
    assert out == '\r\nOK\r\n\r\n+CUSD: 0,"VMODEM: balance 10.00, valid until 31/12",15\r\n'
    assert r.at("AT+CUSD?") == "\r\n+CUSD: 1\r\n\r\nOK\r\n"
    r.modem.fault("no-coverage")
    r.at("AT+CMEE=1")
    assert r.at('AT+CUSD=1,"*100#"') == "\r\n+CME ERROR: 30\r\n"
