"""`tcu sim`: the whole simulated world on the virtual clock.

    tcu sim [--hours H] [--seed N] [--scenario day] [--weather calm|harsh] [--speed max|<factor>]
            [--report FILE.json] [--demo] [--modem emulated|direct] [--dialect sim800|sim7600]
            [--state-dir DIR]

The firmware's `tcu` command finds this subcommand through the `tcu.commands` entry point, so the
firmware never imports the simulation (a Pi's `tcu run` loads no virtual modem). Importing this module
is cheap: the world is imported only when `tcu sim` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time as _time

from runtime import logsetup


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `tcu.commands` entry point: adds `tcu sim` to the firmware's command line."""
    p = sub.add_parser("sim", help="run the whole simulated world on the virtual clock")
    add_sim_args(p)
    p.set_defaults(handler=cmd_sim)


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed: 'max' or a factor, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("--speed: the factor must be positive")
    return v


def add_sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours of weather (then a drain period)")
    p.add_argument("--seed", type=int, default=1, help="world seed: the same seed gives the same report")
    p.add_argument("--scenario", default="day", help="virtual car scenario (day, theft, interrupted-charge)")
    p.add_argument("--weather", default="calm", choices=["calm", "harsh"], help="network outage profile")
    p.add_argument("--speed", type=_speed, default=None, metavar="max|FACTOR",
                   help="max (default) or simulated seconds per wall second (with a live view)")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the JSON report here")
    p.add_argument("--demo", action="store_true",
                   help="the make-demo preset: ~100 s at a watchable speed, one outage, live view")
    p.add_argument("--modem", default="emulated", choices=["emulated", "direct"],
                   help="emulated: AT driver + virtual modem (default); direct: no AT layer (fast)")
    p.add_argument("--dialect", default="sim800", choices=["sim800", "sim7600"],
                   help="the modem model: the AT driver's dialect and the virtual modem's (default sim800)")
    p.add_argument("--timing", default="realistic", choices=["realistic", "instant"],
                   help="the virtual modem's response times")
    p.add_argument("--modem-mux", default="off", choices=["auto", "on", "off"],
                   help="emulated modem: GSM 07.10 multiplexer (AT+CMUX) after init (default off)")
    p.add_argument("--server", default="ovms", choices=["ovms", "mqtt", "both"],
                   help="what the unit reports to: the OVMS v2 server, an MQTT broker (OVMS v3 layout), or both")
    p.add_argument("--drain", type=float, default=1800.0, help="seconds with the network restored at the end")
    p.add_argument("--can-rate", type=float, default=0.1,
                   help="fraction of the DBC frame rates the virtual car sends (1.0 = 50 Hz drive data)")
    p.add_argument("--no-incidents", action="store_true", help="no alarm/tow/valet incidents")
    p.add_argument("--incidents-per-hour", type=float, default=1 / 3,
                   help="how often an alarm/tow/valet-trunk incident happens (default one per 3 h)")
    p.add_argument("--state-dir", default=None, help="keep the world's databases here (restartable)")
    p.add_argument("--quiet", action="store_true", help="no live view / progress lines")
    # The world's components log at INFO/WARNING all the time (modem reboots are the weather), so
    # by default only errors reach the terminal and the live view stays readable.
    logsetup.add_args(p, default="ERROR")


def cmd_sim(args: argparse.Namespace) -> int:
    from sim.report import build_report, summary_lines
    from sim.world import World, WorldConfig, demo_config

    logsetup.setup_logging(args.log_level, args.log_file)
    if args.demo:
        cfg = demo_config(args.seed)
        cfg.modem = args.modem
        cfg.dialect = args.dialect
        cfg.server = args.server
        speed = args.speed or 60.0
    else:
        cfg = WorldConfig(seed=args.seed, hours=args.hours, scenario=args.scenario, weather=args.weather,
                          drain_s=args.drain, incidents=not args.no_incidents,
                          incidents_per_hour=args.incidents_per_hour, state_dir=args.state_dir,
                          modem=args.modem, dialect=args.dialect, timing=args.timing, can_rate=args.can_rate,
                          modem_mux=args.modem_mux, server=args.server)
        speed = args.speed
    try:
        started = _time.perf_counter()
        world = World(cfg)
    except ValueError as e:
        print(f"tcu sim: {e}", file=sys.stderr)
        return 2
    if speed is None:
        world.run()
    else:
        run_paced(world, speed, quiet=args.quiet)
    wall = _time.perf_counter() - started
    report = build_report(world.observations(wall))
    world.close()
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
            f.write("\n")
    if args.demo or not args.report:
        for line in summary_lines(report):
            print(line)
    if not args.report and not args.demo:
        print(json.dumps(report, sort_keys=True))
    return 0


def run_paced(world: object, factor: float, quiet: bool = False) -> None:
    """Run the virtual world at `factor` × real time, driven by the real loop (no sleeps), with the
    live view redrawn between slices."""
    from runtime import RealLoop
    from sim.live_view import LiveView

    w = world  # type: ignore[assignment]
    view = None if quiet else LiveView(w)
    real = RealLoop()
    start_real = real.time()
    start_sim = w.loop.time()  # type: ignore[attr-defined]
    end_weather = w.end_time  # type: ignore[attr-defined]
    end = end_weather + w.cfg.drain_s  # type: ignore[attr-defined]
    restored = False

    def slice_() -> None:
        nonlocal restored
        target = min(end, start_sim + (real.time() - start_real) * factor)
        if not restored and target >= end_weather:
            w.loop.run(until=end_weather)  # type: ignore[attr-defined]
            w.restore_network()  # type: ignore[attr-defined]
            restored = True
        w.loop.run(until=target)  # type: ignore[attr-defined]
        if view is not None:
            view.update()
        if target >= end:
            real.stop()
            return
        real.call_later(0.1, slice_)

    real.call_soon(slice_)
    try:
        real.run()
    finally:
        real.close()
        if view is not None:
            view.close()
