"""`tcu sim`: the whole simulated world on the virtual clock.

    tcu sim [--hours H] [--seed N] [--scenario day] [--weather calm|harsh] [--speed max|<factor>]
            [--report FILE.json] [--html FILE.html] [--demo] [--modem emulated|direct]
            [--dialect sim800|sim7600] [--state-dir DIR] ...

What the user sees: at full speed on a terminal a progress bar (simulated time, speed, time left);
paced (`--speed FACTOR`, and `--demo`) the live view (`sim.live_view`); not a terminal: no progress,
the paced views print plain lines. At the end, always, a summary for people; the JSON report with
`--report`, the HTML report with `--html`. Ctrl-C stops the run between two slices of simulated time
(`sim.runner`) and still gives the summary and the files of what ran so far; exit status 130.

The firmware's `tcu` command finds this subcommand through the `tcu.commands` entry point, so the
firmware never imports the simulation (a Pi's `tcu run` loads no virtual modem). Importing this module
is cheap: the world is imported only when `tcu sim` runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time as _time
from types import FrameType
from typing import Any

from runtime import logsetup

EXIT_INTERRUPTED = 130   # 128 + SIGINT, what a shell reports for a program ended by Ctrl-C

# The world options `--demo` cannot take: its script fixes the day (95 minutes, one data outage at
# 40 min, an alarm at 44 min), which is what the screen explains. The others (modem, dialect, server,
# timing, CAN rate, multiplexer, state dir, seed, speed) change how the same story runs and are honoured.
DEMO_FIXED = {"hours": "--hours", "scenario": "--scenario", "weather": "--weather", "drain": "--drain",
              "no_incidents": "--no-incidents", "incidents_per_hour": "--incidents-per-hour"}
DEFAULTS: dict[str, Any] = {"hours": 24.0, "scenario": "day", "weather": "calm", "drain": 1800.0,
                            "incidents_per_hour": 1 / 3}
DEMO_SPEED = 60.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `tcu.commands` entry point: adds `tcu sim` to the firmware's command line."""
    p = sub.add_parser("sim", help="run the whole simulated world on the virtual clock",
                       description="Run car, unit, modem, network, server and the owner's phone on the "
                                   "virtual clock and report what reached the server and the phone. A summary "
                                   "is printed at the end of every run; on a terminal a progress bar (full "
                                   "speed) or the live view (paced) shows the run, nothing otherwise (paced: "
                                   "plain event lines). Ctrl-C stops it with the report so far (exit status 130).")
    add_sim_args(p)
    p.set_defaults(handler=cmd_sim)


def _speed(text: str) -> float:
    if text == "max":
        return math.inf
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed: 'max' or a factor, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError("--speed: the factor must be positive")
    return v


def add_sim_args(p: argparse.ArgumentParser) -> None:
    # The options --demo refuses default to None so that "typed" can be told from "left alone".
    p.add_argument("--hours", type=float, default=None, metavar="H",
                   help="simulated hours of weather, then the drain period (default 24; not with --demo)")
    p.add_argument("--seed", type=int, default=1, help="world seed: the same seed gives the same report (default 1)")
    p.add_argument("--scenario", default=None,
                   help="virtual car scenario: day, theft, interrupted-charge (default day; not with --demo)")
    p.add_argument("--weather", default=None, choices=["calm", "harsh"],
                   help="network outage profile (default calm; not with --demo)")
    p.add_argument("--speed", type=_speed, default=None, metavar="max|FACTOR",
                   help="max: as fast as it goes, with a progress bar (default); FACTOR: simulated seconds "
                        f"per wall second, with the live view (--demo: default {DEMO_SPEED:.0f})")
    p.add_argument("--report", default=None, metavar="FILE.json",
                   help="also write the full report here as JSON (the summary is printed either way)")
    p.add_argument("--html", default=None, metavar="FILE.html",
                   help="write the HTML report here: the timeline of the run (link, outages, alerts and "
                        "their delivery path, SMS, commands) above the car's curves; opens offline")
    p.add_argument("--demo", action="store_true",
                   help="the make-demo preset: a fixed 95-minute story (data outage at 40 min, alarm by SMS, "
                        "catch-up) at 60x with the live view; refuses --hours, --scenario, --weather, --drain "
                        "and the incident options")
    p.add_argument("--modem", default="emulated", choices=["emulated", "direct"],
                   help="emulated: AT driver + virtual modem (default); direct: no AT layer (fast)")
    p.add_argument("--dialect", default="sim800", choices=["sim800", "sim7600"],
                   help="the modem model: the AT driver's dialect and the virtual modem's (default sim800)")
    p.add_argument("--timing", default="realistic", choices=["realistic", "instant"],
                   help="the virtual modem's response times (default realistic)")
    p.add_argument("--modem-mux", default="off", choices=["auto", "on", "off"],
                   help="emulated modem: GSM 07.10 multiplexer (AT+CMUX) after init (default off)")
    p.add_argument("--server", default="ovms", choices=["ovms", "mqtt", "both"],
                   help="what the unit reports to: the OVMS v2 server, an MQTT broker (OVMS v3 layout), or both")
    p.add_argument("--drain", type=float, default=None, metavar="SECONDS",
                   help="seconds with the network restored at the end (default 1800; not with --demo)")
    p.add_argument("--can-rate", type=float, default=0.1,
                   help="fraction of the DBC frame rates the virtual car sends (1.0 = 50 Hz drive data; default 0.1)")
    p.add_argument("--no-incidents", action="store_true", help="no alarm/tow/valet incidents (not with --demo)")
    p.add_argument("--incidents-per-hour", type=float, default=None,
                   help="how often an alarm/tow/valet-trunk incident happens (default one per 3 h; not with --demo)")
    p.add_argument("--state-dir", default=None, metavar="DIR",
                   help="keep the world's databases here (restartable; default a temporary directory)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, live view or plain event lines")
    # The world's components log at INFO/WARNING all the time (modem reboots are the weather), so
    # by default only errors reach the terminal and the live view stays readable.
    logsetup.add_args(p, default="ERROR")


