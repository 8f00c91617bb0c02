"""`tcu`: the firmware's command line (`tcu sim`, `tcu run`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tcu", description="tcu-sim telematics unit firmware")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sim", help="run the whole simulated world on the virtual clock")
    sub.add_parser("run", help="run the unit on the real clock against real devices")
    parser.parse_args(argv)
    print("not yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
