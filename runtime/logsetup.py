"""One logging convention for every package: a logger per module, `--log-level`, `--log-file`,
and secrets redacted at the handler, so no code path can leak a password into a log by accident.
"""

from __future__ import annotations

import argparse
import logging
import os
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
# Under systemd with stderr connected to the journal: the journal stamps each line itself, and a
# `<N>` prefix (sd-daemon(3)) gives it the level, so `journalctl -p err -u tcu` works.
JOURNAL_FORMAT = "%(levelname)-7s %(name)s: %(message)s"
_PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_PRIORITY.get(record.levelname, 6)}>"
        # one journal entry per line: continuation lines (tracebacks) keep the level too
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def to_journal(stream: object, environ: dict[str, str] | None = None) -> bool:
    """True when `stream` is the journal's stream socket: systemd sets `$JOURNAL_STREAM` to its
    `device:inode` (systemd.exec(5)). `$INVOCATION_ID` alone is not enough: a service whose stderr
    goes to a file (StandardError=file:…) still wants timestamps there."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    fileno = getattr(stream, "fileno", None)
    if not value or fileno is None:
        return False
    try:
        st = os.fstat(fileno())
    except (OSError, ValueError):   # io.UnsupportedOperation is a ValueError: no descriptor behind it
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


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
    console = stream or sys.stderr
    handlers: list[logging.Handler] = [logging.StreamHandler(console)]
    if file:
        handlers.append(logging.FileHandler(file))
    for handler in handlers:
        journal = handler is handlers[0] and to_journal(console)
        handler.setFormatter(JournalFormatter() if journal else logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
