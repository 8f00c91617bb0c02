"""The `sim7600` dialect, byte-exact on the virtual clock: boot, identity, LTE/GSM registration,
the NETOPEN/CIPOPEN stack, GNSS, SMS and the LTE faults (SIM7500/SIM7600 Series AT Command Manual)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from modem.emulator import VirtualModem, VirtualNetwork
from modem.emulator.events import SmsOut, TcpClose, TcpConnect, TcpSend
from modem.emulator.faults import UnknownFault
from modem.emulator.interpreter import Interpreter
from modem.emulator.weather import Weather
from modem.sms import SmsDeliver
from runtime import VirtualLoop

STAMP = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def run(m: Interpreter, line: str | bytes, wait: float = 0.0) -> bytes:
    m.take_output()
    m.receive(line.encode() + b"\r" if isinstance(line, str) else line, m.now)
    m.tick(m.now + wait)
    return m.take_output()


def later(m: Interpreter, seconds: float) -> bytes:
    m.tick(m.now + seconds)
    return m.take_output()


def lte(**kw: object) -> Interpreter:
    m = Interpreter(dialect="sim7600", **kw)  # type: ignore[arg-type]
    m.tick(1.0)
    run(m, "ATE0")
    return m


def online(m: Interpreter, link: int = 0) -> int:
    """NETOPEN and a connected link; returns the link's connection number."""
    if not m.net_open:
        assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"
    assert run(m, f'AT+CIPOPEN={link},"TCP","127.0.0.1",7000') == b"\r\nOK\r\n"
    (act,) = m.take_actions()
    assert isinstance(act, TcpConnect) and (act.host, act.port) == ("127.0.0.1", 7000)
    m.tcp_connected(act.conn_id, True, None, m.now)
    m.tick(m.now)
    assert m.take_output() == f"\r\n+CIPOPEN: {link},0\r\n".encode()
    return act.conn_id


# ------------------------------------------------------------------ boot, identity, power
def test_boot_urcs_without_call_ready() -> None:
    m = Interpreter(dialect="sim7600", powered=False)
    m.power_key(0.0)
    assert later(m, 1.0) == b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"


def test_identity() -> None:
    m = lte(imei="867856030000042")
    assert run(m, "ATI") == (
        b"\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600E-H\r\nRevision: LE20B04SIM7600M22\r\n"
        b"IMEI: 867856030000042\r\n+GCAP: +CGSM,+FCLASS,+DS\r\n\r\nOK\r\n"
    )
    assert run(m, "AT+CGMI") == b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"
    assert run(m, "AT+CGMM") == b"\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n"
    assert run(m, "AT+CGMR") == b"\r\n+CGMR: LE20B04SIM7600M22\r\n\r\nOK\r\n"
    assert run(m, "AT+CGSN") == b"\r\n867856030000042\r\n\r\nOK\r\n"
    assert run(m, "AT+CSUB") == b"\r\n+CSUB: B04V03\r\n+CSUB: MDM9x07_LE20_S_22_V1.03_210527\r\n\r\nOK\r\n"
    assert run(m, "AT+CICCID") == f"\r\n+ICCID: {m.iccid}\r\n\r\nOK\r\n".encode()


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("AT+CBC", b"\r\n+CBC: 4.100V\r\n\r\nOK\r\n"),
        ("AT+CPMUTEMP", b"\r\n+CPMUTEMP: 35\r\n\r\nOK\r\n"),
        ("AT+CTZU=1;+CTZU?", b"\r\n+CTZU: 1\r\n\r\nOK\r\n"),
        ("AT+CTZU=2", b"\r\nERROR\r\n"),
        ("AT+CGPSAUTO?", b"\r\n+CGPSAUTO: 0\r\n\r\nOK\r\n"),
        ("AT+CGPSNMEA=?", b"\r\n+CGPSNMEA: (0-511)\r\n\r\nOK\r\n"),
        ("AT+CSQ=?", b"\r\n+CSQ: (0-31,99),(0-7,99)\r\n\r\nOK\r\n"),
    ],
)
def test_misc_commands_answer_as_the_manual_says(line: str, answer: bytes) -> None:
    assert run(lte(), line) == answer


