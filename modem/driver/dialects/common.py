"""The unsolicited lines every SIMCom model sends alike, read once for all dialects.

3GPP TS 27.007 (registration `+CREG`/`+CGREG`/`+CEREG`, `+CPIN`, `RING`), TS 27.005 (`+CMTI`), NMEA
sentences and SIMCom's power lines (`NORMAL POWER DOWN`, `UNDER-VOLTAGE WARNNING`) look the same on a
SIM800 and a SIM7600; a dialect's `classify_urc` asks here first and reads only its own lines itself.
"""

from __future__ import annotations

from modem.driver import commands as C
from modem.driver.urc import (
    NmeaSentence,
    PowerDown,
    RegistrationChanged,
    Ring,
    SimStatus,
    SmsStored,
    Urc,
    VoltageWarning,
)

# TS 27.007 §7.2 (+CREG), §10.1.20 (+CGREG), §10.1.22 (+CEREG): the prefix, and whether it is the data bearer.
REGISTRATION_2G = (("+CREG:", False), ("+CGREG:", True))
REGISTRATION_LTE = REGISTRATION_2G + (("+CEREG:", True),)


class NotCommon:
    """`classify_common`'s answer for a line it does not know: the dialect reads it."""


NOT_COMMON = NotCommon()


def fields(rest: str) -> list[str]:
    return [f.strip() for f in rest.split(",")]


def classify_common(line: str, registration: tuple[tuple[str, bool], ...] = REGISTRATION_2G
                    ) -> Urc | None | NotCommon:
    """The record for a line every SIMCom model sends alike; None for a query's answer that looks like a
    URC (`+CREG: <n>,<stat>`); `NOT_COMMON` when the line is the dialect's to read."""
    if line == "RING":
        return Ring(line)
    if line.endswith("POWER DOWN"):
        return PowerDown(line, reason=line[: -len("POWER DOWN")].strip().lower() or "normal")
    if "VOLTAGE WARN" in line:
        return VoltageWarning(line, reason=line.split(" ")[0].lower())
    if line.startswith("+CMTI:"):
        f = fields(line[6:])
        if len(f) >= 2 and C.ascii_digits(f[1]):
            return SmsStored(line, store=f[0].strip('"'), index=int(f[1]))
        return Urc(line)
    if line.startswith("+CPIN:"):
        return SimStatus(line, status=line[6:].strip())
    for prefix, gprs in registration:
        if line.startswith(prefix):
            f = fields(line[len(prefix):])
            # URC: `<stat>[,"<lac|tac>","<ci>"[,<AcT>]]`; a query answer is `<n>,<stat>...`.
            if C.ascii_digits(f[0]) and (len(f) == 1 or f[1].startswith('"')):
                lac = f[1].strip('"') if len(f) > 2 else None
                ci = f[2].strip('"') if len(f) > 2 else None
                return RegistrationChanged(line, stat=int(f[0]), gprs=gprs, lac=lac, ci=ci)
            return None
    if line.startswith("$G") and len(line) > 6:
        return NmeaSentence(line)
    return NOT_COMMON
