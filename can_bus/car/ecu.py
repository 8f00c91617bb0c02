"""A diagnostic ECU for the virtual car: answers the profile's UDS / OBD-II polls from car state.

It is the server side of `can_bus.poller`: ReadDataByIdentifier (0x22) for the DIDs the profile
lists, OBD-II mode 01 for its PIDs, TesterPresent (0x3E); anything else gets the negative response
ISO 14229-1 prescribes. It answers only while the car is awake, like a real ECU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from can_bus.isotp_channel import IsoTpChannel
from can_bus.poller import OBD_SHOW_CURRENT_DATA, encode_value
from can_bus.profile import PollSpec

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

# ISO 14229-1 negative response codes.
NRC_SERVICE_NOT_SUPPORTED = 0x11
NRC_INCORRECT_LENGTH = 0x13
NRC_REQUEST_OUT_OF_RANGE = 0x31
SID_READ_DID = 0x22
SID_TESTER_PRESENT = 0x3E


class UdsResponder:
    """One ECU per (request id, response id) pair of the profile's polls."""

    def __init__(self, loop: Loop, send_frame: Callable[[int, bytes], None], polls: Sequence[PollSpec],
                 metrics: Callable[[], dict[str, Any]], awake: Callable[[], bool] = lambda: True) -> None:
        self._loop = loop
        self._send_frame = send_frame
        self._metrics = metrics
        self._awake = awake
        self.requests = 0
        # ISO-TP channels are made at the first request: most cars of a simulated fleet are never
        # polled, and a channel (can-isotp's state machine) costs milliseconds and kilobytes.
        self._channels: dict[int, IsoTpChannel] = {}
        self._channel_specs: dict[int, PollSpec] = {}
        self._polls: dict[tuple[int, int, int], PollSpec] = {}
        for spec in polls:
            self._polls[(spec.tx, spec.service, spec.did)] = spec
            self._channel_specs.setdefault(spec.tx, spec)
        self.request_ids = frozenset(self._channel_specs)

    def feed(self, arbitration_id: int, data: bytes) -> bool:
        spec = self._channel_specs.get(arbitration_id)
        if spec is None:
            return False
        if self._awake():
            self._channel(spec).feed(arbitration_id, data)
        return True

    def _channel(self, spec: PollSpec) -> IsoTpChannel:
        ch = self._channels.get(spec.tx)
        if ch is None:
            ch = self._channels[spec.tx] = IsoTpChannel(
                self._loop, self._send_frame, txid=spec.rx, rxid=spec.tx,
                on_payload=partial(self._on_request, spec.tx), extended=spec.extended)
        return ch

    def _on_request(self, tx: int, payload: bytes) -> None:
        self.requests += 1
        self._channels[tx].send(self.answer(tx, payload))

    def answer(self, tx: int, payload: bytes) -> bytes:
        if not payload:
            return bytes([0x7F, 0x00, NRC_INCORRECT_LENGTH])
        sid = payload[0]
        if sid == SID_TESTER_PRESENT:
            return bytes([0x7E, 0x00])
        if sid == SID_READ_DID:
            if len(payload) != 3:
                return bytes([0x7F, sid, NRC_INCORRECT_LENGTH])
            did = int.from_bytes(payload[1:3], "big")
            spec = self._polls.get((tx, sid, did))
            if spec is None:
                return bytes([0x7F, sid, NRC_REQUEST_OUT_OF_RANGE])
            return bytes([sid + 0x40]) + payload[1:3] + self._data(spec)
        if sid == OBD_SHOW_CURRENT_DATA and len(payload) == 2:
            spec = self._polls.get((tx, sid, payload[1]))
            if spec is None:
                return bytes([0x7F, sid, NRC_REQUEST_OUT_OF_RANGE])
            return bytes([sid + 0x40, payload[1]]) + self._data(spec)
        return bytes([0x7F, sid, NRC_SERVICE_NOT_SUPPORTED])

    def _data(self, spec: PollSpec) -> bytes:
        metrics = self._metrics()
        size = max((v.start + v.length for v in spec.values), default=0)
        out = bytearray(size)
        for value in spec.values:
            if value.metric in metrics:
                out[value.start:value.start + value.length] = encode_value(value, metrics[value.metric])
        return bytes(out)
