"""The full chaos run takes minutes: it runs only when asked (TCU_CHAOS_FULL=1), never in `make test`."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: the full chaos run (set TCU_CHAOS_FULL=1 to run it)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TCU_CHAOS_FULL") == "1":
        return
    skip = pytest.mark.skip(reason="the full chaos run takes ~10 minutes; set TCU_CHAOS_FULL=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
