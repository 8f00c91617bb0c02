"""SIM7600 sessions written from the SIM7500/SIM7600 Series AT Command Manual's examples, URCs interleaved
(tests/driver/transcripts/sim7600/*.txt), replayed through the AT channel with the `sim7600` URC table.

The commands are the ones the dialect's own scripts build (taken from the scripts, not rebuilt here), so a
change in how the driver words or ends a command shows up as a failing transcript.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from transcript_replay import command_for as generic_command_for
from transcript_replay import replay, unescape

from modem.driver.at_channel import ATChannel, Command, Final, FinalKind, Response
from modem.driver.dialects.sim7600 import URCS, DataWaiting, Sim7600

DIR = Path(__file__).parent / "transcripts" / "sim7600"
FILES = sorted(DIR.glob("*.txt"))


def _from_script(gen: Generator[Any, Any, Any], text: str) -> Command:
    """Step a dialect script with plausible answers until it yields the command `text`."""
    answer: Response | None = None
    for _ in range(20):
        cmd = gen.send(answer) if answer is not None else next(gen)
        if isinstance(cmd, Command) and cmd.text == text:
            return cmd
        answer = Response(cmd, ("+IPADDR: 10.0.0.1", "+CIPRXGET: 4,0,0"), Final("OK", FinalKind.OK)) \
            if isinstance(cmd, Command) else None
    raise AssertionError(f"the sim7600 scripts never send {text!r}")


def command_for(text: str, payload: bytes | None) -> Command:
    d = Sim7600()
    up = text.upper()
    if m := re.fullmatch(r'AT\+CIPOPEN=(\d),"TCP","([^"]+)",(\d+)', text):
        return _from_script(d.tcp_open(int(m[1]), m[2], int(m[3])), text)
    if m := re.fullmatch(r"AT\+CIPSEND=(\d),(\d+)", text):
        assert payload is not None and len(payload) == int(m[2])
        return _from_script(d.tcp_send(int(m[1]), payload), text)
    if m := re.fullmatch(r"AT\+CIPCLOSE=(\d)", text):
        return _from_script(d.tcp_close(int(m[1])), text)
    if m := re.fullmatch(r"AT\+CIPRXGET=[24],(\d).*", text):
        script = d.urc_script(DataWaiting(f"+CIPRXGET: 1,{m[1]}", conn=int(m[1])))
        assert script is not None
        return _from_script(script, text)
    if up in ("AT+NETOPEN", "AT+IPADDR", "AT+CIPMODE=0", "AT+CIPRXGET=1") or up.startswith("AT+CGDCONT="):
        return _from_script(d.gprs_attach("internet", "", ""), text)
    if up == "AT+NETCLOSE":
        return _from_script(d.gprs_shutdown(), text)
    if up.startswith("AT+CGPSINFOCFG="):
        return _from_script(d.gnss_stream(text.endswith("1,31")), text)
    if up == "AT+CGPSINFO":
        return _from_script(d.gnss_fix(), text)
    if up.startswith("AT+CGPS="):
        return _from_script(d.gnss_power(text.endswith("1")), text)
    if up == "AT+CEREG=2":
        return _from_script(d.setup(), text)
    return generic_command_for(text, payload)


def test_there_are_sim7600_transcripts() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    assert replay(path, URCS, command_for) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript_bytes_one_at_a_time_never_raise(path: Path) -> None:
    """The modem side of each transcript, fed byte by byte into an idle channel."""
    ch = ATChannel(URCS)
    for line in path.read_text().splitlines():
        if line.startswith("rx "):
            for b in unescape(line[3:]):
                ch.receive_data(bytes([b]), 0)
    assert ch.events()
