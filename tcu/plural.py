"""`plural(1, "item")` → `1 item`, `plural(3, "item")` → `3 items`: counts in what people read.

Why a helper: SMS replies, logs and `tcu state` put counts before nouns in many places, and each
hand-written `{n} items` said `1 items` when n was 1 (issue 13). `tests/tcu/test_plurals.py` looks
for a count before a hard-coded plural noun anywhere in `tcu/`."""

from __future__ import annotations


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """`n` and `word`, or `many` (default `word + "s"`) unless `n` is exactly 1."""
    return f"{n} {word if n == 1 else (many if many is not None else word + 's')}"
