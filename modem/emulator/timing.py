"""How long the modem takes: a real SIM800's latencies, or zero for unit tests.

Figures are what a SIM800 typically shows on a bench (sim800-at.md §1: most commands < 100 ms,
`AT+CIICR` up to 85 s, `AT+CIPSTART` up to 75 s, `AT+CMGS` up to 60 s, `AT+COPS=?` minutes);
we use typical values, not the worst case, and jitter them with the modem's own RNG.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds; each delay is drawn uniformly from [x * (1 - jitter), x * (1 + jitter)]."""

    command: float = 0.0  # an ordinary command
    ciicr: float = 0.0  # bring up the PDP context
    cipstart: float = 0.0  # TCP handshake through the network
    cipstart_timeout: float = 75.0  # sim800-at.md §1: CONNECT FAIL after up to 75 s
    cipsend: float = 0.0  # SEND OK after Ctrl-Z
    cmgs: float = 0.0  # +CMGS after Ctrl-Z
    cmgs_fail: float = 0.0  # +CMS ERROR 332 after a network timeout
    cops_scan: float = 0.0  # AT+COPS=?
    boot_rdy: float = 0.0  # power key to RDY
    boot_cfun: float = 0.0  # to +CFUN: 1 / +CPIN: READY
    boot_ready: float = 0.0  # to Call Ready / SMS Ready
    register: float = 0.0  # to +CREG: 1 after boot or coverage regained
    gnss_ttff: float = 0.0  # time to first fix after AT+CGNSPWR=1
    sms_delay: float = 0.0  # extra delivery delay under the `sms-delay` fault
    slow: float = 3.0  # extra per-command latency under the `slow` fault
    jitter: float = 0.0

    def draw(self, name: str, rng: random.Random) -> float:
        base: float = getattr(self, name)
        if base <= 0 or self.jitter <= 0:
            return max(0.0, base)
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)


REALISTIC = Timing(
    command=0.03,
    ciicr=1.5,
    cipstart=0.8,
    cipstart_timeout=75.0,
    cipsend=0.3,
    cmgs=3.0,
    cmgs_fail=20.0,
    cops_scan=25.0,
    boot_rdy=1.0,
    boot_cfun=2.5,
    boot_ready=5.0,
    register=6.0,
    gnss_ttff=30.0,
    sms_delay=120.0,
    slow=3.0,
    jitter=0.3,
)

INSTANT = Timing(sms_delay=60.0, slow=3.0, cipstart_timeout=75.0)

TIMINGS = {"realistic": REALISTIC, "instant": INSTANT}


def timing_named(name_or_timing: str | Timing) -> Timing:
    if isinstance(name_or_timing, Timing):
        return name_or_timing
    try:
        return TIMINGS[name_or_timing]
    except KeyError:
        raise ValueError(f"unknown timing profile {name_or_timing!r}; known: {sorted(TIMINGS)}") from None
