"""`tcu profile`: from a DBC to a working vehicle profile, checked against a recorded drive.

    tcu profile new --dbc FILE [--out DIR] [--name NAME]   a commented skeleton profile.toml
    tcu profile check DIR [--all]                          load, validate, what maps to what
    tcu profile decode DIR TRACE [--csv] [--metrics a,b] [--plot OUT.png]
                                                           replay a .log/.asc/.blf through it

Why a tool: the decoder is sound, but a newcomer's first profile fails on the path around it —
which signals matter, a DBC cantools will not read, a misspelt metric, a scale that is off by
1000. `check` says all of that at once; `decode` shows the numbers a recorded drive gives, as the
unit would see them live (the same compiled decoder, frame by frame, in trace order).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from can_bus.profile import Profile, ProfileError, load_dbc, load_profile
from can_bus.units import METRIC_UNITS
from tcu.plural import plural

# Metrics plotted by default (those present in the decoded timeline).
PLOT_METRICS = ("v.b.soc", "v.p.speed", "v.b.power", "v.b.voltage", "v.b.current", "v.b.temp")


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="profile_command", required=True)
    new = sub.add_parser("new", help="a commented skeleton profile.toml for a DBC")
    new.add_argument("--dbc", required=True, help="the car's DBC file")
    new.add_argument("--out", default=None, metavar="DIR",
                     help="write DIR/profile.toml and copy the DBC there (default: print the TOML)")
    new.add_argument("--name", default=None, help="profile name (default: the DBC's or DIR's name)")
    check = sub.add_parser("check", help="load and validate a profile, list what maps to which metric")
    check.add_argument("profile", help="profile directory, profile.toml, or a shipped profile's name")
    check.add_argument("--all", action="store_true", help="list every DBC signal the profile does not map")
    decode = sub.add_parser("decode", help="replay a recorded trace through a profile: the metric timeline")
    decode.add_argument("profile", help="profile directory, profile.toml, or a shipped profile's name")
    decode.add_argument("trace", help="candump .log, Vector .asc or .blf (as `vcar record` or candump -l write)")
    decode.add_argument("--csv", action="store_true", help="CSV (time_s,metric,value) instead of a timeline")
    decode.add_argument("--metrics", default=None, help="only these metrics (comma-separated)")
    decode.add_argument("--plot", default=None, metavar="OUT.png",
                        help="also draw the main metrics over time (needs the 'plot' extra: matplotlib)")


def cmd_profile(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.profile_command == "new":
            return cmd_new(args, out, err)
        if args.profile_command == "check":
            return cmd_check(args, out)
        return cmd_decode(args, out, err)
    except ProfileError as exc:
        print(f"tcu profile {args.profile_command}: {exc}", file=err)
        return 1


# -- check ----------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    profile = load_profile(args.profile)
    db = profile.db
    print(f"profile {profile.name} ({profile.path}): {plural(len(db.messages), 'message')} in the DBC"
          + (f" — {profile.description}" if profile.description else ""), file=out)
    for note in profile.warnings:
        print(f"  note: {note}", file=out)
    print(f"metrics ({len(profile.metrics)}):", file=out)
    for spec in profile.metrics:
        how = [spec.type] + [f"{k} {v}" for k, v in (("scale", spec.scale), ("offset", spec.offset))
                             if v != (1 if k == "scale" else 0)]
        how += [f"round {spec.round}"] if spec.round is not None else []
        how += ["map"] if spec.map is not None else []
        unit = f" [{spec.unit}]" if spec.unit else ""
        print(f"  {spec.metric:<22} <- {spec.message}.{spec.signal} ({', '.join(how)}){unit}", file=out)
    if profile.computed:
        print(f"computed ({len(profile.computed)}):", file=out)
        hidden = {h.metric: h for h in profile.hidden}
        for c in profile.computed:
            refs = [f"{hidden[i].message}.{hidden[i].signal}" for i in c.inputs]
            shown = ", ".join(refs[:4]) + (f", ... ({plural(len(refs), 'input')})" if len(refs) > 4 else "")
            print(f"  {c.metric:<22} = {c.op}({shown})", file=out)
    if profile.commands:
        print(f"commands: {', '.join(profile.commands)}", file=out)
    for poll in profile.polls:
        print(f"poll {poll.name}: {poll.tx:#x}->{poll.rx:#x} service {poll.service:#x} did {poll.did:#x}: "
              f"{', '.join(v.metric for v in poll.values)}", file=out)
    used = {(s.message, s.signal) for s in profile.metrics + profile.hidden}
    unmapped = [(m.name, s.name) for m in db.messages for s in m.signals if (m.name, s.name) not in used]
    likely = [(msg, sig, metric) for msg, sig in unmapped
              if (metric := _guess(sig, db.get_message_by_name(msg).get_signal_by_name(sig).unit or "")) is not None]
    mapped_metrics = {s.metric for s in profile.metrics} | {c.metric for c in profile.computed}
    likely = [x for x in likely if x[2] not in mapped_metrics]
    if likely:
        print(f"warning: {plural(len(likely), 'signal')} the DBC has look like metrics the profile does not map:", file=out)
        for msg, sig, metric in likely[:20]:
            print(f"  {msg}.{sig}  (looks like {metric})", file=out)
        if len(likely) > 20:
            print(f"  ... and {len(likely) - 20} more", file=out)
    if args.all:
        print(f"unmapped signals ({len(unmapped)}):", file=out)
        for msg, sig in unmapped:
            print(f"  {msg}.{sig}", file=out)
    else:
        print(f"{len(unmapped)} DBC signals are not mapped (--all lists them)", file=out)
    print("ok", file=out)
    return 0


# -- decode ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    time: float  # seconds since the trace's first frame
    metric: str
    value: Any


def decode_trace(profile: Profile, trace: Path) -> tuple[list[Event], dict[str, int]]:
    """Every metric update the profile's decoder gives for the trace's frames, in trace order."""
    import can

    decoder = profile.decoder()
    events: list[Event] = []
    t0: float | None = None
    for msg in _messages(can, trace):
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        if t0 is None:
            t0 = msg.timestamp
        for metric, value in decoder.feed(msg.arbitration_id, bytes(msg.data)):
            events.append(Event(msg.timestamp - t0, metric, value))
    return events, decoder.stats.as_dict()


def _messages(can: Any, trace: Path) -> Iterator[Any]:
    try:
        yield from can.LogReader(str(trace))
    except ValueError as exc:  # python-can: unknown suffix, unparsable line
        raise ProfileError(f"{trace}: not a trace python-can can read (.log, .asc, .blf): {exc}") from exc


def cmd_decode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    trace = Path(args.trace)
    if not trace.is_file():
        print(f"tcu profile decode: no trace {trace}", file=err)
        return 2
    plot_lib = None
    if args.plot:
        plot_lib = _pyplot()
        if plot_lib is None:
            print("tcu profile decode: --plot needs matplotlib: pip install 'tcu-sim[plot]' "
                  "(or pip install matplotlib)", file=err)
            return 2
    events, stats = decode_trace(profile, trace)
    if args.metrics:
        wanted = {m.strip() for m in args.metrics.split(",") if m.strip()}
        events = [e for e in events if e.metric in wanted]
    units = profile.units
    if args.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time_s", "metric", "value"])
        for e in events:
            writer.writerow([f"{e.time:.6f}", e.metric, e.value])
    else:
        for e in events:
            unit = units.get(e.metric, "")
            unit = "" if unit in ("", "bool") else f" {unit}"
            print(f"{e.time:10.3f} s  {e.metric:<22} {e.value}{unit}", file=out)
    print(f"tcu profile decode: {plural(stats['frames'], 'frame')} decoded, {plural(len(events), 'metric update')}, "
          f"{plural(stats['unknown'], 'frame')} of IDs the profile does not use, {stats['malformed']} malformed, "
          f"{stats['unmapped']} unmapped values", file=err)
    if plot_lib is not None:
        _plot(plot_lib, events, units, Path(args.plot), profile.name)
        print(f"tcu profile decode: plot written to {args.plot}", file=err)
    return 0


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _plot(plt: Any, events: list[Event], units: dict[str, str], path: Path, title: str) -> None:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for e in events:
        if isinstance(e.value, bool) or not isinstance(e.value, int | float):
            continue
        xs, ys = series.setdefault(e.metric, ([], []))
        xs.append(e.time)
        ys.append(float(e.value))
    end = max((e.time for e in events), default=0.0)
    for xs, ys in series.values():  # a value holds until the end of the trace (only changes are sent)
        xs.append(end)
        ys.append(ys[-1])
    names = [m for m in PLOT_METRICS if m in series] or sorted(series)[:6]
    fig, axes = plt.subplots(max(len(names), 1), 1, sharex=True, figsize=(9, 1.8 * max(len(names), 1) + 0.6),
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=False):
        xs, ys = series[name]
        ax.step(xs, ys, where="post")
        ax.set_ylabel(f"{name}\n{units.get(name, '')}", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the first frame")
    fig.suptitle(f"{title}: {path.stem}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- new ------------------------------------------------------------------------------------------
# (metric, pattern over the signal name, bool metric?) — the signals most likely to matter, best first.
GUESSES: tuple[tuple[str, str, bool], ...] = (
    ("v.b.soc", r"soc(?!k)|state_?of_?charge|chargelevel|batt.*level", False),
    ("v.p.speed", r"veh\w*spe?e?d|vehicle_?speed|^speed$|\bspeed\b|_kph$|kmh|v_signal|geschw", False),
    ("v.p.odometer", r"odo|kilometerstand|mileage", False),
    ("v.b.voltage", r"(pack|hv|batt|bms)\w*(volt|spannung)|(volt|spannung)\w*(pack|hv|batt)", False),
    ("v.b.current", r"(pack|hv|batt|bms)\w*(curr|amp|strom)|(curr|amp|strom)\w*(pack|hv|batt)", False),
    ("v.b.temp", r"(pack|batt|bms|cell)\w*temp", False),
    ("v.b.range.est", r"range|(^|_)dte(_|$)|dist\w*empty|remain\w*dist|reichweite", False),
    ("v.e.temp", r"ambient|outside\w*temp|amb\w*temp|out_?temp|aussen_?temp", False),
    ("v.e.gear", r"gear|prnd|selector", False),
    ("v.e.locked", r"lock", True),
    ("v.e.handbrake", r"park\w*brake|handbrake|handbremse|epb_?status", True),
    ("v.d.fl", r"door\w*(fl|front_?left|drv|driver)|(fl|drv|driver)\w*door", True),
    ("v.d.fr", r"door\w*(fr|front_?right|pass|ast)|(fr|pass|ast)\w*door", True),
    ("v.d.rl", r"door\w*(rl|rear_?left)|(rl|rear_?left)\w*door", True),
    ("v.d.rr", r"door\w*(rr|rear_?right)|(rr|rear_?right)\w*door", True),
    ("v.d.trunk", r"trunk|tailgate|boot|liftgate", True),
    ("v.d.hood", r"hood|bonnet", True),
    ("v.c.charging", r"charging|chg\w*active", True),
    ("v.b.12v.voltage", r"(12v|lv|aux)\w*volt|volt\w*(12v|lv|aux)", False),
    ("v.vin", r"\bvin|vin_|vin\d", False),
)
# Integrity and housekeeping signals are never a metric.
NOT_METRICS = re.compile(r"crc|checksum|counter|(^|_)bz(_|$)|qbit|qualifier|fehler|error|fault|_alt$", re.I)
UNIT_HINTS = {"v.p.speed": ("km/h", "kph", "kmh", "mph", "unit_kilometerperhour"),
              "v.b.voltage": ("v", "unit_volt"), "v.b.current": ("a", "unit_amper"), "v.b.soc": ("%", "unit_percent")}


def _guess(signal: str, unit: str) -> str | None:
    name = signal.lower()
    if NOT_METRICS.search(name):
        return None
    for metric, pattern, _ in GUESSES:
        if re.search(pattern, name):
            hints = UNIT_HINTS.get(metric)
            if hints and unit and unit.lower() not in hints:
                continue
            return metric
    return None


def skeleton(dbc: Path, name: str, tolerant: bool) -> str:
    """A profile.toml for `dbc`: best guesses active (so it loads and `check` runs), alternatives
    and the rest of the metric list commented, every guess marked to be checked."""
    db, _ = load_dbc(dbc, strict=False, tolerant=tolerant)
    candidates: dict[str, list[tuple[str, Any]]] = {}
    for msg in db.messages:
        for sig in msg.signals:
            if sig.multiplexer_ids or sig.is_float:
                continue
            metric = _guess(sig.name, sig.unit or "")
            if metric is not None:
                candidates.setdefault(metric, []).append((f"{msg.name}.{sig.name}", sig))
    lines = [
        f"# {name}: a skeleton from `tcu profile new --dbc {dbc.name}`. Every mapping below is a guess",
        "# from the signal's name: check each against a recorded drive with",
        f"#   tcu profile decode {name} drive.log",
        "# and fix scale/offset/type (README, 'Add your car'). `tcu profile check` lists the rest.",
        f'name = "{name}"',
        'description = "TODO: make, model, years, which bus"',
        f'dbc = "{dbc.name}"',
        "strict = false  # cantools strict mode refuses overlapping signals, common in real DBCs",
    ]
    if tolerant:
        lines.append("tolerant = true  # the DBC needed the repair pre-pass: see `tcu profile check`")
    lines += ["", "[metrics]"]
    for metric, _, is_bool in GUESSES:
        found = candidates.get(metric, [])
        if not found:
            lines.append(f'# "{metric}" = {{ signal = "Message.Signal" }}  # no signal looked like it')
            continue
        if metric == "v.vin":
            refs = ", ".join(f'"{ref}"' for ref, _ in found[:3])
            lines.append(f'# "{metric}" = {{ op = "text", inputs = [{refs}] }}  # goes in [computed]: check the parts')
            continue
        for n, (ref, sig) in enumerate(found[:3]):
            opts = [f'signal = "{ref}"']
            if is_bool or sig.length == 1:
                opts.append('type = "bool"')
            elif sig.choices and metric == "v.e.gear":
                guess = {str(v): -1 if str(v)[:1].upper() == "R" else 1 if str(v)[:1].upper() == "D" else 0
                         for v in sig.choices.values()}
                opts.append('type = "int", map = { ' + ", ".join(f'"{k}" = {v}' for k, v in guess.items()) + " }")
            elif sig.scale != 1 and metric in ("v.b.soc", "v.b.voltage", "v.b.current", "v.p.speed",
                                                 "v.p.odometer", "v.b.temp", "v.e.temp"):
                opts.append("round = 2")
            unit = f"DBC unit {sig.unit!r}; " if sig.unit else ""
            note = f"  # guess: {unit}{METRIC_UNITS.get(metric, '')} wanted"
            entry = f'"{metric}" = {{ {", ".join(opts)} }}{note}'
            lines.append(entry if n == 0 else f"# {entry} (alternative)")
    lines += [
        "",
        "# [computed]",
        '# "v.b.power" = { op = "product", inputs = ["v.b.voltage", "v.b.current"], scale = 0.001, round = 2 }',
        '# "v.b.c.voltage.min" = { op = "min", inputs = ["Cells.Voltage_*"], round = 3 }',
        "",
        "# [commands]  # frames the unit sends, e.g.",
        '# lock = { message = "Body_Cmd", signals = { Cmd = 1 } }',
    ]
    return "\n".join(lines) + "\n"


def cmd_new(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    dbc = Path(args.dbc)
    if not dbc.is_file():
        print(f"tcu profile new: no DBC file {dbc}", file=err)
        return 2
    tolerant = False
    try:
        load_dbc(dbc, strict=False)
    except ProfileError:
        load_dbc(dbc, strict=False, tolerant=True)  # still a ProfileError if the repair is not enough
        tolerant = True
        print(f"tcu profile new: {dbc.name} loads only with the repair pre-pass (tolerant = true)", file=err)
    name = args.name or (Path(args.out).name if args.out else dbc.stem.replace("_", "-"))
    text = skeleton(dbc, name, tolerant)
    if args.out is None:
        out.write(text)
        return 0
    target = Path(args.out)
    target.mkdir(parents=True, exist_ok=True)
    toml = target / "profile.toml"
    if toml.exists():
        print(f"tcu profile new: {toml} exists; not overwritten", file=err)
        return 2
    if not (target / dbc.name).exists():
        shutil.copyfile(dbc, target / dbc.name)
    toml.write_text(text)
    print(f"tcu profile new: wrote {toml}; next: tcu profile check {target}", file=err)
    return 0
