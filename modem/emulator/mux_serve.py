"""The virtual modem's side of the 07.10 multiplexer: what happens on the line after AT+CMUX.

`VirtualModem` hands its serial stream to a `MuxServer` when its interpreter accepts AT+CMUX (the
`MuxStart` action, after the OK is out). The server answers the host's SABMs as a responder
(`modem.cmux`, shared with the driver only as a codec), serves DLCI 1 with the modem's own
interpreter (its URCs: RING, +CMTI, registration) and every other DLCI with a `ChannelInterpreter`
over the same modem state. A TCP link belongs to the channel that opened it: its data and close
URCs come out there. When the multiplexer closes (CLD, DISC on DLCI 0) or the modem reboots under
it (its settings, and so AT+CMUX, are gone), the serial stream goes back to plain AT: a rebooted
modem's `RDY` reaches the host as plain text, as on a real module.

Faults for testers (`vmodem fault`): `mux-corrupt` damages bytes of frames the modem sends (bad
FCS, lost flags); `mux-stall` makes the multiplexer stop answering (frames in are ignored, nothing
goes out, as a hung mux task would); `mux-reboot` reboots the modem under the multiplexer.
`--log-mux` logs each frame decoded and sent (DLCI, type, length, FCS ok or why not).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from modem.cmux.channel import MuxPort, MuxStream
from modem.cmux.frame import FLAG, Frame, Junk
from modem.cmux.mux import ChannelClosed, ChannelOpened, MuxClosed, MuxEvent, MuxParams, Role
from modem.emulator.events import Action, MuxStart
from modem.emulator.mux_channel import ChannelInterpreter
from runtime.stream import Stream

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter
    from runtime import Loop, Timer

log = logging.getLogger(__name__)
mux_log = logging.getLogger("modem.emulator.mux")  # --log-mux


class FaultyLine(Stream):
    """The serial stream as the multiplexer sees it, with the mux faults applied to it."""

    def __init__(self, loop: Loop, inner: Stream, fault_on: Callable[[str], bool], rng_name: str) -> None:
        super().__init__()
        self.inner = inner
        self._fault_on = fault_on
        self._rng = loop.random(rng_name)
        self.corrupted = 0
        inner.set_handlers(self._from_host, self._peer_closed)

    def _from_host(self, data: bytes) -> None:
        if self._fault_on("mux-stall"):
            return
        self._deliver(data)

    def write(self, data: bytes) -> None:
        if self._fault_on("mux-stall"):
            return
        if self._fault_on("mux-corrupt") and data:
            data = self._corrupt(data)
        self.inner.write(data)

    def _corrupt(self, data: bytes) -> bytes:
        """Flip a bit in the flag, address, control or FCS of some frames. (A flipped bit in a UIH
        frame's information is beyond any 07.10 receiver: its FCS covers the header only, §5.3.6.)"""
        buf = bytearray(data)
        i = 0
        while i + 4 < len(buf) and buf[i] == FLAG:  # `data` is whole frames, as the multiplexer wrote them
            n, hlen = (buf[i + 3] >> 1, 1) if buf[i + 3] & 1 else ((buf[i + 3] >> 1) | (buf[i + 4] << 7), 2)
            end = i + 3 + hlen + n + 2  # past the closing flag
            if self._rng.random() < 0.3:
                at = self._rng.choice((i, i + 1, i + 2, end - 2, end - 1))
                buf[at] ^= 1 << self._rng.randrange(8)
                self.corrupted += 1
            i = end
        return bytes(buf)

    def close(self) -> None:
        self.inner.close()


class _Channel:
    """A DLCI >= 2: its interpreter, its stream and its timer."""

    def __init__(self, interp: ChannelInterpreter, stream: MuxStream) -> None:
        self.interp = interp
        self.stream = stream
        self.timer: Timer | None = None
        self.timer_when: float | None = None


class MuxHost(Protocol):
    """What the server needs from the virtual modem (satisfied by `VirtualModem`)."""

    loop: Loop
    interp: Interpreter
    name: str

    def attach(self, stream: Stream) -> None: ...
    def do_action(self, act: Action, origin: Interpreter) -> None: ...


class MuxServer:
    def __init__(self, vm: MuxHost, serial: Stream, start: MuxStart, log_frames: bool = False) -> None:
        self.vm = vm
        self.serial = serial
        self.line = FaultyLine(vm.loop, serial, self._fault_on, f"vmodem:{vm.name}:mux")
        params = MuxParams(n1=start.n1, t1=start.t1, n2=start.n2, t2=start.t2)
        self.port = MuxPort(vm.loop, self.line, Role.RESPONDER, params, on_event=self._on_event,
                            trace=self._trace if log_frames else None)
        self.channels: dict[int, _Channel] = {}
        self.closed = False
        log.info("%s: multiplexer started (N1 %d, T1 %g s, N2 %d, T2 %g s)", vm.name, start.n1, start.t1,
                 start.n2, start.t2)

    def _fault_on(self, kind: str) -> bool:
        return self.vm.interp.faults.on(kind, self.vm.loop.time())

    def _trace(self, direction: str, item: Frame | Junk | str) -> None:
        if isinstance(item, Frame):
            mux_log.info("%s mux %s DLCI %d %s%s len %d FCS ok", self.vm.name, direction, item.dlci,
                         item.type.name, " P/F" if item.pf else "", len(item.info))
        elif isinstance(item, Junk):
            mux_log.info("%s mux %s %d bytes outside frames: %r", self.vm.name, direction, len(item.data),
                         item.data[:40])
        else:
            mux_log.info("%s mux %s frame discarded: %s", self.vm.name, direction, item)

    # -- the multiplexer's events -----------------------------------------------------------------
    def _on_event(self, ev: MuxEvent) -> None:
        if isinstance(ev, ChannelOpened):
            stream = self.port.channel(ev.dlci)
            if ev.dlci == 1:
                self.vm.attach(stream)  # the modem's own interpreter serves DLCI 1
                return
            ch = _Channel(ChannelInterpreter(self.vm.interp, ev.dlci), stream)
            old = self.channels.pop(ev.dlci, None)
            if old is not None:
                self._drop(old)
            self.channels[ev.dlci] = ch
            stream.set_handlers(functools.partial(self._input, ch))
            log.info("%s: DLCI %d open", self.vm.name, ev.dlci)
        elif isinstance(ev, ChannelClosed):
            ch_gone = self.channels.pop(ev.dlci, None)
            if ch_gone is not None:
                self._drop(ch_gone)
        elif isinstance(ev, MuxClosed):
            self.vm.interp.settings.cmux = None  # the modem is back to plain AT (CLD, DISC on DLCI 0)
            self.close(ev.reason)

    def close(self, reason: str) -> Stream:
        """Leave multiplexer mode; the serial stream is the modem's plain AT line again."""
        if not self.closed:
            self.closed = True
            log.info("%s: multiplexer closed (%s): plain AT on the line", self.vm.name, reason)
            for ch in self.channels.values():
                self._drop(ch)
            self.channels.clear()
            self.port.detach()
            self.vm.attach(self.serial)
        return self.serial

    def _drop(self, ch: _Channel) -> None:
        if ch.timer is not None:
            ch.timer.cancel()
            ch.timer = ch.timer_when = None

    # -- channel interpreters ---------------------------------------------------------------------
    def _input(self, ch: _Channel, data: bytes) -> None:
        ch.interp.receive(data, self.vm.loop.time())
        self.pump(ch.interp)

    def _on_timer(self, ch: _Channel) -> None:
        ch.timer = ch.timer_when = None
        ch.interp.tick(self.vm.loop.time())
        self.pump(ch.interp)

    def serves(self, interp: Interpreter) -> bool:
        """Is `interp` the interpreter of an open channel (DLCI >= 2)?"""
        return any(c.interp is interp for c in self.channels.values())

    def pump(self, interp: Interpreter) -> None:
        """Write what a channel's interpreter said, do what it asked, sleep until its next deadline."""
        ch = next((c for c in self.channels.values() if c.interp is interp), None)
        if ch is None or self.closed:
            return
        for _ in range(100):
            out = ch.interp.take_output()
            actions = ch.interp.take_actions()
            if out and not ch.stream.closed:
                ch.stream.write(out)
            if not actions:
                break
            for act in actions:
                self.vm.do_action(act, ch.interp)
        when = ch.interp.next_deadline()
        if when == ch.timer_when:
            return
        if ch.timer is not None:
            ch.timer.cancel()
        ch.timer_when = when
        ch.timer = self.vm.loop.call_at(when, self._on_timer, ch) if when is not None else None
