"""Reassembling concatenated messages that arrive out of order, twice, or never complete."""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import ConcatInfo


@dataclass
class _Partial:
    first_seen: float
    parts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Collects parts keyed by (sender, ref, total); sans-IO, the caller passes `now`."""

    def __init__(self, timeout: float = 3600) -> None:
        self.timeout = timeout
        self._partials: dict[tuple[str, int, int], _Partial] = {}

    def add(self, sender: str, text: str, concat: ConcatInfo | None, now: float) -> str | None:
        """Store one part; returns the whole text when the last missing part arrives, else None.

        A message without concat info is complete by itself. Duplicates are ignored.
        """
        self.expire(now)
        if concat is None or concat.total == 1:
            return text
        key = (sender, concat.ref, concat.total)
        partial = self._partials.get(key)
        if partial is None:
            partial = self._partials[key] = _Partial(first_seen=now)
        partial.parts.setdefault(concat.seq, text)
        if len(partial.parts) < concat.total:
            return None
        del self._partials[key]
        return "".join(partial.parts[i] for i in range(1, concat.total + 1))

    def expire(self, now: float) -> list[tuple[str, int, int]]:
        """Drop partial messages older than the timeout; returns their keys (for logging)."""
        stale = [k for k, p in self._partials.items() if now - p.first_seen >= self.timeout]
        for k in stale:
            del self._partials[k]
        return stale

    def pending(self) -> int:
        """Number of incomplete messages held."""
        return len(self._partials)
