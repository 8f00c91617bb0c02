"""Active polling: OBD-II / UDS requests over ISO-TP on a schedule that follows the car's state.

Many cars only say some things when asked (state of health, cell data, VIN). Asking wakes ECUs, so
each request has an interval per car state (`off`, `awake`, `driving`, `charging`) from the profile;
a state it does not list is never polled in, which lets a parked car go to sleep. One request is in
flight at a time (ECUs answer one tester at a time); an unanswered one times out and the next goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import udsoncan
from udsoncan.services import ReadDataByIdentifier

from can_bus.isotp_channel import IsoTpChannel
from can_bus.profile import PollSpec, PollValue

if TYPE_CHECKING:
    from runtime import Loop, Timer

log = logging.getLogger(__name__)

STATES = ("off", "awake", "driving", "charging")
RESPONSE_TIMEOUT = 1.0  # s; ISO 14229-2 P2*server is 5 s, a car's BMS answers in tens of ms
OBD_SHOW_CURRENT_DATA = 0x01  # SAE J1979 mode 01


def state_from_metrics(metrics: Mapping[str, Any]) -> str:
    """The polling state a set of metrics implies (charging beats driving beats awake)."""
    if metrics.get("v.c.charging"):
        return "charging"
    if metrics.get("v.e.on") and (metrics.get("v.p.speed") or 0) > 0 or metrics.get("v.e.gear"):
        return "driving"
    if metrics.get("v.e.awake") or metrics.get("v.e.on"):
        return "awake"
    return "off"


def request_payload(spec: PollSpec) -> bytes:
    """What the tester sends: UDS ReadDataByIdentifier (udsoncan builds it) or an OBD-II mode 01 PID."""
    if spec.service == ReadDataByIdentifier.request_id():
        req = udsoncan.Request(service=ReadDataByIdentifier, data=spec.did.to_bytes(2, "big"))
        return req.get_payload()
    if spec.service == OBD_SHOW_CURRENT_DATA:
        return bytes([OBD_SHOW_CURRENT_DATA, spec.did & 0xFF])
    raise ValueError(f"poll {spec.name}: service {spec.service:#x} not supported (0x22 UDS, 0x01 OBD-II)")


def response_data(spec: PollSpec, payload: bytes) -> bytes | str:
    """The data bytes of a positive answer to `spec`, or the reason it is not one (text)."""
    if spec.service == ReadDataByIdentifier.request_id():
        try:
            response = udsoncan.Response.from_payload(payload)
        except Exception as exc:
            return f"undecodable UDS response {payload.hex()}: {exc}"
        if not response.valid:
            return f"invalid UDS response {payload.hex()}: {response.invalid_reason}"
        if not response.positive:
            return f"negative response {response.code_name}"
        data = response.data or b""
        if data[:2] != spec.did.to_bytes(2, "big"):
            return f"answer for DID {data[:2].hex()} while asking {spec.did:04x}"
        return bytes(data[2:])
    if len(payload) < 2 or payload[0] != OBD_SHOW_CURRENT_DATA + 0x40 or payload[1] != spec.did & 0xFF:
        return f"unexpected OBD-II answer {payload.hex()}"
    return payload[2:]


def decode_value(value: PollValue, data: bytes) -> Any:
    chunk = data[value.start:value.start + value.length]
    if len(chunk) != value.length:
        raise ValueError(f"{value.metric}: answer has {len(data)} bytes, need {value.start + value.length}")
    if value.type == "ascii":
        return chunk.rstrip(b"\0 ").decode("ascii", "replace")
    number = int.from_bytes(chunk, "big", signed=value.signed) * value.scale + value.offset
    if value.type == "bool":
        return number != 0
    if value.type == "int":
        return int(round(number))
    return round(number, value.round) if value.round is not None else number


def encode_value(value: PollValue, metric: Any) -> bytes:
    """The ECU side of `decode_value` (the virtual car answers with this)."""
    if value.type == "ascii":
        return str(metric).encode("ascii", "replace")[:value.length].ljust(value.length, b"\0")
    raw = int(round((float(metric) - value.offset) / value.scale))
    lo = -(1 << (8 * value.length - 1)) if value.signed else 0
    hi = (1 << (8 * value.length - (1 if value.signed else 0))) - 1
    return max(lo, min(hi, raw)).to_bytes(value.length, "big", signed=value.signed)


class PollerStats:
    __slots__ = ("requests", "responses", "timeouts", "negative", "malformed")

    def __init__(self) -> None:
        self.requests = self.responses = self.timeouts = self.negative = self.malformed = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class Poller:
    """Schedules the profile's poll requests on `loop`; answers become metric updates."""

    def __init__(self, loop: Loop, send_frame: Callable[[int, bytes], None], polls: Sequence[PollSpec],
                 on_metrics: Callable[[list[tuple[str, Any]]], None], state: str = "off",
                 timeout: float = RESPONSE_TIMEOUT) -> None:
        self._loop = loop
        self._send_frame = send_frame
        self.polls = tuple(polls)
        self._on_metrics = on_metrics
        self.timeout = timeout
        self.stats = PollerStats()
        self.state = "off"
        self._due: dict[str, float] = {}
        self._channels: dict[tuple[int, int], IsoTpChannel] = {}
        self._by_rx: dict[int, IsoTpChannel] = {}
        self._in_flight: PollSpec | None = None
        self._timeout_timer: Timer | None = None
        self._timer: Timer | None = None
        self.last: dict[str, Any] = {}
        for spec in self.polls:
            request_payload(spec)  # reject unsupported services now, not at 3 a.m.
            key = (spec.tx, spec.rx)
            if key not in self._channels:
                ch = IsoTpChannel(loop, send_frame, spec.tx, spec.rx,
                                  partial(self._on_payload, key), extended=spec.extended)
                self._channels[key] = ch
                self._by_rx[spec.rx] = ch
        self.set_state(state)

    @property
    def rx_ids(self) -> Iterable[int]:
        return self._by_rx.keys()

    def set_state(self, state: str) -> None:
        """Follow the car: polls not listed for `state` stop; listed ones start now."""
        if state not in STATES:
            raise ValueError(f"poll state must be one of {STATES}")
        if state == self.state and self._due:
            return
        previous, self.state = self.state, state
        now = self._loop.time()
        self._due = {}
        for spec in self.polls:
            if spec.interval.get(state, 0) > 0:
                # Keep the phase when only the interval changes; ask at once when a poll becomes active.
                active_before = spec.interval.get(previous, 0) > 0 and previous != state
                self._due[spec.name] = now if not active_before else now + min(
                    spec.interval[state], spec.interval[previous])
        log.debug("poller: state %s → %s, %d polls active", previous, state, len(self._due))
        self._reschedule()

    def feed(self, arbitration_id: int, data: bytes) -> bool:
        """A frame from the bus; True if it was a poll answer (the caller need not decode it)."""
        ch = self._by_rx.get(arbitration_id)
        if ch is None:
            return False
        ch.feed(arbitration_id, data)
        return True

    # -- scheduling ------------------------------------------------------------------------------
    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._in_flight is not None or not self._due:
            return
        when = min(self._due.values())
        self._timer = self._loop.call_at(when, self._run_due)

    def _run_due(self) -> None:
        self._timer = None
        if self._in_flight is not None or not self._due:
            return
        now = self._loop.time()
        name = min(self._due, key=lambda n: (self._due[n], n))
        if self._due[name] > now:
            self._reschedule()
            return
        spec = next(s for s in self.polls if s.name == name)
        self._due[name] = now + spec.interval[self.state]
        self._in_flight = spec
        self.stats.requests += 1
        self._channels[(spec.tx, spec.rx)].send(request_payload(spec))
        self._timeout_timer = self._loop.call_later(self.timeout, self._on_timeout, spec)

    def _on_timeout(self, spec: PollSpec) -> None:
        if self._in_flight is not spec:
            return
        self.stats.timeouts += 1
        log.info("poll %s: no answer from 0x%X within %.1f s (car asleep?)", spec.name, spec.rx, self.timeout)
        self._in_flight = None
        self._reschedule()

    def _on_payload(self, key: tuple[int, int], payload: bytes) -> None:
        spec = self._in_flight
        if spec is None or (spec.tx, spec.rx) != key:
            return  # a late answer to a timed-out request
        if payload[:1] == b"\x7f" and payload[2:3] == b"\x78":
            return  # NRC 0x78 responsePending: the real answer follows
        self._in_flight = None
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
        result = response_data(spec, payload)
        if isinstance(result, str):
            if result.startswith("negative"):
                self.stats.negative += 1
            else:
                self.stats.malformed += 1
            log.info("poll %s: %s", spec.name, result)
        else:
            self.stats.responses += 1
            updates = []
            for value in spec.values:
                try:
                    decoded = decode_value(value, result)
                except ValueError as exc:
                    self.stats.malformed += 1
                    log.info("poll %s: %s", spec.name, exc)
                    continue
                if self.last.get(value.metric) != decoded:
                    self.last[value.metric] = decoded
                    updates.append((value.metric, decoded))
            if updates:
                self._on_metrics(updates)
        self._reschedule()

    def close(self) -> None:
        for timer in (self._timer, self._timeout_timer):
            if timer is not None:
                timer.cancel()
        self._due.clear()
