"""Every command alike (issue 13): `--version`, and `--log-level/--log-file` before or after the subcommand.

The parsers are built without running anything; `--version` goes through the front door (the installed
console scripts, as the README starts them).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from runtime import logsetup

BIN = Path(sys.executable).parent


def _tcu() -> object:
    from tcu.cli import build_parser
    return build_parser()


def _vmodem() -> object:
    from modem.emulator.cli import build_parser
    return build_parser()


def _vcar() -> object:
    from can_bus.car.cli import build_parser
    return build_parser()


@pytest.mark.parametrize("command", ["tcu", "vmodem", "vcar", "tcu-server", "tcu-app"])
def test_version_names_the_command_and_the_installed_version(command: str) -> None:
    done = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{command} {version('tcu-sim')}"


# (parser builder, the words of one subcommand invocation)
INVOCATIONS: list[tuple[Callable[[], object], list[str]]] = [
    (_tcu, ["run", "--config", "x.toml"]),
    (_tcu, ["state", "--state-dir", "d"]),
    (_tcu, ["service", "uninstall", "--dry-run"]),
    (_tcu, ["profile", "check", "dir"]),
    (_vmodem, ["serve", "--link", "/tmp/x"]),
    (_vmodem, ["status", "--control", "/tmp/x.ctl"]),
    (_vcar, ["status", "--control", "/tmp/x.ctl"]),
    (_vcar, ["profiles"]),
]


@pytest.mark.parametrize(("build", "words"), INVOCATIONS)
def test_log_options_before_or_after_the_subcommand(build: Callable[[], object], words: list[str]) -> None:
    def parse(argv: list[str]) -> tuple[str, str | None]:
        args = logsetup.parse_args(build(), argv)  # type: ignore[arg-type]
        return args.log_level, args.log_file

    assert parse(words) == ("INFO", None)
    assert parse(["--log-level", "debug", "--log-file", "f.log", *words]) == ("DEBUG", "f.log")
    assert parse([*words, "--log-level", "DEBUG", "--log-file", "f.log"]) == ("DEBUG", "f.log")
    # both: the later one wins, and a subcommand's default never undoes the one typed before it
    assert parse(["--log-level", "DEBUG", *words, "--log-level", "ERROR"]) == ("ERROR", None)
    assert parse(["--log-file", "a.log", *words]) == ("INFO", "a.log")


def test_a_subcommands_own_default_applies_only_when_no_level_was_typed() -> None:
    def level(argv: list[str]) -> str:
        return str(logsetup.parse_args(_tcu(), argv).log_level)  # type: ignore[arg-type]

    assert level(["doctor"]) == "CRITICAL"         # doctor prints its steps; logs only on request
    assert level(["--log-level", "INFO", "doctor"]) == "INFO"
    assert level(["doctor", "--log-level", "WARNING"]) == "WARNING"


def test_a_bad_level_is_a_usage_error_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        logsetup.parse_args(_vcar(), ["profiles", "--log-level", "LOUD"])  # type: ignore[arg-type]
    assert exit_.value.code == 2
    assert "DEBUG" in capsys.readouterr().err


def test_console_logging_follows_sys_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run in-process (tests, `tcu` calling a subcommand) configures logging; the console
    handler must write to the stderr of the moment, not keep one that was closed since."""
    import io
    import logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        logsetup.setup_logging("INFO")
        monkeypatch.setattr(sys, "stderr", second)
        first.close()
        logging.getLogger("tests.cli").info("after the first stderr closed")
        assert "INFO    tests.cli: after the first stderr closed" in second.getvalue()
        assert "Logging error" not in second.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
