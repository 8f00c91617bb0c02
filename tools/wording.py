"""Counts in words people read: `1 item queued`, `2 items queued` (issue 13: `1 items queued`)."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, the noun in the plural unless n is exactly 1 (`plural` for irregular ones)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
