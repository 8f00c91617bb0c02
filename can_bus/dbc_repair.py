"""The tolerant DBC load: a text pre-pass that repairs a handful of recurring real-world defects.

About a third of the DBC files people actually have (opendbc's among them) do not load in cantools
because of five small, recurring defects. A profile with `tolerant = true` runs this pre-pass
before cantools; it repairs exactly these, and reports each repair (line and what was done) so the
person can fix the file for good:

- `comment-no-signal`: `CM_ SG_ 123 "text";` (a signal comment without the signal name) becomes the
  message's comment `CM_ BO_ 123 "text";`.
- `comment-bare-id`: `CM_ 145 "text";` becomes `CM_ BO_ 145 "text";`.
- `extended-id`: `BO_ 419364350 ...` (above 0x7FF, below 2**29, without the extended flag 0x80000000)
  gets the flag, in the `BO_` and in every statement that refers to that message.
- `leading-dot`: a number written `.25` / `-.5` in a signal line becomes `0.25` / `-0.5`.
- `val-other-message`: `VAL_ 256 Sig ...;` for a signal message 256 does not have, or for a
  message the file does not define, is dropped (cantools refuses the whole file for it; the table
  belongs to no signal it could name).

Anything else is left to cantools, whose error then names the line.

`fix_switch_case` runs on every load, tolerant or not: a multiplexer switch written `m` instead of
`M` (opendbc's vw_pq.dbc) is not an error to cantools, it silently makes every page's signals plain
signals that all decode from every frame — values from other pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXTENDED_FLAG = 0x80000000
MAX_STD_ID = 0x7FF
MAX_EXT_ID = 0x1FFFFFFF


@dataclass(frozen=True)
class Repair:
    line: int
    kind: str
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.what}"


_BO = re.compile(r"^([ \t]*BO_\s+)(\d+)(\s+\w+\s*:)", re.M)
_SG = re.compile(r"^[ \t]*SG_\s+(\w+)", re.M)
_CM_SG_NO_NAME = re.compile(r'^([ \t]*CM_\s+)SG_(\s+\d+\s+")', re.M)
_CM_BARE = re.compile(r'^([ \t]*CM_\s+)(\d+\s+")', re.M)
_SG_LINE = re.compile(r"^[ \t]*SG_\s.*$", re.M)
_LEADING_DOT = re.compile(r"(?<=[(,\[|])(\s*-?)\.(\d)")
_VAL = re.compile(r"^[ \t]*VAL_\s+(\d+)\s+(\w+)\s[^;]*;[ \t]*\r?\n?", re.M)
# Statements whose first number after the keyword(s) is a message id.
_ID_REFS = re.compile(
    r'^([ \t]*(?:CM_\s+(?:BO_|SG_)|BA_\s+"[^"]*"\s+(?:BO_|SG_)|VAL_|SIG_VALTYPE_|BO_TX_BU_|SG_MUL_VAL_)\s+)(\d+)',
    re.M)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def repair_dbc(text: str) -> tuple[str, list[Repair]]:
    """The repaired DBC text and the repairs made, in the order of the original lines."""
    repairs: list[Repair] = []

    # Which signals each message has (by the ids as written), for the VAL_ check.
    signals: dict[int, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        head = _BO.match(line)
        if head:
            current = signals.setdefault(int(head.group(2)), set())
        elif current is not None and (sg := _SG.match(line)):
            current.add(sg.group(1))
        elif line.strip():
            current = None

    def val(m: re.Match[str]) -> str:
        frame_id, sig = int(m.group(1)), m.group(2)
        if frame_id not in signals and signals:
            repairs.append(Repair(_line_of(text, m.start()), "val-other-message",
                                  f"VAL_ {frame_id} {sig}: no message {frame_id} in this DBC; dropped"))
            return "\n" * m.group(0).count("\n")
        if frame_id in signals and sig not in signals[frame_id]:
            owners = sorted(str(i) for i, names in signals.items() if sig in names)
            where = f" (it is in message {', '.join(owners)})" if owners else ""
            repairs.append(Repair(_line_of(text, m.start()), "val-other-message",
                                  f"VAL_ {frame_id} {sig}: message {frame_id} has no signal {sig}{where}; dropped"))
            return "\n" * m.group(0).count("\n")  # keep the line numbers of what follows
        return m.group(0)

    text = _VAL.sub(val, text)

    def cm_sg(m: re.Match[str]) -> str:
        repairs.append(Repair(_line_of(text, m.start()), "comment-no-signal",
                              "CM_ SG_ without a signal name: kept as the message's comment (CM_ BO_)"))
        return f"{m.group(1)}BO_{m.group(2)}"

    text = _CM_SG_NO_NAME.sub(cm_sg, text)

    def cm_bare(m: re.Match[str]) -> str:
        repairs.append(Repair(_line_of(text, m.start()), "comment-bare-id",
                              "CM_ with a bare message id: read as CM_ BO_"))
        return f"{m.group(1)}BO_ {m.group(2)}"

    text = _CM_BARE.sub(cm_bare, text)

    def sg_line(m: re.Match[str]) -> str:
        line = m.group(0)
        fixed = _LEADING_DOT.sub(lambda d: f"{d.group(1)}0.{d.group(2)}", line)
        if fixed != line:
            name = line.split()[1]
            repairs.append(Repair(_line_of(text, m.start()), "leading-dot",
                                  f"signal {name}: a number written .N read as 0.N"))
        return fixed

    text = _SG_LINE.sub(sg_line, text)

    unflagged = {int(bo.group(2)) for bo in _BO.finditer(text)
                 if MAX_STD_ID < int(bo.group(2)) <= MAX_EXT_ID}
    if unflagged:
        def bo(m: re.Match[str]) -> str:
            frame_id = int(m.group(2))
            if frame_id not in unflagged:
                return m.group(0)
            repairs.append(Repair(_line_of(text, m.start()), "extended-id",
                                  f"id {frame_id} ({frame_id:#x}) is more than 11 bits without the extended "
                                  f"flag: read as extended ({frame_id | EXTENDED_FLAG})"))
            return f"{m.group(1)}{frame_id | EXTENDED_FLAG}{m.group(3)}"

        text = _BO.sub(bo, text)

        def ref(m: re.Match[str]) -> str:
            frame_id = int(m.group(2))
            return m.group(1) + str(frame_id | EXTENDED_FLAG) if frame_id in unflagged else m.group(0)

        text = _ID_REFS.sub(ref, text)
    repairs.sort(key=lambda r: r.line)
    return text, repairs


_SG_MUX = re.compile(r"^([ \t]*SG_\s+(\w+)\s+)(m\d*M?|M|m)(\s*:)")


def fix_switch_case(text: str) -> tuple[str, list[Repair]]:
    """In a message with pages (`m0`, `m1` ...) but no switch `M`, the one signal marked `m` is it."""
    lines = text.splitlines(keepends=True)
    repairs: list[Repair] = []
    block: list[int] = []

    def settle() -> None:
        marks = {i: m for i in block if (m := _SG_MUX.match(lines[i]))}
        kinds = [m.group(3) for m in marks.values()]
        if any(k.endswith("M") for k in kinds) or not any(k[1:].isdigit() for k in kinds):
            return
        bare = [i for i, m in marks.items() if m.group(3) == "m"]
        if len(bare) != 1:
            return
        i = bare[0]
        m = marks[i]
        lines[i] = f"{m.group(1)}M{m.group(4)}{lines[i][m.end():]}"
        repairs.append(Repair(i + 1, "switch-case", f"signal {m.group(2)}: multiplexer switch written 'm', read as 'M'"))

    for n, line in enumerate(lines):
        if _BO.match(line):
            settle()
            block = []
        elif _SG.match(line):
            block.append(n)
    settle()
    return "".join(lines), repairs
