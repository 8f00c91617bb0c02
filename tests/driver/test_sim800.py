"""`Modem` over an in-memory pipe on the virtual clock, against a scripted SIM800 stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from driver_fakes import ScriptedModem

from modem.driver.at_channel import CANCEL_WAIT
from modem.driver.commands import Registration
from modem.driver.dialects.sim800 import Sim800
from modem.driver.modem import (
    Failed,
    GprsLost,
    LineNoise,
    Modem,
    ModemPoweredDown,
    ModemRebooted,
    ModemSilent,
    NetworkStatus,
    Ok,
    RegistrationChanged,
    SmsReceived,
    SmsSent,
    TcpClosed,
    TcpDataReceived,
)
from modem.sms import SmsDeliver, decode_submit, encode_deliver, make_delivers
from runtime import VirtualLoop, pipe_pair


class Harness:
    def __init__(self, table=None, echo=False, **kw):
        self.loop = VirtualLoop(seed=1)
        a, b = pipe_pair(self.loop, latency=0.01)
        self.fake = ScriptedModem(self.loop, b, table, echo=echo)
        # The scripted answers below speak single-connection SIM800 (AT+CIPMUX=0: bare CONNECT OK, +IPD).
        kw.setdefault("dialect", Sim800(multi=False))
        self.modem = Modem(self.loop, a, **kw)
        self.events = []
        self.modem.subscribe(self.events.append)

    def call(self, method, *args, limit=300.0, **kw):
        got = []
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        end = self.loop.time() + limit
        while not got and self.loop.time() < end:
            self.loop.run(until=min(end, self.loop.time() + 0.5))
        assert len(got) == 1, f"{method} did not finish"
        return got[0]

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


IDENT = {
    "AT\\+CGMI": b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n",
    "AT\\+CGMM": b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n",
    "AT\\+CGMR": b"\r\nRevision:1418B04SIM800C24\r\n\r\nOK\r\n",
    "AT\\+CGSN": b"\r\n864000000000001\r\n\r\nOK\r\n",
    "AT\\+CCID": b"\r\n8944000000000000001F\r\n\r\nOK\r\n",
    "AT\\+CIMI": b"\r\n+CME ERROR: SIM PIN required\r\n",
}


def test_probe_and_init_identify_the_modem():
    h = Harness(IDENT, echo=True)
    assert h.call("probe") == Ok(None)
    r = h.call("init")
    assert isinstance(r, Ok)
    assert r.value.model == "SIMCOM_SIM800" and r.value.revision == "1418B04SIM800C24"
    assert r.value.imei == "864000000000001" and r.value.imsi is None
    assert "ATE0" in h.fake.lines and "AT+CMGF=0" in h.fake.lines and "AT+CNMI=2,2,0,0,0" in h.fake.lines


def test_probe_of_silent_modem_fails_and_reports_silence():
    h = Harness()
    h.fake.silent = True
    t0 = h.loop.time()
    r = h.call("probe", tries=3)
    assert isinstance(r, Failed) and r.timeout
    # three 1 s tries, plus the one ESC's cancel wait (a modem left at a `> ` prompt; test_probe_leaves_prompt)
    assert 2.9 + CANCEL_WAIT <= h.loop.time() - t0 < 4 + CANCEL_WAIT
    assert h.of(ModemSilent)


def test_network_queries():
    h = Harness({
        r"AT\+CREG\?;\+CSQ": b"\r\n+CREG: 2,5,\"00A1\",\"1B2C\"\r\n\r\n+CSQ: 17,0\r\n\r\nOK\r\n",
        r"AT\+COPS\?": b"\r\n+COPS: 0,0,\"Vodafone UK\"\r\n\r\nOK\r\n",
        r"AT\+CCLK\?": b"\r\n+CCLK: \"24/05/01,12:30:00+04\"\r\n\r\nOK\r\n",
        r"AT\+CPIN\?": b"\r\n+CME ERROR: SIM not inserted\r\n",
        r"AT\+CGREG\?": b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n",
    })
    r = h.call("poll")
    assert r == Ok(NetworkStatus(Registration(5, "00A1", "1B2C"), r.value.signal))
    assert r.value.registration.roaming and r.value.signal.dbm == -79
    assert h.call("operator").value.name == "Vodafone UK"
    assert h.call("network_time").value == datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    r = h.call("sim_status")
    assert isinstance(r, Failed) and r.final.text == "SIM not inserted"
    assert h.call("registration", gprs=True).value.registered


def test_gprs_tcp_session_with_ipd_and_closed():
    h = Harness({
        r"AT\+CIPSHUT": b"\r\nSHUT OK\r\n",
        r"AT\+CIICR": b"\r\nOK\r\n",
        r"AT\+CIFSR": b"\r\n10.1.2.3\r\n",
        r'AT\+CIPSTART="TCP","127.0.0.1",6867': b"\r\nOK\r\n\r\nCONNECT OK\r\n",
        r"AT\+CIPSTATUS": b"\r\nOK\r\n\r\nSTATE: CONNECT OK\r\n",
        r"AT\+CIPCLOSE": b"\r\nCLOSE OK\r\n",
    })
    assert h.call("gprs_attach", "internet", user="u", password="p") == Ok("10.1.2.3")
    assert 'AT+CSTT="internet","u","p"' in h.fake.lines
    assert h.call("tcp_connect", "127.0.0.1", 6867) == Ok(None)
    assert h.call("ip_status") == Ok("CONNECT OK")
    assert h.call("tcp_send", b"MP-C 0 x\r\n") == Ok(None)
    assert h.fake.payloads == [b"MP-C 0 x\r\n"]
    h.fake.push(b"\r\n+IPD,12:MP-S 0 y\r\nOK\r\n\r\nCLOSED\r\n")
    h.loop.run_for(1)
    assert h.of(TcpDataReceived) == [TcpDataReceived(b"MP-S 0 y\r\nOK")]
    assert h.of(TcpClosed) == [TcpClosed("CLOSED")]
    assert h.call("tcp_close") == Ok(None)


def test_connect_fail_and_send_fail():
    h = Harness({r"AT\+CIPSTART.*": b"\r\nOK\r\n\r\nCONNECT FAIL\r\n"})
    r = h.call("tcp_connect", "127.0.0.1", 1)
    assert isinstance(r, Failed) and r.final.line == "CONNECT FAIL"
    h.fake.prompt_answers[r"AT\+CIPSEND.*"] = b"\r\nSEND FAIL\r\n"
    assert isinstance(h.call("tcp_send", b"x"), Failed)
    assert h.of(TcpClosed) == [TcpClosed("SEND FAIL")]


def test_send_sms_pdu_unicode_and_concatenated():
    h = Harness()
    r = h.call("send_sms", "+447700900123", "Grüße 🚗 " * 12)
    assert isinstance(r, Ok) and isinstance(r.value, SmsSent) and len(r.value.references) == 2
    parts = [decode_submit(p.decode()) for p in h.fake.payloads]
    assert "".join(p.text for p in parts) == "Grüße 🚗 " * 12
    assert parts[0].concat.total == 2 and parts[0].encoding == "ucs2"
    assert [ln for ln in h.fake.lines if ln.startswith("AT+CMGS=")]


def test_send_sms_text_mode():
    h = Harness(sms_pdu_mode=False)
    assert h.call("send_sms", "+447700900123", "Battery 80%") == Ok(SmsSent((7,)))
    assert h.fake.lines[-1] == 'AT+CMGS="+447700900123"' and h.fake.payloads == [b"Battery 80%"]
    r = h.call("send_sms", "+447700900123", "Ünïcode")
    assert isinstance(r, Ok)
    assert "AT+CMGF=0" in h.fake.lines
    h.loop.run_for(1)
    assert h.fake.lines[-1] == "AT+CMGF=1"


def _cmt_pdu(d: SmsDeliver) -> bytes:
    enc = encode_deliver(d)
    return f"\r\n+CMT: ,{enc.tpdu_length}\r\n{enc.hex}\r\n".encode()


def test_receive_concatenated_sms_out_of_order_and_twice():
    h = Harness()
    ts = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    parts = make_delivers("+447700900123", "Я" * 100, ts, concat_ref=9)
    h.fake.push(_cmt_pdu(parts[1]) + _cmt_pdu(parts[1]))
    h.loop.run_for(1)
    assert h.of(SmsReceived) == []
    h.fake.push(_cmt_pdu(parts[0]))
    h.loop.run_for(1)
    assert h.of(SmsReceived) == [SmsReceived("+447700900123", "Я" * 100, ts)]


def test_receive_text_mode_cmt_and_stored_cmti():
    stored = SmsDeliver("+441234", "stored one", datetime(2024, 5, 1, 8, 0, tzinfo=UTC))
    enc = encode_deliver(stored)
    h = Harness({r"AT\+CMGR=4": f"\r\n+CMGR: 0,,{enc.tpdu_length}\r\n{enc.hex}\r\n\r\nOK\r\n".encode()})
    h.fake.push(b'\r\n+CMT: "+4915112345678","","24/05/01,10:00:00+08",145,4,0,0,"+49",145,5\r\nLOCK\r\n')
    h.fake.push(b'\r\n+CMTI: "SM",4\r\n')
    h.loop.run_for(2)
    got = h.of(SmsReceived)
    assert got[0].sender == "+4915112345678" and got[0].text == "LOCK"
    assert got[0].time == datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert got[1] == SmsReceived("+441234", "stored one", stored.timestamp)
    assert "AT+CMGD=4" in h.fake.lines


def test_faults_become_events():
    h = Harness()
    h.fake.push(b"\r\n+PDP: DEACT\r\n\r\n+CREG: 3\r\n\x00\xfe\xff\r\n\r\nUNDER-VOLTAGE POWER DOWN\r\n")
    h.loop.run_for(1)
    assert h.of(GprsLost) == [GprsLost()]
    assert h.of(RegistrationChanged)[0].registration == Registration(3)
    assert h.of(LineNoise)
    assert h.of(ModemPoweredDown) == [ModemPoweredDown("under-voltage")]


def test_reboot_mid_send_fails_the_send_at_once():
    h = Harness()
    h.fake.prompt_answers[r"AT\+CIPSEND.*"] = b"\r\nRDY\r\n\r\n+CFUN: 1\r\n"
    t0 = h.loop.time()
    r = h.call("tcp_send", b"hello")
    assert isinstance(r, Failed) and "RDY" in r.reason
    assert h.loop.time() - t0 < 1
    assert h.of(ModemRebooted) == [ModemRebooted()]


def test_soft_reset_waits_for_rdy():
    h = Harness({r"AT\+CFUN=1,1": b"\r\nOK\r\n"})
    h.loop.call_later(3, h.fake.push, b"\r\nRDY\r\n")
    assert h.call("soft_reset") == Ok(None)
    assert h.loop.time() >= 3


@pytest.mark.parametrize("was_on", [True, False])
def test_power_cycle(was_on):
    presses = []

    class Key:
        def __init__(self, loop):
            self.loop = loop

        def pulse(self, on_done):
            presses.append(self.loop.time())
            on = h.fake.silent  # toggles power
            if on:
                h.fake.silent = False
                self.loop.call_later(2, h.fake.push, b"\r\nRDY\r\n")
            else:
                h.fake.push(b"\r\nNORMAL POWER DOWN\r\n")
                self.loop.call_later(0.05, setattr, h.fake, "silent", True)
            self.loop.call_later(1.2, on_done)

    h = Harness()
    h.modem.power_key = Key(h.loop)
    h.fake.silent = not was_on
    assert h.call("power_cycle") == Ok(None)
    assert len(presses) == (2 if was_on else 1)
    assert not h.fake.silent
    assert h.of(ModemRebooted) and not h.of(ModemPoweredDown)  # our own NORMAL POWER DOWN is no fault


def test_port_closed_fails_pending_and_publishes():
    from modem.driver.modem import PortClosed
    h = Harness()
    h.fake.silent = True
    got = []
    h.modem.poll(got.append)
    h.loop.run_for(0.5)
    h.fake.stream.close()
    h.loop.run_for(1)
    assert isinstance(got[0], Failed) and got[0].reason == "modem closed"
    assert h.of(PortClosed)
    h.modem.poll(got.append)
    h.loop.run_for(0.1)
    assert isinstance(got[1], Failed)


def test_secrets_stay_out_of_reasons_and_logs(caplog):
    import logging
    h = Harness({r"AT\+CIPSHUT": b"\r\nSHUT OK\r\n", r"AT\+CSTT=.*": b"\r\nERROR\r\n",
                 r"AT\+CPIN=.*": None})
    h.fake.table[r"AT\+CPIN=.*"] = b""  # silence: the PIN command times out
    with caplog.at_level(logging.DEBUG):
        r = h.call("gprs_attach", "internet", user="bob", password="s3cr3tpw")
        r2 = h.call("enter_pin", "4711")
    assert isinstance(r, Failed) and "s3cr3tpw" not in r.reason and "<redacted>" in r.reason
    assert isinstance(r2, Failed) and r2.timeout and "4711" not in r2.reason
    assert 'AT+CSTT="internet","bob","s3cr3tpw"' in h.fake.lines  # the modem does get it
    assert "s3cr3tpw" not in caplog.text and "4711" not in caplog.text
