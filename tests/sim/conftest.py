"""Worlds the timeline, summary and HTML tests share: the `make demo` preset, run once per session."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sim.report import build_report
from sim.timeline import Timeline
from sim.world import World, demo_config


@dataclass
class Run:
    world: World
    report: dict
    timeline: Timeline


def run_demo(modem: str) -> Run:
    cfg = demo_config(seed=1)
    cfg.modem = modem
    cfg.can_rate = 0.05
    w = World(cfg)
    w.run()
    report = build_report(w.observations(0.0))
    w.close()
    return Run(w, report, w.timeline)


@pytest.fixture(scope="session")
def demo_direct() -> Run:
    """The demo (outage 40–60 min, alarm at 44 min, STAT inside it) with the fast modem stand-in."""
    return run_demo("direct")


@pytest.fixture(scope="session")
def demo_emulated() -> Run:
    """The same demo through the AT driver and the virtual modem."""
    return run_demo("emulated")
