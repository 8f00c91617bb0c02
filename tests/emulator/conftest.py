"""Shared fixtures of the emulator tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.outside_clients import run_all


@pytest.fixture(scope="session")
def outside_clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """gammu and python-gsmmodem-new, all jobs of every dialect at once, each against its own `vmodem serve`."""
    return run_all(tmp_path_factory)