class StopOnSigint:
    """Ctrl-C asks the run to stop at the next slice boundary instead of raising KeyboardInterrupt in
    whatever callback the world is in (which would leave a half-done world and a traceback). A second
    Ctrl-C, while the report is being written, ends at once (KeyboardInterrupt, caught in `cmd_sim`)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> StopOnSigint:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:   # not the main thread (an embedding program): Ctrl-C stays as it was
            self._old = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def _refused_with_demo(args: argparse.Namespace) -> list[str]:
    return [flag for dest, flag in DEMO_FIXED.items() if getattr(args, dest) not in (None, False)]


def _config(args: argparse.Namespace) -> Any:
    from sim.world import WorldConfig, demo_config

    if args.demo:
        cfg = demo_config(args.seed)
    else:
        val = {k: (getattr(args, k) if getattr(args, k) is not None else d) for k, d in DEFAULTS.items()}
        cfg = WorldConfig(seed=args.seed, hours=val["hours"], scenario=val["scenario"], weather=val["weather"],
                          drain_s=val["drain"], incidents=not args.no_incidents,
                          incidents_per_hour=val["incidents_per_hour"])
    cfg.state_dir = args.state_dir
    cfg.modem = args.modem
    cfg.dialect = args.dialect
    cfg.timing = args.timing
    cfg.can_rate = args.can_rate
    cfg.modem_mux = args.modem_mux
    cfg.server = args.server
    return cfg


def cmd_sim(args: argparse.Namespace) -> int:
    logsetup.setup_logging(args.log_level, args.log_file)
    if args.demo and _refused_with_demo(args):
        print(f"tcu sim: --demo plays a fixed 95-minute story and does not take "
              f"{', '.join(_refused_with_demo(args))}; drop --demo to choose them", file=sys.stderr)
        return 2
    speed = args.speed if args.speed is not None else (DEMO_SPEED if args.demo else math.inf)
    try:
        with StopOnSigint() as stop:
            return _simulate(args, _config(args), speed, stop)
    except KeyboardInterrupt:   # the second Ctrl-C: no report
        print("tcu sim: stopped (Ctrl-C twice: no report)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _simulate(args: argparse.Namespace, cfg: Any, speed: float, stop: StopOnSigint) -> int:
    from sim.report import build_report, summary_lines
    from sim.runner import run_full_speed, run_paced, total_seconds
    from sim.world import World

    started = _time.perf_counter()
    try:
        world = World(cfg)
    except ValueError as e:
        print(f"tcu sim: {e}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    view: Any = None
    on_slice = None
    if not args.quiet and (math.isfinite(speed) or args.demo):
        from sim.live_view import LiveView
        view = LiveView(world, total_s=total_seconds(world), title="tcu sim demo" if args.demo else "tcu sim")
        on_slice = view.update
    elif not args.quiet and tty:
        from sim.progress import ProgressBar
        view = ProgressBar(total_seconds(world), sys.stdout)
        loop = world.loop

        def on_slice() -> None:
            view.update(loop.time())
    try:
        if math.isfinite(speed):
            finished = run_paced(world, speed, on_slice, stop)
        else:
            finished = run_full_speed(world, on_slice, stop)
    finally:
        if view is not None:
            view.close()
    wall = _time.perf_counter() - started
    report = build_report(world.observations(wall))
    if not finished:
        report["interrupted_at"] = round(world.loop.time(), 3)
    written = _write_files(args, report, world)
    world.close()
    from sim.progress import sim_clock
    if not finished:
        print(f"stopped by Ctrl-C at {sim_clock(world.loop.time())} simulated: the report covers the run so far")
    for line in summary_lines(report):
        print(line)
    for line in written:
        print(line)
    return 0 if finished else EXIT_INTERRUPTED


def _write_files(args: argparse.Namespace, report: dict, world: Any) -> list[str]:
    """The report files asked for; returns a line for each saying where it is."""
    lines = []
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
            f.write("\n")
        lines.append(f"JSON report: {os.path.abspath(args.report)}")
    if args.html:
        from sim.html_report import write_html
        write_html(args.html, report, world.timeline)
        lines.append(f"HTML report: {os.path.abspath(args.html)}  (open it in a browser)")
    return lines
