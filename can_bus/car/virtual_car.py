"""The virtual car: a `CarModel` on the loop that talks CAN through any `CanPort`.

It sends the profile's frames at their DBC rates (drive data at 50 Hz, body status at 5 Hz, …)
while awake and falls silent when it sleeps; it obeys command frames (the lock locks, charge stop
stops) and answers the profile's diagnostic polls. Any profile whose metrics it knows works: the
frames are the profile's mapping run backwards.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from can_bus.car.ecu import UdsResponder
from can_bus.car.model import DOORS, CarModel, CarState
from can_bus.port import CanPort, check_frame
from can_bus.profile import Profile, load_profile

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

Frame = tuple[int, bytes]

TICK_DRIVING = 0.1
TICK_AWAKE = 1.0
TICK_ASLEEP = 60.0
SLEEP_AFTER = 600.0  # s of nothing happening before the car's networks go to sleep
EVENTS = (
    "drive", "park", "plug", "unplug", "alarm", "tow", "drain-12v", "open-door", "close-door",
    "open-trunk", "close-trunk", "open-hood", "close-hood", "sleep", "wake", "lock", "unlock",
    "climate-on", "climate-off", "set-ambient", "set-soc", "power-cut",
)


class VirtualCar:
    """`do(event, **kw)` steers it like a person would; command frames on `port` steer it like a TCU."""

    def __init__(self, loop: Loop, port: CanPort, profile: str | Profile = "demo-ev", *,
                 seed: int | None = None, name: str = "car",
                 start_position: tuple[float, float] = (52.5200, 13.4050),
                 rate: float = 1.0, sleep_after: float = SLEEP_AFTER, awake: bool = True) -> None:
        self.loop = loop
        self.port = port
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.name = name
        self.rng = random.Random(seed) if seed is not None else loop.random(f"car:{name}")
        facts = self.profile.car
        self.s = CarState(lat=start_position[0], lon=start_position[1],
                          capacity_kwh=float(facts.get("capacity_kwh", 64.0)),
                          pack_cells=int(facts.get("pack_cells", 96)),
                          vin=str(facts.get("vin", "TCUSIM0DEMO000001")))
        self.s.energy_kwh = self.s.capacity_kwh * 0.7
        self.s.course = self.rng.uniform(0, 360)
        self.model = CarModel(self.s, self.rng, max_ac_kw=float(facts.get("max_ac_kw", 11.0)),
                              max_dc_kw=float(facts.get("max_dc_kw", 100.0)), mass_kg=facts.get("mass_kg"))
        self.rate = rate
        # A car sending at a tenth of the DBC rates (a big simulated fleet) needs no 10 Hz physics.
        self._tick_driving = min(1.0, TICK_DRIVING / rate)
        self.sleep_after = sleep_after
        self.log: list[tuple[float, str]] = []  # what happened, for `vcar status` and tests
        self.commands_obeyed: list[tuple[str, dict[str, Any]]] = []
        self.unknown_frames = 0
        self._idle = 0.0
        self._metrics: dict[str, Any] | None = None
        self._encode_cache: dict[str, tuple[dict, tuple, list[Frame]]] = {}
        self._specs = {m.name: tuple(s.metric for s in self.profile.metrics if s.message == m.name)
                       for m in self.profile.metric_messages}
        # A burst of checked frames in one call where the port can take it (MemoryPort), else frame by frame.
        send_checked = getattr(port, "send_checked", None)
        self._send_burst: Callable[..., None] = send_checked or self._send_each
        self._groups: list[_Group] = []
        self._emit_timers: list[Any] = []
        self._periodic = False  # the emit timers reschedule themselves (see _start_emitting)
        self._schedule: list[tuple[Any, int, int]] = []
        self._drive_until: tuple[str, float] | None = None
        self._parking = False
        self._tow_until = 0.0
        self.ecu = UdsResponder(loop, port.send, self.profile.polls, self.metrics, lambda: self.s.awake)
        port.set_handler(self._on_frame, self._on_port_error)
        self.s.awake = awake
        self._last_dt = TICK_AWAKE
        self._tick_timer = loop.call_later(TICK_AWAKE, self._tick)
        if awake:
            self._start_emitting()

    # -- what other components read ---------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot (for `vcar status`, the live view and tests)."""
        snap = self.s.snapshot()
        snap["time"] = round(self.loop.time(), 3)
        snap["profile"] = self.profile.name
        return snap

    def metrics(self) -> dict[str, Any]:
        if self._metrics is None:
            self._metrics = self.s.metrics()
        return self._metrics

    def position(self) -> tuple[float, float, float, float]:
        """(lat, lon, course°, speed km/h) over ground, for the virtual modem's GNSS (a towed car moves)."""
        s = self.s
        speed = 20.0 if s.towing else s.speed_kmh
        return s.lat, s.lon, s.course, speed

    # -- events a person causes ---------------------------------------------------------------------
    def do(self, event: str, **kw: Any) -> None:
        """Apply a physical event: drive(minutes|km, mode), park, plug(kind), tow(minutes), …"""
        event = event.replace("_", "-")
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
        s, m = self.s, self.model
        self._note(f"event {event} {kw or ''}".rstrip())
        if event != "sleep":
            self._wake()
        if event == "drive":
            m.start_drive(kw.get("mode", "mixed"))
            self._parking = False
            if "minutes" in kw:
                self._drive_until = ("time", self.loop.time() + float(kw["minutes"]) * 60)
            elif "km" in kw:
                self._drive_until = ("km", float(kw["km"]))
            else:
                self._drive_until = None
        elif event == "park":
            self._park()
        elif event == "plug":
            m.plug(kw.get("kind", "ac"))
        elif event == "unplug":
            m.unplug()
        elif event == "alarm":
            s.alarm = True
        elif event == "tow":
            s.towing = True
            self._tow_until = self.loop.time() + float(kw.get("minutes", 10)) * 60
            if s.locked:
                s.alarm = True
        elif event == "drain-12v":
            s.aux_extra_drain_a = float(kw.get("amps", 8.0))
        elif event in ("open-door", "close-door"):
            door = kw.get("door", "fl")
            if door not in DOORS:
                raise ValueError(f"door is one of {DOORS}")
            self._set_door(door, event == "open-door")
        elif event in ("open-trunk", "close-trunk", "open-hood", "close-hood"):
            self._set_door(event.split("-")[1], event.startswith("open"))
        elif event == "sleep":
            self._sleep()
        elif event == "lock":
            s.locked = True
        elif event == "unlock":
            s.locked, s.alarm = False, False
        elif event in ("climate-on", "climate-off"):
            s.hvac = event == "climate-on"
        elif event == "set-ambient":
            s.ambient_temp = float(kw["temp"])
        elif event == "set-soc":
            s.energy_kwh = s.capacity_kwh * float(kw["soc"]) / 100
            m._update_voltage()
        elif event == "power-cut":
            # The wall box loses mains: the pilot stays, no energy flows, the car reports stopped.
            s.charging, s.charge_state = False, "stopped"
        self._metrics = None

    def _set_door(self, door: str, is_open: bool) -> None:
        s = self.s
        if is_open and s.locked and door != "cp":
            s.alarm = True  # opened without unlocking: forced entry
        s.doors[door] = is_open

    def _park(self) -> None:
        self._drive_until = None
        if self.s.speed_kmh > 0.5:
            self.model.stop_drive()
            self._parking = True  # brake to a stop, then park (in _tick)
        else:
            self.model.park()
            self._parking = False

    # -- frames from the bus ------------------------------------------------------------------------
    def _on_frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        if arbitration_id in self.ecu.request_ids:
            self._wake()  # diagnostic traffic wakes the car's networks, as on a real bus
            self.ecu.feed(arbitration_id, data)
            return
        match = self.profile.match_command(arbitration_id, data)
        if match is None:
            self.unknown_frames += 1
            return
        self.command(*match)

    def command(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Obey one command (what a command frame asks)."""
        args = args or {}
        s, m = self.s, self.model
        self._wake()
        self.commands_obeyed.append((name, dict(args)))
        self._note(f"command {name} {args or ''}".rstrip())
        if name == "lock":
            s.locked = True
        elif name == "unlock":
            s.locked, s.alarm = False, False
        elif name == "valet_on":
            s.valet = True
        elif name == "valet_off":
            s.valet = False
        elif name == "charge_start":
            if not m.charge_start():
                self._note("charge_start ignored: not plugged in or already full")
        elif name == "charge_stop":
            m.charge_stop()
        elif name == "charge_mode":
            s.charge_mode = str(args.get("mode", "standard"))
        elif name == "charge_limit":
            s.charge_limit_amps = int(args.get("amps", s.charge_limit_amps))
        elif name == "climate_on":
            s.hvac = True
        elif name == "climate_off":
            s.hvac = False
        elif name == "homelink":
            s.homelink_presses += 1
        self._metrics = None

    def _on_port_error(self, text: str) -> None:
        self._note(f"bus error: {text}")

    # -- time -----------------------------------------------------------------------------------------
    def _tick(self) -> None:
        s = self.s
        moving = s.driving or s.speed_kmh > 0 or s.towing
        dt = self._tick_driving if moving else (TICK_AWAKE if s.awake else TICK_ASLEEP)
        self.model.step(self._last_dt)  # the time since the previous tick
        self._last_dt = dt
        now = self.loop.time()
        if self._drive_until is not None:
            kind, limit = self._drive_until
            if (kind == "time" and now >= limit) or (kind == "km" and s.trip_km >= limit):
                self._note("drive finished, parking")
                self._park()
        if self._parking and s.speed_kmh <= 0.5:
            self.model.park()
            self._parking = False
        if s.towing and now >= self._tow_until:
            s.towing = False
        busy = s.on or s.charging or s.hvac or s.towing or s.driving or s.speed_kmh > 0
        if s.awake:
            self._idle = 0.0 if busy else self._idle + dt
            if self._idle >= self.sleep_after:
                self._sleep()
        self._metrics = None
        self._tick_timer = self.loop.call_later(dt, self._tick)

    def _note(self, text: str) -> None:
        self.log.append((round(self.loop.time(), 3), text))
        del self.log[:-200]
        log.info("%s: %s", self.name, text)

    def _wake(self) -> None:
        self._idle = 0.0
        if self.s.awake:
            return
        self.s.awake = True
        self._metrics = None
        self._note("woke up")
        self._start_emitting()
        # Asleep the model stepped once a minute; go back to fine steps now.
        self._tick_timer.cancel()
        self._last_dt = TICK_AWAKE
        self._tick_timer = self.loop.call_later(TICK_AWAKE, self._tick)

    def _sleep(self) -> None:
        s = self.s
        if not s.awake:
            return
        if s.on or s.driving:
            self._note("sleep refused: car is on")
            return
        s.awake = False
        self._metrics = None
        self._note("went to sleep")
        # One last round of frames saying so (v.e.awake false), then silence.
        for message, _every, _phase in self._schedule:
            for arbitration_id, data in self._frames(message):
                self.port.send(arbitration_id, data)
        for timer in self._emit_timers:
            timer.cancel()

    # -- frames to the bus ----------------------------------------------------------------------------
    def _start_emitting(self) -> None:
        """One timer chain per distinct period: messages due together go out as one burst.

        A timer per message would cost a heap operation per frame; a common beat would distort
        rates that are not multiples of it.
        """
        for timer in self._emit_timers:
            timer.cancel()
        self._emit_timers = []
        by_period: dict[float, list[Any]] = {}
        for message in self.profile.metric_messages:
            by_period.setdefault(self.profile.period(message) / self.rate, []).append(message)
        self._schedule = [(m, 0, 0) for m in self.profile.metric_messages]
        self._groups = [_Group(period, messages, self._specs) for period, messages in sorted(by_period.items())]
        # A loop with periodic timers (VirtualLoop.call_every) reschedules a group itself, just before
        # each run: the time and scheduling order `_emit_group`'s own call_later gives, one heap step.
        every = getattr(self.loop, "call_every", None)
        self._periodic = every is not None
        for i, group in enumerate(self._groups):
            # Stagger the groups by a millisecond, like independent ECUs.
            if every is not None:
                self._emit_timers.append(every(0.001 * (i + 1), group.period, self._emit_group, i))
            else:
                self._emit_timers.append(self.loop.call_later(0.001 * (i + 1), self._emit_group, i))

    def _emit_group(self, index: int) -> None:
        if not self.s.awake:
            if self._periodic:
                self._emit_timers[index].cancel()
            return
        group = self._groups[index]
        metrics = self._metrics
        if metrics is None:
            metrics = self.metrics()
        if group.metrics is not metrics:  # the state was recomputed: same values, same frames
            key = tuple(map(metrics.get, group.names))
            if key != group.key:
                group.frames = [frame for message in group.messages for frame in self._frames(message)]
                group.key = key
            group.metrics = metrics
        if not self._periodic:
            self._emit_timers[index] = self.loop.call_later(group.period, self._emit_group, index)
        self._send_burst(group.frames, last=True)  # last: the port may deliver it at once

    def _send_each(self, frames: list[Frame], *, last: bool = False) -> None:
        send = self.port.send
        for arbitration_id, data in frames:
            send(arbitration_id, data)

    def _frames(self, message: Any) -> list[Frame]:
        """The message's frames for the current metrics, encoded again only when its values changed."""
        metrics = self.metrics()
        name = message.name
        cached = self._encode_cache.get(name)
        if cached is not None:
            if cached[0] is metrics:  # nothing recomputed since: same frames
                return cached[2]
            key = tuple(map(metrics.get, self._specs[name]))
            if cached[1] == key:
                self._encode_cache[name] = (metrics, key, cached[2])
                return cached[2]
        else:
            key = tuple(map(metrics.get, self._specs[name]))
        frames = self.profile.encode_metrics(message, metrics)
        for arbitration_id, data in frames:
            check_frame(arbitration_id, data)  # once per encoding: the bursts go out unchecked
        self._encode_cache[name] = (metrics, key, frames)
        return frames

    def close(self) -> None:
        self._tick_timer.cancel()
        for timer in self._emit_timers:
            timer.cancel()



class _Group:
    """The messages of one period and their last burst, reused while their metric values stay the same."""

    __slots__ = ("period", "messages", "names", "metrics", "key", "frames")

    def __init__(self, period: float, messages: list[Any], specs: dict[str, tuple[str, ...]]) -> None:
        self.period = period
        self.messages = messages
        self.names = tuple(n for m in messages for n in specs[m.name])
        self.metrics: dict[str, Any] | None = None  # the metrics dict `frames` was made for
        self.key: tuple[Any, ...] | None = None
        self.frames: list[Frame] = []
