"""The multiplexer on the loop: one `runtime.Stream` per DLCI over one serial stream.

Why: the AT channel (driver) and the AT interpreter (virtual modem) each talk to a `Stream`. Giving
each DLCI a `Stream` lets the same, unchanged code run over a multiplexer channel, and the
multiplexer stays sans-IO (`mux.py`); this adapter only moves bytes, keeps one loop timer at the
multiplexer's next deadline and delivers the events.

    port = MuxPort(loop, serial_stream, Role.INITIATOR, on_event=...)
    port.start()                              # SABM on DLCI 0
    ch1 = port.channel(1); ch1.open()         # a Stream; data written before UA is held
    ch1.set_handlers(on_data, on_close)       # on_close: the DLCI or the whole multiplexer closed

Writes are framed on the next loop turn (a `call_soon` flush), so what several channels write in
one turn goes out interleaved frame by frame. After `MuxClosed` the serial stream is the caller's
again: the port lets go of it (`detach`) and plain AT can resume on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from modem.cmux.frame import Frame, Junk
from modem.cmux.mux import (
    ChannelClosed,
    ChannelOpened,
    Data,
    DlciState,
    Multiplexer,
    MuxClosed,
    MuxEvent,
    MuxParams,
    OpenFailed,
    Role,
)
from runtime.loop import Loop, Timer
from runtime.stream import Stream

log = logging.getLogger(__name__)

EventHandler = Callable[[MuxEvent], None]


class MuxStream(Stream):
    """One DLCI as a byte stream. `closed` once the DLCI or the multiplexer is gone."""

    def __init__(self, port: MuxPort, dlci: int) -> None:
        super().__init__()
        self.port = port
        self.dlci = dlci
        self._held: list[bytes] = []  # written while the DLCI is still opening

    def __repr__(self) -> str:
        return f"<MuxStream DLCI {self.dlci}{' closed' if self.closed else ''}>"

    def open(self) -> None:
        self.port.open(self.dlci)

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        mux = self.port.mux
        if mux.state(self.dlci) is DlciState.OPEN:
            mux.send(self.dlci, data, self.port.loop.time())
            self.port.flush_soon()
        else:
            self._held.append(bytes(data))

    def close(self) -> None:
        if self.closed:
            return
        self.port.close(self.dlci)

    # -- from the port ----------------------------------------------------------------------------
    def _opened(self) -> None:
        held, self._held = self._held, []
        for chunk in held:
            self.write(chunk)

    def _gone(self) -> None:
        self._held.clear()
        self._peer_closed()


class MuxPort:
    """A `Multiplexer` bound to a serial `Stream` and the loop."""

    def __init__(self, loop: Loop, stream: Stream, role: Role, params: MuxParams | None = None,
                 on_event: EventHandler | None = None,
                 trace: Callable[[str, Frame | Junk | str], None] | None = None) -> None:
        self.loop = loop
        self.stream: Stream | None = stream
        self.mux = Multiplexer(role, params)
        self.on_event = on_event
        self.mux.trace = trace
        self.channels: dict[int, MuxStream] = {}
        self._timer: Timer | None = None
        self._timer_when: float | None = None
        self._flush_pending = False
        stream.set_handlers(self._on_data, self._on_stream_closed)

    @property
    def closed(self) -> bool:
        return self.mux.closed

    def channel(self, dlci: int) -> MuxStream:
        """The stream of a DLCI (made on first use; reopened after it closed)."""
        ch = self.channels.get(dlci)
        if ch is None or ch.closed:
            ch = self.channels[dlci] = MuxStream(self, dlci)
        return ch

    def start(self) -> None:
        self.mux.start(self.loop.time())
        self._after()

    def open(self, dlci: int) -> None:
        self.channel(dlci)
        self.mux.open(dlci, self.loop.time())
        self._after()

    def close(self, dlci: int) -> None:
        self.mux.close(dlci, self.loop.time())
        self._after()

    def close_down(self) -> None:
        if not self.mux.closed:
            self.mux.close_down(self.loop.time())
            self._after()

    def detach(self) -> Stream | None:
        """Stop using the serial stream (after MuxClosed); the caller sets its own handlers on it."""
        stream, self.stream = self.stream, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_when = None
        return stream

    def flush_soon(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    # -- internals --------------------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_pending = False
        self._after()

    def _on_data(self, data: bytes) -> None:
        if self.stream is None:
            return
        self.mux.receive_data(data, self.loop.time())
        self._after()

    def _on_stream_closed(self) -> None:
        log.info("multiplexer: the serial stream closed")
        for ch in list(self.channels.values()):
            ch._gone()

    def _on_timer(self) -> None:
        self._timer = self._timer_when = None
        self.mux.tick(self.loop.time())
        self._after()

    def _after(self) -> None:
        """Write what the multiplexer said, deliver its events, keep the timer at its deadline."""
        if self.stream is None:
            return
        out = self.mux.data_to_send()
        if out and not self.stream.closed:
            self.stream.write(out)
        for ev in self.mux.events():
            self._dispatch(ev)
        if self.stream is None:
            return
        out = self.mux.data_to_send()  # answers to what the events' handlers did (e.g. held writes)
        if out and not self.stream.closed:
            self.stream.write(out)
        when = self.mux.next_deadline()
        if when == self._timer_when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = self.loop.call_at(when, self._on_timer) if when is not None else None

    def _dispatch(self, ev: MuxEvent) -> None:
        if isinstance(ev, Data):
            ch = self.channels.get(ev.dlci)
            if ch is None:
                ch = self.channel(ev.dlci)  # the peer opened it and talks before we looked
            ch._deliver(ev.data)
        elif isinstance(ev, ChannelOpened):
            self.channel(ev.dlci)._opened()
        elif isinstance(ev, ChannelClosed | OpenFailed):
            ch = self.channels.get(ev.dlci)
            if ch is not None:
                ch._gone()
        elif isinstance(ev, MuxClosed):
            log.info("multiplexer closed: %s", ev.reason)
            for ch in list(self.channels.values()):
                ch._gone()
        if self.on_event is not None:
            self.on_event(ev)
