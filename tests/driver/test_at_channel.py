"""AT channel unit tests: bytes in, events out (no I/O)."""

from __future__ import annotations

from modem.driver.at_channel import (
    CTRL_Z,
    ESC,
    Aborted,
    ATChannel,
    Command,
    FinalKind,
    Garbage,
    Response,
    Timeout,
)
from modem.driver.dialects.sim800 import URCS
from modem.driver.urc import (
    CallReady,
    ModemBooted,
    NmeaSentence,
    PdpDeactivated,
    PowerDown,
    RegistrationChanged,
    Ring,
    SimStatus,
    SmsDirect,
    SmsStored,
    TcpClosed,
    TcpData,
    Urc,
    VoltageWarning,
)


def run(ch: ATChannel, data: bytes, now: float = 0.0) -> list:
    ch.receive_data(data, now)
    return ch.events()


def test_send_returns_bytes_and_queues_second():
    ch = ATChannel(URCS)
    a, b = Command("AT"), Command("AT+CSQ", prefixes=("+CSQ:",))
    assert ch.send(a, 0) == b"AT\r"
    assert ch.send(b, 0) is None
    evs = run(ch, b"AT\r\r\nOK\r\n")
    assert evs == [Response(a, (), evs[0].final)]
    assert evs[0].final.kind is FinalKind.OK
    assert ch.data_to_send() == b"AT+CSQ\r"
    evs = run(ch, b"AT+CSQ\r\r\n+CSQ: 20,0\r\n\r\nOK\r\n")
    assert isinstance(evs[0], Response) and evs[0].lines == ("+CSQ: 20,0",)


def test_echo_off_and_echo_tracking():
    ch = ATChannel(URCS, echo=True)
    ch.send(Command("ATE0"), 0)
    run(ch, b"ATE0\r\r\nOK\r\n")
    assert ch.echo is False
    cmd = Command("AT+CGMI")
    ch.send(cmd, 0)
    [ev] = run(ch, b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n")
    assert ev.lines == ("SIMCOM_Ltd",)
    run(ch, b"\r\nRDY\r\n")
    assert ch.echo is True


def test_errors_are_typed():
    ch = ATChannel(URCS)
    for wire, kind, code, text in [
        (b"\r\nERROR\r\n", FinalKind.ERROR, None, None),
        (b"\r\n+CME ERROR: 10\r\n", FinalKind.CME_ERROR, 10, None),
        (b"\r\n+CME ERROR: SIM not inserted\r\n", FinalKind.CME_ERROR, None, "SIM not inserted"),
        (b"\r\n+CMS ERROR: 331\r\n", FinalKind.CMS_ERROR, 331, None),
    ]:
        ch.send(Command("AT+X"), 0)
        [ev] = run(ch, wire)
        assert (ev.final.kind, ev.final.code, ev.final.text) == (kind, code, text)
        assert not ev.final.ok


def test_urcs_between_and_inside_responses():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CSQ", prefixes=("+CSQ:",))
    ch.send(cmd, 0)
    evs = run(ch, b"\r\nRING\r\n\r\n+CSQ: 9,0\r\n\r\n+CMTI: \"SM\",3\r\n\r\nOK\r\n\r\nCLOSED\r\n")
    assert isinstance(evs[0], Ring)
    assert evs[1] == SmsStored('+CMTI: "SM",3', store="SM", index=3)
    assert isinstance(evs[2], Response) and evs[2].lines == ("+CSQ: 9,0",)
    assert isinstance(evs[3], TcpClosed)


def test_creg_urc_vs_query_answer():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CREG?", prefixes=("+CREG:",))
    ch.send(cmd, 0)
    evs = run(ch, b"\r\n+CREG: 1,5\r\n\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CGREG: 1,\"00A1\",\"1234\"\r\n")
    assert evs[0].lines == ("+CREG: 1,5",)
    assert evs[1] == RegistrationChanged("+CREG: 2", stat=2, gprs=False)
    assert evs[2].gprs and evs[2].stat == 1 and evs[2].lac == "00A1"


def test_boot_urcs():
    ch = ATChannel(URCS)
    evs = run(ch, b"\x00\xff\xffRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n")
    assert isinstance(evs[0], Garbage)
    assert isinstance(evs[1], ModemBooted)
    assert type(evs[2]) is Urc
    assert evs[3] == SimStatus("+CPIN: READY", status="READY")
    assert isinstance(evs[4], CallReady)


def test_power_and_voltage():
    ch = ATChannel(URCS)
    evs = run(ch, b"\r\nUNDER-VOLTAGE WARNNING\r\n\r\nUNDER-VOLTAGE POWER DOWN\r\n\r\nNORMAL POWER DOWN\r\n")
    assert evs[0] == VoltageWarning("UNDER-VOLTAGE WARNNING", reason="under-voltage")
    assert evs[1] == PowerDown("UNDER-VOLTAGE POWER DOWN", reason="under-voltage")
    assert evs[2].reason == "normal"


def test_cipstart_ok_then_connect():
    ch = ATChannel(URCS, echo=False)
    cmd = Command('AT+CIPSTART="TCP","h",1', timeout=75, finals=("CONNECT OK", "ALREADY CONNECT"),
                  fail_finals=("CONNECT FAIL",), ok_is_final=False)
    ch.send(cmd, 0)
    assert run(ch, b"\r\nOK\r\n") == []
    assert ch.in_flight is cmd
    [ev] = run(ch, b"\r\nCONNECT FAIL\r\n", 3)
    assert ev.final.kind is FinalKind.FAILURE and not ev.final.ok


def test_cifsr_bare_ip():
    ch = ATChannel(URCS, echo=True)
    cmd = Command("AT+CIFSR", finals=(r"\d+\.\d+\.\d+\.\d+$",))
    ch.send(cmd, 0)
    [ev] = run(ch, b"AT+CIFSR\r\r\n10.64.12.7\r\n")
    assert ev.final.ok and ev.final.line == "10.64.12.7"


def test_prompt_payload_ctrl_z_and_urc_during_prompt():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CIPSEND", timeout=60, prompt=True, payload=b"hello\r\n",
                  finals=("SEND OK", r"DATA ACCEPT:"), fail_finals=("SEND FAIL",))
    assert ch.send(cmd, 0) == b"AT+CIPSEND\r"
    assert run(ch, b"\r\n> ") == []
    assert ch.data_to_send() == b"hello\r\n" + CTRL_Z
    evs = run(ch, b"\r\n+CMT: \"+4915112345678\",\"\",\"24/05/01,10:00:00+08\"\r\nOK\r\n\r\nSEND OK\r\n")
    assert evs[0] == SmsDirect(evs[0].line, header=evs[0].line, text="OK")
    assert evs[1].final.line == "SEND OK"


