"""Fixtures for the server tests."""

import pytest
from ovms_world import World


@pytest.fixture
def world() -> World:
    return World()
