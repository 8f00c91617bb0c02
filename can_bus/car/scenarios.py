"""Scenario scripts: a car's life as a list of (seconds from start, event, arguments).

`run_scenario(car, name, loop)` schedules one on the loop; on the virtual clock a whole day runs in
seconds and the same seed gives the same day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from can_bus.car.virtual_car import VirtualCar
    from runtime import Loop, Timer

Step = tuple[float, str, dict[str, Any]]
H = 3600.0
M = 60.0

SCENARIOS: dict[str, list[Step]] = {
    # Leave home at 07:30, 35 min to work, park and lock; 17:00 back home, plug in, charge overnight.
    "day": [
        (0, "set-soc", {"soc": 62}),
        (60, "unlock", {}),
        (90, "drive", {"minutes": 35, "mode": "mixed"}),
        (90 + 35 * M + 30, "lock", {}),
        (9.5 * H, "unlock", {}),
        (9.5 * H + 30, "drive", {"minutes": 40, "mode": "mixed"}),
        (9.5 * H + 30 + 40 * M + 60, "plug", {"kind": "ac"}),
        (9.5 * H + 30 + 40 * M + 90, "lock", {}),
        (24 * H, "unplug", {}),
    ],
    # Parked and locked in the street; at 02:10 it is lifted onto a truck and taken away.
    "theft": [
        (0, "lock", {}),
        (40 * M, "tow", {"minutes": 25}),
    ],
    # Plugged in at 40 %; the wall box loses power after 45 minutes; unplugged an hour later.
    "interrupted-charge": [
        (0, "set-soc", {"soc": 40}),
        (30, "plug", {"kind": "ac"}),
        (30 + 45 * M, "power-cut", {}),
        (30 + 105 * M, "unplug", {}),
    ],
}


def run_scenario(car: VirtualCar, name: str, loop: Loop) -> list[Timer]:
    """Schedule scenario `name` from now; returns the timers (cancel them to abort)."""
    try:
        steps = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    return [loop.call_later(at, _apply, car, event, kw) for at, event, kw in steps]


def _apply(car: VirtualCar, event: str, kw: dict[str, Any]) -> None:
    car.do(event, **kw)


def duration(name: str) -> float:
    """Seconds from the first to the last step (a test or a demo runs a little past it)."""
    return max(at for at, _e, _k in SCENARIOS[name])
