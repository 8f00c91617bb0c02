"""The weather of the simulated world: outage windows drawn from the seed.

The world knows each window exactly (start, end, kind), which the report needs to tell an alert
raised in an outage from one raised on a good day.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutageWindow:
    start: float
    end: float
    kind: str   # gprs-down | no-coverage | stall | remote-close


def weather_schedule(profile: str, hours: float, rng) -> list[OutageWindow]:  # type: ignore[no-untyped-def]
    """Outage windows over `hours` for a weather profile; the same RNG state gives the same weather.

    calm: one data outage a day (the demo's scripted one); harsh: every 40–120 min a fault of 1–40 min,
    mostly data loss, sometimes no coverage at all (no SMS either), a silent stall or a remote close.
    """
    end = hours * 3600.0
    out: list[OutageWindow] = []
    if profile == "calm":
        start = min(3 * 3600.0, end * 0.3)
        if start + 600 < end:
            out.append(OutageWindow(start, start + 600.0, "gprs-down"))
        return out
    if profile != "harsh":
        raise ValueError(f"unknown weather {profile!r} (calm, harsh)")
    t = rng.uniform(600, 2400)
    while t < end - 600:
        kind = rng.choices(["gprs-down", "no-coverage", "stall", "remote-close"], [55, 20, 15, 10])[0]
        length = 0.0 if kind == "remote-close" else rng.uniform(60, 2400)
        out.append(OutageWindow(t, min(t + length, end), kind))
        t += length + rng.uniform(2400, 7200)
    return out


LTE_FAULTS = ("rat-fallback-2g", "no-service-online", "netopen-fail")


def lte_weather(base: list[OutageWindow], hours: float, rng) -> list[OutageWindow]:  # type: ignore[no-untyped-def]
    """The LTE module's own faults (issue 15) added to `base` for a SIM7600 world: in about a third of the
    quiet gaps of at least 40 min, one of `LTE_FAULTS` for 1–5 min, clear of the other windows. Its own RNG
    stream, so the base weather is the same as a SIM800 world's."""
    end = hours * 3600.0
    out = list(base)
    edges = [0.0, *(t for w in sorted(base, key=lambda w: w.start) for t in (w.start, w.end)), end]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2], strict=True):
        if gap_end - gap_start < 2400 or rng.random() > 0.35:
            continue
        start = gap_start + rng.uniform(600, gap_end - gap_start - 1800)
        out.append(OutageWindow(start, start + rng.uniform(60, 300), rng.choice(LTE_FAULTS)))
    return sorted(out, key=lambda w: w.start)
