"""Random faults from a seed: a "weather" profile says how often each fault strikes and for how long.

A profile is a dict (from code, JSON or TOML):

    {"tunnel": {"kind": "no-coverage", "every": 1200, "for": 120},   # mean gap, duration (s)
     "noise":  {"kind": "garbage", "rate": 0.01, "burst": 5}}         # on 1% of the time, 5 s bursts

`for` may be [min, max]. A bare number `{"garbage": 0.01}` is a rate for that kind. Gaps are drawn
from an exponential distribution with the modem's own RNG, so the same seed gives the same weather.
"""

from __future__ import annotations

import json
import logging
import random
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modem.emulator.faults import Faults

log = logging.getLogger(__name__)

HOUR = 3600.0

WEATHER_PROFILES: dict[str, dict[str, Any]] = {
    "calm": {},
    "harsh": {
        # Several outages per simulated day, of every kind a car meets on the road.
        "tunnel": {"kind": "no-coverage", "every": 4 * HOUR, "for": [60, 300]},
        "gprs-drop": {"kind": "gprs-down", "every": 6 * HOUR, "for": [30, 180]},
        "stall": {"kind": "stall", "every": 8 * HOUR, "for": [60, 240]},
        "server-drop": {"kind": "remote-close", "every": 3 * HOUR, "for": 1},
        "noise": {"kind": "garbage", "every": 6 * HOUR, "for": [2, 20]},
        "fringe": {"kind": "weak-signal", "every": 2 * HOUR, "for": [120, 900]},
        # LTE modules only (a GSM one skips these fronts without drawing from the RNG, so its
        # weather for a seed is what it was before they were added).
        "lte-fallback": {"kind": "rat-fallback-2g", "every": 8 * HOUR, "for": [60, 600]},
        "lte-no-service": {"kind": "no-service-online", "every": 12 * HOUR, "for": [30, 300]},
        "lte-netopen": {"kind": "netopen-fail", "every": 10 * HOUR, "for": [30, 300]},
    },
}


@dataclass(frozen=True)
class Front:
    """One recurring fault."""

    name: str
    kind: str
    every: float
    duration: tuple[float, float]


def parse_profile(spec: dict[str, Any]) -> list[Front]:
    fronts = []
    for name, entry in sorted(spec.items()):
        if isinstance(entry, int | float):
            entry = {"kind": name, "rate": float(entry)}
        if not isinstance(entry, dict):
            raise ValueError(f"weather entry {name!r}: expected a table, got {entry!r}")
        kind = Faults.check(str(entry.get("kind", name)))
        if "rate" in entry:
            rate = float(entry["rate"])
            if not 0 < rate < 1:
                raise ValueError(f"weather entry {name!r}: rate must be in (0, 1)")
            burst = float(entry.get("burst", 5.0))
            every = burst / rate
            duration = (burst, burst)
        else:
            every = float(entry["every"])
            dur = entry.get("for", 60.0)
            duration = (
                (float(dur[0]), float(dur[1])) if isinstance(dur, list | tuple) else (float(dur), float(dur))
            )
        if every <= 0:
            raise ValueError(f"weather entry {name!r}: 'every' must be positive")
        fronts.append(Front(name, kind, every, duration))
    return fronts


def load_profile(name_or_path: str) -> dict[str, Any]:
    """A named profile, or a .json / .toml file."""
    if name_or_path in WEATHER_PROFILES:
        return WEATHER_PROFILES[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(f"no weather profile {name_or_path!r} (known: {', '.join(WEATHER_PROFILES)})")
    if path.suffix == ".toml":
        return tomllib.loads(path.read_text())
    return json.loads(path.read_text())


class Weather:
    """Schedules fronts on a loop; `apply(kind, duration)` is the modem's fault input."""

    def __init__(self, spec: dict[str, Any] | str) -> None:
        self.spec = load_profile(spec) if isinstance(spec, str) else spec
        self.fronts = parse_profile(self.spec)
        self.history: list[tuple[float, str, float]] = []

    def start(
        self,
        loop: Any,
        rng: random.Random,
        apply: Callable[[str, float], None],
        kinds: Collection[str] | None = None,
    ) -> None:
        """Arm every front whose fault the modem can suffer (`kinds`: its dialect's; None: all)."""
        for front in self.fronts:
            if kinds is None or front.kind in kinds:
                self._arm(loop, rng, apply, front)

    def _arm(self, loop: Any, rng: random.Random, apply: Callable[[str, float], None], front: Front) -> None:
        gap = rng.expovariate(1.0 / front.every)

        def strike() -> None:
            duration = rng.uniform(*front.duration)
            self.history.append((loop.time(), front.kind, duration))
            log.info("weather %s: %s for %.0f s", front.name, front.kind, duration)
            apply(front.kind, duration)
            self._arm(loop, rng, apply, front)

        loop.call_later(gap, strike)
