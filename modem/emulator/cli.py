"""`vmodem`: a virtual SIM800 on a pty for testers, and the CLI for its control socket.

vmodem serve [--link PATH] [--control PATH] [--seed N] [--profile NAME|FILE]
             [--timing realistic|instant] [--number +44...] [--allow-host H]
vmodem sms --control PATH --from +447700900123 "STAT"
vmodem outbox --control PATH [--json]
vmodem fault --control PATH <kind>|clear [--for SECONDS]
vmodem status --control PATH
vmodem power-key --control PATH
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime

from modem.emulator.control import ControlClient, ControlError, ControlServer
from modem.emulator.faults import FAULT_KINDS

log = logging.getLogger(__name__)


def default_control_path(link: str | None) -> str:
    return f"{link}.ctl" if link else f"/tmp/vmodem-{os.getpid()}.ctl"


def serve(args: argparse.Namespace) -> int:
    from modem.emulator.modem import VirtualModem
    from modem.emulator.network import VirtualNetwork
    from modem.emulator.weather import Weather
    from runtime import RealLoop
    from runtime.logsetup import setup_logging
    from runtime.pty import PtyEndpoint

    try:
        weather = None if args.profile in (None, "calm") else Weather(args.profile)
    except (ValueError, KeyError, OSError) as exc:
        print(f"vmodem: bad --profile: {exc}", file=sys.stderr)
        return 2
    gnss = None
    if args.gnss:
        try:
            lat, lon = (float(x) for x in args.gnss.split(","))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError("out of range")
        except ValueError:
            print(f"vmodem: bad --gnss {args.gnss!r}: expected LAT,LON in degrees, e.g. 52.52,13.405",
                  file=sys.stderr)
            return 2
        gnss = (lat, lon)
    setup_logging(args.log_level, args.log_file)
    loop = RealLoop(seed=args.seed)
    endpoint = PtyEndpoint(loop, link=args.link)
    network = VirtualNetwork(loop, allow_hosts=args.allow_host or ())
    modem = VirtualModem(
        loop,
        endpoint.stream,
        network,
        number=args.number,
        profile=args.timing,
        weather=weather,
        gnss=gnss,
    )
    control_path = args.control or default_control_path(args.link)
    control = ControlServer(loop, modem, control_path)
    print(f"vmodem: pty {endpoint.client_path}", flush=True)
    print(f"vmodem: control {control_path}", flush=True)
    print(f"vmodem: number {args.number}, imei {modem.interp.imei}, seed {loop.seed}", flush=True)

    def stop(*_: object) -> None:
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        loop.run()
    finally:
        control.close()
        modem.close()
        endpoint.close()
    return 0


def _client(args: argparse.Namespace) -> ControlClient:
    return ControlClient(args.control)


def main(argv: list[str] | None = None) -> int:
    from runtime.logsetup import add_args

    parser = argparse.ArgumentParser(prog="vmodem", description="Virtual SIM800-class modem on a pty.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run a virtual modem on a pty")
    p.add_argument("--link", help="stable symlink to the pty slave (e.g. /tmp/vmodem)")
    p.add_argument("--control", help="control socket path (default: <link>.ctl or /tmp/vmodem-<pid>.ctl)")
    p.add_argument("--seed", type=int, default=None, help="world seed (random faults, delays)")
    p.add_argument("--profile", default=None, help="weather profile: calm, harsh, or a .json/.toml file")
    p.add_argument("--timing", default="realistic", choices=["realistic", "instant"])
    p.add_argument("--number", default="+447700900999", help="the SIM's phone number")
    p.add_argument("--allow-host", action="append", help="allow TCP to this non-loopback host")
    p.add_argument("--gnss", metavar="LAT,LON", help="GNSS fix at a fixed point (default: no fix)")
    add_args(p)

    def with_control(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--control", required=True, help="the control socket `vmodem serve` printed")
        return sp

    p = with_control(sub.add_parser("sms", help="send an SMS to the modem, as if from a phone"))
    p.add_argument("--from", dest="sender", default="+447700900123")
    p.add_argument("text")
    p = with_control(sub.add_parser("outbox", help="SMS the device sent"))
    p.add_argument("--json", action="store_true")
    p = with_control(sub.add_parser("fault", help="inject a fault, or 'clear'"))
    p.add_argument("kind", choices=[*FAULT_KINDS, "clear"])
    p.add_argument(
        "--for", dest="duration", type=float, default=None, help="seconds (default: until cleared)"
    )
    with_control(sub.add_parser("status", help="the modem's state as JSON"))
    with_control(sub.add_parser("power-key", help="pulse the power key"))

    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    client = _client(args)
    try:
        if args.command == "sms":
            delivered = client.sms(args.sender, args.text)
            print("delivered" if delivered else "not delivered (no such subscriber)")
        elif args.command == "outbox":
            outbox = client.outbox()
            if args.json:
                print(json.dumps(outbox, indent=2))
            else:
                for s in outbox:
                    stamp = datetime.fromtimestamp(s["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")
                    print(f"{stamp} {s['from']} -> {s['to']}: {s['text']}")
        elif args.command == "fault":
            if args.kind == "clear":
                print("cleared: " + (", ".join(client.clear_faults()) or "nothing"))
            else:
                client.fault(args.kind, args.duration)
                print(f"fault {args.kind} on" + (f" for {args.duration:g} s" if args.duration else ""))
        elif args.command == "status":
            print(json.dumps(client.status(), indent=2))
        elif args.command == "power-key":
            print("powered on" if client.power_key() else "powered off")
    except (ControlError, OSError) as exc:
        print(f"vmodem: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