def test_csq_ber_not_known() -> None:
    m = lte()
    assert run(m, "AT+CSQ").endswith(b",99\r\n\r\nOK\r\n")


@pytest.mark.parametrize(
    "line", ['AT+CIPSTART="TCP","127.0.0.1",1', "AT+CIPMUX=1", "AT+CIICR", "AT+SAPBR=2,1", "AT+CGNSPWR=1",
             "AT+HTTPINIT", "AT+CPOWD=1", "AT+CIPSHUT"],
)  # fmt: skip
def test_sim800_only_commands_are_refused(line: str) -> None:
    assert run(lte(), line) == b"\r\nERROR\r\n"


def test_creset_reboots_and_cpof_powers_off() -> None:
    m = lte()
    assert (
        run(m, "AT+CRESET", wait=1.0)
        == b"\r\nOK\r\n\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    )
    assert m.boots == 2
    assert run(m, "AT+CPOF", wait=1.0) == b"AT+CPOF\r\r\nOK\r\n"  # echo is on again after the reset
    assert not m.powered
    assert run(m, "AT") == b""
    m.power_key(m.now)
    assert later(m, 1.0).startswith(b"\r\nRDY\r\n")


# ------------------------------------------------------------------ registration on LTE and GSM
LTE_CPSI = b"+CPSI: LTE,Online,001-01,0x1A2B,27447299,293,EUTRAN-BAND3,1300,5,5,-94,"


def test_registered_on_lte() -> None:
    m = lte()
    assert run(m, "AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert run(m, "AT+CGREG?") == b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"
    assert run(m, "AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"
    run(m, "AT+CEREG=2")
    assert run(m, "AT+CEREG?") == b'\r\n+CEREG: 2,1,"1A2B","01A2D003",7\r\n\r\nOK\r\n'
    assert run(m, "AT+CEREG=?") == b"\r\n+CEREG: (0-2)\r\n\r\nOK\r\n"
    assert run(m, "AT+CPSI?").startswith(b"\r\n" + LTE_CPSI)
    assert run(m, "AT+CNSMOD?") == b"\r\n+CNSMOD: 0,8\r\n\r\nOK\r\n"
    assert run(m, "AT+CNMP?") == b"\r\n+CNMP: 2\r\n\r\nOK\r\n"
    assert run(m, "AT+COPS?") == b'\r\n+COPS: 0,0,"VMODEM TEST",7\r\n\r\nOK\r\n'
    assert run(m, "AT+CNMP=99") == b"\r\nERROR\r\n"


def test_cnmp_gsm_only_and_lte_only() -> None:
    m = lte()
    run(m, "AT+CEREG=1")
    run(m, "AT+CREG=1")
    assert (
        run(m, "AT+CNMP=13")
        == b"\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CEREG: 2\r\n\r\n+CREG: 1\r\n\r\n+CEREG: 0\r\n"
    )
    assert run(m, "AT+CNMP?") == b"\r\n+CNMP: 13\r\n\r\nOK\r\n"
    rssi = m.rssi()[0]  # the RNG moves it by one either way: read what the modem holds
    line = run(m, "AT+CPSI?")
    assert line.startswith(b"\r\n+CPSI: GSM,Online,001-01,0x1a2b,195,26 EGSM 900,-"), line
    assert run(m, "AT+CNSMOD?") == b"\r\n+CNSMOD: 0,1\r\n\r\nOK\r\n"
    assert run(m, "AT+COPS?") == b'\r\n+COPS: 0,0,"VMODEM TEST",0\r\n\r\nOK\r\n'
    assert 0 < rssi < 32
    assert (
        run(m, "AT+CNMP=38")
        == b"\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CEREG: 2\r\n\r\n+CREG: 1\r\n\r\n+CEREG: 1\r\n"
    )
    assert run(m, "AT+CNSMOD?") == b"\r\n+CNSMOD: 0,8\r\n\r\nOK\r\n"


def test_no_service_when_not_registered() -> None:
    m = lte()
    m.fault("no-coverage", None, m.now)
    assert run(m, "AT+CPSI?") == b"\r\n+CPSI: NO SERVICE,Online\r\n\r\nOK\r\n"
    assert run(m, "AT+CNSMOD?") == b"\r\n+CNSMOD: 0,0\r\n\r\nOK\r\n"
    assert run(m, "AT+CFUN=0") == b"\r\nOK\r\n"
    assert run(m, "AT+CPSI?") == b"\r\n+CPSI: NO SERVICE,Low Power Mode\r\n\r\nOK\r\n"


def test_cpsi_reported_periodically() -> None:
    m = lte()
    assert run(m, "AT+CPSI=5") == b"\r\nOK\r\n"
    assert later(m, 4.0) == b""
    assert later(m, 1.0).startswith(b"\r\n" + LTE_CPSI)
    run(m, "AT+CPSI=0")
    assert later(m, 20.0) == b""


# ------------------------------------------------------------------ the IP stack
def test_netopen_ipaddr_and_netclose() -> None:
    m = lte()
    assert run(m, "AT+NETOPEN?") == b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n"
    assert run(m, "AT+IPADDR") == b"\r\n+IP ERROR: Network not opened\r\n\r\nERROR\r\n"
    assert (
        run(m, 'AT+CIPOPEN=0,"TCP","127.0.0.1",7000') == b"\r\n+IP ERROR: Network not opened\r\n\r\nERROR\r\n"
    )
    assert run(m, "AT+NETCLOSE") == b"\r\n+NETCLOSE: 2\r\n\r\nERROR\r\n"
    for line in (
        'AT+CGDCONT=1,"IP","internet"',
        "AT+CSOCKSETPN=1",
        "AT+CIPMODE=0",
        "AT+CIPCCFG=10,0,0,0,1,0,75000",
    ):
        assert run(m, line) == b"\r\nOK\r\n", line
    assert run(m, "AT+CIPMODE=1") == b"\r\nERROR\r\n"  # transparent mode is not emulated
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"
    assert run(m, "AT+NETOPEN?") == b"\r\n+NETOPEN: 1\r\n\r\nOK\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\n+IP ERROR: Network is already opened\r\n\r\nERROR\r\n"
    assert run(m, "AT+IPADDR") == f"\r\n+IPADDR: {m.local_ip}\r\n\r\nOK\r\n".encode()
    sock = online(m, 3)
    assert run(m, "AT+NETCLOSE") == b"\r\nOK\r\n\r\n+NETCLOSE: 0\r\n"
    assert m.take_actions() == [TcpClose(sock)]
    assert run(m, "AT+NETOPEN?") == b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n"


def test_cgact_follows_netopen_and_deactivating_closes_the_network() -> None:
    m = lte()
    assert run(m, "AT+CGACT?") == b"\r\n+CGACT: 1,0\r\n\r\nOK\r\n"
    sock = online(m, 0)
    assert run(m, "AT+CGACT?") == b"\r\n+CGACT: 1,1\r\n\r\nOK\r\n"
    assert m.status()["net_open"] is True
    assert run(m, "AT+CGACT=0,1") == b"\r\nOK\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n"
    assert m.take_actions() == [TcpClose(sock)]
    assert run(m, "AT+NETOPEN?") == b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n"
    assert run(m, "AT+CGACT?") == b"\r\n+CGACT: 1,0\r\n\r\nOK\r\n"


def test_netopen_fails_without_packet_service() -> None:
    m = lte()
    m.fault("gprs-down", None, m.now)
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 1\r\n"


def test_two_links_send_and_receive_pushed() -> None:
    m = lte()
    a = online(m, 0)
    b = online(m, 9)
    assert run(m, 'AT+CIPOPEN=0,"TCP","127.0.0.1",7000') == b"\r\n+CIPOPEN: 0,4\r\n\r\nERROR\r\n"
    assert run(m, 'AT+CIPOPEN=10,"TCP","127.0.0.1",7000') == b"\r\nERROR\r\n"
    assert run(m, 'AT+CIPOPEN=1,"UDP","127.0.0.1",7000') == b"\r\n+CIPOPEN: 1,4\r\n\r\nERROR\r\n"
    rows = run(m, "AT+CIPOPEN?")
    assert rows.startswith(b'\r\n+CIPOPEN: 0,"TCP","127.0.0.1",7000,-1\r\n+CIPOPEN: 1\r\n')
    assert rows.endswith(b'+CIPOPEN: 9,"TCP","127.0.0.1",7000,-1\r\n\r\nOK\r\n')
    assert run(m, "AT+CIPSEND=9,5") == b"\r\n>"
    assert run(m, b"hello") == b"\r\nOK\r\n\r\n+CIPSEND: 9,5,5\r\n"
    assert m.take_actions() == [TcpSend(b, b"hello")]
    assert run(m, "AT+CIPSEND=0,") == b"\r\n>"  # no length: Ctrl-Z ends the data
    assert run(m, b"abc\x1a") == b"\r\nOK\r\n\r\n+CIPSEND: 0,3,3\r\n"
    assert m.take_actions() == [TcpSend(a, b"abc")]
    assert run(m, "AT+CIPSEND=0,1501") == b"\r\nERROR\r\n"
    m.tcp_data(a, b"pong", m.now)
    assert m.take_output() == b"\r\n+IPD4\r\npong"
    run(m, "AT+CIPSRIP=1")
    m.tcp_data(b, b"x" * 1600, m.now)
    assert m.take_output() == (
        b"\r\nRECV FROM:127.0.0.1:7000\r\n+IPD1500\r\n" + b"x" * 1500 + b"\r\nRECV FROM:127.0.0.1:7000\r\n+IPD100\r\n"
        + b"x" * 100
    )  # fmt: skip
    run(m, "AT+CIPHEAD=0")
    run(m, "AT+CIPSRIP=0")
    m.tcp_data(a, b"raw", m.now)
    assert m.take_output() == b"\r\nraw"


def test_cipclose_and_remote_close() -> None:
    m = lte()
    a = online(m, 0)
    b = online(m, 1)
    assert run(m, "AT+CIPCLOSE?") == b"\r\n+CIPCLOSE: 1,1,0,0,0,0,0,0,0,0\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPCLOSE=0") == b"\r\nOK\r\n\r\n+CIPCLOSE: 0,0\r\n"
    assert m.take_actions() == [TcpClose(a)]
    assert run(m, "AT+CIPCLOSE=0") == b"\r\n+CIPCLOSE: 0,4\r\n\r\nERROR\r\n"
    assert run(m, "AT+CIPSEND=0,3") == b"\r\n+CIPERROR: 4\r\n\r\nERROR\r\n"
    m.tcp_closed(b, m.now)
    assert m.take_output() == b"\r\n+IPCLOSE: 1,1\r\n"
    m.tcp_data(b, b"late", m.now)
    assert m.take_output() == b""
    online(m, 1)  # a closed link opens again


def test_remote_close_fault_and_send_fail() -> None:
    m = lte()
    online(m, 2)
    m.fault("send-fail", None, m.now)
    assert run(m, "AT+CIPSEND=2,2") == b"\r\n>"
    assert run(m, b"hi") == b"\r\n+CIPERROR: 1\r\n\r\nERROR\r\n"
    m.stop_fault("send-fail", m.now)
    m.fault("remote-close", 1.0, m.now)
    assert m.take_output() == b"\r\n+IPCLOSE: 2,1\r\n"


def test_connect_refused_and_unreachable() -> None:
    m = lte()
    run(m, "AT+NETOPEN")
    m.fault("tcp-refused", None, m.now)
    assert run(m, 'AT+CIPOPEN=0,"TCP","127.0.0.1",7000') == b"\r\nOK\r\n\r\n+CIPOPEN: 0,1\r\n"
    m.clear_faults(m.now)
    run(m, 'AT+CIPOPEN=1,"TCP","127.0.0.1",7000')
    act = m.take_actions()[-1]
    assert isinstance(act, TcpConnect)
    m.tcp_connected(act.conn_id, False, "refused", m.now)
    m.tick(m.now)
    assert m.take_output() == b"\r\n+CIPOPEN: 1,1\r\n"
    m.fault("tcp-unreachable", None, m.now)
    assert run(m, 'AT+CIPOPEN=2,"TCP","127.0.0.1",7000', wait=74.0) == b"\r\nOK\r\n"
    assert later(m, 1.0) == b"\r\n+CIPOPEN: 2,10\r\n"


def test_ciprxget_manual_reads() -> None:
    m = lte()
    a = online(m, 4)
    assert run(m, "AT+CIPRXGET=2,4") == b"\r\nERROR\r\n"  # not in manual mode
    run(m, "AT+CIPRXGET=1")
    assert run(m, "AT+CIPRXGET?") == b"\r\n+CIPRXGET: 1\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPRXGET=2,4") == b"\r\n+IP ERROR: No data\r\n\r\nERROR\r\n"
    m.tcp_data(a, b"0123456789", m.now)
    assert m.take_output() == b"\r\n+CIPRXGET: 1,4\r\n"
    m.tcp_data(a, b"ab", m.now)
    assert m.take_output() == b""  # one URC until the buffer is read empty
    assert run(m, "AT+CIPRXGET=4,4") == b"\r\n+CIPRXGET: 4,4,12\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPRXGET=2,4,4") == b"\r\n+CIPRXGET: 2,4,4,8\r\n0123\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPRXGET=3,4,2") == b"\r\n+CIPRXGET: 3,4,2,6\r\n3435\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPRXGET=2,4") == b"\r\n+CIPRXGET: 2,4,6,0\r\n6789ab\r\n\r\nOK\r\n"
    assert run(m, "AT+CIPRXGET=2,4,1501") == b"\r\nERROR\r\n"
    m.tcp_data(a, b"z", m.now)
    assert m.take_output() == b"\r\n+CIPRXGET: 1,4\r\n"


