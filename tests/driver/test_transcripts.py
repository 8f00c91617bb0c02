"""Recorded SIM800 sessions (tests/driver/transcripts/*.txt) replayed through the AT channel."""

from __future__ import annotations

from pathlib import Path

import pytest
from transcript_replay import replay, unescape

from modem.driver.at_channel import ATChannel
from modem.driver.dialects.sim800 import URCS

DIR = Path(__file__).parent / "transcripts"
FILES = sorted(DIR.glob("*.txt"))


def test_there_are_transcripts():
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path):
    assert replay(path) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript_bytes_one_at_a_time_never_raise(path):
    """The modem side of each transcript, fed byte by byte into an idle channel."""
    ch = ATChannel(URCS)
    for line in path.read_text().splitlines():
        if line.startswith("rx "):
            for b in unescape(line[3:]):
                ch.receive_data(bytes([b]), 0)
    assert ch.events()
