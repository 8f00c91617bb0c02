"""`tcu-app` as a user runs it, with input the protocol cannot carry: a clear error, never a traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from car_link import CarLink
from real_server import ENV, PY, RealServer, real_server, run_until

from runtime import RealLoop
from tcu.ovms.car_client import CarSession, LoggedIn

PASSWORD = "app-cli-secret"



@pytest.fixture
def online(tmp_path: Path) -> Iterator[tuple[RealServer, RealLoop]]:
    """A real server with car APPCAR logged in over loopback."""
    with real_server(tmp_path, {"APPCAR": PASSWORD}) as server:
        loop = RealLoop()
        session = CarSession("APPCAR", PASSWORD, None, loop.time())
        car = CarLink(loop, "127.0.0.1", server.port, session, lambda: {"v.b.soc": 55}, lambda link, ev: None)
        car.connect()
        run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in car.events))
        yield server, loop
        car.close()
        loop.close()


def tcu_app(loop: RealLoop, port: int, *args: str, vehicle: str = "APPCAR") -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([PY, "-m", "tools.app.cli", "--server", f"127.0.0.1:{port}", "--vehicle", vehicle,
                             "--password", PASSWORD, "--timeout", "4", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    run_until(loop, lambda: proc.poll() is not None, timeout=30)   # our loop keeps the car answering
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(("args", "what"), [
    (("cmd", "7", "STÄT"), "command parameters"),
    (("cmd", "7", "STAT\nPARAMS?"), "command parameters"),
    (("lock", "12٣4"), "PIN"),
])
def test_non_ascii_command_is_a_clear_usage_error(online: tuple[RealServer, RealLoop], args: tuple[str, ...],
                                                  what: str) -> None:
    server, loop = online
    res = tcu_app(loop, server.port, *args)
    assert "Traceback" not in res.stderr
    assert res.returncode == 2, res.stderr
    assert what in res.stderr and "printable ASCII" in res.stderr


def test_non_ascii_vehicle_id_is_a_clear_usage_error(online: tuple[RealServer, RealLoop]) -> None:
    server, loop = online
    res = tcu_app(loop, server.port, "status", vehicle="APPCÄR")
    assert "Traceback" not in res.stderr
    assert res.returncode == 2 and "vehicle id" in res.stderr


def test_server_command_needs_no_car(tmp_path: Path) -> None:
    """Command 30 is answered by the server (spec §4): the app's first Z0 is not 'car disconnected'."""
    with real_server(tmp_path, {"APPCAR": PASSWORD}) as server:
        loop = RealLoop()
        res = tcu_app(loop, server.port, "cmd", "30")
        loop.close()
    assert res.returncode == 1, res.stderr
    assert "No GPRS utilisation data available" in res.stdout


def test_version_log_options_and_help_everywhere() -> None:
    """Issue 13: --version, --log-level/--log-file before or after the subcommand, help on every option."""
    from runtime import logsetup
    from tools.app.cli import _parser

    for parser in logsetup.all_parsers(logsetup.spread(_parser())):
        for action in parser._actions:
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help text"
    version = subprocess.run([PY, "-m", "tools.app.cli", "--version"], capture_output=True, text=True, env=ENV)
    assert version.returncode == 0 and version.stdout.startswith("tcu-app ")
    args = logsetup.parse_args(_parser(), ["--vehicle", "X", "status", "--log-level", "debug"])
    assert args.log_level == "DEBUG"
    assert logsetup.parse_args(_parser(), ["--vehicle", "X", "status"]).log_level == "WARNING"
