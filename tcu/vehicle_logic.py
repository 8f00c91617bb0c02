"""Vehicle logic: turns metric changes into the alerts an owner cares about.

Sans-IO: it listens to the metrics store (`on_metric` has the listener signature) and is ticked with
the monotonic time; `tick(now)` returns the alerts raised since the last call. Decisions that depend
on several metrics arriving in one burst (a charge stop and the state that explains it) wait a short
settle time before being made, so the order in which CAN frames arrive does not change the verdict.

Conditions that last (alarm sounding, 12 V low, SOC low, car left on) are raised once, when they
begin. The unit remembers across a restart which of them it already raised (`remembered`, kept up
to date through `on_condition`): after a restart the metrics arrive afresh, and a still-sounding
alarm or a still-low battery used to be raised again as a new alert (issue 12 item 10).
"""

from __future__ import annotations

import json
import math
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Protocol

from tcu.metrics import Metrics, MetricValue

CHARGE_SETTLE_S = 3.0  # let v.c.state / pilot / port of the same burst arrive before judging a stop
PLANNED_STOP_WINDOW_S = 60.0  # a stop within this of a charge_stop command is planned (OVMS v2: 30 s)
V12_HOLD_S = 30.0  # a 12 V dip must last this long (engine crank, door-open wake-ups dip briefly)
V12_DEFAULT_REF = 12.6  # resting voltage of a healthy lead-acid battery when no reference is known
SOC_REARM_MARGIN = 2.0  # SOC must climb this far above the threshold to re-arm the SOC alert
CONDITIONS = ("alarm", "12v_low", "soc_low", "left_on")  # lasting conditions, raised once while they last


@dataclass(frozen=True)
class Alert:
    """One alert for the owner. `id` is unique across restarts (wall-clock based) for server dedup."""

    id: str
    kind: str
    text: str
    critical: bool
    raised_at: float  # wall clock, epoch seconds

    def to_payload(self) -> str:
        """JSON for the outbox (restart-safe: `from_payload` gives back an equal Alert)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str) -> Alert:
        d = json.loads(payload)
        return cls(str(d["id"]), str(d["kind"]), str(d["text"]), bool(d["critical"]), float(d["raised_at"]))


@dataclass(frozen=True)
class HistoryRecord:
    """A record for the server's history (outbox kind "history"): breadcrumb, trip or charge session."""

    kind: str  # "breadcrumb", "trip", "charge"
    at: float  # wall clock, epoch seconds
    data: Mapping[str, float | str | bool | None] = field(default_factory=dict)

    def to_payload(self) -> str:
        return json.dumps({"kind": self.kind, "at": self.at, "data": dict(self.data)}, sort_keys=True,
                          separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str) -> HistoryRecord:
        d = json.loads(payload)
        return cls(str(d["kind"]), float(d["at"]), dict(d["data"]))


class ParamSource(Protocol):
    """What the settings need of `tcu.params.Params`."""

    def get(self, name: str) -> object: ...


@dataclass(frozen=True)
class LogicSettings:
    soc_low: float = 10.0
    v12_low_drop: float = 1.0  # low when voltage < ref - drop
    v12_recover: float = 0.6  # recovered when voltage >= ref - recover
    moved_m: float = 500.0
    left_on_s: float = 900.0
    tz_offset_min: int = 0
    breadcrumb_s: float = 60.0  # a position record this often while driving (0: never)

    @classmethod
    def from_params(cls, params: ParamSource | Mapping[str, object]) -> LogicSettings:
        get = params.get

        def num(name: str) -> float:
            value = get(name)
            if not isinstance(value, int | float | str):
                raise TypeError(f"{name}: expected a number, got {value!r}")
            return float(value)

        return cls(
            soc_low=num("alert.soc_low"),
            v12_low_drop=num("alert.12v_low_drop"),
            v12_recover=num("alert.12v_recover"),
            moved_m=num("alert.moved_m"),
            left_on_s=num("alert.left_on_s"),
            tz_offset_min=int(num("tz_offset")),
        )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a)))


def format_distance(m: float) -> str:
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


def local_hhmm(wall: float, tz_offset_min: int) -> str:
    t = _time.gmtime(wall + tz_offset_min * 60)
    return f"{t.tm_hour:02d}:{t.tm_min:02d}"


