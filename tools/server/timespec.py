"""Points in time as people type them for `--since`/`--until`: ISO-8601 or "that long ago".

    2026-11-30T14:05:00Z   2026-11-30 14:05   2026-11-30   (no zone: this machine's local time)
    2h   90m   1d12h   30s ago   now

Why both: an operator looking at last night wants `--since 12h`; a report for a given day wants dates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|min|m|sec|s)")
_RELATIVE = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:w|d|h|min|m|sec|s)\s*)+(?:ago)?")

HELP = ("ISO-8601 (2026-11-30T14:05Z, 2026-11-30 14:05, 2026-11-30; no zone = local time) "
        "or how long ago: 30s, 15m, 2h, 1d12h, 1w")


def parse_time(text: str, now: float) -> float:
    """Seconds since the epoch for `text`; ValueError saying what is accepted when it is neither form."""
    t = text.strip().lower()
    if t == "now":
        return now
    if _RELATIVE.fullmatch(t):
        return now - sum(float(n) * UNITS[u] for n, u in _PART.findall(t))
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a time: {text!r}; use {HELP}") from None
    if when.tzinfo is None:
        when = when.astimezone()     # a naive time is this machine's local time
    return when.timestamp()


def iso_utc(t: float) -> str:
    """`2026-11-30T14:05:00.000Z`: what `--json` prints, unambiguous for scripts."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local(t: float) -> tuple[str, str]:
    """(`2026-11-30 15:05:00`, zone name) in this machine's local time, for tables people read."""
    when = datetime.fromtimestamp(t).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S"), when.strftime("%Z") or when.strftime("%z")
