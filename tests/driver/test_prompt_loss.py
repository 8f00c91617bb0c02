"""A `> ` prompt lost in line noise (issue 12 item 6): the channel gives up on it within seconds.

A SIM800 answers `AT+CMGS`/`AT+CIPSEND` with `> ` at once (SIM800 AT manual §3.2.5, §8.2.3). When
noise eats it, the old channel waited for the command's whole 65 s answer time, and the alarm SMS
queued behind it left 95 s late. Now: no prompt within `prompt_timeout` → ESC (cancels the input),
`Timeout(prompt_lost=True)` at once, and the next command goes as soon as the modem answers the ESC.
Bytes in, events and bytes out: no I/O.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modem.driver.at_channel import (
    CTRL_Z,
    ESC,
    PROMPT_TIMEOUT,
    ATChannel,
    Command,
    Garbage,
    Response,
    Timeout,
)
from modem.driver.dialects.sim800 import URCS


def cmgs() -> Command:
    return Command("AT+CMGS=20", timeout=65, prompt=True, payload=b"0011", prefixes=("+CMGS:",))


def cipsend_fixed() -> Command:
    return Command("AT+CIPSEND=3", timeout=65, prompt=True, payload=b"MP-", terminator=b"",
                   finals=("SEND OK",), fail_finals=("SEND FAIL",))


def channel() -> ATChannel:
    return ATChannel(URCS, echo=False)


def feed(ch: ATChannel, data: bytes, now: float) -> list:
    ch.receive_data(data, now)
    return ch.events()


def run_until(ch: ATChannel, until: float) -> list:
    """Tick at every deadline up to `until`; all events in order."""
    got: list = []
    while (d := ch.next_deadline()) is not None and d <= until:
        ch.tick(d)
        got += ch.events()
    return got


def test_lost_prompt_fails_within_prompt_timeout_and_cancels_with_esc() -> None:
    ch = channel()
    sms, nxt = cmgs(), Command("AT+CREG?", prefixes=("+CREG:",))
    assert ch.send(sms, 0) == b"AT+CMGS=20\r"
    ch.send(nxt, 0)
    assert feed(ch, b"\r\n ", 0.01) == []          # `\r\n> ` with the `>` dropped
    deadline = ch.next_deadline()
    assert deadline is not None and deadline <= PROMPT_TIMEOUT
    evs = run_until(ch, PROMPT_TIMEOUT)
    assert Timeout(sms, prompt_lost=True) in evs
    assert ch.data_to_send() == ESC                 # the input is cancelled; nothing was sent
    assert ch.in_flight is None                     # the next command waits for the ESC's answer …
    assert feed(ch, b"\r\nOK\r\n", PROMPT_TIMEOUT + 0.01) == []   # … which is not its final
    assert ch.data_to_send() == b"AT+CREG?\r"
    [ev] = feed(ch, b"\r\n+CREG: 2,1\r\n\r\nOK\r\n", PROMPT_TIMEOUT + 0.02)
    assert isinstance(ev, Response) and ev.command is nxt and ev.lines == ("+CREG: 2,1",)


def test_no_answer_to_esc_frees_the_channel_after_cancel_wait() -> None:
    ch = channel()
    sms, nxt = cmgs(), Command("AT")
    ch.send(sms, 0)
    ch.send(nxt, 0)
    ch.data_to_send()
    run_until(ch, PROMPT_TIMEOUT)
    assert ch.data_to_send() == ESC
    run_until(ch, PROMPT_TIMEOUT + ch.cancel_wait)   # the modem was not at a prompt: ESC is ignored
    assert ch.data_to_send() == b"AT\r"
    assert ch.in_flight is nxt


def test_fixed_length_send_cannot_be_cancelled_so_the_payload_goes() -> None:
    # `AT+CIPSEND=<n>` takes exactly n bytes: an ESC would be one of them and the next command's
    # bytes the rest. The payload is what the modem waits for; the session's stream stays intact.
    ch = channel()
    cmd = cipsend_fixed()
    ch.send(cmd, 0)
    ch.data_to_send()
    assert feed(ch, b"\r\n ", 0.01) == []
    assert run_until(ch, PROMPT_TIMEOUT) == [Garbage(b" ")]
    assert ch.data_to_send() == b"MP-"
    [ev] = feed(ch, b"\r\nSEND OK\r\n", PROMPT_TIMEOUT + 0.3)
    assert isinstance(ev, Response) and ev.final.line == "SEND OK"


def test_noise_before_the_prompt_is_salvaged() -> None:
    # Noise in front of `> ` on the same line: the line never ends (the modem waits for input).
    # Once the prompt is in, the command has its full answer time (the SMSC may take 60 s after Ctrl-Z).
    ch = channel()
    sms = cmgs()
    ch.send(sms, 0)
    ch.data_to_send()
    assert feed(ch, b"\r\n\x93\x07> ", 0.01) == []
    evs = run_until(ch, 0.01 + ch.partial_timeout)
    assert evs == [Garbage(b"\x93\x07")]
    assert ch.data_to_send() == b"0011" + CTRL_Z
    assert ch.next_deadline() == 65
    assert run_until(ch, 40) == []
    [ev] = feed(ch, b"\r\n+CMGS: 7\r\n\r\nOK\r\n", 40)
    assert isinstance(ev, Response) and ev.lines == ("+CMGS: 7",)


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=24), cut=st.integers(0, 4), drop=st.sets(st.integers(0, 3)))
def test_mangled_prompt_never_holds_the_channel(noise: bytes, cut: int, drop: set[int]) -> None:
    """Whatever noise does to `\\r\\n> `, the command ends and the next one goes within seconds."""
    wire = bytes(b for i, b in enumerate(b"\r\n> ") if i not in drop)
    wire = wire[:cut] + noise + wire[cut:]
    ch = channel()
    sms, nxt = cmgs(), Command("AT")
    ch.send(sms, 0)
    ch.send(nxt, 0)
    ch.data_to_send()
    ch.receive_data(wire, 0.01)
    evs = ch.events()
    bound = PROMPT_TIMEOUT + ch.cancel_wait
    evs += run_until(ch, bound)
    out = ch.data_to_send()
    if b"0011" + CTRL_Z in out:
        # The prompt was recognised (or salvaged): the SMS went and its answer is awaited.
        assert ch.in_flight is sms or any(isinstance(e, Response) and e.command is sms for e in evs)
    else:
        # Not recognised: failed (or ended by a final in the noise) and the channel moved on.
        assert any(isinstance(e, Timeout | Response) and e.command is sms for e in evs)
        assert ch.in_flight is not sms
