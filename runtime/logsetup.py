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
from importlib import metadata

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


LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PACKAGE = "tcu-sim"
# Hidden namespace entries: whether --log-level was typed anywhere, and the deepest subcommand's own
# default (`tcu sim` wants ERROR, `tcu doctor` CRITICAL) for when it was not.
_GIVEN = "_log_level_given"
_PREFERRED = "_log_level_default"


class _LevelAction(argparse.Action):
    """Stores the level and remembers it was typed, so a subcommand's own default never beats it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, _GIVEN, True)


def add_args(parser: argparse.ArgumentParser, default: str = "INFO") -> None:
    """`--log-level`/`--log-file` on one parser. On a subcommand, `default` is that subcommand's own
    default; `parse_args` makes sure it never overwrites a level typed before the subcommand."""
    parser.add_argument("--log-level", default=default, choices=LEVELS, type=str.upper, action=_LevelAction,
                        metavar="LEVEL", help=f"log threshold: {', '.join(LEVELS)} (default {default})")
    parser.add_argument("--log-file", default=None, metavar="FILE", help="also append logs to this file")
    parser.set_defaults(**{_PREFERRED: default})


def version_text(prog: str) -> str:
    """`tcu 0.1.0`: the installed distribution's version, so every command reports the same one."""
    try:
        number = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown (not installed)"
    return f"{prog} {number}"


def add_command_args(parser: argparse.ArgumentParser, default: str = "INFO") -> None:
    """The top-level options every command has alike: `--version`, `--log-level`, `--log-file`.

    Call it on the command's top-level parser; build the subcommands; then parse with `parse_args`
    below, which also puts the log options on every subcommand (typed before or after it: both work).
    """
    parser.add_argument("--version", action="version", version=version_text(parser.prog),
                        help="print the program's version and exit")
    add_args(parser, default)


def subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser's direct subcommand parsers (each once, aliases folded)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if all(sub is not seen for seen in found):
                    found.append(sub)
    return found


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and every subcommand parser below it, depth first."""
    out = [parser]
    for sub in subparsers(parser):
        out.extend(all_parsers(sub))
    return out


def spread(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every subcommand below `parser` the log options, without letting them overwrite each other.

    argparse copies everything a subcommand's parser sets into the result, defaults included, so a
    subcommand with a real default would silently undo `tcu --log-level DEBUG run`. Here the
    subcommands' options default to SUPPRESS (only a typed value lands); a subcommand's own default is
    kept aside and applied by `resolve` only when no level was typed anywhere. Idempotent.
    """
    top = parser_default(parser)
    _spread(parser, top)
    others = sorted({f"{sub.prog}: {sub._defaults[_PREFERRED]}" for sub in all_parsers(parser)[1:]
                     if sub._defaults.get(_PREFERRED, top) != top})
    for action in parser._actions:
        if "--log-level" in action.option_strings and others:
            action.help = f"log threshold: {', '.join(LEVELS)} (default {top}; {', '.join(others)})"
    return parser


def _spread(parser: argparse.ArgumentParser, inherited: str) -> None:
    for sub in subparsers(parser):
        options = {opt: action for action in sub._actions for opt in action.option_strings}
        if "--log-level" not in options:
            add_args(sub, default=inherited)
            del sub._defaults[_PREFERRED]  # no default of its own: the one above it stays in force
            options = {opt: action for action in sub._actions for opt in action.option_strings}
        for flag in ("--log-level", "--log-file"):
            options[flag].default = argparse.SUPPRESS
        _spread(sub, str(sub._defaults.get(_PREFERRED) or inherited))


def parser_default(parser: argparse.ArgumentParser) -> str:
    """The level a parser's own `--log-level` defaults to (INFO when it has none)."""
    return str(parser._defaults.get(_PREFERRED) or "INFO")


def resolve(args: argparse.Namespace, fallback: str = "INFO") -> argparse.Namespace:
    """After parsing: no level typed → the subcommand's own default (else the command's)."""
    if not getattr(args, _GIVEN, False):
        preferred = getattr(args, _PREFERRED, None)
        if preferred:
            args.log_level = preferred
    if getattr(args, "log_level", None) is None:
        args.log_level = fallback
    if not hasattr(args, "log_file"):
        args.log_file = None
    for hidden in (_GIVEN, _PREFERRED):
        if hasattr(args, hidden):
            delattr(args, hidden)
    return args


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """`parser.parse_args(argv)` with the log options on every subcommand and the level resolved.

    Usage, the same in every command:

        p = argparse.ArgumentParser(prog="tcu-server", description=...)
        logsetup.add_command_args(p)            # --version, --log-level, --log-file
        sub = p.add_subparsers(...); ...        # subcommands (may call logsetup.add_args(sp, "ERROR"))
        args = logsetup.parse_args(p, argv)     # then setup_logging(args.log_level, args.log_file)
    """
    spread(parser)
    return resolve(parser.parse_args(argv), parser_default(parser))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (as logging's last resort does), so
    a command run in-process under a test's captured stderr leaves no handler on a closed stream."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass  # StreamHandler.__init__ assigns it; the live sys.stderr is always used


def setup_logging(level: str = "INFO", file: str | None = None, stream=None) -> None:
    """Configure the root logger once for a command-line program."""
    root = logging.getLogger()
    for handler in list(root.handlers):  # configuring twice (a command, then its subcommand) must not leak files
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):
            handler.close()
    console = stream or sys.stderr
    handlers: list[logging.Handler] = [logging.StreamHandler(stream) if stream else _StderrHandler()]
    if file:
        handlers.append(logging.FileHandler(file))
    for handler in handlers:
        journal = handler is handlers[0] and to_journal(console)
        handler.setFormatter(JournalFormatter() if journal else logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
