"""Counts before nouns: `1 item`, never `1 items` (issue 13), in every user-visible text of `tcu/`."""

from __future__ import annotations

import re
from pathlib import Path

from tcu.plural import plural

TCU = Path(__file__).resolve().parents[2] / "tcu"
# a count (`%d`, `{n}`, `{len(x)}`) followed by a noun in the plural spelled out: `%d items`, `{n} rows`
NOUNS = ("items", "times", "failures", "retries", "rows", "frames", "publishes", "messages", "signals",
         "bytes", "ids", "inputs", "updates", "attempts", "errors", "entries", "records", "parts")
HARD_PLURAL = re.compile(r"(%d|%s|\{[^{}]*\}) (" + "|".join(NOUNS) + r")\b")
# where the count is never 1 (file, text on the line → why)
NEVER_ONE = {
    ("auth.py", "times in an hour"): "logged only once n >= MAX_FAILURES (5)",
    ("link.py", "gprs failed {n} times"): "only when n >= 2",
    ("mqtt/session.py", "publishes already in flight"): "MAX_IN_FLIGHT, a constant above 1",
    ("plural.py", "1 items"): "the docstring quoting the defect",
}


def test_plural() -> None:
    assert plural(1, "item") == "1 item"
    assert plural(0, "item") == "0 items"
    assert plural(2, "retry", "retries") == "2 retries"
    assert plural(1, "retry", "retries") == "1 retry"


def test_no_count_before_a_hard_coded_plural_in_tcu() -> None:
    found = []
    for path in sorted(TCU.rglob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            rel = path.relative_to(TCU).as_posix()
            if HARD_PLURAL.search(line) and not any(f == rel and text in line for f, text in NEVER_ONE):
                found.append(f"tcu/{rel}:{no}: {line.strip()}")
    assert not found, "use tcu.plural.plural():\n" + "\n".join(found)
