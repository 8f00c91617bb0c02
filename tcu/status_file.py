"""`status.json`: what the running unit would tell a person at 3 a.m., written where `tcu state` reads it.

Why a file: the unit's health and retry counters live in memory, and `tcu state` is another process
(run over SSH on a Pi, or by a watchdog script). The unit writes a small snapshot into its state
directory; `tcu state` reads it and the databases, read-only, and never talks to the unit.

Rules: written atomically (a temp file, then `os.replace`), so a reader never sees half a file; only
when its content changed, plus a heartbeat (`written_at`) so a reader can tell a unit that stopped
from one with nothing new to say; mode 0600, like the databases beside it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from runtime.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

FILENAME = "status.json"
FORMAT = 1
# The unit looks for changes this often (loop seconds) and rewrites an unchanged file this often, so a
# snapshot older than STALE_AFTER means the unit is not running (or cannot write its state directory).
CHECK_EVERY = 5.0
HEARTBEAT = 30.0
STALE_AFTER = 3 * HEARTBEAT


class StatusWriter:
    """Writes a snapshot dict to `path` when it changed or the heartbeat is due; never raises on I/O."""

    def __init__(self, path: Path, heartbeat: float = HEARTBEAT) -> None:
        self.path = path
        self.heartbeat = heartbeat
        self.writes = 0
        self._last_body: str | None = None
        self._last_at: float | None = None
        self._ratelog = RateLimitedLog(log, 60.0)

    def update(self, snapshot: Mapping[str, object], now: float, wall: float) -> bool:
        """Write `snapshot` (plus `written_at`) if it changed or the heartbeat is due. True if written."""
        body = json.dumps(snapshot, sort_keys=True, default=str)
        if body == self._last_body and self._last_at is not None and now - self._last_at < self.heartbeat:
            return False
        doc = dict(snapshot)
        doc["written_at"] = wall
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=1, sort_keys=True, default=str)
                f.write("\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            self._ratelog.warning("write", now, "cannot write %s: %s (tcu state will call the unit stale)",
                                  self.path, exc)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        self._last_body, self._last_at = body, now
        self.writes += 1
        return True


def read_status(path: Path) -> dict[str, object]:
    """The snapshot as written; raises OSError (missing, unreadable) or ValueError (not a snapshot)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a tcu status snapshot (format {FORMAT})")
    return data