def test_network_lost_closes_everything() -> None:
    m = lte()
    sock = online(m, 0)
    m.fault("no-coverage", 30.0, m.now)
    assert m.take_output() == b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n"
    assert m.take_actions() == [TcpClose(sock)]
    assert run(m, "AT+NETOPEN?") == b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n"
    later(m, 31.0)
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"


def test_gprs_down_closes_the_network_and_stall_drops_data() -> None:
    m = lte()
    sock = online(m, 0)
    m.fault("stall", 10.0, m.now)
    m.tcp_data(sock, b"lost", m.now)
    assert run(m, "AT+CIPSEND=0,2") == b"\r\n>"
    assert run(m, b"hi") == b"\r\nOK\r\n\r\n+CIPSEND: 0,2,2\r\n"
    assert m.take_actions() == []  # nothing reached the server
    m.fault("gprs-down", 10.0, m.now)
    assert m.take_output() == b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 1\r\n"
    later(m, 11.0)
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"


# ------------------------------------------------------------------ the LTE faults
def test_rat_fallback_2g_stays_until_a_mode_toggle() -> None:
    m = lte()
    run(m, "AT+CEREG=1")
    online(m, 0)
    m.fault("rat-fallback-2g", 60.0, m.now)
    m.tick(m.now)
    assert (
        m.take_output() == b"\r\n+CEREG: 2\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n\r\n+CEREG: 0\r\n"
    )
    assert run(m, "AT+CPSI?").startswith(b"\r\n+CPSI: GSM,Online,")
    assert run(m, "AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"  # data goes on over GPRS
    later(m, 3600.0)  # LTE is back, the module does not look for it
    assert run(m, "AT+CPSI?").startswith(b"\r\n+CPSI: GSM,Online,")
    assert m.status()["rat"] == "GSM"
    # the toggle searches again (the GPRS data session goes with it) and finds LTE
    assert run(m, "AT+CNMP=2") == (
        b"\r\nOK\r\n\r\n+CEREG: 2\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n\r\n+CEREG: 1\r\n"
    )
    assert run(m, "AT+CPSI?").startswith(b"\r\n" + LTE_CPSI)


def test_rat_fallback_2g_ends_with_a_reset() -> None:
    m = lte()
    m.fault("rat-fallback-2g", 10.0, m.now)
    later(m, 20.0)
    assert m.rat() == "GSM"
    run(m, "AT+CRESET", wait=1.0)
    assert m.rat() == "LTE"


def test_no_service_online_with_good_signal_until_toggle() -> None:
    m = lte()
    run(m, "AT+CREG=1")
    sock = online(m, 0)
    m.fault("no-service-online", 30.0, m.now)
    assert m.take_output() == b"\r\n+CREG: 2\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n"
    assert m.take_actions() == [TcpClose(sock)]
    later(m, 100.0)
    assert run(m, "AT+CPSI?") == b"\r\n+CPSI: NO SERVICE,Online\r\n\r\nOK\r\n"
    csq = run(m, "AT+CSQ")
    assert csq != b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n" and int(csq[8:10]) >= 10
    assert run(m, "AT+CNMP=38") == b"\r\nOK\r\n\r\n+CREG: 1\r\n"
    assert m.rat() == "LTE"


def test_no_service_online_ends_with_cfun_cycle() -> None:
    m = lte()
    m.fault("no-service-online", 1.0, m.now)
    later(m, 5.0)
    assert not m.registered()
    run(m, "AT+CFUN=0")
    run(m, "AT+CFUN=1")
    assert m.registered()


def test_netopen_fail_until_netclose() -> None:
    m = lte()
    online(m, 0)
    m.fault("netopen-fail", 20.0, m.now)
    assert m.take_output() == b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 1\r\n"
    later(m, 60.0)
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 1\r\n"  # still, after the fault
    assert run(m, "AT+NETCLOSE") == b"\r\nOK\r\n\r\n+NETCLOSE: 0\r\n"
    assert run(m, "AT+NETOPEN") == b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"


def test_lte_faults_are_refused_by_a_sim800_and_listed_per_dialect() -> None:
    sim800 = Interpreter()
    for kind in ("rat-fallback-2g", "no-service-online", "netopen-fail"):
        with pytest.raises(UnknownFault, match="does not apply to a sim800"):
            sim800.fault(kind, None, 0.0)
        assert kind in lte().dialect.faults
    assert {"no-coverage", "gprs-down", "remote-close", "reboot"} <= lte().dialect.faults


def test_harsh_weather_draws_lte_faults_for_sim7600_only() -> None:
    def kinds(faults: frozenset[str]) -> tuple[set[str], list[tuple[float, str, float]]]:
        loop = VirtualLoop(seed=1)
        w = Weather("harsh")
        w.start(loop, random.Random(7), lambda kind, duration: None, faults)
        loop.run_for(40 * 24 * 3600.0)
        return {k for _, k, _ in w.history}, w.history

    lte_kinds, _ = kinds(lte().dialect.faults)
    gsm_kinds, gsm_history = kinds(Interpreter().dialect.faults)
    assert {"rat-fallback-2g", "no-service-online", "netopen-fail"} <= lte_kinds
    assert not {"rat-fallback-2g", "no-service-online", "netopen-fail"} & gsm_kinds
    # a SIM800's weather for a seed is what it was before the LTE fronts existed
    _, unfiltered_old = kinds(frozenset(k for k in Interpreter().dialect.faults))
    assert gsm_history == unfiltered_old


def test_vmodem_served_with_harsh_weather_suffers_lte_faults() -> None:
    def history(dialect: str) -> set[str]:
        loop = VirtualLoop(seed=3)
        modem = VirtualModem(
            loop, None, VirtualNetwork(loop), profile="instant", weather="harsh", dialect=dialect
        )
        loop.run_for(10 * 24 * 3600.0)
        assert modem.weather is not None
        return {kind for _, kind, _ in modem.weather.history}

    lte_only = {"rat-fallback-2g", "no-service-online", "netopen-fail"}
    assert lte_only <= history("sim7600")
    assert not lte_only & history("sim800")


# ------------------------------------------------------------------ GNSS
def test_gnss_cgps_cgpsinfo_cgnssinfo() -> None:
    m = lte()
    assert run(m, "AT+CGPSINFO") == b"\r\n+CGPSINFO: ,,,,,,,,\r\n\r\nOK\r\n"
    assert run(m, "AT+CGNSSINFO") == b"\r\n+CGNSSINFO: ,,,,,,,,,,,,,,,\r\n\r\nOK\r\n"
    assert run(m, "AT+CGPS=1") == b"\r\nOK\r\n"
    assert run(m, "AT+CGPS=1") == b"\r\nERROR\r\n"
    assert run(m, "AT+CGPS?") == b"\r\n+CGPS: 1,1\r\n\r\nOK\r\n"
    # Greenwich (51.4779 N, 0.0015 W) at the default epoch + now
    assert run(m, "AT+CGPSINFO") == (
        b"\r\n+CGPSINFO: 5128.674000,N,00000.090000,W,010126,000001.0,35.0,0.0,0.0\r\n\r\nOK\r\n"
    )
    assert run(m, "AT+CGNSSINFO") == (
        b"\r\n+CGNSSINFO: 3,6,3,0,5128.674000,N,00000.090000,W,010126,000001.0,35.0,0.0,0.0,1.2,0.9,0.7"
        b"\r\n\r\nOK\r\n"
    )
    assert run(m, "AT+CGPSINFO=2") == b"\r\nOK\r\n"
    assert later(m, 2.0) == b"\r\n+CGPSINFO: 5128.674000,N,00000.090000,W,010126,000003.0,35.0,0.0,0.0\r\n"
    run(m, "AT+CGPSINFO=0")
    assert later(m, 10.0) == b""
    assert run(m, "AT+CGPS=0") == b"\r\nOK\r\n"
    assert run(m, "AT+CGPSINFO") == b"\r\n+CGPSINFO: ,,,,,,,,\r\n\r\nOK\r\n"


def test_nmea_streaming_per_cgpsinfocfg() -> None:
    m = lte()
    run(m, "AT+CGPS=1")
    assert run(m, "AT+CGPSINFOCFG=1,3") == b"\r\nOK\r\n"
    out = later(m, 1.0)
    assert out.startswith(b"$GPGGA,000002.000,5128.6740,N,00000.0900,W,1,09,0.9,35.0,M,47.0,M,,*")
    assert b"\r\n$GPRMC,000002.000,A,5128.6740,N,00000.0900,W,0.00,0.00,010126,,,A*" in out
    assert run(m, "AT+CGPSINFOCFG=1,2") == b"\r\nOK\r\n"
    assert later(m, 1.0).startswith(b"$GPRMC,")
    run(m, "AT+CGPSINFOCFG=0,3")
    assert later(m, 5.0) == b""


# ------------------------------------------------------------------ SMS as on the SIM800
def test_sms_text_and_pdu_with_cmti() -> None:
    m = lte()
    run(m, "AT+CMGF=1")
    assert run(m, 'AT+CMGS="+447700900123"') == b"\r\n> "
    out = run(m, b"hi\x1a")
    assert out == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert [a for a in m.take_actions() if isinstance(a, SmsOut)][0].text == "hi"
    m.sms_arrived([SmsDeliver(originator="+447700900555", text="STAT", timestamp=STAMP)], m.now)
    assert m.take_output() == b'\r\n+CMTI: "SM",1\r\n'
    run(m, 'AT+CPMS="ME","ME","ME"')
    m.sms_arrived([SmsDeliver(originator="+447700900555", text="again", timestamp=STAMP)], m.now)
    assert m.take_output() == b'\r\n+CMTI: "ME",1\r\n'
    assert b'"REC UNREAD","+447700900555"' in run(m, "AT+CMGR=1")
