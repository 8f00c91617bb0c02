"""`python -m tools.chaos [--quick] [NAME ...] [--json FILE] [--workdir DIR] [--list]`

Starts `tcu-server serve`, `vmodem serve`, `vcar serve` and `tcu run` as the README's "For testers"
block does, runs each scenario against them, and prints one line per fault. Exit code 0 when every
scenario run was ok or skipped, 1 when one failed (the table says which and why).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .scenarios import ASSERTED, SCENARIOS, Result, heal, run_scenario, selected
from .world import ChaosWorld


def table(results: list[Result]) -> str:
    head = (f"{'scenario':<20} {'class':<12} {'status':<8} {'raised':>6} {'deliv':>5} {'srv':>4} {'sms':>4} "
            f"{'lost':>4} {'dup':>4} {'unexp':>5} {'recov s':>8} {'tcu ln':>6} {'srv ln':>6} {'secs':>5}  asserted")
    rows = [head, "-" * len(head)]
    for r in results:
        recov = "-" if r.recovery_s is None else f"{r.recovery_s:.1f}"
        rows.append(f"{r.name:<20} {r.fault_class:<12} {r.status:<8} {r.raised:>6} {r.delivered:>5} "
                    f"{r.by_server:>4} {r.by_sms:>4} {r.lost:>4} {r.duplicated:>4} {r.unexpected:>5} {recov:>8} "
                    f"{r.log_lines.get('tcu', 0):>6} {r.log_lines.get('tcu-server', 0):>6} {r.seconds:>5.0f}  "
                    f"{'yes' if r.asserted else 'no'}")
        if r.other_alerts:
            rows.append(f"    other alerts delivered (notices): {r.other_alerts}")
        for name, value in r.figures.items():
            rows.append(f"    {name}: {value}")
        for problem in r.problems:
            rows.append(f"    ! {problem}")
    return "\n".join(rows)


def run(names: list[str] | None, quick: bool, workdir: Path, recovery_timeout: float,
        progress: bool = True) -> list[Result]:
    world = ChaosWorld(workdir)
    results: list[Result] = []
    try:
        world.start()
        for sc in selected(quick, names):
            if progress:
                print(f"chaos: {sc.name} ({sc.fault_class}): {sc.summary}", flush=True)
            result = run_scenario(world, sc, quick=quick, recovery_timeout=recovery_timeout)
            results.append(result)
            actions = heal(world)
            if actions:
                result.figures["healed by the runner"] = ", ".join(actions)
            if progress:
                print(f"chaos: {sc.name}: {result.status}" + (f" ({'; '.join(result.problems)})"
                                                              if result.problems else ""), flush=True)
    finally:
        world.close()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n\n")[1])
    p.add_argument("names", nargs="*", help="scenarios to run (default: all, or the --quick set)")
    p.add_argument("--quick", action="store_true", help="one scenario per fault class (< ~90 s)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--workdir", metavar="DIR", help="keep logs and databases here (default: a temp dir, removed)")
    p.add_argument("--recovery-timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for an alert after a fault (default 25 quick, 60 full)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    if args.list:
        for sc in SCENARIOS.values():
            print(f"{sc.name:<20} {sc.fault_class:<12} {'quick' if sc.quick else 'full '} "
                  f"{'asserted' if sc.name in ASSERTED else 'reported'}  {sc.summary}")
        return 0
    try:
        selected(args.quick, args.names)
    except KeyError as exc:
        print(f"tools.chaos: {exc.args[0]}", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tcu-chaos-"))
    timeout = args.recovery_timeout or (25.0 if args.quick else 60.0)
    started = time.monotonic()
    try:
        results = run(args.names or None, args.quick, workdir, timeout)
    except RuntimeError as exc:            # the world did not start: nothing to measure
        print(f"tools.chaos: cannot start the world: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    print(f"\n{len(results)} scenarios in {time.monotonic() - started:.0f} s"
          + (f"; logs in {workdir}" if args.workdir else ""))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
