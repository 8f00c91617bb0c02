"""The SLCAN device codec: commands, frames both ways, garbage tolerance."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from can_bus.slcan import BEL, CR, SlcanDevice, SlcanFrame


def opened() -> SlcanDevice:
    dev = SlcanDevice()
    assert dev.feed(b"C\rS6\rO\r") == (CR * 3, [])
    return dev


def test_python_can_open_sequence_and_info_commands() -> None:
    dev = SlcanDevice(serial="AB12", version="1013")
    reply, frames = dev.feed(b"C\rS8\r\rO\r")  # python-can also writes an empty data-bitrate line
    assert reply == CR * 3 and frames == []
    assert dev.open and dev.bitrate == 1_000_000
    assert dev.feed(b"V\r")[0] == b"V1013\r"
    assert dev.feed(b"N\r")[0] == b"NAB12\r"
    assert dev.feed(b"F\r")[0] == b"F00\r"
    assert dev.feed(b"S4\r")[0] == BEL  # bitrate only while closed
    assert dev.feed(b"O\r")[0] == BEL  # already open


def test_frames_from_host() -> None:
    dev = opened()
    reply, frames = dev.feed(b"t3E0101\rT1ABCDEF02AABB\rr1234\r")
    assert reply == b"z\rZ\rz\r"
    assert frames == [SlcanFrame(0x3E0, b"\x01"), SlcanFrame(0x1ABCDEF0, b"\xaa\xbb", extended=True),
                      SlcanFrame(0x123, b"", remote=True)]


def test_frames_split_across_reads_and_crlf() -> None:
    dev = opened()
    out = [dev.feed(bytes([b])) for b in b"t12320102\r\n"]
    frames = [f for _, fs in out for f in fs]
    assert frames == [SlcanFrame(0x123, b"\x01\x02")]


def test_frames_to_host_only_when_open() -> None:
    dev = SlcanDevice()
    assert dev.encode_frame(0x102, b"\x01\x02") == b""
    dev.feed(b"O\r")
    assert dev.encode_frame(0x102, b"\x01\x02") == b"t10220102\r"
    assert dev.encode_frame(0x18DAF110, b"") == b"T18DAF1100\r"


def test_malformed_lines_get_bel_and_are_counted() -> None:
    dev = opened()
    bad = [b"t12", b"t1239" + b"00" * 9, b"tXYZ100", b"t123201", b"t8001AA", b"Q", b"hello", b"S9",
           b"T200000000100"]
    for line in bad:
        assert dev.feed(line + b"\r") == (BEL, []), line
    assert dev.errors == len(bad)
    assert dev.feed(b"x" * 500 + b"\rt1230\r") == (BEL + b"z\r", [SlcanFrame(0x123, b"")])
    assert dev.overflows == 1
    closed = SlcanDevice()
    assert closed.feed(b"t1230\r") == (BEL, [])  # frames need an open channel


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    dev = opened()
    reply, frames = dev.feed(data)
    assert isinstance(reply, bytes)
    # After any garbage (which may have closed the channel), a clean reopen and frame still work.
    reply, frames = dev.feed(b"\rC\rO\rt1232BEEF\r")
    assert frames[-1] == SlcanFrame(0x123, b"\xbe\xef")


@settings(max_examples=200, deadline=None)
@given(ext=st.booleans(), fid=st.integers(0, 0x1FFFFFFF), data=st.binary(max_size=8))
def test_round_trip_host_line_to_frame(ext: bool, fid: int, data: bytes) -> None:
    """A line formatted like python-can's slcan send() comes out as the same frame, and back."""
    if not ext:
        fid &= 0x7FF
    dev = opened()
    line = (f"T{fid:08X}" if ext else f"t{fid:03X}") + f"{len(data)}{data.hex().upper()}"
    reply, frames = dev.feed(line.encode() + CR)
    assert frames == [SlcanFrame(fid, data, extended=ext)]
    assert dev.encode_frame(fid, data, extended=ext) == line.encode() + CR