def test_prompt_with_echo_skips_payload_echo():
    ch = ATChannel(URCS, echo=True)
    cmd = Command("AT+CIPSEND=6", prompt=True, payload=b"OK\r\nX\n", terminator=b"",
                  finals=("SEND OK",), fail_finals=("SEND FAIL",))
    ch.send(cmd, 0)
    run(ch, b"AT+CIPSEND=6\r\r\n> ")
    assert ch.data_to_send() == b"OK\r\nX\n"
    evs = run(ch, b"OK\r\nX\n")
    assert evs == []
    [ev] = run(ch, b"\r\nSEND OK\r\n")
    assert ev.final.line == "SEND OK"


def test_prompt_cancel_with_esc():
    ch = ATChannel(URCS, echo=False)
    cmd = Command('AT+CMGS="+1"', prompt=True, payload=b"", terminator=ESC)
    ch.send(cmd, 0)
    run(ch, b"\r\n> ")
    assert ch.data_to_send() == ESC
    [ev] = run(ch, b"\r\nOK\r\n")
    assert ev.final.ok


def test_prompt_timeout_writes_esc_and_moves_on():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CMGS=20", timeout=10, prompt=True, payload=b"00", terminator=CTRL_Z)
    nxt = Command("AT")
    ch.send(cmd, 0)
    ch.send(nxt, 0)
    ch.data_to_send()
    assert ch.next_deadline() == ch.prompt_timeout  # no `> ` this long: lost (tests/driver/test_prompt_loss.py)
    ch.tick(ch.prompt_timeout - 0.1)
    assert ch.events() == []
    ch.tick(ch.prompt_timeout)
    assert ch.events() == [Timeout(cmd, prompt_lost=True)]
    assert ch.data_to_send() == ESC
    ch.receive_data(b"\r\nOK\r\n", ch.prompt_timeout)  # the modem's answer to ESC
    assert ch.data_to_send() == b"AT\r"
    assert ch.in_flight is nxt


