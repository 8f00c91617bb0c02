"""`python -m tools.bench [NAME...] [--json FILE]`: run benchmarks, print one line per figure."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback

from tools.bench import suites  # noqa: F401  (registers the benchmarks)
from tools.bench.registry import BENCHES, Figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(BENCHES)}")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    names = args.names or list(BENCHES)
    print(f"# tcu-sim benchmarks on {platform.machine()} {platform.python_implementation()} "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    results: dict[str, list[dict] | str] = {}
    failed = False
    for name in names:
        print(f"## {name}", flush=True)
        try:
            figures: list[Figure] = BENCHES[name]()
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            print(f"{name}: FAILED ({exc})")
            results[name] = f"failed: {exc}"
            failed = True
            continue
        for figure in figures:
            print(figure.line(), flush=True)
        results[name] = [f.as_dict() for f in figures]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
