"""`vcar`: the virtual car as a process.

    vcar serve --link /tmp/vcar --profile demo-ev --control /tmp/vcar.ctl [--scenario day]
        an SLCAN adapter on a pty (python-can: can.Bus(interface="slcan", channel="/tmp/vcar"))
    vcar do --control /tmp/vcar.ctl drive minutes=20        steer the running car
    vcar status --control /tmp/vcar.ctl                     its state as JSON
    vcar record --bus slcan:/tmp/vcar --out trace.log [--duration 60]   candump .log / .asc / .blf
    vcar replay --bus replay:trace.log --profile demo-ev    decode a trace into metric updates
    vcar profiles                                           the profiles shipped
    vcar --version

`--log-level`/`--log-file` go before or after the subcommand. `serve` refuses (exit 2) a `--link` or
`--control` another running instance serves, takes over one a killed instance left, and on exit removes
only its own (runtime.claim).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

log = logging.getLogger("vcar")


def _value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_kv(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise SystemExit(f"expected key=value, got {item!r}")
        out[key] = _value(val)
    return out


def _stop_on_signals(loop: Any) -> None:
    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_serve(args: argparse.Namespace) -> int:
    from can_bus.car.control import ControlServer
    from can_bus.car.scenarios import run_scenario
    from can_bus.car.virtual_car import VirtualCar
    from can_bus.memory import frame_link
    from can_bus.slcan_bridge import SlcanBridge
    from runtime import RealLoop
    from runtime.claim import PathInUse
    from runtime.pty import PtyEndpoint

    loop = RealLoop(seed=args.seed)
    car_port, bridge_port = frame_link(loop, name="vcar")
    car = VirtualCar(loop, car_port, args.profile, name="vcar", start_position=(args.lat, args.lon),
                     rate=args.rate, sleep_after=args.sleep_after)
    # A link or control socket another instance serves is refused (exit 2), never taken over (issue 13).
    try:
        pty = PtyEndpoint(loop, args.link)
    except PathInUse as exc:
        car.close()
        loop.close()
        return _refuse(exc, "--link")
    bridge = SlcanBridge(loop, pty.stream, bridge_port)
    def adapter_stats() -> dict[str, Any]:
        return {"slcan": {"open": bridge.device.open, "bitrate": bridge.device.bitrate,
                          "errors": bridge.device.errors, "frames_to_host": bridge.frames_to_host,
                          "frames_from_host": bridge.frames_from_host, "unknown_frames": car.unknown_frames}}

    try:
        control = ControlServer(loop, car, args.control, adapter_stats) if args.control else None
    except PathInUse as exc:
        car.close()
        pty.close()
        loop.close()
        return _refuse(exc, "--control")
    recorder = None
    if args.record:
        recorder = _mirror_recorder(loop, bridge, args.record)
    if args.scenario:
        run_scenario(car, args.scenario, loop)
    print(f"vcar: profile {car.profile.name} on SLCAN {pty.client_path}"
          + (f", control {args.control}" if args.control else ""), flush=True)
    _stop_on_signals(loop)
    try:
        loop.run()
    finally:
        if recorder is not None:
            recorder.close()
        if control is not None:
            control.close()
        car.close()
        pty.close()
        log.info("vcar: stopped (%d frames to host, %d from host, %d slcan errors)",
                 bridge.frames_to_host, bridge.frames_from_host, bridge.device.errors)
    return 0


def _refuse(exc: Exception, option: str) -> int:
    print(f"vcar: {exc}; choose another {option} or stop the instance using it", file=sys.stderr)
    return 2


def _mirror_recorder(loop: Any, bridge: Any, path: str) -> Any:
    """Write every frame the car sends to the host into `path` as well."""
    from can_bus.record import Recorder

    recorder = Recorder(loop, None, path, channel="vcan0")
    forward = bridge._on_frame

    def tee(arbitration_id: int, data: bytes, timestamp: float) -> None:
        recorder.write(arbitration_id, data, timestamp)
        forward(arbitration_id, data, timestamp)

    bridge.port.set_handler(tee, bridge._on_error)
    return recorder


def cmd_control(args: argparse.Namespace, message: dict[str, Any]) -> int:
    from can_bus.car.control import request
    from runtime.control import ControlError

    try:
        reply = request(args.control, message)
    except ControlError as exc:
        print(f"vcar: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(reply, indent=2 if args.pretty else None, default=str))
    return 0 if reply.get("ok") else 1


def cmd_record(args: argparse.Namespace) -> int:
    from can_bus.bus import open_bus
    from can_bus.record import Recorder
    from runtime import RealLoop

    loop = RealLoop()
    port = open_bus(args.bus, loop)
    recorder = Recorder(loop, port, args.out)
    _stop_on_signals(loop)
    try:
        loop.run(until=loop.time() + args.duration if args.duration else None)
    finally:
        recorder.close()
        port.close()
    print(f"vcar: {recorder.frames} frames to {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from can_bus.bus import open_bus
    from can_bus.profile import load_profile
    from runtime import RealLoop, VirtualLoop

    loop = VirtualLoop() if args.fast else RealLoop()
    decoder = load_profile(args.profile).decoder()
    port = open_bus(args.bus, loop)

    def on_frame(arbitration_id: int, data: bytes, timestamp: float) -> None:
        try:
            for metric, value in decoder.feed(arbitration_id, data):
                print(f"{timestamp:10.3f} {metric} = {value!r}")
        except BrokenPipeError:  # `vcar replay ... | head`: the reader has seen enough
            port.close()
            loop.stop()

    port.set_handler(on_frame, lambda text: print(f"bus error: {text}", file=sys.stderr))
    if hasattr(port, "on_end"):
        port.on_end = loop.stop
    if not args.fast:
        _stop_on_signals(loop)
    loop.run()
    print(f"decoder: {decoder.stats.as_dict()}", file=sys.stderr)
    return 0


# One line per event for `vcar do --help` (a test checks every event of the car has one).
EVENT_HELP = {
    "drive": "start driving: minutes=N or km=N (else until park), mode=city|mixed|highway",
    "park": "brake to a stop and park",
    "plug": "plug in the charge cable: kind=ac|dc (charges up to the limit)",
    "unplug": "unplug the charge cable",
    "alarm": "set off the alarm",
    "tow": "the car is towed away: minutes=N (default 10); sets off the alarm if locked",
    "drain-12v": "an extra load on the 12 V battery: amps=N (default 8)",
    "open-door": "open a door: door=fl|fr|rl|rr|trunk|hood|cp (default fl); alarm if locked",
    "close-door": "close a door: door=fl|fr|rl|rr|trunk|hood|cp (default fl)",
    "open-trunk": "open the trunk (alarm if locked)",
    "close-trunk": "close the trunk",
    "open-hood": "open the hood (alarm if locked)",
    "close-hood": "close the hood",
    "sleep": "the car's networks go to sleep now",
    "wake": "wake the car's networks",
    "lock": "lock the car (by the key, not by a command frame)",
    "unlock": "unlock the car; silences the alarm",
    "climate-on": "switch the climate control on",
    "climate-off": "switch the climate control off",
    "set-ambient": "set the outside temperature: temp=DEGREES_C",
    "set-soc": "set the battery's state of charge: soc=PERCENT",
    "power-cut": "the wall box loses mains while charging (charging stops)",
}


def events_help() -> str:
    """The epilog of `vcar do --help`: every event the car knows, one line each."""
    from can_bus.car.virtual_car import EVENTS

    width = max(len(event) for event in EVENTS)
    lines = [f"  {event:<{width}}  {EVENT_HELP.get(event, '(no description)')}" for event in EVENTS]
    return "events:\n" + "\n".join(lines) + "\n\nexample: vcar do --control /tmp/vcar.ctl drive minutes=20"


def build_parser() -> argparse.ArgumentParser:
    from runtime import logsetup

    parser = argparse.ArgumentParser(prog="vcar", description="the virtual car (CAN over SLCAN on a pty)")
    logsetup.add_command_args(parser)  # --version, --log-level/--log-file (also after the subcommand)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the car as an SLCAN adapter on a pty")
    serve.add_argument("--link", required=True,
                       help="symlink to create for the pty (e.g. /tmp/vcar); refused if another vcar holds it")
    serve.add_argument("--profile", default="demo-ev", help="vehicle profile (see `vcar profiles`; default demo-ev)")
    serve.add_argument("--control", help="UNIX socket path for vcar do/command/status (default: none)")
    serve.add_argument("--scenario", help="play a scenario: day, theft, interrupted-charge (default: none)")
    serve.add_argument("--seed", type=int, default=1, help="world seed (default 1): the same seed, the same drive")
    serve.add_argument("--rate", type=float, default=1.0, help="frame rate multiplier (1 = DBC rates)")
    serve.add_argument("--sleep-after", type=float, default=600.0, metavar="SECONDS",
                       help="idle seconds before the car's networks sleep (default 600)")
    serve.add_argument("--lat", type=float, default=52.5200, help="start latitude in degrees (default 52.52)")
    serve.add_argument("--lon", type=float, default=13.4050, help="start longitude in degrees (default 13.405)")
    serve.add_argument("--record", help="also write the car's frames to this trace (.log/.asc/.blf)")
    do = sub.add_parser("do", help="apply an event, as a person would: drive, park, plug, alarm, tow, ...",
                        description="Apply an event to the running car, as a person would.",
                        epilog=events_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    do.add_argument("--control", required=True, help="the control socket `vcar serve --control` made")
    do.add_argument("--pretty", action="store_true", help="indent the JSON reply")
    do.add_argument("event", metavar="EVENT", help="one of the events listed below")
    do.add_argument("args", nargs="*", metavar="KEY=VALUE", help="the event's arguments (minutes=20, kind=dc, door=fl)")
    cmd = sub.add_parser("command", help="obey a command as if its frame arrived (lock, charge_limit amps=16)")
    cmd.add_argument("--control", required=True, help="the control socket `vcar serve --control` made")
    cmd.add_argument("--pretty", action="store_true", help="indent the JSON reply")
    cmd.add_argument("name", help="the profile's command name (lock, unlock, charge_start, charge_limit, ...)")
    cmd.add_argument("args", nargs="*", metavar="KEY=VALUE", help="the command's arguments (amps=16, mode=range)")
    status = sub.add_parser("status", help="print the car's state")
    status.add_argument("--control", required=True, help="the control socket `vcar serve --control` made")
    status.add_argument("--pretty", action="store_true", help="indent the JSON reply")
    record = sub.add_parser("record", help="record a bus to .log/.asc/.blf")
    record.add_argument("--bus", required=True, help="the bus to listen to: slcan:/tmp/vcar, socketcan:can0, ...")
    record.add_argument("--out", required=True, help="trace file; its extension picks the format (.log/.asc/.blf)")
    record.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                        help="stop after this long (default 0: until Ctrl-C)")
    replay = sub.add_parser("replay", help="decode a bus or trace into metric updates")
    replay.add_argument("--bus", required=True, help="replay:trace.log, slcan:/tmp/vcar, ...")
    replay.add_argument("--profile", default="demo-ev", help="the profile whose DBC decodes it (default demo-ev)")
    replay.add_argument("--fast", action="store_true", help="virtual clock: as fast as possible")
    sub.add_parser("profiles", help="list the profiles shipped")
    return logsetup.spread(parser)


def main(argv: list[str] | None = None) -> int:
    from runtime import logsetup

    args = logsetup.parse_args(build_parser(), argv)
    logsetup.setup_logging(args.log_level, args.log_file)
    if args.cmd == "serve":
        return cmd_serve(args)
    if args.cmd == "do":
        return cmd_control(args, {"cmd": "do", "event": args.event, "args": _parse_kv(args.args)})
    if args.cmd == "command":
        return cmd_control(args, {"cmd": "command", "name": args.name, "args": _parse_kv(args.args)})
    if args.cmd == "status":
        return cmd_control(args, {"cmd": "status"})
    if args.cmd == "record":
        return cmd_record(args)
    if args.cmd == "replay":
        return cmd_replay(args)
    if args.cmd == "profiles":
        from can_bus.profile import available_profiles, load_profile

        for name in available_profiles():
            p = load_profile(name)
            print(f"{name}: {p.description} ({len(p.metrics)} metrics, commands: {', '.join(p.commands)})")
        return 0
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
