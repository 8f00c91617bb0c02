"""`tcu-server`: run the local OVMS v2 server, manage its vehicles, and read back what it stored.

    tcu-server serve --port 6867 --db server.sqlite
    tcu-server add-vehicle DEMO1 s3rverpass --db server.sqlite
    tcu-server alerts --db server.sqlite --vehicle DEMO1 --since 2h [--json]
    tcu-server messages|vehicles --db server.sqlite ...
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from runtime import RealLoop, logsetup

from . import show, store
from .core import OvmsServer

log = logging.getLogger("tcu-server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tcu-server", description="Local OVMS v2 (MP-) server, and what it stored.")
    logsetup.add_command_args(p)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help for more)")
    s = sub.add_parser("serve", help="accept cars and apps", description="Run the server until SIGTERM/Ctrl-C.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=6867, help="TCP port (default 6867, the OVMS v2 port; 0 = any free)")
    s.add_argument("--db", required=True, metavar="FILE", help="SQLite database file (created if missing)")
    a = sub.add_parser("add-vehicle", help="create or update a vehicle and its password")
    a.add_argument("vehicle_id", help="the vehicle id the car logs in with (stored upper-case)")
    a.add_argument("password", help="the server password the car and its apps use")
    a.add_argument("--db", required=True, metavar="FILE", help="SQLite database file (created if missing)")
    lv = sub.add_parser("list-vehicles", help="list vehicle ids")
    lv.add_argument("--db", required=True, metavar="FILE", help="SQLite database file")
    show.add_parsers(sub)
    for name in show.COMMANDS:      # inspection prints a table: only warnings belong on stderr
        logsetup.add_args(sub.choices[name], "WARNING")
    return p


def main(argv: list[str] | None = None) -> int:
    args = logsetup.parse_args(_parser(), argv)
    logsetup.setup_logging(args.log_level, args.log_file)
    if args.command in show.COMMANDS:
        return show.run(args)
    if args.command == "add-vehicle":
        try:
            vid = store.add_vehicle(store.open_db(args.db), args.vehicle_id, args.password)
        except ValueError as exc:
            print(f"tcu-server: {exc}", file=sys.stderr)
            return 2
        print(f"vehicle {vid} added")
        return 0
    if args.command == "list-vehicles":
        for vid in store.list_vehicles(store.open_db(args.db)):
            print(vid)
        return 0
    loop = RealLoop()
    try:
        server = OvmsServer(loop, args.db, args.host, args.port)
    except OSError as exc:
        print(f"tcu-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"tcu-server listening on {args.host}:{server.port}", flush=True)

    def stop(*_: object) -> None:
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        loop.run()
    finally:
        server.close()
        log.info("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
