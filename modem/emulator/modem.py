"""`VirtualModem`: the interpreter bound to a loop, a serial stream and a virtual network.

This is the adapter: it moves bytes between the stream and the sans-IO `Interpreter`, carries out
its actions (TCP through the network, SMS to the SMS centre) and keeps one loop timer at the
interpreter's next deadline. Tests, the simulated world and the driver's power key use its API.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from modem.emulator.dialects import Dialect
from modem.emulator.events import Action, MuxStart, SmsOut, TcpClose, TcpConnect, TcpSend
from modem.emulator.interpreter import Interpreter
from modem.emulator.mux_serve import MuxServer
from modem.emulator.network import SentSms, VirtualNetwork
from modem.emulator.timing import Timing, timing_named
from modem.emulator.weather import Weather
from modem.sms import SmsDeliver

if TYPE_CHECKING:
    from runtime import Loop, Stream, Timer

log = logging.getLogger(__name__)


class VirtualModem:
    """An emulated SIM800 on `stream` (a pty master or one end of a pipe)."""

    def __init__(
        self,
        loop: Loop,
        stream: Stream | None = None,
        network: VirtualNetwork | None = None,
        *,
        imei: str | None = None,
        number: str = "+447700900999",
        profile: str | Timing = "realistic",
        weather: str | dict[str, Any] | Weather | None = None,
        gnss: Any = None,
        powered: bool = True,
        name: str | None = None,
        dialect: str | Dialect = "sim800",
        log_mux: bool = False,
    ) -> None:
        self.loop = loop
        self.network = network or VirtualNetwork(loop)
        self.number = number
        self.name = name or f"vmodem{number}"
        rng = loop.random(f"vmodem:{self.name}")
        if imei is None:
            imei = "86785603" + str(rng.randrange(10**7)).rjust(7, "0")
        self.interp = Interpreter(
            imei=imei,
            number=number,
            smsc=self.network.smsc.number,
            timing=timing_named(profile),
            rng=rng,
            wall_of=lambda t: loop.wall() - loop.time() + t,
            gnss=gnss,
            powered=powered,
            now=loop.time(),
            name=self.name,
            dialect=dialect,
        )
        self.stream: Stream | None = None
        self._timer: Timer | None = None
        self._timer_when: float | None = None
        self._tcp: dict[int, Stream] = {}
        # AT+CMUX: the multiplexer on the serial line, and which channel opened each TCP link
        self.mux: MuxServer | None = None
        self.log_mux = log_mux
        self._owners: dict[int, Interpreter] = {}
        self._closed = False
        self.network.smsc.register(self)
        self.weather = Weather(weather) if isinstance(weather, str | dict) else weather
        if self.weather is not None:
            self.weather.start(
                loop, loop.random(f"vmodem:{self.name}:weather"), self.fault, self.interp.dialect.faults
            )
        if stream is not None:
            self.attach(stream)
        self._pump()

    # ------------------------------------------------------------------ wiring
    def attach(self, stream: Stream) -> None:
        """Serve a (new) serial stream."""
        self.stream = stream
        stream.set_handlers(self._on_data, self._on_stream_closed)
        self._pump()

    def _on_data(self, data: bytes) -> None:
        self.interp.receive(data, self.loop.time())
        self._pump()

    def _on_stream_closed(self) -> None:
        log.info("%s: serial stream closed", self.name)
        self.stream = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_when = None
        self.interp.tick(self.loop.time())
        self._pump()

    def _pump(self) -> None:
        """Write what the interpreter said, do what it asked, sleep until its next deadline."""
        if self._closed:
            return
        if self.mux is not None and self.interp.settings.cmux is None:
            # rebooted (or closed down) under the multiplexer: the serial line is plain AT again
            mux, self.mux = self.mux, None
            mux.close("the modem left multiplexer mode")
        for _ in range(100):
            out = self.interp.take_output()
            actions = self.interp.take_actions()
            if out and self.stream is not None and not self.stream.closed:
                self.stream.write(out)
            if not actions:
                break
            for act in actions:
                self._do(act)
        when = self.interp.next_deadline()
        if when == self._timer_when:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = when
        if when is not None:
            self._timer = self.loop.call_at(when, self._on_timer)

    def do_action(self, act: Action, origin: Interpreter) -> None:
        """An action of a multiplexer channel's interpreter; a TCP link it opens stays its own."""
        if isinstance(act, TcpConnect):
            self._owners[act.conn_id] = origin
        self._do(act)

    def _owner(self, conn_id: int) -> Interpreter:
        owner = self._owners.get(conn_id)
        if owner is None or self.mux is None or not self.mux.serves(owner):
            return self.interp
        return owner

    def _pump_owner(self, owner: Interpreter) -> None:
        self._pump()
        if self.mux is not None and owner is not self.interp:
            self.mux.pump(owner)

    def _do(self, act: Any) -> None:
        if isinstance(act, MuxStart):
            if self.mux is None and self.stream is not None:
                serial, self.stream = self.stream, None
                self.mux = MuxServer(self, serial, act, log_frames=self.log_mux)
            return
        if isinstance(act, TcpConnect):
            self._connect(act)
        elif isinstance(act, TcpSend):
            stream = self._tcp.get(act.conn_id)
            if stream is not None:
                stream.write(act.data)
        elif isinstance(act, TcpClose):
            stream = self._tcp.pop(act.conn_id, None)
            if stream is not None:
                stream.close()
        elif isinstance(act, SmsOut):
            self.network.smsc.submit(act.sender, act.to, act.text, act.concat)

    def _connect(self, act: TcpConnect) -> None:
        conn_id = act.conn_id

        def done(stream: Stream | None, error: str | None) -> None:
            if stream is not None:
                self._tcp[conn_id] = stream
                stream.set_handlers(
                    lambda data: self._tcp_event("data", conn_id, data),
                    lambda: self._tcp_event("closed", conn_id, b""),
                )
            log.info("%s: TCP %s:%d -> %s", self.name, act.host, act.port, error or "connected")
            owner = self._owner(conn_id)
            owner.tcp_connected(conn_id, stream is not None, error, self.loop.time())
            self._pump_owner(owner)

        self.network.connect(act.host, act.port, done)

    def _tcp_event(self, kind: str, conn_id: int, data: bytes) -> None:
        owner = self._owner(conn_id)
        if kind == "data":
            owner.tcp_data(conn_id, data, self.loop.time())
        else:
            self._tcp.pop(conn_id, None)
            self._owners.pop(conn_id, None)
            owner.tcp_closed(conn_id, self.loop.time())
        self._pump_owner(owner)

    # ------------------------------------------------------------------ the SMSC's side
    def receive_sms(self, parts: list[SmsDeliver]) -> None:
        self.interp.sms_arrived(parts, self.loop.time())
        self._pump()

    # ------------------------------------------------------------------ public control API
    def inject_sms(self, sender: str, text: str) -> bool:
        """A phone sends `text` to this modem's number (long texts arrive as concatenated parts)."""
        return self.network.smsc.deliver(sender, self.number, text)

    @property
    def outbox(self) -> list[SentSms]:
        """Whole messages this modem sent, reassembled, oldest first."""
        return [s for s in self.network.smsc.outbox if s.sender == self.number]

    def fault(self, kind: str, duration: float | None = None) -> None:
        """Start a fault (see FAULT_KINDS) for `duration` seconds, or until cleared."""
        if kind == "mux-reboot":  # a reboot while multiplexed: the host meets RDY in plain text
            kind = "reboot"
        self.interp.fault(kind, duration, self.loop.time())
        self._pump()

    def stop_fault(self, kind: str) -> None:
        self.interp.stop_fault(kind, self.loop.time())
        self._pump()

    def clear_faults(self) -> list[str]:
        kinds = self.interp.clear_faults(self.loop.time())
        self._pump()
        return kinds

    def power_key(self) -> None:
        """A PWRKEY pulse: off -> on with boot URCs; on -> NORMAL POWER DOWN."""
        self.interp.power_key(self.loop.time())
        self._pump()

    def ring(self, caller: str, rings: int = 3) -> None:
        """A voice call from `caller`: RING (+CLIP) a few times, then NO CARRIER."""
        self.interp.incoming_call(caller, self.loop.time(), rings)
        self._pump()

    def set_gnss(self, source: Any) -> None:
        from modem.emulator.gnss import as_source

        self.interp.gnss = as_source(source)

    @property
    def powered(self) -> bool:
        return self.interp.powered

    def status(self) -> dict[str, Any]:
        self.interp.tick(self.loop.time())
        status = self.interp.status()
        status["tcp_open"] = len(self._tcp)
        status["mux"] = sorted([1, *self.mux.channels]) if self.mux is not None else None
        status["outbox"] = len(self.outbox)
        return status

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for stream in self._tcp.values():
            stream.close()
        self._tcp.clear()
        self.network.smsc.unregister(self)
