"""Where the modem thinks it is: position sources, +CGNSINF lines and NMEA sentences (pynmea2).

A source is anything with `fix(now) -> Fix | None`: a fixed point, a route driven at a speed, or a
callable the simulated world supplies (the virtual car's position).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pynmea2

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    alt: float = 35.0
    speed_kmh: float = 0.0
    course: float = 0.0
    sats_used: int = 9
    sats_view: int = 12
    hdop: float = 0.9


class FixedPosition:
    """Parked somewhere (default: Greenwich)."""

    def __init__(self, lat: float = 51.4779, lon: float = -0.0015, alt: float = 35.0) -> None:
        self._fix = Fix(lat, lon, alt)

    def fix(self, now: float) -> Fix | None:
        return self._fix


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


class RoutePosition:
    """Drives along waypoints at a constant speed from `start` (loop time), looping back to the start."""

    def __init__(
        self, points: Sequence[tuple[float, float]], speed_kmh: float = 50.0, start: float = 0.0
    ) -> None:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        self.points = list(points) + [points[0]]
        self.speed_kmh = speed_kmh
        self.start = start
        self._legs = [_distance_m(a, b) for a, b in zip(self.points, self.points[1:], strict=False)]
        self._total = sum(self._legs)

    def fix(self, now: float) -> Fix | None:
        if self._total <= 0:
            return Fix(*self.points[0])
        travelled = max(0.0, now - self.start) * self.speed_kmh / 3.6 % self._total
        for (a, b), leg in zip(zip(self.points, self.points[1:], strict=False), self._legs, strict=False):
            if travelled <= leg and leg > 0:
                f = travelled / leg
                lat = a[0] + (b[0] - a[0]) * f
                lon = a[1] + (b[1] - a[1]) * f
                return Fix(lat, lon, speed_kmh=self.speed_kmh, course=_bearing(a, b))
            travelled -= leg
        return Fix(*self.points[0])


class CallablePosition:
    """Adapts a callable the simulated world supplies, e.g. the virtual car's `position`.

    Accepted: `fn(now)` or `fn()`, returning a Fix, (lat, lon), (lat, lon, course, speed_kmh) as
    `VirtualCar.position()` gives it, or None (no fix: in a garage).
    """

    def __init__(self, fn: Callable[..., Fix | tuple[float, ...] | None]) -> None:
        self._fn = fn
        try:
            params = inspect.signature(fn).parameters.values()
            self._takes_now = any(
                p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
            )
        except (TypeError, ValueError):  # builtins without a signature
            self._takes_now = True

    def fix(self, now: float) -> Fix | None:
        value = self._fn(now) if self._takes_now else self._fn()
        if value is None or isinstance(value, Fix):
            return value
        lat, lon = float(value[0]), float(value[1])
        if len(value) >= 4:
            return Fix(lat, lon, course=float(value[2]), speed_kmh=float(value[3]))
        return Fix(lat, lon)


def as_source(obj: object) -> object:
    """Accept a source, a Fix, a (lat, lon) tuple or a callable."""
    if obj is None:
        return FixedPosition()
    if hasattr(obj, "fix"):
        return obj
    if isinstance(obj, Fix):
        return FixedPosition(obj.lat, obj.lon, obj.alt)
    if isinstance(obj, tuple):
        return FixedPosition(float(obj[0]), float(obj[1]))
    if callable(obj):
        return CallablePosition(obj)
    raise TypeError(f"not a position source: {obj!r}")


def cgnsinf(power: bool, fix: Fix | None, wall: float) -> str:
    """The 21 fields of +CGNSINF (SIM808 GNSS application note)."""
    if not power:
        return "+CGNSINF: 0" + "," * 20
    utc = datetime.fromtimestamp(wall, UTC).strftime("%Y%m%d%H%M%S.000")
    if fix is None:
        return f"+CGNSINF: 1,0,{utc}" + "," * 18
    fields = [
        "1", "1", utc, f"{fix.lat:.6f}", f"{fix.lon:.6f}", f"{fix.alt:.3f}", f"{fix.speed_kmh:.2f}",
        f"{fix.course:.1f}", "1", "", f"{fix.hdop:.1f}", f"{fix.hdop * 1.3:.1f}", f"{fix.hdop * 0.8:.1f}", "",
        str(fix.sats_view), str(fix.sats_used), "", "", "42", "", "",
    ]  # fmt: skip
    return "+CGNSINF: " + ",".join(fields)


def _dm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    value = abs(value)
    deg = int(value)
    minutes = (value - deg) * 60
    return (f"{deg:02d}{minutes:07.4f}" if lat else f"{deg:03d}{minutes:07.4f}"), hemi


def nmea_sentences(fix: Fix | None, wall: float) -> list[str]:
    """$GPRMC and $GPGGA for this instant, checksummed by pynmea2."""
    t = datetime.fromtimestamp(wall, UTC)
    hhmmss = t.strftime("%H%M%S.000")
    ddmmyy = t.strftime("%d%m%y")
    if fix is None:
        rmc = pynmea2.RMC("GP", "RMC", (hhmmss, "V", "", "", "", "", "", "", ddmmyy, "", "", "N"))
        gga = pynmea2.GGA("GP", "GGA", (hhmmss, "", "", "", "", "0", "00", "", "", "M", "", "M", "", ""))
        return [str(rmc), str(gga)]
    lat, ns = _dm(fix.lat, True)
    lon, ew = _dm(fix.lon, False)
    knots = fix.speed_kmh / 1.852
    rmc = pynmea2.RMC(
        "GP", "RMC", (hhmmss, "A", lat, ns, lon, ew, f"{knots:.2f}", f"{fix.course:.2f}", ddmmyy, "", "", "A")
    )
    gga = pynmea2.GGA(
        "GP", "GGA",
        (hhmmss, lat, ns, lon, ew, "1", f"{fix.sats_used:02d}", f"{fix.hdop:.1f}", f"{fix.alt:.1f}", "M",
         "47.0", "M", "", ""),
    )  # fmt: skip
    return [str(rmc), str(gga)]
