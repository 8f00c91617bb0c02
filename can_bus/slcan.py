"""The device side of SLCAN (Lawicel CAN232/CANUSB ASCII protocol), sans-IO.

The virtual car uses this to look exactly like a USB SLCAN adapter (CANable, USBtin) on a pty, so
the unit opens it with python-can's `slcan` interface. The host side is python-can's, not ours:
two independent implementations of one wire (DESIGN.md §1).

    O / L / C        open / open listen-only / close the channel        → CR (BEL if not allowed)
    S0..S8, sxxyy    bitrate 10k..1M / BTR registers (channel closed)   → CR
    V / v / N / F    hardware+software version / serial / status flags  → "V1013" CR ...
    Z0/Z1 M/m X/W/Q  timestamps, acceptance filter, misc (accepted)     → CR
    tiiil<dd>        standard data frame                                → "z" CR
    Tiiiiiiiil<dd>   extended data frame                                → "Z" CR
    riiil / Riiiiiiiil  remote frames                                   → "z"/"Z" CR
Anything else, a malformed frame, or a frame while closed → BEL (0x07). Lines too long are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

CR = b"\r"
BEL = b"\x07"
MAX_LINE = 64  # "T" + 8 id + 1 dlc + 16 data + 4 timestamp = 30; anything longer is garbage

# Lawicel S-codes → bit/s.
BITRATES = {0: 10_000, 1: 20_000, 2: 50_000, 3: 100_000, 4: 125_000, 5: 250_000, 6: 500_000,
            7: 800_000, 8: 1_000_000}
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class SlcanFrame:
    """A frame the host asked us to put on the bus."""

    arbitration_id: int
    data: bytes
    extended: bool = False
    remote: bool = False


class SlcanDevice:
    """One adapter's protocol state: `feed(bytes) -> (reply, frames)`; `encode_frame` for the bus."""

    def __init__(self, serial: str = "VCAR", version: str = "1013") -> None:
        self.open = False
        self.listen_only = False
        self.bitrate = 500_000
        self.timestamps = False
        self.serial = serial
        self.version = version
        self.errors = 0  # lines answered with BEL
        self.overflows = 0
        self._buf = bytearray()
        self._overflowing = False

    def feed(self, data: bytes) -> tuple[bytes, list[SlcanFrame]]:
        """Bytes from the host → (bytes to answer, frames to transmit)."""
        reply = bytearray()
        frames: list[SlcanFrame] = []
        for byte in data:
            if byte == 0x0D:  # CR ends a command
                if self._overflowing:
                    self._overflowing = False
                    self._buf.clear()
                    reply += BEL
                    continue
                line = bytes(self._buf)
                self._buf.clear()
                if line:
                    out, frame = self._command(line)
                    reply += out
                    if frame is not None:
                        frames.append(frame)
            elif byte == 0x0A or byte == 0x00:
                continue  # a host that ends lines with CR LF, or line noise
            elif self._overflowing:
                continue
            else:
                self._buf.append(byte)
                if len(self._buf) > MAX_LINE:
                    self.overflows += 1
                    self.errors += 1
                    self._overflowing = True
        return bytes(reply), frames

    def encode_frame(self, arbitration_id: int, data: bytes, extended: bool | None = None,
                     timestamp_ms: int | None = None) -> bytes:
        """A frame heard on the bus, as the line the host reads (empty while the channel is closed)."""
        if not self.open:
            return b""
        ext = arbitration_id > 0x7FF if extended is None else extended
        head = f"T{arbitration_id:08X}" if ext else f"t{arbitration_id:03X}"
        line = f"{head}{len(data)}{bytes(data).hex().upper()}"
        if self.timestamps and timestamp_ms is not None:
            line += f"{timestamp_ms % 60000:04X}"
        return line.encode() + CR

    # -- one command line ------------------------------------------------------------------------------
    def _command(self, line: bytes) -> tuple[bytes, SlcanFrame | None]:
        cmd = line[:1]
        arg = line[1:]
        if cmd in (b"t", b"T", b"r", b"R"):
            return self._frame(line)
        if cmd == b"O" and not arg:
            if self.open:
                return self._fail()
            self.open, self.listen_only = True, False
            return CR, None
        if cmd == b"L" and not arg:
            if self.open:
                return self._fail()
            self.open, self.listen_only = True, True
            return CR, None
        if cmd == b"C" and not arg:
            # python-can sends C first to reset an adapter in any state: closing a closed channel is OK.
            self.open = False
            return CR, None
        if cmd == b"S" and len(arg) == 1 and arg.isdigit() and int(arg) in BITRATES:
            if self.open:
                return self._fail()
            self.bitrate = BITRATES[int(arg)]
            return CR, None
        if cmd == b"s" and len(arg) == 4 and set(arg) <= _HEX:
            return (CR, None) if not self.open else self._fail()
        if cmd == b"V" and not arg:
            return b"V" + self.version.encode() + CR, None
        if cmd == b"v" and not arg:
            return b"v" + self.version.encode() + CR, None
        if cmd == b"N" and not arg:
            return b"N" + self.serial.encode()[:4] + CR, None
        if cmd == b"F" and not arg:
            return b"F00" + CR, None
        if cmd == b"Z" and arg in (b"0", b"1"):
            self.timestamps = arg == b"1"
            return CR, None
        if cmd in (b"M", b"m") and len(arg) == 8 and set(arg) <= _HEX:
            return CR, None
        if cmd in (b"X", b"W", b"Q") and len(arg) == 1:
            return CR, None
        return self._fail()

    def _frame(self, line: bytes) -> tuple[bytes, SlcanFrame | None]:
        kind = line[:1]
        ext = kind in (b"T", b"R")
        remote = kind in (b"r", b"R")
        id_len = 8 if ext else 3
        if not self.open or self.listen_only or len(line) < 1 + id_len + 1:
            return self._fail()
        id_hex, dlc_ch = line[1:1 + id_len], line[1 + id_len:2 + id_len]
        if not set(id_hex) <= _HEX or not dlc_ch.isdigit():
            return self._fail()
        arbitration_id, dlc = int(id_hex, 16), int(dlc_ch)
        limit = 0x1FFFFFFF if ext else 0x7FF
        if arbitration_id > limit or dlc > 8:
            return self._fail()
        payload = line[2 + id_len:]
        if remote:
            if payload:
                return self._fail()
            data = b""
        else:
            if len(payload) != dlc * 2 or not set(payload) <= _HEX:
                return self._fail()
            data = bytes.fromhex(payload.decode())
        ack = b"Z" if ext else b"z"
        return ack + CR, SlcanFrame(arbitration_id, data, ext, remote)

    def _fail(self) -> tuple[bytes, None]:
        self.errors += 1
        return BEL, None
