"""A benchmark is a function returning figures; each figure carries its goal so the report can say
whether it was met on this machine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: str = ""          # human text, e.g. ">= 300000"
    met: bool | None = None  # None: informational

    def line(self) -> str:
        value = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:.3g}"
        verdict = "" if self.met is None else ("  ok" if self.met else "  MISSED")
        goal = f"  (goal {self.goal})" if self.goal else ""
        return f"{self.name:<44} {value:>14} {self.unit:<12}{goal}{verdict}"

    def as_dict(self) -> dict:
        return asdict(self)


Bench = Callable[[], list[Figure]]
BENCHES: dict[str, Bench] = {}


def bench(name: str) -> Callable[[Bench], Bench]:
    def register(fn: Bench) -> Bench:
        BENCHES[name] = fn
        return fn
    return register


def at_least(name: str, value: float, unit: str, goal: float) -> Figure:
    return Figure(name, value, unit, f">= {goal:,g}", value >= goal)


def at_most(name: str, value: float, unit: str, goal: float) -> Figure:
    return Figure(name, value, unit, f"<= {goal:,g}", value <= goal)


def info(name: str, value: float, unit: str) -> Figure:
    return Figure(name, value, unit)
