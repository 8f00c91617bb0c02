"""Vehicle profiles: a DBC file plus a TOML mapping from DBC signals to OVMS metrics and commands.

A profile is data, not code, so a user adds a car by dropping a directory into `can_bus/profiles/`
(or anywhere, loaded by path): `<dir>/profile.toml` names the DBC beside it. cantools loads the DBC;
`can_bus.fastdecode` compiles the used messages into per-ID closures for the hot path, and the
slow reference path here (cantools `decode`) exists to check it.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cantools
from cantools.database.can import Database, Message, Signal
from cantools.database.namedsignalvalue import NamedSignalValue

from can_bus.computed import HIDDEN, ComputedSpec
from can_bus.computed import OPS as COMPUTED_OPS
from can_bus.units import METRIC_UNITS

if TYPE_CHECKING:
    from can_bus.fastdecode import Decoder

log = logging.getLogger(__name__)

PROFILES_DIR = Path(__file__).parent / "profiles"
METRIC_TYPES = ("float", "int", "bool", "choice", "ascii")

# The command names the firmware may ask for (issue 5); a profile supports a subset.
COMMAND_NAMES = (
    "lock", "unlock", "valet_on", "valet_off", "charge_start", "charge_stop", "charge_mode",
    "charge_limit", "climate_on", "climate_off", "homelink", "wakeup",
)


class ProfileError(Exception):
    """The profile files are wrong (a person's mistake in a TOML/DBC): raised at load time."""


class UnsupportedCommand(Exception):
    """The car of this profile has no frame for that command."""


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is read from one DBC signal."""

    metric: str
    message: str
    signal: str
    type: str = "float"
    scale: float = 1
    offset: float = 0
    map: dict[int, Any] | None = None
    round: int | None = None
    mux: str | None = None  # ascii only: the signal selecting which part this frame carries
    parts: int = 1
    unit: str = ""


@dataclass(frozen=True)
class CommandFrame:
    message: str
    signals: dict[str, Any]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    frames: tuple[CommandFrame, ...]

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(sorted({v[1:] for f in self.frames for v in f.signals.values()
                             if isinstance(v, str) and v.startswith("$")}))


@dataclass(frozen=True)
class PollValue:
    metric: str
    start: int
    length: int
    type: str = "float"
    scale: float = 1
    offset: float = 0
    round: int | None = None
    signed: bool = False


@dataclass(frozen=True)
class PollSpec:
    """One ISO-TP request (UDS/OBD-II) asked on a schedule that depends on the car state."""

    name: str
    tx: int
    rx: int
    service: int
    did: int
    interval: dict[str, float]
    values: tuple[PollValue, ...]
    extended: bool = False


@dataclass
class Profile:
    name: str
    path: Path
    db: cantools.database.can.Database
    metrics: tuple[MetricSpec, ...]
    command_specs: dict[str, CommandSpec]
    polls: tuple[PollSpec, ...] = ()
    car: dict[str, Any] = field(default_factory=dict)
    periods: dict[str, float] = field(default_factory=dict)
    description: str = ""
    computed: tuple[ComputedSpec, ...] = ()
    hidden: tuple[MetricSpec, ...] = ()  # the computed metrics' inputs, decoded like metrics
    warnings: tuple[str, ...] = ()  # what the load repaired or ignored in the DBC

    # -- lookup --------------------------------------------------------------------------------
    @property
    def commands(self) -> tuple[str, ...]:
        """The commands this car accepts, in the firmware's canonical order."""
        return tuple(n for n in COMMAND_NAMES if n in self.command_specs) + tuple(
            sorted(n for n in self.command_specs if n not in COMMAND_NAMES))

    @cached_property
    def units(self) -> dict[str, str]:
        return {m.metric: m.unit for m in self.metrics} | {c.metric: c.unit for c in self.computed}

    def message(self, name: str) -> Message:
        return self.db.get_message_by_name(name)

    @cached_property
    def metric_messages(self) -> tuple[Message, ...]:
        """Messages carrying metrics, in DBC order (what the car emits and the unit decodes)."""
        used = {m.message for m in self.metrics}
        return tuple(m for m in self.db.messages if m.name in used)

    def period(self, message: Message) -> float:
        """Seconds between transmissions: profile override, DBC GenMsgCycleTime, else 1 s."""
        if message.name in self.periods:
            return self.periods[message.name]
        if message.cycle_time:
            return message.cycle_time / 1000.0
        return 1.0

    # -- decoding -------------------------------------------------------------------------------
    def decoder(self) -> Decoder:
        from can_bus.fastdecode import Decoder

        return Decoder(self)

    def reference_decode(self, arbitration_id: int, data: bytes) -> dict[str, Any]:
        """Slow, obviously right: cantools decode + the mapping. Ascii (multi-part) and computed
        metrics skipped; a frame shorter than its message, or a signal of another multiplexer page,
        is "not present" (no entry)."""
        from cantools.database.errors import DecodeError

        message = self.db.get_message_by_frame_id(arbitration_id)
        try:
            signals = decode_signals(message, data, decode_choices=False, scaling=True)
        except DecodeError:
            return {}
        out: dict[str, Any] = {}
        for spec in self.metrics:
            if spec.message != message.name or spec.type == "ascii" or spec.signal not in signals:
                continue
            value = convert(spec, signals[spec.signal], message.get_signal_by_name(spec.signal))
            if value is not MISSING:
                out[spec.metric] = value
        return out

    # -- encoding (commands the unit sends; frames the virtual car sends) -----------------------
    def encode_command(self, name: str, **args: Any) -> list[tuple[int, bytes]]:
        """Frames that ask the car to do `name`. ValueError on bad arguments."""
        spec = self.command_specs.get(name)
        if spec is None:
            raise UnsupportedCommand(f"profile {self.name} has no command {name!r}")
        missing = set(spec.args) - set(args)
        extra = set(args) - set(spec.args)
        if missing or extra:
            raise ValueError(f"command {name} takes {list(spec.args)}, got {sorted(args)}")
        frames = []
        for frame in spec.frames:
            message = self.message(frame.message)
            values = {s.name: _default_value(s) for s in message.signals}
            for sig, value in frame.signals.items():
                values[sig] = args[value[1:]] if isinstance(value, str) and value.startswith("$") else value
            try:
                data = message.encode(values, strict=True)
            except Exception as exc:  # cantools raises EncodeError / KeyError for bad values
                raise ValueError(f"command {name}{args or ''}: {exc}") from exc
            frames.append((message.frame_id, bytes(data)))
        return frames

    def match_command(self, arbitration_id: int, data: bytes) -> tuple[str, dict[str, Any]] | None:
        """What the car does with a frame: (command, args) if it is one of our command frames."""
        for spec in self._commands_by_id.get(arbitration_id, ()):
            for frame in spec.frames:
                message = self.message(frame.message)
                if message.frame_id != arbitration_id:
                    continue
                try:
                    decoded = decode_signals(message, data, decode_choices=True)
                except Exception:
                    return None
                args: dict[str, Any] = {}
                ok = True
                for sig, want in frame.signals.items():
                    got = decoded.get(sig)
                    if isinstance(want, str) and want.startswith("$"):
                        args[want[1:]] = got.name if isinstance(got, NamedSignalValue) else got
                    elif str(got) != str(want):
                        ok = False
                        break
                if ok:
                    return spec.name, args
        return None

    @cached_property
    def _commands_by_id(self) -> dict[int, list[CommandSpec]]:
        out: dict[int, list[CommandSpec]] = {}
        for spec in self.command_specs.values():
            for frame in spec.frames:
                out.setdefault(self.message(frame.message).frame_id, []).append(spec)
        return out

    def encode_metrics(self, message: Message, metrics: dict[str, Any]) -> list[tuple[int, bytes]]:
        """The frame(s) a car in state `metrics` sends for `message` (several for ascii parts)."""
        defaults = self._signal_defaults.get(message.name)
        if defaults is None:  # once per message: the virtual car encodes several times a second
            defaults = self._signal_defaults[message.name] = {s.name: _default_value(s) for s in message.signals}
        values = dict(defaults)
        ascii_specs = []
        for spec in self._specs_by_message.get(message.name, ()):
            value = metrics.get(spec.metric)
            if value is None:
                continue
            if spec.type == "ascii":
                ascii_specs.append((spec, str(value)))
                continue
            values[spec.signal] = invert(spec, value, message.get_signal_by_name(spec.signal))
        if not ascii_specs:
            return [(message.frame_id, bytes(message.encode(values, strict=False)))]
        frames = []
        spec, text = ascii_specs[0]
        sig = message.get_signal_by_name(spec.signal)
        width = sig.length // 8
        raw_text = text.encode("ascii", "replace").ljust(width * spec.parts, b"\0")
        for part in range(spec.parts):
            chunk = raw_text[part * width:(part + 1) * width]
            if spec.mux is not None:
                values[spec.mux] = part
            values[spec.signal] = int.from_bytes(chunk, "little" if sig.byte_order == "little_endian" else "big")
            frames.append((message.frame_id, bytes(message.encode(values, strict=False, scaling=False))))
        return frames

    @cached_property
    def freshness(self) -> tuple[tuple[frozenset[int], tuple[str, ...]], ...]:
        """Which frames keep which metrics fresh: (frame ids that must all arrive, metrics they refresh).

        The decoder reports values that changed only (a parked car's SOC does not), so the unit
        refreshes the staleness of what a frame carries from this table, once every few seconds and
        off the per-frame path. A multiplexed message carries one page per frame, so its metrics
        are left out (they refresh when decoded); so is a computed metric with such an input.
        """
        plain = {m.name: m.frame_id for m in self.db.messages if not is_multiplexed(m)}
        groups: list[tuple[frozenset[int], tuple[str, ...]]] = []
        for name, specs in self._specs_by_message.items():
            if name in plain:
                groups.append((frozenset({plain[name]}), tuple(s.metric for s in specs)))
        source = {h.metric: h.message for h in self.hidden}
        for c in self.computed:
            messages = {source.get(i) for i in c.inputs}
            if messages and all(m in plain for m in messages):
                groups.append((frozenset(plain[m] for m in messages if m is not None), (c.metric,)))
        return tuple(groups)

    @cached_property
    def _signal_defaults(self) -> dict[str, dict[str, Any]]:
        """Per message name, the value of each signal no metric sets (filled by `encode_metrics`)."""
        return {}

    @cached_property
    def _specs_by_message(self) -> dict[str, list[MetricSpec]]:
        out: dict[str, list[MetricSpec]] = {}
        for spec in self.metrics:
            out.setdefault(spec.message, []).append(spec)
        return out


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def convert(spec: MetricSpec, physical: Any, signal: Signal) -> Any:
    """Signal value (physical, DBC-scaled) → metric value; MISSING when a map has no entry.

    The fast path generates the same arithmetic in the same order, so results are bit-equal.
    """
    raw = physical
    if spec.map is not None or spec.type == "choice":
        raw_int = int(round((physical - signal.offset) / signal.scale))
        table = spec.map if spec.map is not None else _choice_table(signal)
        return table.get(raw_int, MISSING)
    if spec.type == "bool":
        return physical != 0
    value = raw
    if spec.scale != 1 or spec.offset != 0:
        value = value * spec.scale + spec.offset
    if spec.type == "int":
        return int(round(value))
    if spec.round is not None:
        value = round(value, spec.round)
    return value


def invert(spec: MetricSpec, value: Any, signal: Signal) -> Any:
    """Metric value → signal physical value, clamped to what the signal can carry."""
    if spec.map is not None or spec.type == "choice":
        table = spec.map if spec.map is not None else _choice_table(signal)
        for raw, mapped in table.items():
            if mapped == value:
                return raw * signal.scale + signal.offset
        return signal.offset
    if spec.type == "bool":
        return 1 if value else 0
    physical = float(value)
    if spec.scale != 1 or spec.offset != 0:
        physical = (physical - spec.offset) / spec.scale
    lo, hi = physical_range(signal)
    return min(max(physical, lo), hi)


def physical_range(signal: Signal) -> tuple[float, float]:
    if signal.is_signed:
        raw_lo, raw_hi = -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    else:
        raw_lo, raw_hi = 0, (1 << signal.length) - 1
    a, b = raw_lo * signal.scale + signal.offset, raw_hi * signal.scale + signal.offset
    return min(a, b), max(a, b)


def _choice_table(signal: Signal) -> dict[int, str]:
    return {int(k): str(v) for k, v in (signal.choices or {}).items()}


def decode_signals(message: Message, data: bytes | bytearray, **options: Any) -> dict[str, Any]:
    """`message.decode` for a plain (non-container) message: a dict of signal values."""
    decoded = message.decode(bytes(data), **options)
    if not isinstance(decoded, dict):  # only container messages decode to a list; profiles have none
        raise ValueError(f"{message.name}: container messages are not supported")
    return decoded


def _default_value(signal: Signal) -> Any:
    """Value for a signal no one set: its initial value if the DBC has one, else raw 0 (clamped)."""
    initial = signal.initial
    if isinstance(initial, int | float):
        return initial * signal.scale + signal.offset if signal.scale else initial
    if initial is not None:
        return initial
    lo, hi = physical_range(signal)
    return min(max(signal.offset, lo), hi)


# -- loading ------------------------------------------------------------------------------------------
def available_profiles() -> list[str]:
    return sorted(p.name for p in PROFILES_DIR.iterdir() if (p / "profile.toml").is_file())


_cache: dict[Path, Profile] = {}


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (`demo-ev`) from `can_bus/profiles/`, or by directory / profile.toml path.

    Profiles are immutable once loaded, so each is parsed once per process (cantools is slow).
    """
    path = Path(name_or_path)
    if not path.exists():
        path = PROFILES_DIR / str(name_or_path)
    if path.is_dir():
        path = path / "profile.toml"
    if not path.is_file():
        raise ProfileError(f"no profile {name_or_path!r} (have: {', '.join(available_profiles())})")
    path = path.resolve()
    cached = _cache.get(path)
    if cached is None:
        cached = _cache[path] = _load(path)
    return cached


TOP_KEYS = ("name", "description", "dbc", "strict", "tolerant", "car", "periods", "metrics", "computed",
            "commands", "poll")
METRIC_KEYS = ("signal", "type", "scale", "offset", "map", "round", "mux", "parts", "unit", "custom")
COMPUTED_KEYS = ("op", "inputs", "scale", "offset", "round", "unit", "custom")
COMMAND_KEYS = ("message", "signals", "frames")
FRAME_KEYS = ("message", "signals")
POLL_KEYS = ("name", "tx", "rx", "service", "did", "interval", "values", "extended")
POLL_VALUE_KEYS = ("metric", "start", "length", "type", "scale", "offset", "round", "signed", "custom")


class _Ctx:
    """Where a profile mistake is: every ProfileError names the file and the entry."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, what: str) -> ProfileError:
        return ProfileError(f"{self.path}: {where}: {what}")

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"expected a table {{ ... }}, got {value!r}")
        return value

    def keys(self, where: str, entry: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in entry:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise self.error(where, f"unknown key {key!r}{hint}; expected one of {', '.join(allowed)}")

    def number(self, where: str, entry: dict[str, Any], key: str, default: float) -> Any:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(where, f"{key} must be a number, got {value!r}")
        return value

    def integer(self, where: str, entry: dict[str, Any], key: str, default: Any = None) -> Any:
        value = entry.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.error(where, f"{key} must be a whole number, got {value!r}")
        return value

    def metric_name(self, where: str, metric: str, entry: dict[str, Any]) -> None:
        custom = entry.get("custom", False)
        if not isinstance(custom, bool):
            raise self.error(where, f"custom must be true or false, got {custom!r}")
        if metric in METRIC_UNITS or custom:
            return
        near = difflib.get_close_matches(metric, list(METRIC_UNITS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise self.error(where, f"{metric!r} is not a standard OVMS metric name; {hint}"
                                "a deliberate custom metric says so with custom = true")


def _load(path: Path) -> Profile:
    ctx = _Ctx(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    ctx.keys("top level", doc, TOP_KEYS)
    name = str(doc.get("name", path.parent.name))
    dbc_name = doc.get("dbc")
    if not isinstance(dbc_name, str) or not dbc_name:
        raise ctx.error("dbc", 'missing: name the DBC file beside profile.toml, e.g. dbc = "my_car.dbc"')
    dbc_path = path.parent / dbc_name
    if not dbc_path.is_file():
        raise ctx.error("dbc", f"no DBC file {dbc_path}")
    strict = doc.get("strict", True)
    tolerant = doc.get("tolerant", False)
    for key, flag in (("strict", strict), ("tolerant", tolerant)):
        if not isinstance(flag, bool):
            raise ctx.error(key, f"must be true or false, got {flag!r}")
    db, warnings = load_dbc(dbc_path, strict=strict, tolerant=tolerant, where=str(path))
    unfit = drop_unfit_signals(db)
    warnings += [f"{m}.{s}: {why}; ignored" for m, s, why in unfit]
    unfit_refs = {f"{m}.{s}": why for m, s, why in unfit}
    warnings += fix_multiplexers(db)

    def signal_of(where: str, ref: Any) -> tuple[Message, Signal]:
        if not isinstance(ref, str) or "." not in ref:
            raise ctx.error(where, f'signal must be "Message.Signal", got {ref!r}')
        if ref in unfit_refs:
            raise ctx.error(where, f"signal {ref} {unfit_refs[ref]}: fix its start bit/length in the DBC")
        msg_name, sig_name = ref.split(".", 1)
        try:
            msg = db.get_message_by_name(msg_name)
        except KeyError:
            raise ctx.error(where, f"no message {msg_name!r} in {dbc_path.name}") from None
        try:
            return msg, msg.get_signal_by_name(sig_name)
        except KeyError:
            near = difflib.get_close_matches(sig_name, [s.name for s in msg.signals], n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ctx.error(where, f"no signal {sig_name!r} in message {msg_name}{hint}") from None

    metrics: list[MetricSpec] = []
    for metric, entry in ctx.table("[metrics]", doc.get("metrics", {})).items():
        where = f"[metrics] {metric!r}"
        entry = ctx.table(where, entry)
        ctx.keys(where, entry, METRIC_KEYS)
        ctx.metric_name(where, metric, entry)
        if "signal" not in entry:
            raise ctx.error(where, 'no signal: expected signal = "Message.Signal"')
        metrics.append(_metric_spec(ctx, where, metric, entry, *signal_of(where, entry["signal"])))

    by_metric = {m.metric: m for m in metrics}
    computed: list[ComputedSpec] = []
    hidden: list[MetricSpec] = []
    for metric, entry in ctx.table("[computed]", doc.get("computed", {})).items():
        where = f"[computed] {metric!r}"
        entry = ctx.table(where, entry)
        ctx.keys(where, entry, COMPUTED_KEYS)
        ctx.metric_name(where, metric, entry)
        if metric in by_metric:
            raise ctx.error(where, "also in [metrics]: a metric comes from one place")
        spec, inputs = _computed_spec(ctx, where, metric, entry, db, by_metric, signal_of, len(hidden))
        computed.append(spec)
        hidden += inputs

    commands: dict[str, CommandSpec] = {}
    for cname, entry in ctx.table("[commands]", doc.get("commands", {})).items():
        where = f"[commands] {cname!r}"
        entry = ctx.table(where, entry)
        ctx.keys(where, entry, COMMAND_KEYS)
        frames_doc = entry.get("frames", [entry] if "message" in entry else [])
        frames = []
        for fdoc in frames_doc:
            fdoc = ctx.table(where, fdoc)
            ctx.keys(where, fdoc, FRAME_KEYS)
            msg_name = fdoc.get("message")
            signals = ctx.table(where, fdoc.get("signals", {}))
            try:
                msg = db.get_message_by_name(str(msg_name))
            except KeyError:
                raise ctx.error(where, f"no message {msg_name!r} in {dbc_path.name}") from None
            for sig_name in signals:
                try:
                    msg.get_signal_by_name(sig_name)
                except KeyError:
                    raise ctx.error(where, f"no signal {sig_name!r} in message {msg_name}") from None
            frames.append(CommandFrame(msg.name, dict(signals)))
        if not frames:
            raise ctx.error(where, 'no frames: expected message = "..." and signals = { ... }')
        commands[cname] = CommandSpec(cname, tuple(frames))

    polls = []
    poll_docs = doc.get("poll", [])
    if not isinstance(poll_docs, list):
        raise ctx.error("[[poll]]", "expected [[poll]] tables")
    for n, pdoc in enumerate(poll_docs):
        where = f"[[poll]] #{n + 1}"
        pdoc = ctx.table(where, pdoc)
        ctx.keys(where, pdoc, POLL_KEYS)
        values = []
        for vdoc in pdoc.get("values", []):
            vdoc = ctx.table(where, vdoc)
            ctx.keys(where, vdoc, POLL_VALUE_KEYS)
            for key in ("metric", "start", "length"):
                if key not in vdoc:
                    raise ctx.error(where, f"a value without {key}: expected metric, start, length")
            ctx.metric_name(f"{where} {vdoc['metric']!r}", vdoc["metric"], vdoc)
            values.append(PollValue(
                metric=vdoc["metric"], start=ctx.integer(where, vdoc, "start"),
                length=ctx.integer(where, vdoc, "length"), type=vdoc.get("type", "float"),
                scale=ctx.number(where, vdoc, "scale", 1), offset=ctx.number(where, vdoc, "offset", 0),
                round=ctx.integer(where, vdoc, "round"), signed=bool(vdoc.get("signed", False))))
        for key in ("name", "tx", "rx", "did"):
            if key not in pdoc:
                raise ctx.error(where, f"no {key}: expected name, tx, rx, did (and service, interval, values)")
        polls.append(PollSpec(
            name=str(pdoc["name"]), tx=ctx.integer(where, pdoc, "tx"), rx=ctx.integer(where, pdoc, "rx"),
            service=ctx.integer(where, pdoc, "service", 0x22), did=ctx.integer(where, pdoc, "did"),
            interval=dict(ctx.table(where, pdoc.get("interval", {}))), values=tuple(values),
            extended=bool(pdoc.get("extended", False))))

    return Profile(
        name=name, path=path.parent, db=db, metrics=tuple(metrics), command_specs=commands,
        polls=tuple(polls), car=dict(ctx.table("[car]", doc.get("car", {}))),
        periods=dict(ctx.table("[periods]", doc.get("periods", {}))),
        description=str(doc.get("description", "")), computed=tuple(computed), hidden=tuple(hidden),
        warnings=tuple(warnings),
    )


def _metric_spec(ctx: _Ctx, where: str, metric: str, entry: dict[str, Any], msg: Message,
                 sig: Signal) -> MetricSpec:
    mtype = entry.get("type", "float")
    if mtype not in METRIC_TYPES:
        raise ctx.error(where, f"type {mtype!r}: expected one of {', '.join(METRIC_TYPES)}")
    table = entry.get("map")
    if mtype == "choice" and table is None and not sig.choices:
        raise ctx.error(where, f"type choice but {sig.name} has no VAL_ table: add a map = {{ ... }}")
    mux = entry.get("mux")
    if mtype == "ascii" and (mux is None or sig.length % 8):
        raise ctx.error(where, "ascii needs a mux signal and a signal of whole bytes")
    if mux is not None:
        try:
            msg.get_signal_by_name(mux)
        except KeyError:
            raise ctx.error(where, f"no mux signal {mux!r} in {msg.name}") from None
    if is_multiplexed(msg) or any(s.is_float for s in msg.signals):
        log.debug("%s: %s is multiplexed/float; it decodes on the slow path", ctx.path, msg.name)
    for key in ("round", "parts"):
        ctx.integer(where, entry, key)
    unit = entry.get("unit", METRIC_UNITS.get(metric, ""))
    return MetricSpec(
        metric=metric, message=msg.name, signal=sig.name, type=mtype,
        scale=ctx.number(where, entry, "scale", 1), offset=ctx.number(where, entry, "offset", 0),
        map=_map_table(ctx, where, table, sig) if table is not None else None,
        round=entry.get("round"), mux=mux, parts=int(entry.get("parts", 1)), unit=str(unit),
    )


def _map_table(ctx: _Ctx, where: str, table: Any, sig: Signal) -> dict[int, Any]:
    """`map` keys are raw values ("3") or the signal's VAL_ names ("P"), resolved to raw values."""
    table = ctx.table(where, table)
    names = {str(v): int(k) for k, v in (sig.choices or {}).items()}
    out: dict[int, Any] = {}
    for key, value in table.items():
        try:
            raw = int(key, 0)
        except ValueError:
            if key not in names:
                have = f"; {sig.name}'s VAL_ names: {', '.join(sorted(names))}" if names else ""
                raise ctx.error(where, f"map key {key!r}: expected a raw value such as \"3\"{have}") from None
            raw = names[key]
        out[raw] = value
    return out


def _computed_spec(ctx: _Ctx, where: str, metric: str, entry: dict[str, Any], db: Database,
                   by_metric: dict[str, MetricSpec], signal_of: Any,
                   first: int) -> tuple[ComputedSpec, list[MetricSpec]]:
    op = entry.get("op")
    if op not in COMPUTED_OPS:
        raise ctx.error(where, f"op {op!r}: expected one of {', '.join(COMPUTED_OPS)}")
    refs = entry.get("inputs")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise ctx.error(where, 'inputs: expected a list of metrics or "Message.Signal" (globs allowed)')
    expanded: list[str] = []
    for ref in refs:
        if ref in by_metric or not any(c in ref for c in "*?["):
            expanded.append(ref)
            continue
        hits = [f"{m.name}.{s.name}" for m in db.messages for s in m.signals
                if fnmatch.fnmatchcase(f"{m.name}.{s.name}", ref)]
        if not hits:
            raise ctx.error(where, f"input {ref!r} matches no signal")
        expanded += hits
    if op == "product" and len(expanded) < 2:
        raise ctx.error(where, "product needs at least two inputs")
    inputs: list[MetricSpec] = []
    parts: list[tuple[int, str]] = []
    for i, ref in enumerate(expanded):
        hidden_name = f"{HIDDEN}{first + i}:{metric}"
        if ref in by_metric and op != "text":
            base = by_metric[ref]
            if base.type in ("ascii", "choice", "bool") or base.map is not None:
                raise ctx.error(where, f"input {ref!r} is not a number")
            inputs.append(replace(base, metric=hidden_name))
            continue
        msg, sig = signal_of(where, ref)
        if op == "text":
            if sig.length % 8 or sig.is_signed or sig.scale != 1 or sig.offset != 0 or sig.is_float:
                raise ctx.error(where, f"text input {ref} must be unsigned whole bytes with scale 1, offset 0")
            parts.append((sig.length // 8, "little" if sig.byte_order == "little_endian" else "big"))
            inputs.append(MetricSpec(metric=hidden_name, message=msg.name, signal=sig.name, type="int"))
        else:
            inputs.append(MetricSpec(metric=hidden_name, message=msg.name, signal=sig.name))
    spec = ComputedSpec(
        metric=metric, op=op, inputs=tuple(s.metric for s in inputs),
        scale=ctx.number(where, entry, "scale", 1), offset=ctx.number(where, entry, "offset", 0),
        round=ctx.integer(where, entry, "round"), unit=str(entry.get("unit", METRIC_UNITS.get(metric, ""))),
        text_parts=tuple(parts))
    return spec, inputs


# -- DBC checks at load time (so the hot path needs none) ---------------------------------------------
def load_dbc(dbc_path: Path, strict: bool = True, tolerant: bool = False,
             where: str = "") -> tuple[Database, list[str]]:
    """cantools' load, or with `tolerant` the repair pre-pass first; (db, what was repaired)."""
    from can_bus.dbc_repair import fix_switch_case, repair_dbc

    notes: list[str] = []
    try:
        text = dbc_path.read_text(encoding="cp1252", errors="replace")
    except OSError as exc:
        raise ProfileError(f"{where or dbc_path}: cannot read DBC {dbc_path}: {exc}") from exc
    if tolerant:
        text, repairs = repair_dbc(text)
        notes += [f"{dbc_path.name} repaired: {r}" for r in repairs]
    text, switches = fix_switch_case(text)
    notes += [f"{dbc_path.name} {r}" for r in switches]
    try:
        db = cantools.database.load_string(text, database_format="dbc", strict=strict)
    except Exception as exc:  # cantools raises many types (ParseError, UnsupportedDatabaseFormatError, ...)
        hint = ("" if tolerant else
                " — if this is one of the common real-world DBC defects (a signal comment without a"
                " signal name, an extended id without its flag, a scale written .25, a VAL_ for a signal"
                " of another message, a CM_ with a bare id), set tolerant = true in profile.toml to"
                " repair them on load (each repair is reported by `tcu profile check`)")
        strict_hint = "; strict = false accepts overlapping signals" if strict else ""
        raise ProfileError(f"{where or dbc_path}: cannot load DBC {dbc_path}: {exc}{hint}{strict_hint}") from exc
    if not isinstance(db, Database):
        raise ProfileError(f"{where or dbc_path}: {dbc_path} is not a CAN database")
    return db, notes


def signal_bits(signal: Signal, length: int) -> tuple[int, int]:
    """(lowest, highest) bit of `signal` in the frame as one big-endian integer of `length` bytes.

    Little-endian signals are numbered in the little-endian integer instead; both must lie in
    0 .. 8*length-1 for the signal to fit.
    """
    if signal.byte_order == "little_endian":
        return signal.start, signal.start + signal.length - 1
    msb = (length - 1 - signal.start // 8) * 8 + signal.start % 8
    return msb - (signal.length - 1), msb


def signal_fits(signal: Signal, length: int) -> bool:
    lo, hi = signal_bits(signal, length)
    return signal.length > 0 and lo >= 0 and hi < 8 * length and signal.start // 8 < max(length, 1)


def drop_unfit_signals(db: Database) -> list[tuple[str, str, str]]:
    """Remove signals that run past the end of their message (cantools cannot decode such a
    message at all, and a shift past the frame would invent bits): (message, signal, why) each."""
    dropped = []
    for msg in db.messages:
        bad = [s for s in msg.signals if not signal_fits(s, msg.length)]
        if not bad:
            continue
        for sig in bad:
            msg.signals.remove(sig)
            dropped.append((msg.name, sig.name,
                            f"runs past the end of its {msg.length}-byte message (start bit {sig.start}, "
                            f"{sig.length} bits, {sig.byte_order.replace('_', '-')})"))
        msg.refresh(strict=False)
    return dropped


def is_multiplexed(message: Message) -> bool:
    """From the signals' multiplexer ids, not cantools' is_multiplexed() (blind to a lower-case `m`)."""
    return any(s.is_multiplexer or s.multiplexer_ids for s in message.signals)


def fix_multiplexers(db: Database) -> list[str]:
    """A switch written `m` instead of `M` is not a switch to cantools, which then decodes every
    page's signals from every frame: make it one (notes of what was changed)."""
    notes = []
    for msg in db.messages:
        names = {s.multiplexer_signal for s in msg.signals if s.multiplexer_ids and s.multiplexer_signal}
        fixed = False
        for sig in msg.signals:
            if sig.name in names and not sig.is_multiplexer:
                sig.is_multiplexer = True
                fixed = True
                notes.append(f"{msg.name}.{sig.name}: multiplexer switch written 'm'; taken as 'M'")
        if fixed:
            msg.refresh(strict=False)
    return notes
