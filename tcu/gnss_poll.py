"""GNSS polling: `AT+CGNSINF` on a cadence → `v.p.*` metrics (DESIGN.md §5 names).

Why poll rather than stream NMEA: one short command every few seconds shares the AT channel politely
with TCP sends and SMS, and a lost answer costs one sample, never a half-parsed sentence. The period is
short while the car moves (breadcrumbs, theft tracking) and long while it is parked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from runtime import Loop, Timer
from tcu.metrics import Metrics

log = logging.getLogger(__name__)

MOVING_PERIOD = 10.0
PARKED_PERIOD = 120.0

FixSource = Callable[[Callable[[Any], None]], None]   # ops.gnss_fix(done(GnssFix | None))


class GnssPoller:
    """Ask `source` for a fix every period; write valid fixes to the metrics, clear the lock otherwise."""

    def __init__(self, loop: Loop, source: FixSource, metrics: Metrics,
                 moving_period: float = MOVING_PERIOD, parked_period: float = PARKED_PERIOD,
                 power_on: Callable[[], None] | None = None) -> None:
        """`power_on()` (AT+CGNSPWR=1) is repeated after misses: a modem reboot switches GNSS off."""
        self.power_on = power_on
        self.loop = loop
        self.source = source
        self.metrics = metrics
        self.moving_period = moving_period
        self.parked_period = parked_period
        self._timer: Timer | None = None
        self._busy = False
        self.fixes = 0
        self.misses = 0

    def start(self, delay: float = 5.0) -> None:
        self._timer = self.loop.call_later(delay, self._poll)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def period(self) -> float:
        speed = self.metrics.get("v.p.speed")
        moving = isinstance(speed, int | float) and speed > 1.0
        return self.moving_period if moving or self.metrics.get("v.e.on") else self.parked_period

    def _poll(self) -> None:
        self._timer = self.loop.call_later(self.period(), self._poll)
        if self._busy:
            return
        self._busy = True
        self.source(self._got)

    def _got(self, fix: Any) -> None:
        self._busy = False
        now = self.loop.time()
        if fix is None or not getattr(fix, "valid", False) or fix.latitude is None or fix.longitude is None:
            self.misses += 1
            self.metrics.set("v.p.gpslock", False, now)
            if self.power_on is not None and self.misses % 3 == 1:
                self.power_on()
            return
        self.fixes += 1
        updates: list[tuple[str, Any]] = [
            ("v.p.latitude", round(float(fix.latitude), 6)),
            ("v.p.longitude", round(float(fix.longitude), 6)),
            ("v.p.gpslock", True),
        ]
        if fix.altitude_m is not None:
            updates.append(("v.p.altitude", float(fix.altitude_m)))
        if fix.course_deg is not None:
            updates.append(("v.p.direction", float(fix.course_deg)))
        if fix.satellites_used is not None:
            updates.append(("v.p.satcount", int(fix.satellites_used)))
        if fix.hdop is not None:
            updates.append(("v.p.gpshdop", float(fix.hdop)))
        if fix.speed_kmh is not None:
            updates.append(("v.p.gpsspeed", float(fix.speed_kmh)))
        self.metrics.apply(updates, now)
