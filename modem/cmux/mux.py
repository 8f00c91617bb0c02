"""The 07.10 multiplexer state machine (3GPP TS 27.010 basic option), sans-IO, for either end.

h11 style: bytes and the time in; typed events, bytes to write and the next deadline out.

    mux = Multiplexer(Role.INITIATOR)          # the TE (our driver); Role.RESPONDER is the modem
    mux.start(now)                             # SABM on DLCI 0 (§5.7.1 start-up)
    mux.open(1, now); mux.send(1, b"AT\\r", now)
    mux.receive_data(bytes_from_port, now)
    for ev in mux.events(): ...                # ChannelOpened, Data, ChannelClosed, MuxClosed, ...
    port.write(mux.data_to_send())
    mux.tick(now) at mux.next_deadline()

Why each timer (§5.7): T1 is how long a SABM or DISC waits for its UA/DM before it is sent again,
at most N2 more times (then the DLCI failed to open, or is taken as closed); T2 is the same for a
command on the control channel (MSC, Test, PSC, CLD, FCon/FCoff), after which `ControlTimeout`.
Data for a DLCI is cut into UIH frames of at most N1 octets and held while the peer asked us to stop
(FCoff for all DLCIs, MSC with FC for one); frames of different DLCIs are interleaved one at a time
so a bulk transfer on one channel does not hold back a short command on another.
Bad input from the peer (a corrupt frame, a malformed control message, a frame on a closed DLCI) is
counted and dropped or answered (DM, NSC) and never raises.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from modem.cmux.control import (
    FC,
    ControlError,
    ControlMessage,
    ControlType,
    ModemStatus,
    decode_messages,
)
from modem.cmux.frame import CR, EA, MAX_DLCI, N1_DEFAULT, Frame, FrameDecoder, FrameType, Junk


class Role(Enum):
    INITIATOR = "initiator"  # sends SABM on DLCI 0: the TE (§5.2.1.2 table 1: its commands have C/R 1)
    RESPONDER = "responder"  # the modem, after AT+CMUX=0


class DlciState(Enum):
    CLOSED = "closed"
    OPENING = "opening"  # SABM sent, waiting for UA
    OPEN = "open"
    CLOSING = "closing"  # DISC sent, waiting for UA


@dataclass(frozen=True)
class MuxParams:
    """AT+CMUX's N1, T1, N2, T2 (§5.7; defaults: 31 octets, 100 ms, 3 retransmissions, 300 ms)."""

    n1: int = N1_DEFAULT
    t1: float = 0.1
    n2: int = 3
    t2: float = 0.3


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelOpened:
    dlci: int


@dataclass(frozen=True)
class OpenFailed:
    """SABM refused (DM) or never answered after N2 retransmissions."""

    dlci: int
    reason: str


@dataclass(frozen=True)
class ChannelClosed:
    dlci: int
    reason: str


@dataclass(frozen=True)
class Data:
    dlci: int
    data: bytes


@dataclass(frozen=True)
class StatusChanged:
    """The peer's MSC for a DLCI (flow control, RTC/RTR, RI, DCD)."""

    status: ModemStatus


@dataclass(frozen=True)
class FlowControl:
    """FCoff (stopped=True) or FCon from the peer: all DLCIs."""

    stopped: bool


@dataclass(frozen=True)
class EchoAnswered:
    """The peer echoed our Test command's pattern (§5.4.6.3.4): the link is alive."""

    pattern: bytes


@dataclass(frozen=True)
class ControlTimeout:
    """A control command of ours got no response after N2 retransmissions of T2."""

    message: ControlMessage


@dataclass(frozen=True)
class NotSupported:
    """The peer answered NSC: it does not know the command with this type octet."""

    type: int


@dataclass(frozen=True)
class PowerSave:
    """The peer asked us to go into power-saving (PSC command); answered already."""


@dataclass(frozen=True)
class MuxClosed:
    """The multiplexer is gone (CLD either way, DISC on DLCI 0, or no answer to the start-up SABM):
    the line is back to plain AT commands."""

    reason: str


MuxEvent = (ChannelOpened | OpenFailed | ChannelClosed | Data | StatusChanged | FlowControl | EchoAnswered
            | ControlTimeout | NotSupported | PowerSave | MuxClosed | Junk)


@dataclass
class MuxStats:
    sent_frames: int = 0
    received_frames: int = 0
    retransmissions: int = 0
    dropped_frames: int = 0  # well-formed frames we could not use (closed DLCI, bad control message)


