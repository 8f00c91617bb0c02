"""`tcu`: the firmware's command line.

    tcu run --config FILE [--modem PORT] [--can BUS] [--server HOST:PORT] ... (see `tcu run --help`)
    tcu state --state-dir DIR [--json]    health, link, outbox items, SMS log, every parameter and its origin
    tcu doctor [--config FILE] [--json]   the installation checked step by step, each with a remedy
    tcu service install|uninstall [--config FILE] [--root DIR] [--dry-run]   the systemd service
    tcu profile new --dbc FILE | check DIR | decode DIR TRACE [--csv] [--plot PNG]   vehicle profiles
    tcu sim ...                           the simulated world (from the `sim` package, see sim/cli.py)
    tcu --version

`--log-level LEVEL` and `--log-file FILE` go before or after the subcommand, alike for every one.

Subcommands that are not firmware come in through the `tcu.commands` entry-point group, so the
firmware imports no simulation code.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from runtime import logsetup


def build_parser() -> argparse.ArgumentParser:
    """The whole `tcu` command line, plug-ins included, built without running anything (the help
    test walks it). Every subcommand takes `--log-level/--log-file` before or after its name."""
    from tcu import config_cli, profile_cli, state_cli

    parser = argparse.ArgumentParser(prog="tcu", description="tcu-sim telematics unit firmware")
    logsetup.add_command_args(parser)  # --version, --log-level, --log-file
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_cli.add_run_args(sub.add_parser("run", help="run the unit on the real clock against real devices"))
    state_cli.add_args(sub.add_parser("state", help="what the unit in a state directory is doing, or why not"))
    profile_cli.add_args(sub.add_parser("profile", help="vehicle profiles: new from a DBC, check, decode a trace"))
    from tcu.service import cli as service_cli  # `tcu service install|uninstall` (systemd, issue 17)
    service_cli.add_args(sub.add_parser("service", help="install or remove the systemd service (Raspberry Pi)"))
    from tcu import doctor  # `tcu doctor`: the installation checked step by step, with remedies
    doctor.add_args(sub.add_parser("doctor", help="check the modem, SIM, network, server, CAN, clock and storage"))
    for entry in entry_points(group="tcu.commands"):  # `tcu sim` (the sim package) and any other plug-in
        entry.load()(sub)
    return logsetup.spread(parser)  # after the plug-ins: they get the log options too


def main(argv: list[str] | None = None) -> int:
    from tcu import config_cli, doctor, profile_cli, state_cli
    from tcu.service import cli as service_cli

    args = logsetup.parse_args(build_parser(), argv)
    # Every subcommand logs as asked; run, doctor and sim configure it again (same settings) themselves.
    logsetup.setup_logging(args.log_level, args.log_file)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    if args.command == "profile":
        return profile_cli.cmd_profile(args)
    if args.command == "state":
        return state_cli.cmd_state(args)
    if args.command == "doctor":
        return doctor.cmd_doctor(args)
    if args.command == "service":
        return service_cli.cmd_service(args)
    return config_cli.cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
