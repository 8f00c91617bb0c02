"""The progress bar of a full-speed `tcu sim` on a terminal: simulated time, speed, time left.

A day in harsh weather takes seconds to minutes of wall time; without a sign of life a user cannot
tell a slow run from a hung one. `rich`'s bar is drawn by its own refresh thread a few times a
second, so `update()` between two slices only stores numbers. Not a terminal (a pipe, CI, a log
file): nothing at all, the summary at the end is the whole output.
"""

from __future__ import annotations

import time as _time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from sim.report import clock as sim_clock  # H:MM:SS since the start, as the summary writes it


class ProgressBar:
    """`update(sim_now)` after each slice; `close()` removes the bar (the summary follows)."""

    def __init__(self, total_sim_s: float, out: TextIO, label: str = "simulating") -> None:
        self.total = total_sim_s
        self._started = _time.perf_counter()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=40),
            TextColumn("{task.fields[sim]}"),
            TextColumn("[cyan]{task.fields[speed]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=out), transient=True, refresh_per_second=2)
        self._task: TaskID = self._progress.add_task(label, total=total_sim_s, sim=self._sim_text(0.0),
                                                     speed="")
        self._progress.start()

    def _sim_text(self, now: float) -> str:
        return f"{sim_clock(now)} of {sim_clock(self.total)} simulated"

    def update(self, sim_now: float) -> None:
        wall = _time.perf_counter() - self._started
        speed = f"{sim_now / wall:,.0f}× real time" if wall > 0.2 else ""
        self._progress.update(self._task, completed=sim_now, sim=self._sim_text(sim_now), speed=speed)

    def close(self) -> None:
        self._progress.stop()