@dataclass
class _Pending:
    frame: Frame
    deadline: float
    tries: int = 0


@dataclass
class _PendingControl:
    message: ControlMessage
    deadline: float
    tries: int = 0


@dataclass
class _Dlci:
    state: DlciState = DlciState.CLOSED
    out: deque[bytes] = field(default_factory=deque)
    peer_stopped: bool = False  # the peer's MSC had FC set
    pending: _Pending | None = None


class MuxStateError(RuntimeError):
    """We used the multiplexer wrongly (our bug): data on a DLCI that is not open, etc."""


class Multiplexer:
    def __init__(self, role: Role, params: MuxParams | None = None) -> None:
        self.role = role
        self.params = params or MuxParams()
        self.decoder = FrameDecoder(n1=self.params.n1)
        self.stats = MuxStats()
        self._dlcis: dict[int, _Dlci] = {}
        self._events: deque[MuxEvent] = deque()
        self._out = bytearray()
        self._control: list[_PendingControl] = []
        self._flow_stopped = False  # the peer sent FCoff
        self._rr = 0  # round-robin position for interleaving DLCIs
        self.closed = False  # after MuxClosed
        # for `vmodem serve --log-mux`: ("rx" | "tx", frame), ("rx", Junk), ("bad", reason)
        self.trace: Callable[[str, Frame | Junk | str], None] | None = None
        self.decoder.on_reject = self._trace_reject

    def _trace_reject(self, reason: str) -> None:
        if self.trace is not None:
            self.trace("bad", reason)

    # -- what the caller asks for ---------------------------------------------------------------

    def state(self, dlci: int) -> DlciState:
        d = self._dlcis.get(dlci)
        return d.state if d else DlciState.CLOSED

    def start(self, now: float) -> None:
        """Initiator: open the control channel (SABM on DLCI 0)."""
        self.open(0, now)

    def open(self, dlci: int, now: float) -> None:
        if not 0 <= dlci <= MAX_DLCI:
            raise MuxStateError(f"DLCI {dlci} out of range")
        d = self._dlci(dlci)
        if d.state in (DlciState.OPEN, DlciState.OPENING):
            return
        d.state = DlciState.OPENING
        self._command_frame(dlci, d, Frame(dlci, FrameType.SABM, pf=True, cr=self._cmd_cr), now)

    def close(self, dlci: int, now: float) -> None:
        d = self._dlcis.get(dlci)
        if d is None or d.state is DlciState.CLOSED:
            return
        d.state = DlciState.CLOSING
        d.out.clear()
        self._command_frame(dlci, d, Frame(dlci, FrameType.DISC, pf=True, cr=self._cmd_cr), now)

    def send(self, dlci: int, data: bytes, now: float) -> None:
        """Queue data on an open DLCI; it goes out in UIH frames of at most N1 octets."""
        d = self._dlcis.get(dlci)
        if dlci == 0 or d is None or d.state is not DlciState.OPEN:
            raise MuxStateError(f"DLCI {dlci} is not open")
        n1 = self.params.n1
        for i in range(0, len(data), n1):
            d.out.append(bytes(data[i:i + n1]))

    def send_status(self, status: ModemStatus, now: float) -> None:
        """MSC command: our V.24 signals for a DLCI (set FC to ask the peer to stop sending on it)."""
        self._control_command(ControlMessage(ControlType.MSC, True, status.value()), now)

    def test(self, pattern: bytes, now: float) -> None:
        self._control_command(ControlMessage(ControlType.TEST, True, pattern), now)

    def close_down(self, now: float) -> None:
        """CLD: leave multiplexer mode (both ends go back to AT commands on the line)."""
        self._control_command(ControlMessage(ControlType.CLD, True), now)

    def flow(self, stopped: bool, now: float) -> None:
        """FCoff/FCon: ask the peer to stop/resume sending on all DLCIs."""
        self._control_command(ControlMessage(ControlType.FCOFF if stopped else ControlType.FCON, True), now)

    def queued(self, dlci: int) -> int:
        """Octets waiting to be framed on a DLCI (held by flow control)."""
        d = self._dlcis.get(dlci)
        return sum(len(c) for c in d.out) if d else 0

    # -- I/O ------------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        for item in self.decoder.feed(data):
            if self.trace is not None:
                self.trace("rx", item)
            if isinstance(item, Junk):
                self._events.append(item)
            else:
                self.stats.received_frames += 1
                if not self.closed:
                    self._on_frame(item, now)

    def data_to_send(self) -> bytes:
        """Everything to write now. Queued data is framed here, not in `send`, so data queued on
        several DLCIs before the caller writes goes out interleaved frame by frame."""
        self._pump()
        out, self._out = bytes(self._out), bytearray()
        return out

    def next_event(self) -> MuxEvent | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[MuxEvent]:
        out = list(self._events)
        self._events.clear()
        return out

    def next_deadline(self) -> float | None:
        times = [d.pending.deadline for d in self._dlcis.values() if d.pending]
        times += [c.deadline for c in self._control]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        p = self.params
        for dlci, d in list(self._dlcis.items()):
            pend = d.pending
            if pend is None or pend.deadline > now:
                continue
            if pend.tries < p.n2:
                pend.tries += 1
                pend.deadline = now + p.t1
                self.stats.retransmissions += 1
                self._write(pend.frame)
                continue
            d.pending = None
            if d.state is DlciState.OPENING:
                d.state = DlciState.CLOSED
                if dlci == 0:
                    self._mux_gone("no UA to SABM on DLCI 0")
                else:
                    self._events.append(OpenFailed(dlci, f"no answer to SABM after {p.n2} retransmissions"))
            elif d.state is DlciState.CLOSING:
                self._closed(dlci, d, "no answer to DISC (taken as closed)")
        for pc in list(self._control):
            if pc.deadline > now:
                continue
            if pc.tries < p.n2:
                pc.tries += 1
                pc.deadline = now + p.t2
                self.stats.retransmissions += 1
                self._write(Frame(0, FrameType.UIH, pc.message.encode(), cr=self._cmd_cr))
                continue
            self._control.remove(pc)
            self._events.append(ControlTimeout(pc.message))
            if pc.message.type == ControlType.CLD:
                self._mux_gone("no answer to CLD (taken as closed down)")

    # -- internals ------------------------------------------------------------------------------

    @property
    def _cmd_cr(self) -> bool:
        return self.role is Role.INITIATOR  # table 1: commands from the initiator carry C/R 1

    def _dlci(self, dlci: int) -> _Dlci:
        d = self._dlcis.get(dlci)
        if d is None:
            d = self._dlcis[dlci] = _Dlci()
        return d

    def _write(self, frame: Frame) -> None:
        self.stats.sent_frames += 1
        if self.trace is not None:
            self.trace("tx", frame)
        self._out += frame.encode()

    def _command_frame(self, dlci: int, d: _Dlci, frame: Frame, now: float) -> None:
        d.pending = _Pending(frame, now + self.params.t1)
        self._write(frame)

    def _respond(self, dlci: int, ftype: FrameType) -> None:
        self._write(Frame(dlci, ftype, pf=True, cr=not self._cmd_cr))

    def _control_command(self, msg: ControlMessage, now: float) -> None:
        if self.state(0) is not DlciState.OPEN:
            raise MuxStateError("the control channel (DLCI 0) is not open")
        self._control.append(_PendingControl(msg, now + self.params.t2))
        self._write(Frame(0, FrameType.UIH, msg.encode(), cr=self._cmd_cr))

    def _control_response(self, msg: ControlMessage) -> None:
        self._write(Frame(0, FrameType.UIH, ControlMessage(msg.type, False, msg.value).encode(),
                          cr=self._cmd_cr))

    def _pump(self) -> None:
        """Frame queued data, one frame per DLCI in turn, skipping DLCIs the peer has stopped."""
        if self._flow_stopped:
            return
        while True:
            ready = sorted(n for n, d in self._dlcis.items()
                           if d.out and d.state is DlciState.OPEN and not d.peer_stopped)
            if not ready:
                return
            for n in ready:
                d = self._dlcis[n]
                self._write(Frame(n, FrameType.UIH, d.out.popleft(), cr=self._cmd_cr))

    def _closed(self, dlci: int, d: _Dlci, reason: str) -> None:
        d.state = DlciState.CLOSED
        d.pending = None
        d.out.clear()
        d.peer_stopped = False
        if dlci != 0:
            self._events.append(ChannelClosed(dlci, reason))

    def _mux_gone(self, reason: str) -> None:
        if self.closed:
            return
        for n, d in self._dlcis.items():
            if d.state is not DlciState.CLOSED:
                self._closed(n, d, reason)
        self._control.clear()
        self.closed = True
        self._events.append(MuxClosed(reason))

    def _on_frame(self, f: Frame, now: float) -> None:
        d = self._dlci(f.dlci)
        t = f.type
        if t is FrameType.SABM:
            if f.dlci != 0 and self.state(0) is not DlciState.OPEN:
                self._respond(f.dlci, FrameType.DM)
                return
            self._respond(f.dlci, FrameType.UA)
            if d.state is not DlciState.OPEN:
                d.state = DlciState.OPEN
                d.pending = None
                if f.dlci != 0:
                    self._events.append(ChannelOpened(f.dlci))
        elif t is FrameType.DISC:
            if d.state is DlciState.CLOSED:
                self._respond(f.dlci, FrameType.DM)
                return
            self._respond(f.dlci, FrameType.UA)
            if f.dlci == 0:
                self._mux_gone("DISC on DLCI 0 from the peer")
            else:
                self._closed(f.dlci, d, "closed by the peer (DISC)")
        elif t is FrameType.UA:
            if d.state is DlciState.OPENING:
                d.state = DlciState.OPEN
                d.pending = None
                if f.dlci != 0:
                    self._events.append(ChannelOpened(f.dlci))
                self._pump()
            elif d.state is DlciState.CLOSING:
                if f.dlci == 0:
                    self._mux_gone("DLCI 0 closed (UA to DISC)")
                else:
                    self._closed(f.dlci, d, "closed (UA to DISC)")
            else:
                self.stats.dropped_frames += 1
        elif t is FrameType.DM:
            if d.state is DlciState.OPENING:
                d.state = DlciState.CLOSED
                d.pending = None
                if f.dlci == 0:
                    self._mux_gone("DM to SABM on DLCI 0")
                else:
                    self._events.append(OpenFailed(f.dlci, "refused (DM)"))
            elif d.state is not DlciState.CLOSED:
                if f.dlci == 0:
                    self._mux_gone("DM on DLCI 0")
                else:
                    self._closed(f.dlci, d, "peer says disconnected (DM)")
            else:
                self.stats.dropped_frames += 1
        else:  # UIH, UI
            if d.state is not DlciState.OPEN:
                self.stats.dropped_frames += 1
                return
            if f.dlci == 0:
                self._on_control(f.info, now)
            elif f.info:
                self._events.append(Data(f.dlci, f.info))

    def _on_control(self, info: bytes, now: float) -> None:
        try:
            messages = decode_messages(info)
        except ControlError:
            self.stats.dropped_frames += 1
            return
        for msg in messages:
            if msg.command:
                self._on_control_command(msg)
            else:
                self._on_control_answer(msg)

    def _on_control_command(self, msg: ControlMessage) -> None:
        t = msg.type
        if t == ControlType.MSC:
            try:
                status = ModemStatus.parse(msg.value)
            except ControlError:
                self.stats.dropped_frames += 1
                return
            self._control_response(msg)
            d = self._dlcis.get(status.dlci)
            if d is not None:
                d.peer_stopped = bool(status.signals & FC)
            self._events.append(StatusChanged(status))
            self._pump()
        elif t == ControlType.TEST:
            self._control_response(msg)
        elif t == ControlType.PSC:
            self._control_response(msg)
            self._events.append(PowerSave())
        elif t in (ControlType.FCON, ControlType.FCOFF):
            self._control_response(msg)
            self._flow_stopped = t == ControlType.FCOFF
            self._events.append(FlowControl(self._flow_stopped))
            self._pump()
        elif t == ControlType.CLD:
            self._control_response(msg)
            self._mux_gone("CLD from the peer")
        else:  # §5.4.6.3.6: a command we do not support is answered NSC with its type octet
            self._write(Frame(0, FrameType.UIH,
                              ControlMessage(ControlType.NSC, False, bytes([msg.type | CR])).encode(),
                              cr=self._cmd_cr))

    def _on_control_answer(self, msg: ControlMessage) -> None:
        if msg.type == ControlType.NSC:
            t = (msg.value[0] & ~CR) | EA if msg.value else 0
            for pc in self._control:
                if pc.message.type == t:
                    self._control.remove(pc)
                    break
            self._events.append(NotSupported(t))
            return
        for pc in self._control:
            if pc.message.type == msg.type and (msg.type != ControlType.TEST or pc.message.value == msg.value):
                self._control.remove(pc)
                if msg.type == ControlType.TEST:
                    self._events.append(EchoAnswered(msg.value))
                elif msg.type == ControlType.CLD:
                    self._mux_gone("closed down (CLD answered)")
                return
        self.stats.dropped_frames += 1
