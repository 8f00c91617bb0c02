"""ISO-TP (ISO 15765-2) over a `CanPort`, driven by our loop instead of a thread.

can-isotp's `TransportLayerLogic` does the segmentation and flow control; we hand it frames as they
arrive and call `process()` from loop callbacks. Its timers (flow-control and consecutive-frame
timeouts, STmin) are swapped for ones that read the loop's clock, so a lost frame times out after
one second of *loop* time: on the virtual clock that is deterministic and costs no wall time.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import isotp
from isotp.tools import Timer as _IsoTpTimer

if TYPE_CHECKING:
    from runtime import Loop, Timer

log = logging.getLogger(__name__)

SendFrame = Callable[[int, bytes], None]

# ISO 15765-4 (OBD on CAN): frames padded to 8 bytes; we answer flow control with no delay.
PARAMS = {
    "stmin": 0,
    "blocksize": 0,
    "tx_data_length": 8,
    "tx_data_min_length": 8,
    "tx_padding": 0xAA,
    "rx_flowcontrol_timeout": 1000,
    "rx_consecutive_frame_timeout": 1000,
    "max_frame_size": 4095,
}
PROCESS_INTERVAL = 0.001


class _LoopTimer(_IsoTpTimer):
    """can-isotp's Timer on the loop's clock instead of time.perf_counter_ns()."""

    def __init__(self, loop: Loop, timeout: float) -> None:
        self._loop = loop
        super().__init__(timeout)

    def _now_ns(self) -> int:
        return int(self._loop.time() * 1e9)

    def start(self, timeout: float | None = None) -> None:
        if timeout is not None:
            self.set_timeout(timeout)
        self.start_time = self._now_ns()

    def elapsed_ns(self) -> int:
        return self._now_ns() - self.start_time if self.start_time is not None else 0

    def elapsed(self) -> float:
        return self.elapsed_ns() / 1e9


class _LoopTransport(isotp.TransportLayerLogic):
    def __init__(self, loop: Loop, **kwargs: object) -> None:
        self._clock = loop  # before super().__init__, which loads the timers
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.timer_tx_stmin = _LoopTimer(loop, 0)

    def load_params(self) -> None:
        super().load_params()
        self.timer_rx_fc = _LoopTimer(self._clock, self.params.rx_flowcontrol_timeout / 1000)
        self.timer_rx_cf = _LoopTimer(self._clock, self.params.rx_consecutive_frame_timeout / 1000)

    def _start_rx_fc_timer(self) -> None:
        self.timer_rx_fc = _LoopTimer(self._clock, self.params.rx_flowcontrol_timeout / 1000)
        self.timer_rx_fc.start()

    def _start_rx_cf_timer(self) -> None:
        self.timer_rx_cf = _LoopTimer(self._clock, self.params.rx_consecutive_frame_timeout / 1000)
        self.timer_rx_cf.start()


class IsoTpChannel:
    """One ISO-TP conversation partner: `send(payload)`, complete payloads go to `on_payload`."""

    def __init__(self, loop: Loop, send_frame: SendFrame, txid: int, rxid: int,
                 on_payload: Callable[[bytes], None], extended: bool = False) -> None:
        self._loop = loop
        self._send_frame = send_frame
        self.txid, self.rxid = txid, rxid
        self._on_payload = on_payload
        self._rx: deque[isotp.CanMessage] = deque()
        mode = isotp.AddressingMode.Normal_29bits if extended else isotp.AddressingMode.Normal_11bits
        self._extended = extended
        self._tl = _LoopTransport(
            loop, rxfn=self._rxfn, txfn=self._txfn,
            address=isotp.Address(mode, txid=txid, rxid=rxid),
            error_handler=self._on_isotp_error, params=dict(PARAMS))
        self._timer: Timer | None = None
        self.errors = 0

    def _rxfn(self) -> isotp.CanMessage | None:
        return self._rx.popleft() if self._rx else None

    def _txfn(self, msg: isotp.CanMessage) -> None:
        self._send_frame(msg.arbitration_id, bytes(msg.data))

    def _on_isotp_error(self, error: Exception) -> None:
        self.errors += 1
        log.warning("ISO-TP 0x%X/0x%X: %s", self.txid, self.rxid, error)

    def feed(self, arbitration_id: int, data: bytes) -> bool:
        """A frame from the bus; True if it belongs to this channel."""
        if arbitration_id != self.rxid:
            return False
        self._rx.append(isotp.CanMessage(arbitration_id=arbitration_id, dlc=len(data), data=bytes(data),
                                         extended_id=self._extended))
        self._process()
        return True

    def send(self, payload: bytes) -> None:
        self._tl.send(payload)
        self._process()

    def _process(self) -> None:
        self._timer = None
        try:
            self._tl.process()
        except Exception as exc:  # malformed ISO-TP from the peer: reset, report, carry on
            self.errors += 1
            log.warning("ISO-TP 0x%X/0x%X: %s; channel reset", self.txid, self.rxid, exc)
            self._tl.reset()
        while self._tl.available():
            payload = self._tl.recv()
            if payload is not None:
                self._on_payload(bytes(payload))
        if self._timer is not None:
            return
        tl = self._tl
        if tl.transmitting():
            # Waiting for the peer's flow control: its arrival runs us; else wake at the timeout.
            waiting = tl.tx_state == isotp.TransportLayerLogic.TxState.WAIT_FC
            delay = tl.timer_rx_fc.remaining() if waiting else PROCESS_INTERVAL
        elif tl.is_rx_active():
            delay = tl.timer_rx_cf.remaining()  # the next consecutive frame runs us, else time out
        else:
            return
        self._timer = self._loop.call_later(max(PROCESS_INTERVAL, delay), self._process)
