"""A long command's final result garbled by line noise (issue 12 follow-up): bytes in, events out.

A garbled `SHUT OK` used to hold the channel for CIPSHUT's 65 s, a garbled CIICR `ERROR` for 90 s.
Now a garbled line followed by a quiet spell makes the channel write a plain `AT`; the modem answers
one command line at a time, in order (V.250 §5.2), so the probe's OK proves the command has ended:
it resolves as `Timeout(final_lost=True)` (outcome unknown), or as a success when its information
response (`+CMGS: <mr>`) came. Answers still owed to probes never become the next command's final.
"""

from __future__ import annotations

from driver_fakes import Answer, ScriptedModem
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.driver import commands as C
from modem.driver.at_channel import (
    PROBE_AFTER,
    Aborted,
    ATChannel,
    Command,
    Event,
    FinalKind,
    Garbage,
    Response,
    Timeout,
)
from modem.driver.dialects.sim800 import URCS, Sim800
from modem.driver.modem import UNKNOWN_REFERENCE, Failed, Modem, Ok, Result, SmsSent
from runtime import VirtualLoop, pipe_pair


def results(events: list[Event]) -> list[Response | Timeout | Aborted]:
    return [e for e in events if isinstance(e, Response | Timeout | Aborted)]


def advance(ch: ATChannel, until: float) -> list[Event]:
    """Fire every deadline up to `until`; the events that came of it."""
    out: list[Event] = []
    while (d := ch.next_deadline()) is not None and d <= until:
        ch.tick(d)
        out += ch.events()
    return out


def test_garbled_shut_ok_is_resolved_by_a_probe_within_seconds() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd = C.cipshut()
    assert ch.send(cmd, 0.0) == b"AT+CIPSHUT\r"
    ch.receive_data(b"\r\nSHUT O\r\n", 0.4)          # a byte dropped: no final
    assert results(ch.events()) == []
    assert advance(ch, 0.4 + PROBE_AFTER) == []
    assert ch.data_to_send() == b"AT\r"                # the probe
    ch.receive_data(b"\r\nOK\r\n", 2.5)                # its answer: the modem is idle
    [ev] = results(ch.events())
    assert isinstance(ev, Timeout) and ev.final_lost and ev.command is cmd
    assert ch.in_flight is None


def test_garbled_ciicr_error_behind_noise_resolves_after_the_probe_and_a_settle() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd = C.ciicr()
    ch.send(cmd, 0.0)
    ch.receive_data(b"\r\nER\x93\x05ROR\r\n", 3.0)     # noise inside ERROR: garbage and a tail `ROR`
    assert any(isinstance(e, Garbage) for e in ch.events())
    advance(ch, 3.0 + PROBE_AFTER)
    assert ch.data_to_send() == b"AT\r"
    ch.receive_data(b"\r\nOK\r\n", 5.1)
    assert results(ch.events()) == []                  # CIICR ends in OK itself: wait for a second one
    [ev] = results(advance(ch, 10.0))
    assert isinstance(ev, Timeout) and ev.final_lost
    assert ch.next_deadline() is None


def test_a_busy_modem_answers_the_command_then_the_probe() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd, nxt = C.ciicr(), Command("AT+CSQ", prefixes=("+CSQ:",))
    ch.send(cmd, 0.0)
    ch.send(nxt, 0.0)
    ch.receive_data(b"\r\n\xff\xfe\r\n", 1.0)           # noise, the command still runs
    advance(ch, 1.0 + PROBE_AFTER)
    assert ch.data_to_send() == b"AT\r"
    ch.receive_data(b"\r\nOK\r\n\r\nOK\r\n", 20.0)     # CIICR's own OK, then the probe's
    [ev] = results(ch.events())
    assert isinstance(ev, Response) and ev.command is cmd and ev.final.kind is FinalKind.OK
    assert ch.data_to_send() == b"AT+CSQ\r"            # nothing owed: the next command goes at once


