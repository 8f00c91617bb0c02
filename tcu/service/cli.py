"""`tcu service install [--config tcu.toml] [--root DIR] [--dry-run]` and `tcu service uninstall`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tcu.service.install import DEFAULT_WATCHDOG_S, ServiceError, default_exec, install, make_plan, uninstall


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="service_command", required=True)
    ins = sub.add_parser("install", help="install the systemd unit, CAN .network, udev rules and the tcu user")
    ins.add_argument("--config", default=None, help="tcu.toml to install as /etc/tcu/tcu.toml (CAN bitrate from it)")
    ins.add_argument("--exec", dest="exec_path", default=None,
                     help=f"the tcu program systemd starts (default {default_exec()})")
    ins.add_argument("--watchdog", type=int, default=DEFAULT_WATCHDOG_S, metavar="SECONDS",
                     help=f"WatchdogSec= (default {DEFAULT_WATCHDOG_S})")
    uns = sub.add_parser("uninstall", help="remove what install put there (keeps /etc/tcu and /var/lib/tcu)")
    for q in (ins, uns):
        q.add_argument("--root", default="/", help="stage into this directory instead of / (tests, packaging)")
        q.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")


def cmd_service(args: argparse.Namespace) -> int:
    root = Path(args.root)
    real = root.resolve() == Path("/")
    if real and not args.dry_run and os.geteuid() != 0:
        print("tcu service: writing to / needs root: run it with sudo (or use --root DIR / --dry-run)",
              file=sys.stderr)
        return 2
    try:
        if args.service_command == "install":
            if args.watchdog < 2:
                raise ServiceError("--watchdog: at least 2 seconds (the unit pings at half of it)")
            plan = make_plan(args.config, args.exec_path or default_exec(), args.watchdog)
            lines = install(plan, root, args.dry_run)
        else:
            lines = uninstall(root, args.dry_run)
    except (ServiceError, OSError) as e:
        print(f"tcu service: {e}", file=sys.stderr)
        return 2
    for line in lines:
        print(("(dry run) " if args.dry_run else "") + line)
    if args.service_command == "install" and not args.dry_run and real:
        print("next: edit /etc/tcu/tcu.toml, then `systemctl start tcu`, `journalctl -u tcu -f`, `tcu doctor`")
    return 1 if any(line.startswith("FAILED") for line in lines) else 0
