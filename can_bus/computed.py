"""Computed metrics: values no single DBC signal carries, declared in the profile as data.

A real car rarely sends `v.b.power` or the lowest cell voltage as one signal: it sends pack
voltage and current, or 96 cell voltages over multiplexed pages, or a VIN in parts. A profile's
`[computed]` table says how to combine signals (or metrics it already maps) so the common OVMS
metrics come out without Python:

    "v.b.power"         = { op = "product", inputs = ["v.b.voltage", "v.b.current"], scale = 0.001 }
    "v.b.c.voltage.min" = { op = "min", inputs = ["Battery_Module_*.Voltage_*"], round = 3 }
    "v.vin"             = { op = "text", inputs = ["VIN_1.Part", "VIN_2.Part", "VIN_3.Part"] }

Inputs decode on the same compiled fast path as plain metrics (as hidden metric specs); a
`Combiner` per computed metric keeps the latest value of each input and yields the result once
every input has been seen, and again whenever it changes. Only messages carrying an input pay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

OPS = ("product", "sum", "min", "max", "avg", "text")
# Hidden input metric names start with this: they never leave the decoder.
HIDDEN = "\0"


@dataclass(frozen=True)
class ComputedSpec:
    """One computed metric: `op` over `inputs` (hidden metric names), then scale/offset/round."""

    metric: str
    op: str
    inputs: tuple[str, ...]
    scale: float = 1
    offset: float = 0
    round: int | None = None
    unit: str = ""
    # text only: (width in bytes, "little"|"big") per input, to turn raw integers into characters
    text_parts: tuple[tuple[int, str], ...] = ()


class _Unset:
    pass


_UNSET: Any = _Unset()


class Combiner:
    """The running state of one computed metric."""

    __slots__ = ("spec", "values", "missing", "last")

    def __init__(self, spec: ComputedSpec) -> None:
        self.spec = spec
        self.values: list[Any] = [_UNSET] * len(spec.inputs)
        self.missing = len(spec.inputs)
        self.last: Any = _UNSET

    def reset(self) -> None:
        self.values = [_UNSET] * len(self.spec.inputs)
        self.missing = len(self.spec.inputs)
        self.last = _UNSET

    def put(self, index: int, value: Any) -> Any:
        """Record input `index`; the new metric value if it is complete and changed, else None."""
        if self.values[index] is _UNSET:
            self.missing -= 1
        self.values[index] = value
        if self.missing:
            return None
        result = evaluate(self.spec, self.values)
        if result is None or (self.last is not _UNSET and self.last == result):
            return None
        self.last = result
        return result


def evaluate(spec: ComputedSpec, values: list[Any]) -> Any:
    """The metric value for a complete set of input values (None: no value, e.g. NaN)."""
    if spec.op == "text":
        chunks = []
        for raw, (width, order) in zip(values, spec.text_parts, strict=True):
            chunks.append(int(raw).to_bytes(width, "little" if order == "little" else "big"))
        return b"".join(chunks).rstrip(b"\0 ").decode("ascii", "replace")
    numbers = [float(v) for v in values]
    if spec.op == "product":
        value = math.prod(numbers)
    elif spec.op == "sum":
        value = math.fsum(numbers)
    elif spec.op == "min":
        value = min(numbers)
    elif spec.op == "max":
        value = max(numbers)
    else:
        value = math.fsum(numbers) / len(numbers)
    if spec.scale != 1 or spec.offset != 0:
        value = value * spec.scale + spec.offset
    if not math.isfinite(value):
        return None
    if spec.round is not None:
        value = round(value, spec.round)
    return value
