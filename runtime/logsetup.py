"""One logging convention for every package: a logger per module, `--log-level`, `--log-file`,
and secrets redacted at the handler, so no code path can leak a password into a log by accident.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import threading

REDACTED = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

# Values after these words are redacted even if nobody registered them (belt and braces).
_KEYWORD = re.compile(r"(?i)\b(password|passwd|pass|secret|token|key)\s*([=:])\s*(\S+)")


def register_secret(value: str | None) -> None:
    """Redact `value` from every log record from now on (module password, server password, …)."""
    global _pattern
    if not value or len(value) < 3:  # too short to redact without mangling ordinary text
        return
    with _lock:
        _secrets.add(value)
        alternatives = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def redact(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _KEYWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites the formatted message; attached to handlers so third-party loggers are covered too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not lose the record
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def add_args(parser: argparse.ArgumentParser, default: str = "INFO") -> None:
    parser.add_argument("--log-level", default=default,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        type=str.upper, help=f"log threshold (default {default})")
    parser.add_argument("--log-file", default=None, help="also append logs to this file")


def setup_logging(level: str = "INFO", file: str | None = None, stream=None) -> None:
    """Configure the root logger once for a command-line program."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if file:
        handlers.append(logging.FileHandler(file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
