"""Vehicle profiles: a DBC file plus a TOML mapping from DBC signals to OVMS metrics and commands.

A profile is data, not code, so a user adds a car by dropping a directory into `can_bus/profiles/`
(or anywhere, loaded by path): `<dir>/profile.toml` names the DBC beside it. cantools loads the DBC;
`can_bus.fastdecode` compiles the used messages into per-ID closures for the hot path, and the
slow reference path here (cantools `decode`) exists to check it.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cantools
from cantools.database.can import Database, Message, Signal
from cantools.database.namedsignalvalue import NamedSignalValue

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

    # -- lookup --------------------------------------------------------------------------------
    @property
    def commands(self) -> tuple[str, ...]:
        """The commands this car accepts, in the firmware's canonical order."""
        return tuple(n for n in COMMAND_NAMES if n in self.command_specs) + tuple(
            sorted(n for n in self.command_specs if n not in COMMAND_NAMES))

    @cached_property
    def units(self) -> dict[str, str]:
        return {m.metric: m.unit for m in self.metrics}

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
        """Slow, obviously right: cantools decode + the mapping. Ascii (multi-part) metrics skipped."""
        message = self.db.get_message_by_frame_id(arbitration_id)
        signals = decode_signals(message, data, decode_choices=False, scaling=True)
        out: dict[str, Any] = {}
        for spec in self.metrics:
            if spec.message != message.name or spec.type == "ascii":
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
        values = {s.name: _default_value(s) for s in message.signals}
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


def decode_signals(message: Message, data: bytes, **options: Any) -> dict[str, Any]:
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


def _load(path: Path) -> Profile:
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    name = doc.get("name", path.parent.name)
    dbc_path = path.parent / doc.get("dbc", "")
    try:
        db = cantools.database.load_file(str(dbc_path), strict=doc.get("strict", True))
    except Exception as exc:
        raise ProfileError(f"{path}: cannot load DBC {dbc_path}: {exc}") from exc
    if not isinstance(db, Database):
        raise ProfileError(f"{path}: {dbc_path} is not a CAN database")

    def signal_of(ref: str) -> tuple[Message, Signal]:
        try:
            msg_name, sig_name = ref.split(".", 1)
            msg = db.get_message_by_name(msg_name)
            return msg, msg.get_signal_by_name(sig_name)
        except (ValueError, KeyError) as exc:
            raise ProfileError(f"{path}: no signal {ref!r} in {dbc_path.name}") from exc

    metrics = []
    for metric, entry in doc.get("metrics", {}).items():
        msg, sig = signal_of(entry["signal"])
        mtype = entry.get("type", "float")
        if mtype not in METRIC_TYPES:
            raise ProfileError(f"{path}: {metric}: type must be one of {METRIC_TYPES}")
        table = entry.get("map")
        if mtype == "choice" and table is None and not sig.choices:
            raise ProfileError(f"{path}: {metric}: type choice but {sig.name} has no VAL_ table")
        mux = entry.get("mux")
        if mtype == "ascii" and (mux is None or sig.length % 8):
            raise ProfileError(f"{path}: {metric}: ascii needs a mux signal and whole bytes")
        if mux is not None:
            try:
                msg.get_signal_by_name(mux)
            except KeyError as exc:
                raise ProfileError(f"{path}: {metric}: no mux signal {mux} in {msg.name}") from exc
        if msg.is_multiplexed() or any(s.is_float for s in msg.signals):
            log.info("profile %s: %s is multiplexed/float; it decodes on the slow path", name, msg.name)
        metrics.append(MetricSpec(
            metric=metric, message=msg.name, signal=sig.name, type=mtype,
            scale=entry.get("scale", 1), offset=entry.get("offset", 0),
            map={int(k): v for k, v in table.items()} if table is not None else None,
            round=entry.get("round"), mux=mux, parts=int(entry.get("parts", 1)),
            unit=entry.get("unit", METRIC_UNITS.get(metric, "")),
        ))

    commands: dict[str, CommandSpec] = {}
    for cname, entry in doc.get("commands", {}).items():
        frames_doc = entry.get("frames", [entry] if "message" in entry else [])
        frames = []
        for fdoc in frames_doc:
            msg_name = fdoc["message"]
            try:
                msg = db.get_message_by_name(msg_name)
                for sig_name in fdoc.get("signals", {}):
                    msg.get_signal_by_name(sig_name)
            except KeyError as exc:
                raise ProfileError(f"{path}: command {cname}: {exc}") from exc
            frames.append(CommandFrame(msg_name, dict(fdoc.get("signals", {}))))
        if not frames:
            raise ProfileError(f"{path}: command {cname} has no frames")
        commands[cname] = CommandSpec(cname, tuple(frames))

    polls = []
    for pdoc in doc.get("poll", []):
        values = tuple(PollValue(
            metric=v["metric"], start=v["start"], length=v["length"], type=v.get("type", "float"),
            scale=v.get("scale", 1), offset=v.get("offset", 0), round=v.get("round"),
            signed=v.get("signed", False)) for v in pdoc.get("values", []))
        polls.append(PollSpec(
            name=pdoc["name"], tx=pdoc["tx"], rx=pdoc["rx"], service=pdoc.get("service", 0x22),
            did=pdoc["did"], interval=dict(pdoc.get("interval", {})), values=values,
            extended=pdoc.get("extended", False)))

    return Profile(
        name=name, path=path.parent, db=db, metrics=tuple(metrics), command_specs=commands,
        polls=tuple(polls), car=dict(doc.get("car", {})), periods=dict(doc.get("periods", {})),
        description=doc.get("description", ""),
    )