def test_ipd_payload_with_crlf_and_fake_urcs_split_anywhere():
    payload = b"\r\nRING\r\n+CMTI: \"SM\",1\r\nOK\r\n\x00\xff"
    wire = b"\r\n+IPD," + str(len(payload)).encode() + b":" + payload + b"\r\nCLOSED\r\n"
    for cut in range(len(wire) + 1):
        ch = ATChannel(URCS, echo=False)
        ch.receive_data(wire[:cut], 0)
        ch.receive_data(wire[cut:], 0)
        evs = ch.events()
        assert [type(e) for e in evs] == [TcpData, TcpClosed], cut
        assert evs[0].data == payload and not evs[0].truncated


def test_ipd_during_command_and_truncated_ipd_flushes():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CSQ", prefixes=("+CSQ:",))
    ch.send(cmd, 0)
    evs = run(ch, b"\r\n+IPD,3:OK\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n")
    assert evs[0].data == b"OK\n"
    assert evs[1].lines == ("+CSQ: 5,0",)
    ch.receive_data(b"\r\n+IPD,10:abc", 1)
    assert ch.next_deadline() == 1 + ch.partial_timeout
    ch.tick(5)
    [ev] = ch.events()
    assert ev == TcpData("+IPD,10:", data=b"abc", truncated=True)


def test_garbage_then_resync():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT")
    ch.send(cmd, 0)
    evs = run(ch, b"\x13\x80\xfe\r\n\r\nOK\r\n")
    assert isinstance(evs[0], Garbage)
    assert isinstance(evs[-1], Response)
    ch.receive_data(b"\x01partial line with no end", 1)
    ch.tick(1 + ch.partial_timeout)
    assert ch.events() == [Garbage(b"\x01partial line with no end")]


def test_silent_modem_times_out_every_command():
    ch = ATChannel(URCS)
    cmds = [Command("AT", timeout=1) for _ in range(3)]
    for c in cmds:
        ch.send(c, 0)
    ch.data_to_send()
    t = 0.0
    got = []
    while ch.next_deadline() is not None:
        t = ch.next_deadline()
        ch.tick(t)
        got += ch.events()
    assert got == [Timeout(c) for c in cmds]
    assert t == 3


def test_reboot_aborts_inflight_and_queue():
    ch = ATChannel(URCS, echo=False)
    a = Command("AT+CIPSEND", prompt=True, payload=b"x")
    b = Command("AT+CSQ")
    ch.send(a, 0)
    ch.send(b, 0)
    evs = run(ch, b"\r\nRDY\r\n")
    assert evs == [ModemBooted("RDY"), Aborted(a, "RDY"), Aborted(b, "RDY")]
    assert ch.in_flight is None and ch.queued == 0


def test_cmgr_body_may_look_like_final():
    ch = ATChannel(URCS, echo=False)
    cmd = Command("AT+CMGR=1", prefixes=("+CMGR:",), body_after_prefix=True)
    ch.send(cmd, 0)
    [ev] = run(ch, b'\r\n+CMGR: "REC UNREAD","+1","","24/05/01,10:00:00+08"\r\nERROR\r\n\r\nOK\r\n')
    assert ev.final.ok and ev.lines[1] == "ERROR"
    ch.send(Command("AT+CMGR=2", prefixes=("+CMGR:",), body_after_prefix=True), 0)
    [ev] = run(ch, b'\r\n+CMGR: "REC READ","+1","","24/05/01,10:00:00+08"\r\n\r\n\r\nOK\r\n')
    assert ev.lines[1] == ""


def test_nmea_and_pdp():
    ch = ATChannel(URCS)
    evs = run(ch, b"\r\n$GPRMC,1,2*00\r\n\r\n+PDP: DEACT\r\n\r\nOK\r\n")
    assert isinstance(evs[0], NmeaSentence)
    assert isinstance(evs[1], PdpDeactivated)
    assert type(evs[2]) is Urc and evs[2].line == "OK"


def test_pdu_status_report_is_two_lines():
    from modem.driver.urc import SmsStatusReport
    ch = ATChannel(URCS, echo=False)
    [ev] = run(ch, b"\r\n+CDS: 25\r\n0006D60B911326880736F4111011719551401110117195714000\r\n")
    assert ev == SmsStatusReport("+CDS: 25", pdu="0006D60B911326880736F4111011719551401110117195714000")
    [ev] = run(ch, b'\r\n+CDS: 6,46,"+4917",145,"24/05/01,10:00:00+08","24/05/01,10:00:05+08",0\r\n')
    assert type(ev) is Urc
