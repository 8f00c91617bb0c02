"""The metrics store: the one shared truth of the unit (OVMS v3 style).

The CAN profile *sets* metrics; the vehicle logic, the server client, the SMS commands and the live
view *read* them. Names and units are the OVMS standard ones so people who know OVMS feel at home.

`Metrics.set` is on the CAN hot path (hundreds of calls per second), so it does a dict lookup, an
equality test and, only on a change, touches the per-consumer dirty sets and the listeners.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

MetricValue = float | int | bool | str
Listener = Callable[[str, "MetricValue | None", MetricValue, float], None]


@dataclass(frozen=True)
class MetricDef:
    """What a metric is: its OVMS name, value type, unit and how long a value stays current.

    `stale_after` is in seconds; None means the value never goes stale (e.g. the VIN).
    """

    name: str
    kind: type  # float, int, bool or str
    unit: str = ""
    stale_after: float | None = None
    description: str = ""


# Staleness periods (seconds). OVMS v3 uses SM_STALE_MIN (60 s), SM_STALE_MID (120 s),
# SM_STALE_HIGH (3600 s) and SM_STALE_NONE; we keep the same ladder.
STALE_MIN = 60.0
STALE_MID = 120.0
STALE_HIGH = 3600.0
STALE_NONE = None

_F, _I, _B, _S = float, int, bool, str

# (name, kind, unit, stale_after, description)
STANDARD_METRICS: tuple[MetricDef, ...] = tuple(
    MetricDef(*row)
    for row in (
        # battery
        ("v.b.soc", _F, "%", STALE_MID, "state of charge"),
        ("v.b.soh", _F, "%", STALE_HIGH, "state of health"),
        ("v.b.cac", _F, "Ah", STALE_HIGH, "calculated capacity"),
        ("v.b.range.ideal", _F, "km", STALE_MID, "ideal range"),
        ("v.b.range.est", _F, "km", STALE_MID, "estimated range"),
        ("v.b.12v.voltage", _F, "V", STALE_MID, "12 V auxiliary battery voltage"),
        ("v.b.12v.voltage.ref", _F, "V", STALE_HIGH, "12 V reference (resting) voltage"),
        ("v.b.temp", _F, "°C", STALE_MID, "main battery temperature"),
        ("v.b.voltage", _F, "V", STALE_MIN, "main battery voltage"),
        ("v.b.current", _F, "A", STALE_MIN, "main battery current"),
        ("v.b.power", _F, "kW", STALE_MIN, "main battery power"),
        # charging
        ("v.c.charging", _B, "", STALE_MID, "charging in progress"),
        ("v.c.state", _S, "", STALE_MID, "charging/topoff/done/prepare/stopped/..."),
        ("v.c.mode", _S, "", STALE_HIGH, "standard/storage/range/performance"),
        ("v.c.voltage", _F, "V", STALE_MIN, "charge line voltage"),
        ("v.c.current", _F, "A", STALE_MIN, "charge current"),
        ("v.c.climit", _F, "A", STALE_HIGH, "charge current limit"),
        ("v.c.kwh", _F, "kWh", STALE_MID, "energy charged this session"),
        ("v.c.pilot", _B, "", STALE_MID, "pilot signal present"),
        ("v.c.limit.soc", _F, "%", STALE_HIGH, "charge target SOC"),
        ("v.c.temp", _F, "°C", STALE_MID, "charger temperature"),
        # doors
        ("v.d.cp", _B, "", STALE_MID, "charge port open"),
        ("v.d.fl", _B, "", STALE_MID, "front left door open"),
        ("v.d.fr", _B, "", STALE_MID, "front right door open"),
        ("v.d.rl", _B, "", STALE_MID, "rear left door open"),
        ("v.d.rr", _B, "", STALE_MID, "rear right door open"),
        ("v.d.trunk", _B, "", STALE_MID, "trunk open"),
        ("v.d.hood", _B, "", STALE_MID, "bonnet open"),
        # environment
        ("v.e.locked", _B, "", STALE_MID, "car locked"),
        ("v.e.valet", _B, "", STALE_MID, "valet mode"),
        ("v.e.on", _B, "", STALE_MID, "ignition on"),
        ("v.e.awake", _B, "", STALE_MID, "car systems awake"),
        ("v.e.alarm", _B, "", STALE_MID, "alarm sounding"),
        ("v.e.handbrake", _B, "", STALE_MID, "handbrake on"),
        ("v.e.hvac", _B, "", STALE_MID, "climate control running"),
        ("v.e.cabintemp", _F, "°C", STALE_MID, "cabin temperature"),
        ("v.e.temp", _F, "°C", STALE_MID, "ambient temperature"),
        # position
        ("v.p.latitude", _F, "°", STALE_MID, "latitude"),
        ("v.p.longitude", _F, "°", STALE_MID, "longitude"),
        ("v.p.direction", _F, "°", STALE_MID, "heading"),
        ("v.p.altitude", _F, "m", STALE_MID, "altitude"),
        ("v.p.speed", _F, "km/h", STALE_MIN, "vehicle speed"),
        ("v.p.odometer", _F, "km", STALE_HIGH, "odometer"),
        ("v.p.trip", _F, "km", STALE_MID, "trip meter"),
        ("v.p.gpslock", _B, "", STALE_MIN, "GPS fix"),
        ("v.p.satcount", _I, "", STALE_MIN, "satellites in use"),
        ("v.p.gpshdop", _F, "", STALE_MIN, "horizontal dilution of precision"),
        # motor / inverter
        ("v.m.temp", _F, "°C", STALE_MID, "motor temperature"),
        ("v.i.temp", _F, "°C", STALE_MID, "inverter temperature"),
        # identity
        ("v.vin", _S, "", STALE_NONE, "vehicle identification number"),
        # module / network
        ("m.net.sq", _F, "dBm", STALE_MID, "signal quality"),
        ("m.net.provider", _S, "", STALE_HIGH, "network operator"),
        ("m.net.type", _S, "", STALE_HIGH, "radio technology: 2G, 3G, 4G (empty: no service)"),
        ("m.net.state", _S, "", STALE_NONE, "link state"),
    )
)


class MetricTracker:
    """Names changed since the consumer last cleared (the server client sends only what changed)."""

    __slots__ = ("consumer", "_dirty")

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._dirty: set[str] = set()

    def changed(self) -> set[str]:
        """A copy of the names changed since the last `clear()`."""
        return set(self._dirty)

    def clear(self, names: Iterable[str] | None = None) -> None:
        """Forget all changes, or only `names` (those the consumer has just sent)."""
        if names is None:
            self._dirty.clear()
        else:
            self._dirty.difference_update(names)

    def mark_all(self, names: Iterable[str]) -> None:
        """Mark names as changed, e.g. to resend everything after a reconnect."""
        self._dirty.update(names)


class MetricsView(Mapping[str, MetricValue]):
    """A read-only Mapping of the metrics that have a value, for consumers (OVMS client, SMS, UI)."""

    __slots__ = ("_m",)

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def __getitem__(self, name: str) -> MetricValue:
        return self._m._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._m._values)

    def __len__(self) -> int:
        return len(self._m._values)

    def is_stale(self, name: str, now: float) -> bool:
        return self._m.is_stale(name, now)

    def updated_at(self, name: str) -> float | None:
        return self._m.updated_at(name)

    def definition(self, name: str) -> MetricDef | None:
        return self._m.definition(name)


class Metrics:
    """The store. Values are typed by their `MetricDef`; unknown names are registered on first set."""

    def __init__(self, defs: Iterable[MetricDef] = STANDARD_METRICS) -> None:
        self._defs: dict[str, MetricDef] = {}
        self._values: dict[str, MetricValue] = {}
        self._times: dict[str, float] = {}
        self._trackers: dict[str, MetricTracker] = {}
        self._dirty_sets: list[set[str]] = []
        self._listeners: list[tuple[Listener, frozenset[str] | None]] = []
        self._listeners_for: dict[str, tuple[Listener, ...]] = {}
        for d in defs:
            self.register(d)
        self.view = MetricsView(self)

    # -- definitions ---------------------------------------------------------------------------
    def register(self, d: MetricDef) -> MetricDef:
        """Add (or redefine) a metric. Redefining keeps the current value if it still fits."""
        if d.kind not in (float, int, bool, str):
            raise ValueError(f"metric {d.name}: unsupported kind {d.kind!r}")
        self._defs[d.name] = d
        return d

    def definition(self, name: str) -> MetricDef | None:
        return self._defs.get(name)

    def definitions(self) -> Mapping[str, MetricDef]:
        return self._defs

    # -- writing ---------------------------------------------------------------------------------
    def set(self, name: str, value: MetricValue, now: float) -> bool:
        """Store a value seen at `now`; returns True if it changed. Same value only refreshes freshness."""
        d = self._defs.get(name)
        if d is None:
            d = self.register(MetricDef(name, _kind_of(value)))
        kind = d.kind
        if type(value) is not kind:
            value = _coerce(d, value)
        elif value != value:  # NaN: never equal to itself, would look changed on every frame
            raise ValueError(f"{name}: not a number")
        self._times[name] = now
        old = self._values.get(name)
        if old is not None and old == value:
            return False
        self._values[name] = value
        self._notify(name, old, value, now)
        return True

    def _notify(self, name: str, old: MetricValue | None, value: MetricValue, now: float) -> None:
        """Mark a changed metric dirty for every tracker and tell its listeners."""
        for dirty in self._dirty_sets:
            dirty.add(name)
        listeners = self._listeners_for.get(name)
        if listeners is None:
            listeners = self._resolve_listeners(name)
        for cb in listeners:
            try:
                cb(name, old, value, now)
            except Exception:  # a consumer's bug must not stop the CAN path
                log.exception("metric listener %r failed on %s; continuing", cb, name)

    def apply(self, updates: Iterable[tuple[str, MetricValue]], now: float) -> list[str]:
        """Apply a CAN decoder's list of (name, value); returns the names that changed.

        This is the CAN hot path, so the common case (a known metric, a value already of its
        type) is handled inline; anything else goes through `set`. A bad value for one metric is
        logged and skipped so one broken signal cannot block the rest.
        """
        changed: list[str] = []
        defs, values, times = self._defs, self._values, self._times
        notify = self._notify
        for name, value in updates:
            d = defs.get(name)
            if d is not None and d.kind is float and type(value) is int:
                value = float(value)  # DBC integer signals feeding float metrics: the common coercion
            if d is None or type(value) is not d.kind or value != value:
                try:
                    if self.set(name, value, now):
                        changed.append(name)
                except (TypeError, ValueError) as e:
                    log.warning("metric %s: rejected value %r (%s); keeping the old one", name, value, e)
                continue
            times[name] = now
            old = values.get(name)
            if old is not None and old == value:
                continue
            values[name] = value
            notify(name, old, value, now)
            changed.append(name)
        return changed

    def touch(self, names: Iterable[str], now: float) -> None:
        """The source of these metrics was heard at `now` with the same values: they are fresh.

        No listener hears it (nothing changed); only `is_stale`/`updated_at` see it.
        """
        values, times = self._values, self._times
        for name in names:
            if name in values:
                times[name] = now

    def clear(self, name: str) -> None:
        """Forget a value (e.g. the GPS position when the fix is lost)."""
        self._values.pop(name, None)
        self._times.pop(name, None)

    # -- reading ---------------------------------------------------------------------------------
    def get(self, name: str, default: MetricValue | None = None) -> MetricValue | None:
        return self._values.get(name, default)

    def updated_at(self, name: str) -> float | None:
        return self._times.get(name)

    def is_stale(self, name: str, now: float) -> bool:
        """True if the metric has no value or its last update is older than its staleness period."""
        t = self._times.get(name)
        if t is None:
            return True
        d = self._defs.get(name)
        if d is None or d.stale_after is None:
            return False
        return now - t > d.stale_after

    def format(self, name: str, now: float | None = None) -> str:
        """Human text with the unit, e.g. `12.4V`, `81%`, or `12.4V (stale)`; `-` if unknown."""
        v = self._values.get(name)
        if v is None:
            return "-"
        d = self._defs.get(name)
        unit = d.unit if d else ""
        if isinstance(v, bool):
            text = "yes" if v else "no"
        elif isinstance(v, float):
            text = f"{v:.1f}".rstrip("0").rstrip(".") if not v.is_integer() else str(int(v))
            text += unit
        else:
            text = f"{v}{unit}"
        if now is not None and self.is_stale(name, now):
            text += " (stale)"
        return text

    # -- consumers -------------------------------------------------------------------------------
    def tracker(self, consumer: str) -> MetricTracker:
        """The change tracker of `consumer` (created on first call, starting with everything set dirty)."""
        t = self._trackers.get(consumer)
        if t is None:
            t = MetricTracker(consumer)
            t.mark_all(self._values)
            self._trackers[consumer] = t
            self._dirty_sets.append(t._dirty)
        return t

    def subscribe(self, callback: Listener, names: Iterable[str] | None = None) -> Callable[[], None]:
        """Call `callback(name, old, new, now)` on every change (of `names` only, if given).

        Returns an unsubscribe function. Filtering here keeps consumers that care about a few
        metrics off the CAN hot path for all the others.
        """
        entry = (callback, None if names is None else frozenset(names))
        self._listeners.append(entry)
        self._listeners_for.clear()

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)
                self._listeners_for.clear()

        return unsubscribe

    def _resolve_listeners(self, name: str) -> tuple[Listener, ...]:
        """The listeners for one name, in subscription order; cached until subscriptions change."""
        found = tuple(cb for cb, names in self._listeners if names is None or name in names)
        self._listeners_for[name] = found
        return found


def _kind_of(value: object) -> type:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    raise TypeError(f"unsupported metric value type {type(value).__name__}")


def _coerce(d: MetricDef, value: object) -> MetricValue:
    kind = d.kind
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{d.name} expects a number, got {value!r}")
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            raise ValueError(f"{d.name}: not a finite number: {value!r}")
        return f
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{d.name} expects an integer, got {value!r}")
        return int(value)
    if kind is bool:
        if isinstance(value, int | float):
            return bool(value)
        raise TypeError(f"{d.name} expects a boolean, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise TypeError(f"{d.name} expects text, got {value!r}")
    raise TypeError(f"{d.name}: unsupported kind {kind!r}")