def test_probe_answers_owed_are_not_the_next_commands_final() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd, nxt = C.cipshut(), Command("AT+CSQ", prefixes=("+CSQ:",))
    ch.send(cmd, 0.0)
    ch.send(nxt, 0.0)
    ch.receive_data(b"\r\nxSHUT\r\n", 0.5)
    advance(ch, 0.5 + 2 * PROBE_AFTER + 0.1)            # two probes, no answer yet (busy)
    assert ch.data_to_send() == b"AT\rAT\r"
    ch.receive_data(b"\r\nSHUT OK\r\n", 8.0)            # the real final came after all
    [ev] = results(ch.events())
    assert isinstance(ev, Response) and ev.final.line == "SHUT OK"
    assert ch.data_to_send() == b""                     # the queue waits for the two owed OKs
    ch.receive_data(b"\r\nOK\r\n\r\nOK\r\n", 8.1)
    assert results(ch.events()) == []
    assert ch.data_to_send() == b"AT+CSQ\r"
    ch.receive_data(b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n", 8.2)
    [ev] = results(ch.events())
    assert isinstance(ev, Response) and ev.command is nxt and ev.lines == ("+CSQ: 20,0",)


def test_cmgs_answer_seen_and_ok_garbled_is_a_success() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd = C.cmgs_pdu("0011000B914477009001F20000AA0141", 16)
    ch.send(cmd, 0.0)
    ch.receive_data(b"> ", 0.1)
    assert ch.data_to_send().endswith(b"\x1a")
    ch.receive_data(b"\r\n+CMGS: 7\r\n\r\nO\r\n", 3.0)  # OK lost a byte
    advance(ch, 3.0 + PROBE_AFTER)
    assert ch.data_to_send() == b"AT\r"
    ch.receive_data(b"\r\nOK\r\n", 5.1)
    [ev] = results(ch.events()) + results(advance(ch, 10.0))
    assert isinstance(ev, Response) and ev.final.ok and ev.lines[0] == "+CMGS: 7"


def test_no_probe_while_a_prompt_is_awaited_or_for_short_or_ok_then_final_commands() -> None:
    for cmd in (Command("AT+CSQ", prefixes=("+CSQ:",)), C.cipstart("127.0.0.1", 6867),
                C.cmgs_pdu("00", 1)):
        ch = ATChannel(URCS, echo=False)
        ch.send(cmd, 0.0)
        ch.receive_data(b"\r\nO\x93K\r\n", 0.1)
        while (d := ch.next_deadline()) is not None and d < 5.0 and ch.in_flight is cmd:
            ch.tick(d)
            assert b"AT\r" not in ch.data_to_send(), cmd


def test_a_final_whose_line_end_was_lost_is_still_read() -> None:
    ch = ATChannel(URCS, echo=False)
    cmd = C.ciicr()
    ch.send(cmd, 0.0)
    ch.receive_data(b"\r\nOK", 2.0)                     # CR LF dropped: the line never ends
    [ev] = results(advance(ch, 10.0))
    assert isinstance(ev, Response) and ev.final.kind is FinalKind.OK


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 30.0), st.binary(max_size=24)), max_size=12))
def test_every_command_gets_exactly_one_result_whatever_the_noise(chunks: list[tuple[float, bytes]]) -> None:
    ch = ATChannel(URCS, echo=False)
    cmds = [C.cipshut(), C.ciicr(), Command("AT+CSQ", prefixes=("+CSQ:",))]
    for c in cmds:
        ch.send(c, 0.0)
    seen: list[Response | Timeout | Aborted] = []
    now = 0.0
    for gap, data in chunks:
        seen += results(advance(ch, now + gap))
        now += gap
        ch.receive_data(data, now)
        seen += results(ch.events())
        ch.data_to_send()
    seen += results(advance(ch, now + 1000.0))
    assert sorted(e.command.seq for e in seen) == sorted(c.seq for c in cmds)


# -- the driver's scripts on top (a scripted SIM800 on the virtual clock) --------------------------


class Harness:
    def __init__(self, table: dict[str, Answer], multi: bool = False) -> None:
        self.loop = VirtualLoop(seed=1)
        a, b = pipe_pair(self.loop, latency=0.01)
        self.fake = ScriptedModem(self.loop, b, table)
        self.modem = Modem(self.loop, a, dialect=Sim800(multi=multi), echo=False)

    def call(self, method: str, *args: object, **kw: object) -> tuple[Result, float]:
        got: list[Result] = []
        start = self.loop.time()
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        while not got and self.loop.time() < start + 300:
            self.loop.run(until=self.loop.time() + 0.5)
        assert len(got) == 1, f"{method} did not finish"
        return got[0], self.loop.time() - start


def test_gprs_attach_goes_on_after_a_garbled_shut_ok_and_asks_the_state_after_a_garbled_ciicr() -> None:
    for multi, status in ((False, b"\r\nOK\r\n\r\nSTATE: IP GPRSACT\r\n"),
                          (True, b"\r\nOK\r\n\r\nSTATE: IP GPRSACT\r\n"
                                 + b"".join(b'\r\nC: %d,0,"","","","INITIAL"\r\n' % i for i in range(6)))):
        h = Harness({r"AT\+CIPSHUT": b"\r\nSHUT O\r\n", r"AT\+CIICR": b"\r\nO\r\n",
                     r"AT\+CIPSTATUS": status, r"AT\+CIFSR": b"\r\n10.1.2.3\r\n"}, multi=multi)
        result, took = h.call("gprs_attach", "internet")
        assert result == Ok("10.1.2.3"), (multi, result)
        assert took < 20, took                           # was 65 s (CIPSHUT) + 90 s (CIICR)
        assert h.fake.lines.count("AT") == 2             # one probe each
        assert h.fake.lines.count("AT+CIPSHUT") == 1 and h.fake.lines.count("AT+CIICR") == 1


def test_gprs_attach_fails_when_the_state_says_ciicr_did_not_work() -> None:
    h = Harness({r"AT\+CIPSHUT": b"\r\nSHUT OK\r\n", r"AT\+CIICR": b"\r\nERRR\r\n",
                 r"AT\+CIPSTATUS": b"\r\nOK\r\n\r\nSTATE: IP START\r\n"})
    result, took = h.call("gprs_attach", "internet")
    assert isinstance(result, Failed) and result.outcome_unknown and took < 20


def test_send_sms_with_a_garbled_reference_is_sent_and_with_a_lost_final_is_maybe_sent() -> None:
    h = Harness({})
    h.fake.prompt_answers[r"AT\+CMGS.*"] = b"\r\n+CGS: 7\r\n\r\nOK\r\n"       # `+CMGS:` lost a byte
    result, _ = h.call("send_sms", "+447700900123", "alarm #a1")
    assert result == Ok(SmsSent((UNKNOWN_REFERENCE,)))
    h.fake.prompt_answers[r"AT\+CMGS.*"] = b"\r\n+CGS: 8\r\n\r\nK\r\n"        # ... and the OK too
    result, took = h.call("send_sms", "+447700900123", "alarm #a2")
    assert isinstance(result, Failed) and result.outcome_unknown, result
    assert took < 10 and h.fake.lines.count("AT") == 1
    h.fake.prompt_answers[r"AT\+CMGS.*"] = b"\r\n+CMGS: 9\r\n\r\nK\r\n"       # answer seen: it went
    result, _ = h.call("send_sms", "+447700900123", "alarm #a3")
    assert result == Ok(SmsSent((9,)))
