"""The firmware's version: one string, from the installed package's metadata (pyproject `version`).

Why not a constant here: a second copy drifts from the package's (VERSION answered one number,
`pip show` another). A source tree that was never installed has no metadata; it says so instead of
guessing a number."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGE = "tcu-sim"

try:
    VERSION = version(PACKAGE)
except PackageNotFoundError:  # running from a source tree without `pip install -e .`
    VERSION = "0+unknown"
