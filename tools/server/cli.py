"""`tcu-server`: run the local OVMS v2 server, or add a vehicle to its database."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from runtime import RealLoop
from runtime.logsetup import add_args, setup_logging

from . import store
from .core import OvmsServer

log = logging.getLogger("tcu-server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tcu-server", description="Local OVMS v2 (MP-) server.")
    add_args(p)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="accept cars and apps")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=6867)
    s.add_argument("--db", required=True, help="SQLite database file")
    a = sub.add_parser("add-vehicle", help="create or update a vehicle and its password")
    a.add_argument("vehicle_id")
    a.add_argument("password")
    a.add_argument("--db", required=True)
    sub.add_parser("list-vehicles", help="list vehicle ids").add_argument("--db", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level, args.log_file)
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
