"""`vmodem`: a virtual SIM800 (or SIM7600) on a pty for testers, and the CLI for its control socket.

vmodem serve [--link PATH] [--control PATH] [--seed N] [--profile NAME|FILE] [--dialect sim800|sim7600]
             [--timing realistic|instant] [--number +44...] [--allow-host H] [--cold-boot]
vmodem wait --control PATH [--until booted|registered] [--timeout SECONDS]
vmodem sms --control PATH --from +447700900123 "STAT"
vmodem outbox --control PATH [--json]
vmodem fault --control PATH <kind>|clear|list [--for SECONDS]
vmodem status --control PATH
vmodem power-key --control PATH
vmodem --version            (`--log-level`/`--log-file` go before or after the subcommand)

`serve` refuses (exit 2) a `--link` or `--control` another running instance serves, takes over one a
killed instance left (logged), and on exit removes only its own (runtime.claim).

Ready means ready: by default `vmodem serve` powers the modem on with no serial line attached, lets it
boot and register (its boot URCs go nowhere, as on a real module whose host has not opened the UART
yet), and only then creates the pty, prints its path and `vmodem: ready`. A client may open the pty
the moment that path is printed (or the link exists). `--cold-boot` attaches the pty at power-on
instead, so a client sees RDY ... SMS Ready and the registration happen; `vmodem wait` blocks until
then. A fault-driven reboot later is a real boot either way: the client meets it as on hardware.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modem.control_client import ControlClient, ControlError
from modem.emulator.control import ControlServer
from modem.emulator.faults import FAULT_KINDS

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

READY_POLL = 0.05  # seconds between readiness checks while `serve` boots the modem (on its own loop)
BOOT_LIMIT = 180.0  # `serve` attaches the pty anyway if the modem has not registered by then
UNTIL = ("booted", "registered")


def reached(status: dict[str, Any], until: str) -> bool:
    """Has a modem with this `status()` reached `until`?

    booted: the boot URCs (RDY ... SMS Ready) are over and commands are taken; registered: booted
    and registered on the network (+CREG: 1 or 5), so SMS can go at once.
    """
    booted = bool(status.get("powered")) and bool(status.get("booted"))
    if until == "booted":
        return booted
    return booted and status.get("creg") in (1, 5)


def default_control_path(link: str | None) -> str:
    return f"{link}.ctl" if link else f"/tmp/vmodem-{os.getpid()}.ctl"


def serve(args: argparse.Namespace) -> int:
    from modem.emulator.modem import VirtualModem
    from modem.emulator.network import VirtualNetwork
    from modem.emulator.weather import Weather
    from runtime import RealLoop
    from runtime.claim import LinkClaim, PathInUse
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
    control_path = args.control or default_control_path(args.link)
    # Both paths are claimed before the modem boots: one another instance serves is refused now, not
    # after a boot, and never replaced (it used to be, and deleted on exit: issue 13).
    try:
        link = LinkClaim(args.link) if args.link else None
    except PathInUse as exc:
        return _refuse(exc, "--link")
    loop = RealLoop(seed=args.seed)
    network = VirtualNetwork(loop, allow_hosts=args.allow_host or ())
    modem = VirtualModem(
        loop,
        None,
        network,
        number=args.number,
        profile=args.timing,
        weather=weather,
        gnss=gnss,
        dialect=args.dialect,
        log_mux=args.log_mux,
    )
    if args.log_mux:  # the frame trace is asked for by name: show it whatever --log-level says
        logging.getLogger("modem.emulator.mux").setLevel(logging.INFO)
    try:  # before the loop runs: nothing has booted yet
        control = ControlServer(loop, modem, control_path)
    except PathInUse as exc:
        modem.close()
        if link is not None:
            link.release()
        loop.close()
        return _refuse(exc, "--control")
    endpoints: list[PtyEndpoint] = []

    def attach() -> None:
        endpoint = PtyEndpoint(loop, link=link)
        endpoints.append(endpoint)
        modem.attach(endpoint.stream)
        print(f"vmodem: pty {endpoint.client_path}", flush=True)
        print(f"vmodem: control {control_path}", flush=True)
        print(f"vmodem: number {args.number}, imei {modem.interp.imei}, seed {loop.seed}", flush=True)

    def announce_ready() -> None:
        print("vmodem: ready", flush=True)

    started = loop.time()
    if args.cold_boot:
        attach()
        when_reached(loop, modem.status, "registered", announce_ready)
    else:

        def booted() -> None:
            attach()
            announce_ready()

        def too_long() -> None:
            status = modem.status()
            print(
                f"vmodem: not registered after {loop.time() - started:.0f} s "
                f"(creg {status['creg']}, faults {sorted(status['faults']) or 'none'}); serving anyway",
                flush=True,
            )
            attach()

        when_reached(loop, modem.status, "registered", booted, limit=BOOT_LIMIT, on_limit=too_long)

    def stop(*_: object) -> None:
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        loop.run()
    finally:
        control.close()
        modem.close()
        for endpoint in endpoints:
            endpoint.close()
        if link is not None:
            link.release()  # if the pty never came (stopped while booting), the claim still goes
    return 0


def _refuse(exc: Exception, option: str) -> int:
    print(f"vmodem: {exc}; choose another {option} or stop the instance using it", file=sys.stderr)
    return 2


def when_reached(
    loop: Loop,
    status: Callable[[], dict[str, Any]],
    until: str,
    then: Callable[[], None],
    *,
    limit: float | None = None,
    on_limit: Callable[[], None] | None = None,
) -> None:
    """Call `then` on the loop once `status()` has reached `until` (or `on_limit` after `limit` s)."""
    deadline = None if limit is None else loop.time() + limit

    def check() -> None:
        if reached(status(), until):
            then()
        elif deadline is not None and loop.time() >= deadline:
            if on_limit is not None:
                on_limit()
        else:
            loop.call_later(READY_POLL, check)

    check()


READY_POLL_CLIENT = 0.5  # s between `vmodem wait`'s status requests


def wait(args: argparse.Namespace) -> int:
    """Block until the modem behind `--control` has reached `--until` (exit 0) or time runs out (1).

    The control socket may not exist yet (serve just started): that counts as not ready. The polls are
    paced by the runtime's real loop (no sleeps), twice a second: each is a line in the server's log.
    """
    from runtime import RealLoop

    client = ControlClient(args.control, timeout=2.0)
    loop = RealLoop()
    deadline = loop.time() + args.timeout
    outcome = {"rc": 1, "last": "no answer from the control socket"}

    def poll() -> None:
        try:
            status = client.status()
            if reached(status, args.until):
                outcome["rc"] = 0
                loop.stop()
                return
            outcome["last"] = (f"powered {status.get('powered')}, booted {status.get('booted')}, "
                               f"creg {status.get('creg')}")
        except (ControlError, OSError) as exc:
            outcome["last"] = str(exc)
        if loop.time() >= deadline:
            loop.stop()
            return
        loop.call_later(READY_POLL_CLIENT, poll)

    loop.call_soon(poll)
    try:
        loop.run()
    finally:
        loop.close()
    if outcome["rc"] == 0:
        print(f"vmodem: {args.until}")
        return 0
    print(f"vmodem: not {args.until} after {args.timeout:g} s ({outcome['last']})", file=sys.stderr)
    return 1


def _client(args: argparse.Namespace) -> ControlClient:
    return ControlClient(args.control)


def build_parser() -> argparse.ArgumentParser:
    """The `vmodem` command line (built without running anything: the help test walks it)."""
    from modem.emulator.dialects import known_dialects
    from runtime import logsetup

    parser = argparse.ArgumentParser(prog="vmodem", description="Virtual SIM800-class modem on a pty.")
    logsetup.add_command_args(parser)  # --version, --log-level/--log-file (also after the subcommand)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run a virtual modem on a pty")
    p.add_argument("--link", help="stable symlink to the pty slave (e.g. /tmp/vmodem); refused if another "
                   "vmodem holds it")
    p.add_argument("--control", help="control socket path (default: <link>.ctl or /tmp/vmodem-<pid>.ctl)")
    p.add_argument("--seed", type=int, default=None, help="world seed (random faults, delays)")
    p.add_argument("--profile", default=None, help="weather profile: calm, harsh, or a .json/.toml file")
    p.add_argument("--timing", default="realistic", choices=["realistic", "instant"],
                   help="realistic: a SIM800's response and boot times (default); instant: none (fast tests)")
    p.add_argument("--dialect", default="sim800", choices=known_dialects(), help="modem model (default: sim800)")
    p.add_argument("--number", default="+447700900999", help="the SIM's phone number")
    p.add_argument("--allow-host", action="append", help="allow TCP to this non-loopback host")
    p.add_argument("--gnss", metavar="LAT,LON", help="GNSS fix at a fixed point (default: no fix)")
    p.add_argument(
        "--cold-boot",
        action="store_true",
        help="attach the pty at power-on, so the client sees the boot (default: boot and register "
        "first, then print the pty path and 'vmodem: ready')",
    )
    p.add_argument(
        "--log-mux",
        action="store_true",
        help="after AT+CMUX, log every 07.10 frame decoded and sent (DLCI, type, length, FCS ok) "
        "and every frame discarded (why)",
    )

    def with_control(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--control", required=True, help="the control socket `vmodem serve` printed")
        return sp

    p = with_control(sub.add_parser("sms", help="send an SMS to the modem, as if from a phone"))
    p.add_argument("--from", dest="sender", default="+447700900123",
                   help="the sender's number (default +447700900123)")
    p.add_argument("text", help="the message text, e.g. STAT")
    p = with_control(sub.add_parser("outbox", help="SMS the device sent"))
    p.add_argument("--json", action="store_true", help="as JSON (default: one line per SMS)")
    p = with_control(sub.add_parser("fault", help="inject a fault, 'clear' them, or 'list' the modem's kinds"))
    p.add_argument("kind", choices=[*FAULT_KINDS, "clear", "list"], metavar="KIND",
                   help="a fault kind (`vmodem fault --control PATH list` names the served model's), "
                   "'clear' or 'list'")
    p.add_argument(
        "--for", dest="duration", type=float, default=None, help="seconds (default: until cleared)"
    )
    with_control(sub.add_parser("status", help="the modem's state as JSON"))
    p = with_control(sub.add_parser("wait", help="block until the modem has booted or registered"))
    p.add_argument("--until", choices=UNTIL, default="registered",
                   help="booted: commands are taken; registered (default): on the network, SMS can go")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60); exit 1 after")
    with_control(sub.add_parser("power-key", help="pulse the power key"))
    return logsetup.spread(parser)


def main(argv: list[str] | None = None) -> int:
    from runtime import logsetup

    args = logsetup.parse_args(build_parser(), argv)
    if args.command == "serve":
        return serve(args)
    logsetup.setup_logging(args.log_level, args.log_file)
    if args.command == "wait":
        return wait(args)
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
            elif args.kind == "list":  # the kinds the served model can suffer (per dialect)
                for kind, what in client.call("faults")["faults"].items():
                    print(f"{kind:20} {what}")
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
