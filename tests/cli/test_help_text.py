"""Every option of every command says what it is for (issue 13): the parsers of all five commands are
built (nothing runs) and walked, subcommands and plug-ins included."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime import logsetup

BIN = Path(sys.executable).parent


def _tcu() -> argparse.ArgumentParser:
    from tcu.cli import build_parser
    return build_parser()


def _vmodem() -> argparse.ArgumentParser:
    from modem.emulator.cli import build_parser
    return build_parser()


def _vcar() -> argparse.ArgumentParser:
    from can_bus.car.cli import build_parser
    return build_parser()


def _tcu_server() -> argparse.ArgumentParser:
    from tools.server.cli import _parser
    return _parser()


def _tcu_app() -> argparse.ArgumentParser:
    from tools.app.cli import _parser
    return _parser()


def undocumented(parser: argparse.ArgumentParser) -> list[str]:
    """`prog: option` for every option, positional and subcommand below `parser` without help text."""
    missing = []
    for p in logsetup.all_parsers(logsetup.spread(parser)):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{p.prog}: subcommand {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{p.prog}: {'/'.join(action.option_strings) or action.dest}")
    return missing


@pytest.mark.parametrize("build", [_tcu, _vmodem, _vcar, _tcu_server, _tcu_app],
                         ids=["tcu", "vmodem", "vcar", "tcu-server", "tcu-app"])
def test_every_option_has_help(build: Callable[[], argparse.ArgumentParser]) -> None:
    assert undocumented(build()) == []


def test_the_walk_finds_an_option_without_help() -> None:
    """The check itself can fail: an undocumented option two levels down is named."""
    parser = argparse.ArgumentParser(prog="x")
    inner = parser.add_subparsers().add_parser("a", help="a").add_subparsers().add_parser("b", help="b")
    inner.add_argument("--quiet", action="store_true")
    assert undocumented(parser) == ["x a b: --quiet"]


def test_vcar_do_help_lists_every_event_with_a_line_each() -> None:
    from can_bus.car.virtual_car import EVENTS

    done = subprocess.run([str(BIN / "vcar"), "do", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ") and line.split()}
    for event in EVENTS:
        assert event in lines, f"vcar do --help does not list {event}"
        description = lines[event].split(None, 1)[1:]
        assert description and description[0] != "(no description)", lines[event]