class VehicleLogic:
    """Alert rules over the metrics. Wire with `metrics.subscribe(logic.on_metric)`."""

    def __init__(
        self,
        metrics: Metrics,
        settings: LogicSettings | None = None,
        wall: Callable[[float], float] | None = None,
        remembered: Iterable[str] = (),
        on_condition: Callable[[str, bool], None] | None = None,
    ) -> None:
        """`wall(now)` maps the monotonic `now` to epoch seconds for alert times (default: identity).

        `remembered`: conditions (CONDITIONS) raised before a restart and not over then; they are not
        raised again while they last. `on_condition(kind, active)` is told when one begins or ends."""
        self.m = metrics
        self.s = settings or LogicSettings()
        self._wall = wall or (lambda now: now)
        self._remembered = set(remembered) & set(CONDITIONS)
        self._on_condition = on_condition
        self._out: list[Alert] = []
        self._seq = 0
        # charge
        self._stop_cmd_at: float | None = None
        self._charge_stop_at: float | None = None
        self._charge_stop_soc: float | None = None
        # 12 V
        self._v12_low = "12v_low" in self._remembered
        self._v12_low_since: float | None = None
        # SOC
        self._soc_armed = "soc_low" not in self._remembered
        # parking
        self._anchor: tuple[float, float] | None = None
        self._moved_alerted = False
        # left on
        self._on_still_since: float | None = None
        self._left_on_alerted = "left_on" in self._remembered
        # history
        self._records: list[HistoryRecord] = []
        self._trip: dict[str, float | None] | None = None
        self._session: dict[str, float | None] | None = None
        self._next_crumb: float | None = None

    # -- inputs ------------------------------------------------------------------------------------
    def watched_metrics(self) -> tuple[str, ...]:
        """The metric names `on_metric` reacts to (subscribe with `names=` to skip the rest)."""
        return tuple(self._handlers)

    def on_metric(self, name: str, old: MetricValue | None, new: MetricValue, now: float) -> None:
        """Listener for `Metrics.subscribe`: react to one change.

        `v.p.speed` changes on nearly every drive frame, so its common case is answered here
        without a handler call or any metric reads: at 1 km/h or more the car is not standing
        still whatever the ignition and handbrake say, which is all `_update_left_on` would find.
        """
        if name == "v.p.speed" and isinstance(new, float) and new >= 1.0:
            self._on_still_since = None
            if self._left_on_alerted:
                self._left_on_alerted = False
                self._condition("left_on", False)
            return
        handler = self._handlers.get(name)
        if handler is not None:
            handler(self, old, new, now)

    def note_command(self, command: str, now: float) -> None:
        """The unit sent a car command; a charge stop shortly after a `charge_stop` is planned."""
        if command == "charge_stop":
            self._stop_cmd_at = now

    def tick(self, now: float) -> list[Alert]:
        """Run the time-based rules; return every alert raised since the last tick, oldest first."""
        if self._charge_stop_at is not None and now - self._charge_stop_at >= CHARGE_SETTLE_S:
            self._judge_charge_stop(now)
        if self._v12_low_since is not None and not self._v12_low and now - self._v12_low_since >= V12_HOLD_S:
            v = self.m.get("v.b.12v.voltage")
            if isinstance(v, float) and v < self._v12_ref() - self.s.v12_low_drop:
                self._v12_low = True
                self._condition("12v_low", True)
                self._raise("12v_low", f"12V battery low: {v:.1f}V", False, now)
            self._v12_low_since = None
        if (self._on_still_since is not None and not self._left_on_alerted
                and now - self._on_still_since >= self.s.left_on_s):
            self._left_on_alerted = True
            self._condition("left_on", True)
            self._raise("left_on", "Car left switched on while parked", False, now)
        if self._next_crumb is not None and now >= self._next_crumb:
            self._breadcrumb(now)
        out, self._out = self._out, []
        return out

    def take_records(self) -> list[HistoryRecord]:
        """History records produced since the last call (for the outbox, kind "history")."""
        out, self._records = self._records, []
        return out

    def next_deadline(self) -> float | None:
        """When `tick` next has time-based work (None: only metric changes can raise alerts)."""
        cands = []
        if self._charge_stop_at is not None:
            cands.append(self._charge_stop_at + CHARGE_SETTLE_S)
        if self._v12_low_since is not None and not self._v12_low:
            cands.append(self._v12_low_since + V12_HOLD_S)
        if self._on_still_since is not None and not self._left_on_alerted:
            cands.append(self._on_still_since + self.s.left_on_s)
        if self._next_crumb is not None:
            cands.append(self._next_crumb)
        return min(cands) if cands else None

    # -- rules -------------------------------------------------------------------------------------
    def _condition(self, kind: str, active: bool) -> None:
        if not active:
            self._remembered.discard(kind)
        if self._on_condition is not None:
            self._on_condition(kind, active)

    def _raise(self, kind: str, text: str, critical: bool, now: float) -> Alert:
        wall = self._wall(now)
        self._seq += 1
        alert = Alert(
            id=f"{int(wall * 1000)}-{self._seq}-{kind}",
            kind=kind,
            text=f"{local_hhmm(wall, self.s.tz_offset_min)} {text}",
            critical=critical,
            raised_at=wall,
        )
        self._out.append(alert)
        return alert

    def _soc_text(self) -> str:
        soc = self.m.get("v.b.soc")
        return f"{soc:.0f}%" if isinstance(soc, float) else "unknown SOC"

    def _on_charging(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if new and old is False:
            if self._charge_stop_at is not None:  # stopped and resumed within the settle time
                self._charge_stop_at = None
                return
            self._raise("charge_started", f"Charging started at {self._soc_text()}", False, now)
            self._session = {"start": self._wall(now), "soc_start": self._num("v.b.soc"),
                             "kwh_start": self._num("v.c.kwh")}
        elif not new and old is True:
            self._charge_stop_at = now
            soc = self.m.get("v.b.soc")
            self._charge_stop_soc = soc if isinstance(soc, float) else None

    def _num(self, name: str) -> float | None:
        v = self.m.get(name)
        if type(v) is float:  # the usual case, answered without the isinstance checks
            return v
        return float(v) if isinstance(v, float | int) and not isinstance(v, bool) else None

    def _end_session(self, result: str, now: float) -> None:
        sess, self._session = self._session, None
        if sess is None:
            return
        end = self._wall(now)
        kwh, kwh0 = self._num("v.c.kwh"), sess["kwh_start"]
        if kwh is not None and kwh0 is not None and kwh >= kwh0:
            kwh -= kwh0  # v.c.kwh counts up from the session start on most cars; some keep a total
        self._records.append(HistoryRecord("charge", end, {
            "start": sess["start"], "end": end, "duration_s": round(end - float(sess["start"] or end), 1),
            "soc_start": sess["soc_start"], "soc_end": self._num("v.b.soc"),
            "kwh": None if kwh is None else round(kwh, 2),
            "result": result,
        }))

    def _breadcrumb(self, now: float) -> None:
        self._next_crumb = now + self.s.breadcrumb_s
        pos = self._position()
        if pos is None:
            return
        self._records.append(HistoryRecord("breadcrumb", self._wall(now), {
            "lat": pos[0], "lon": pos[1], "speed": self._num("v.p.speed"), "soc": self._num("v.b.soc"),
            "odometer": self._num("v.p.odometer")}))

    def _judge_charge_stop(self, now: float) -> None:
        stopped_at, self._charge_stop_at = self._charge_stop_at or now, None
        soc_text = self._soc_text()
        state = str(self.m.get("v.c.state", "") or "").lower()
        soc, limit = self.m.get("v.b.soc"), self.m.get("v.c.limit.soc")
        at_limit = isinstance(soc, float) and (soc >= 99.5 or (isinstance(limit, float) and 0 < limit <= soc + 0.5))
        if state == "done" or at_limit:
            self._raise("charge_done", f"Charge done at {soc_text}", False, now)
            self._end_session("done", stopped_at)
            return
        planned = self._stop_cmd_at is not None and now - self._stop_cmd_at <= PLANNED_STOP_WINDOW_S + CHARGE_SETTLE_S
        plugged = bool(self.m.get("v.c.pilot")) or bool(self.m.get("v.d.cp"))
        if planned:
            self._stop_cmd_at = None
            self._raise("charge_stopped", f"Charge stopped at {soc_text}", False, now)
            self._end_session("stopped", stopped_at)
        elif plugged:
            self._raise("charge_interrupted", f"Charge stopped unexpectedly at {soc_text} (port still plugged)",
                        False, now)
            self._end_session("interrupted", stopped_at)
        else:
            self._raise("charge_stopped", f"Charge stopped at {soc_text} (cable removed)", False, now)
            self._end_session("unplugged", stopped_at)

    def _on_alarm(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if new and not old:
            if old is None and "alarm" in self._remembered:
                return      # still the alarm raised before the restart
            self._condition("alarm", True)
            self._raise("alarm", "ALARM sounding", True, now)
        elif not new and (old or "alarm" in self._remembered):
            self._condition("alarm", False)

    def _v12_ref(self) -> float:
        ref = self.m.get("v.b.12v.voltage.ref")
        return ref if isinstance(ref, float) and ref > 0 else V12_DEFAULT_REF

    def _on_12v(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if not isinstance(new, float):
            return
        ref = self._v12_ref()
        if self._v12_low:
            if new >= ref - self.s.v12_recover:
                self._v12_low = False
                self._condition("12v_low", False)
                self._raise("12v_ok", f"12V battery recovered: {new:.1f}V", False, now)
        elif new < ref - self.s.v12_low_drop:
            if self._v12_low_since is None:
                self._v12_low_since = now
        else:
            self._v12_low_since = None

    def _on_soc(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if not isinstance(new, float):
            return
        if self._soc_armed and new < self.s.soc_low:
            self._soc_armed = False
            self._condition("soc_low", True)
            self._raise("soc_low", f"SOC below {self.s.soc_low:g}% ({new:.0f}%)", False, now)
        elif not self._soc_armed and new >= self.s.soc_low + SOC_REARM_MARGIN:
            self._soc_armed = True
            self._condition("soc_low", False)

    def _parked(self) -> bool:
        return self.m.get("v.e.on") is False

    def _on_ignition(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if new:
            self._anchor = None
            self._moved_alerted = False
            self._trip = {"start": self._wall(now), "odo_start": self._num("v.p.odometer"),
                          "soc_start": self._num("v.b.soc")}
            if self.s.breadcrumb_s > 0:
                self._next_crumb = now
        else:
            pos = self._position()
            self._anchor = pos
            self._next_crumb = None
            if self._trip is not None and old is True:
                trip, self._trip = self._trip, None
                end = self._wall(now)
                odo, odo0 = self._num("v.p.odometer"), trip["odo_start"]
                self._records.append(HistoryRecord("trip", end, {
                    "start": trip["start"], "end": end, "duration_s": round(end - float(trip["start"] or end), 1),
                    "distance_km": None if odo is None or odo0 is None else round(odo - odo0, 2),
                    "soc_start": trip["soc_start"], "soc_end": self._num("v.b.soc"),
                    "lat": pos[0] if pos else None, "lon": pos[1] if pos else None}))
        self._update_left_on(now)

    def _position(self) -> tuple[float, float] | None:
        lat, lon = self.m.get("v.p.latitude"), self.m.get("v.p.longitude")
        if isinstance(lat, float) and isinstance(lon, float) and not (lat == 0.0 and lon == 0.0):
            return (lat, lon)
        return None

    def _on_position(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        if not self._parked() or self.m.get("v.p.gpslock") is False:
            return  # a position without a fix is a guess, not evidence of theft
        pos = self._position()
        if pos is None:
            return
        if self._anchor is None:
            self._anchor = pos
            return
        d = distance_m(*self._anchor, *pos)
        if d > self.s.moved_m and not self._moved_alerted:
            self._moved_alerted = True
            self._raise("moved", f"Car moved while parked ({format_distance(d)})", True, now)

    def _update_left_on(self, now: float) -> None:
        get = self.m.get
        speed = get("v.p.speed")
        still = get("v.e.on") is True and (not isinstance(speed, float) or speed < 1.0)
        if still and get("v.e.handbrake") is False:
            still = False  # handbrake released: someone is about to drive
        if still:
            if self._on_still_since is None:
                self._on_still_since = now
        else:
            self._on_still_since = None
            if self._left_on_alerted:
                self._left_on_alerted = False
                self._condition("left_on", False)

    def _on_activity(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        """A door opening means somebody is at the car: restart the left-on timer."""
        if self._on_still_since is not None and not self._left_on_alerted:
            self._on_still_since = now

    def _on_speed(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        """Speed below 1 km/h (or not a number), or the handbrake: re-judge standing still.

        (Speed at 1 km/h or more is answered in `on_metric` without coming here.)
        """
        self._update_left_on(now)

    def _on_trunk(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        self._on_activity(old, new, now)
        if new and old is False and self.m.get("v.e.valet"):
            self._raise("valet_trunk", "Trunk opened in valet mode", False, now)

    def _on_hood(self, old: MetricValue | None, new: MetricValue, now: float) -> None:
        self._on_activity(old, new, now)
        if new and old is False and self.m.get("v.e.valet"):
            self._raise("valet_hood", "Bonnet opened in valet mode", False, now)

    _handlers: dict[str, Callable[[VehicleLogic, MetricValue | None, MetricValue, float], None]] = {
        "v.c.charging": _on_charging,
        "v.e.alarm": _on_alarm,
        "v.b.12v.voltage": _on_12v,
        "v.b.soc": _on_soc,
        "v.e.on": _on_ignition,
        "v.p.latitude": _on_position,
        "v.p.longitude": _on_position,
        "v.p.speed": _on_speed,
        "v.e.handbrake": _on_speed,
        "v.d.trunk": _on_trunk,
        "v.d.hood": _on_hood,
        "v.d.fl": _on_activity,
        "v.d.fr": _on_activity,
        "v.d.rl": _on_activity,
        "v.d.rr": _on_activity,
    }
