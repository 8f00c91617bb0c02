"""Basic-option frames of 3GPP TS 27.010 (GSM 07.10) §5.2: encoder and a resynchronising decoder.

    F9 | address | control | length (1 or 2 octets) | information | FCS | F9

The basic option has no byte stuffing: the information field may contain 0xF9, and only the length
tells where a frame ends. So the decoder treats every 0xF9 as a *candidate* opening flag, parses a
frame behind it and accepts it only when the length is within N1, the control octet is a known frame
type, the FCS checks and a closing flag stands where the length says. On any failure it discards
just that candidate flag and hunts for the next 0xF9 in what it already holds (it backtracks), so a
corrupt frame costs that frame only and the next intact frame is still found. Nothing that failed a
check is ever passed up; every discard is counted by reason (`DecoderStats`).

Limits (the format's, not this code's): the FCS of a UIH frame covers the header only (§5.3.6), so a
corrupted byte in UIH information is not detectable at this layer; and a corrupted length octet moves
the place where the FCS and the closing flag are read, so such a frame is taken for valid with a
chance of about 1 in 65,536 (an 8-bit FCS and one flag octet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from modem.cmux.fcs import fcs

FLAG = 0xF9  # §5.2.6: basic option opening and closing flag
EA = 0x01  # §5.2.1.2: extension bit (1: last octet of the field)
CR = 0x02  # §5.2.1.2: command/response bit
PF = 0x10  # §5.2.1.3: poll/final bit
N1_DEFAULT = 31  # §5.7.2: default maximum information length, basic option
N1_MAX = 32768  # §5.7.2: the largest N1 the length field can carry (2 octets, 15 bits)
# DLCI 62 with C/R = 0 would make the address octet 0xF9, which a receiver cannot tell from a flag
# (no stuffing in the basic option); we never use it, and the decoder skips runs of flags.
MAX_DLCI = 61


class FrameType(IntEnum):
    """Control-field values with the P/F bit clear (§5.2.1.3, table 2)."""

    SABM = 0x2F  # set asynchronous balanced mode: open a DLCI
    UA = 0x63  # unnumbered acknowledgement
    DM = 0x0F  # disconnected mode: refuses SABM, or answers a frame on a closed DLCI
    DISC = 0x43  # disconnect a DLCI (DLCI 0: the whole multiplexer)
    UIH = 0xEF  # unnumbered information, FCS over the header only
    UI = 0x03  # unnumbered information, FCS over header and information


_TYPES = {t.value: t for t in FrameType}


class FrameError(ValueError):
    """A frame we were asked to build breaks the format (our bug, not the peer's)."""


@dataclass(frozen=True)
class Frame:
    """One decoded or to-be-encoded frame. `cr` is the address field's C/R bit (§5.2.1.2, table 1)."""

    dlci: int
    type: FrameType
    info: bytes = b""
    pf: bool = False
    cr: bool = True

    def encode(self) -> bytes:
        """The frame on the wire, both flags included."""
        if not 0 <= self.dlci <= MAX_DLCI:
            raise FrameError(f"DLCI {self.dlci} out of range 0..{MAX_DLCI}")
        n = len(self.info)
        if n > N1_MAX:
            raise FrameError(f"information field of {n} octets is longer than the format allows")
        address = (self.dlci << 2) | (CR if self.cr else 0) | EA
        control = self.type.value | (PF if self.pf else 0)
        length = bytes([(n << 1) | EA]) if n < 128 else bytes([(n << 1) & 0xFE, n >> 7])
        header = bytes([address, control]) + length
        checked = header if self.type is FrameType.UIH else header + self.info
        return bytes([FLAG]) + header + self.info + bytes([fcs(checked), FLAG])

    def __str__(self) -> str:
        return (f"DLCI {self.dlci} {self.type.name}{' P/F' if self.pf else ''}"
                f"{' C' if self.cr else ''} len {len(self.info)}")


@dataclass
class DecoderStats:
    """Why bytes were thrown away; the multiplexer's and `vmodem --log-mux`'s counters."""

    frames: int = 0  # frames passed up
    bad_fcs: int = 0  # a complete frame whose FCS did not check
    no_closing_flag: int = 0  # the length led to a byte that is not a flag (a lost or extra byte)
    bad_header: int = 0  # address without EA, unknown control octet, length beyond N1
    junk_bytes: int = 0  # bytes outside any frame (text, noise, the tail of a broken frame)

    @property
    def discarded(self) -> int:
        return self.bad_fcs + self.no_closing_flag + self.bad_header


@dataclass(frozen=True)
class Junk:
    """Bytes between frames that belong to no frame: noise, or a modem talking plain AT (`RDY`)."""

    data: bytes


_MORE = object()  # the candidate frame is not complete yet
_REJECTED = object()  # the candidate flag was dropped


@dataclass
class FrameDecoder:
    """Bytes in, `Frame`s (and `Junk`) out; never raises on any input.

    n1: the largest information field accepted (AT+CMUX's N1); a longer length is a bad header,
    which bounds how far a corrupted length can make the decoder wait or read.
    """

    n1: int = N1_DEFAULT
    stats: DecoderStats = field(default_factory=DecoderStats)
    on_reject: Callable[[str], None] | None = None  # told why each candidate frame was discarded

    def __post_init__(self) -> None:
        if not 1 <= self.n1 <= N1_MAX:
            raise FrameError(f"N1 {self.n1} out of range 1..{N1_MAX}")
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held for a frame not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[Frame | Junk]:
        """Take bytes; yield every frame (and stretch of junk) they complete, in order."""
        self._buf += data
        buf = self._buf
        while buf:
            start = buf.find(FLAG)
            if start < 0:
                yield self._junk(len(buf))
                return
            if start > 0:
                yield self._junk(start)
                continue
            # buf[0] is a flag; a run of flags is idle fill or a closing flag followed by an opening
            if len(buf) > 1 and buf[1] == FLAG:
                del buf[0]
                continue
            got = self._parse()
            if got is _MORE:
                return
            if isinstance(got, Frame):
                self.stats.frames += 1
                yield got
            # a rejected candidate: drop its flag and hunt from the next byte (backtrack)

    def _junk(self, n: int) -> Junk:
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        self.stats.junk_bytes += n
        return Junk(chunk)

    def _parse(self) -> Frame | object:
        """Parse the candidate at buf[0]. A frame (consumed up to its closing flag, which stays as
        the next opening flag), `_MORE`, or `_REJECTED` (the candidate flag dropped and counted)."""
        buf = self._buf
        if len(buf) < 4:
            return _MORE
        address, control = buf[1], buf[2]
        ftype = _TYPES.get(control & ~PF)
        if not address & EA or ftype is None:
            return self._reject("bad_header")
        if buf[3] & EA:
            n, hlen = buf[3] >> 1, 1
        else:
            if len(buf) < 5:
                return _MORE
            n, hlen = (buf[3] >> 1) | (buf[4] << 7), 2
        if n > self.n1:
            return self._reject("bad_header")
        info_at = 3 + hlen
        end = info_at + n  # the FCS octet; the closing flag follows
        if len(buf) < end + 2:
            return _MORE
        if buf[end + 1] != FLAG:
            return self._reject("no_closing_flag")
        header = bytes(buf[1:info_at])
        info = bytes(buf[info_at:end])
        checked = header if ftype is FrameType.UIH else header + info
        if fcs(checked) != buf[end]:
            return self._reject("bad_fcs")
        del buf[: end + 1]
        return Frame(dlci=address >> 2, type=ftype, info=info, pf=bool(control & PF), cr=bool(address & CR))

    def _reject(self, reason: Literal["bad_fcs", "no_closing_flag", "bad_header"]) -> object:
        """Count why the candidate at buf[0] failed and drop its flag; the caller backtracks."""
        setattr(self.stats, reason, getattr(self.stats, reason) + 1)
        if self.on_reject is not None:
            self.on_reject(reason)
        del self._buf[0]
        self.stats.junk_bytes += 1
        return _REJECTED
