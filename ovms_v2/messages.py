"""OVMS v2 message payloads (spec §3): one frozen dataclass per code, symmetric encode()/decode().

A payload is what follows "MP-0 " on a line: one code character, then comma-separated fields.
Telemetry fields (S, D, L, W, F) stay as the wire text, because the server stores and relays text and
an app decides how to show it (`as_int`/`as_float` help); protocol-control fields (command numbers,
record ids, counts) are ints because code branches on them. An empty telemetry field is how OVMS says
"not known" (the v3 firmware's `Y` values, the spec's charge-mode word, our unit for any metric it
never read): it stays "" through decode and encode, never 0, and `as_int`/`as_float` give None for it.

Tolerance rules (spec §3): unknown codes decode to `Unknown`; extra trailing fields are kept in
`extra` and re-emitted; missing fields take their defaults. Fields that carry free text with commas
(P text, C params, c text, H/h data) take "the rest of the line", as the firmware and server do.
Peer mistakes raise `MessageError` (never anything else).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import ClassVar

_INT_RE = re.compile(r"-?[0-9]+\Z")


class MessageError(ValueError):
    """The peer sent a payload that cannot be read (e.g. a command number that is not a number)."""


def as_int(text: str, default: int | None = None) -> int | None:
    """A wire field as an int, or `default` when it is empty or not a number."""
    try:
        return int(float(text)) if text.strip() else default
    except ValueError:
        return default


def as_float(text: str, default: float | None = None) -> float | None:
    """A wire field as a float, or `default` when it is empty or not a number."""
    try:
        return float(text) if text.strip() else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Message:
    """Base class: subclasses list their fields in order; ints are protocol-control fields."""

    CODE: ClassVar[str] = ""
    # True when the last declared field takes the remainder of the line (may contain commas).
    REST: ClassVar[bool] = False

    def encode(self) -> str:
        """The payload text (code + fields), without the "MP-0 " prefix."""
        names, has_extra = _layout(type(self))
        d = self.__dict__
        parts = [v if type(v) is str else str(v) for v in [d[n] for n in names]]
        if has_extra:
            parts.extend(d["extra"])
        fixed = len(parts) - 1 if self.REST else len(parts)
        # Fast check: a fixed field with a comma would shift every later field (our bug, not the peer's).
        if sum(p.count(",") for p in parts[:fixed]):
            bad = next(p for p in parts[:fixed] if "," in p)
            raise ValueError(f"{type(self).__name__}: a fixed field must not contain a comma: {bad!r}")
        return self.CODE + ",".join(parts)

    @classmethod
    def decode_fields(cls, data: str) -> Message:
        """Build from the text after the code character."""
        flds = [f for f in _fields(cls) if f.name != "extra"]
        has_extra = any(f.name == "extra" for f in _fields(cls))
        if not flds:
            return cls()
        if cls.REST:
            values = data.split(",", len(flds) - 1) if data != "" else []
        else:
            values = data.split(",") if data != "" else []
        kwargs: dict[str, object] = {}
        for f, raw in zip(flds, values, strict=False):
            if f.type in ("int", int):
                if raw == "":
                    continue
                if not _INT_RE.match(raw):
                    raise MessageError(f"{cls.CODE}: field {f.name} is not a number: {raw[:40]!r}")
                kwargs[f.name] = int(raw)
            else:
                kwargs[f.name] = raw
        if has_extra and len(values) > len(flds):
            kwargs["extra"] = tuple(values[len(flds):])
        return cls(**kwargs)  # type: ignore[arg-type]


_FIELD_CACHE: dict[type, tuple[dataclasses.Field, ...]] = {}
_LAYOUT_CACHE: dict[type, tuple[tuple[str, ...], bool]] = {}


def _layout(cls: type) -> tuple[tuple[str, ...], bool]:
    """(field names without `extra`, has `extra`) for a message class, cached."""
    got = _LAYOUT_CACHE.get(cls)
    if got is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        got = _LAYOUT_CACHE[cls] = (tuple(n for n in names if n != "extra"), "extra" in names)
    return got


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    got = _FIELD_CACHE.get(cls)
    if got is None:
        got = dataclasses.fields(cls)
        _FIELD_CACHE[cls] = got
    return got


# --- telemetry (C→S→A), stored by the server, one per code -----------------------------------------

@dataclass(frozen=True)
class Status(Message):
    """`S`: 34 fields, firmware 3.1.4 order (spec §3)."""

    CODE: ClassVar[str] = "S"
    soc: str = ""
    units: str = ""
    line_voltage: str = ""
    charge_current: str = ""
    charge_state: str = ""
    charge_mode: str = ""
    ideal_range: str = ""
    est_range: str = ""
    charge_limit: str = ""
    charge_duration: str = ""
    charger_b4: str = ""
    charge_kwh_tenths: str = ""
    charge_substate: str = ""
    charge_state_num: str = ""
    charge_mode_num: str = ""
    timer_mode: str = ""
    timer_start: str = ""
    stale: str = ""
    cac: str = ""
    mins_to_full: str = ""
    mins_to_limit: str = ""
    range_limit: str = ""
    soc_limit: str = ""
    cooldown_active: str = ""
    cooldown_temp_limit: str = ""
    cooldown_time_left: str = ""
    charge_time_estimate: str = ""
    etr_range_limit: str = ""
    etr_soc_limit: str = ""
    max_ideal_range: str = ""
    charge_type: str = ""
    charge_power_kw: str = ""
    battery_voltage: str = ""
    soh: str = ""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment(Message):
    """`D`: 20 fields + cabin temperature (v3) (spec §3). Door words are bit-fields."""

    CODE: ClassVar[str] = "D"
    doors1: str = ""
    doors2: str = ""
    lock_state: str = ""
    temp_pem: str = ""
    temp_motor: str = ""
    temp_battery: str = ""
    trip_tenths: str = ""
    odometer_tenths: str = ""
    speed: str = ""
    park_seconds: str = ""
    temp_ambient: str = ""
    doors3: str = ""
    stale_temps: str = ""
    stale_ambient: str = ""
    v12_line: str = ""
    doors4: str = ""
    v12_ref: str = ""
    doors5: str = ""
    temp_charger: str = ""
    i12_current: str = ""
    temp_cabin: str = ""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location(Message):
    """`L`: 12 fields; lat/lon signed decimal degrees with 6 decimals (spec §3)."""

    CODE: ClassVar[str] = "L"
    latitude: str = ""
    longitude: str = ""
    direction: str = ""
    altitude: str = ""
    gps_lock: str = ""
    stale_gps: str = ""
    speed: str = ""
    trip_tenths: str = ""
    drive_mode: str = ""
    power_kw: str = ""
    energy_used_wh: str = ""
    energy_recovered_wh: str = ""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tpms(Message):
    """`W`: 4 × (pressure psi, temp °C) in FR, RR, FL, RL order, then stale (spec §3)."""

    CODE: ClassVar[str] = "W"
    fr_pressure: str = "0"
    fr_temp: str = "0"
    rr_pressure: str = "0"
    rr_temp: str = "0"
    fl_pressure: str = "0"
    fl_temp: str = "0"
    rl_pressure: str = "0"
    rl_temp: str = "0"
    stale: str = "-1"
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Firmware(Message):
    """`F`: firmware string, VIN, GSM signal (CSQ), CAN-write flag, car type, operator (spec §3)."""

    CODE: ClassVar[str] = "F"
    firmware: str = ""
    vin: str = ""
    signal: str = ""
    can_write: str = ""
    car_type: str = ""
    operator: str = ""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities(Message):
    """`V`: capability items, e.g. ("C1-6", "C40-41", "C49") (spec §3)."""

    CODE: ClassVar[str] = "V"
    items: tuple[str, ...] = ()

    def encode(self) -> str:
        for item in self.items:
            if "," in item:
                raise ValueError(f"capability item must not contain a comma: {item!r}")
        return self.CODE + ",".join(self.items)

    @classmethod
    def decode_fields(cls, data: str) -> Capabilities:
        return cls(tuple(data.split(",")) if data else ())

    def commands(self) -> frozenset[int]:
        """Command numbers the car announces (`C<n>` or `C<lo>-<hi>` items)."""
        out: set[int] = set()
        for item in self.items:
            m = re.fullmatch(r"C([0-9]{1,4})(?:-([0-9]{1,4}))?", item)
            if m:
                lo = int(m.group(1))
                hi = int(m.group(2)) if m.group(2) else lo
                out.update(range(lo, min(hi, lo + 1000) + 1))
        return frozenset(out)


@dataclass(frozen=True)
class PushAlert(Message):
    """`P`: one type char (`A` alert/info, `E` error code) + text; text may contain commas."""

    CODE: ClassVar[str] = "P"
    kind: str = "A"
    text: str = ""

    def encode(self) -> str:
        if len(self.kind) != 1 and (self.kind or self.text):
            raise ValueError("push alert kind must be one character")
        return self.CODE + self.kind + self.text

    @classmethod
    def decode_fields(cls, data: str) -> PushAlert:
        if not data:
            return cls(kind="", text="")
        return cls(kind=data[0], text=data[1:])


# --- commands ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command(Message):
    """`C`: `<cmd>[,<params>]`, app → server → car (spec §4 for numbers)."""

    CODE: ClassVar[str] = "C"
    REST: ClassVar[bool] = True
    cmd: int = 0
    params: str = ""

    def encode(self) -> str:
        return f"C{self.cmd}" + (f",{self.params}" if self.params else "")

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(self.params.split(",")) if self.params else ()


@dataclass(frozen=True)
class CommandReply(Message):
    """`c`: `<cmd>,<result>[,<text>]`; result 0 ok, 1 failed, 2 unsupported, 3 unimplemented.

    Multi-line replies (cmds 1 and 3) carry `<index>,<count>,<value>` in `text` (see `index`/`count`).
    """

    CODE: ClassVar[str] = "c"
    REST: ClassVar[bool] = True
    cmd: int = 0
    result: int = 0
    text: str = ""

    def encode(self) -> str:
        return f"c{self.cmd},{self.result}" + (f",{self.text}" if self.text else "")

    def _multi(self) -> tuple[int, int] | None:
        parts = self.text.split(",", 2)
        if self.result != 0 or len(parts) < 2 or not (_INT_RE.match(parts[0]) and _INT_RE.match(parts[1])):
            return None
        return int(parts[0]), int(parts[1])

    @property
    def is_final(self) -> bool:
        """False while a multi-line reply has more lines to come (index < count-1, spec §3 `c`)."""
        if self.cmd not in MULTILINE_COMMANDS:
            return True
        m = self._multi()
        return m is None or m[0] >= m[1] - 1


# --- protocol control ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ping(Message):
    """`A`: ping; the peer answers `a`."""

    CODE: ClassVar[str] = "A"

    def encode(self) -> str:
        return "A"

    @classmethod
    def decode_fields(cls, data: str) -> Ping:
        return cls()


@dataclass(frozen=True)
class PingAck(Message):
    """`a`: ping answer."""

    CODE: ClassVar[str] = "a"

    def encode(self) -> str:
        return "a"

    @classmethod
    def decode_fields(cls, data: str) -> PingAck:
        return cls()


@dataclass(frozen=True)
class Time(Message):
    """`T`: seconds since the car's last update (server → app)."""

    CODE: ClassVar[str] = "T"
    seconds: int = 0


@dataclass(frozen=True)
class Peers(Message):
    """`Z`: to a car, the number of interactive apps; to an app, 1/0 car connected."""

    CODE: ClassVar[str] = "Z"
    count: int = 0


@dataclass(frozen=True)
class ServerVersion(Message):
    """`f`: the server's version string, sent to apps after each `F`."""

    CODE: ClassVar[str] = "f"
    REST: ClassVar[bool] = True
    version: str = ""


@dataclass(frozen=True)
class History(Message):
    """`H`: `<type>,<recno>,<lifetime s>,<data>` (not acknowledged)."""

    CODE: ClassVar[str] = "H"
    REST: ClassVar[bool] = True
    rtype: str = ""
    recno: int = 0
    lifetime: int = 0
    data: str = ""


@dataclass(frozen=True)
class AckedHistory(Message):
    """`h` from the car: `<ack>,<timediff s>,<type>,<recno>,<lifetime>,<data>`; server answers `h<ack>`."""

    CODE: ClassVar[str] = "h"
    REST: ClassVar[bool] = True
    ack: int = 0
    timediff: int = 0
    rtype: str = ""
    recno: int = 0
    lifetime: int = 0
    data: str = ""


@dataclass(frozen=True)
class HistoryAck(Message):
    """`h<ack>` from the server: the record sent with that ack number is stored."""

    CODE: ClassVar[str] = "h"
    ack: int = 0


@dataclass(frozen=True)
class GroupLocation(Message):
    """`g` car → server: `<group>,SOC,speed,direction,altitude,gpslock,stalegps,lat,lon`."""

    CODE: ClassVar[str] = "g"
    group: str = ""
    soc: str = ""
    speed: str = ""
    direction: str = ""
    altitude: str = ""
    gps_lock: str = ""
    stale_gps: str = ""
    latitude: str = ""
    longitude: str = ""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupRelay(Message):
    """`g` server → app: `<vehicleid>,` followed by the car's group location fields."""

    CODE: ClassVar[str] = "g"
    REST: ClassVar[bool] = True
    vehicle_id: str = ""
    location: str = ""


@dataclass(frozen=True)
class GroupSubscribe(Message):
    """`G` app → server: subscribe to a group."""

    CODE: ClassVar[str] = "G"
    REST: ClassVar[bool] = True
    group: str = ""


@dataclass(frozen=True)
class PushSubscription(Message):
    """`p` app → server: `<appid>,<pushtype>,<pushkeytype>,<vehicleid>,<netpass>,<pushkeyvalue>`."""

    CODE: ClassVar[str] = "p"
    REST: ClassVar[bool] = True
    appid: str = ""
    pushtype: str = ""
    pushkeytype: str = ""
    vehicle_id: str = ""
    netpass: str = ""
    pushkeyvalue: str = ""


@dataclass(frozen=True)
class ParanoidToken(Message):
    """`ET<ptoken>`: the car announces its paranoid token (spec §3 `E`)."""

    CODE: ClassVar[str] = "E"
    token: str = ""

    def encode(self) -> str:
        return "ET" + self.token


@dataclass(frozen=True)
class ParanoidMessage(Message):
    """`EM<code><base64 data>`: a payload encrypted end to end car ↔ app; the server relays it blindly."""

    CODE: ClassVar[str] = "E"
    inner_code: str = ""
    data: str = ""

    def encode(self) -> str:
        if len(self.inner_code) != 1:
            raise ValueError("paranoid inner code must be one character")
        return "EM" + self.inner_code + self.data


@dataclass(frozen=True)
class Unknown(Message):
    """Any code we do not model (e.g. `R`/`r` replication): kept as text so it can be relayed."""

    code: str = ""
    data: str = ""

    def encode(self) -> str:
        return self.code + self.data


_BY_CODE: dict[str, type[Message]] = {
    cls.CODE: cls
    for cls in (Status, Environment, Location, Tpms, Firmware, Capabilities, PushAlert, Command,
                CommandReply, Ping, PingAck, Time, Peers, ServerVersion, History, GroupSubscribe,
                PushSubscription)
}

# Codes whose latest car message the server stores and replays (spec §3).
STORED_CODES = frozenset("SDLWFV")


def decode(payload: str, from_server: bool = False) -> Message:
    """Parse a payload (text after "MP-0 "). `from_server` picks the layout of the two-faced `g`.

    Raises MessageError for an empty payload or unreadable control fields.
    """
    if not payload:
        raise MessageError("empty payload")
    code, data = payload[0], payload[1:]
    if code == "h":
        if "," in data or data == "":
            return AckedHistory.decode_fields(data)
        return HistoryAck.decode_fields(data)
    if code == "g":
        return GroupRelay.decode_fields(data) if from_server else GroupLocation.decode_fields(data)
    if code == "E":
        if data.startswith("T"):
            return ParanoidToken(token=data[1:])
        if data.startswith("M") and len(data) >= 2:
            return ParanoidMessage(inner_code=data[1], data=data[2:])
        return Unknown(code="E", data=data)
    cls = _BY_CODE.get(code)
    if cls is None:
        return Unknown(code=code, data=data)
    return cls.decode_fields(data)


# --- §4 command codes ---------------------------------------------------------------------------------
CMD_FEATURES = 1            # list features: c1,0,<n>,16,<value>
CMD_SET_FEATURE = 2         # feature,value
CMD_PARAMETERS = 3          # list parameters: c3,0,<n>,32,<value>
CMD_SET_PARAMETER = 4       # param,value
CMD_REBOOT = 5
CMD_CHARGE_ALERT = 6
CMD_SMS = 7                 # SMS command text; reply text LF→CR, ','→';'
CMD_CHARGE_MODE = 10        # mode (0,1,3,4)
CMD_CHARGE_START = 11
CMD_CHARGE_STOP = 12
CMD_CHARGE_CURRENT = 15     # amps
CMD_CHARGE_MODE_CURRENT = 16  # mode,amps
CMD_CHARGE_TIMER = 17       # timermode,start
CMD_WAKEUP = 18
CMD_WAKEUP_TEMPS = 19
CMD_LOCK = 20               # pin
CMD_VALET_ON = 21           # pin
CMD_UNLOCK = 22             # pin
CMD_VALET_OFF = 23          # pin
CMD_HOMELINK = 24           # button 0-2
CMD_COOLDOWN = 25
CMD_CLIMATE = 26            # mode
CMD_SERVER_GPRS = 30        # answered by the server
CMD_SERVER_HISTORY_SUMMARY = 31
CMD_SERVER_HISTORY = 32
CMD_SEND_SMS = 40           # number,text
CMD_USSD = 41               # ussd
CMD_RAW_AT = 49             # raw AT command

MULTILINE_COMMANDS = frozenset({CMD_FEATURES, CMD_PARAMETERS, CMD_SERVER_GPRS,
                                CMD_SERVER_HISTORY_SUMMARY, CMD_SERVER_HISTORY})

# Reply results (spec §3 `c`).
RESULT_OK = 0
RESULT_FAILED = 1
RESULT_UNSUPPORTED = 2
RESULT_UNIMPLEMENTED = 3

COMMAND_NAMES: dict[int, str] = {
    CMD_FEATURES: "list features", CMD_SET_FEATURE: "set feature", CMD_PARAMETERS: "list parameters",
    CMD_SET_PARAMETER: "set parameter", CMD_REBOOT: "reboot", CMD_CHARGE_ALERT: "charge alert",
    CMD_SMS: "SMS command", CMD_CHARGE_MODE: "set charge mode", CMD_CHARGE_START: "start charge",
    CMD_CHARGE_STOP: "stop charge", CMD_CHARGE_CURRENT: "set charge current",
    CMD_CHARGE_MODE_CURRENT: "set charge mode and current", CMD_CHARGE_TIMER: "charge timer",
    CMD_WAKEUP: "wake up car", CMD_WAKEUP_TEMPS: "wake up temperature subsystem", CMD_LOCK: "lock",
    CMD_VALET_ON: "valet mode on", CMD_UNLOCK: "unlock", CMD_VALET_OFF: "valet mode off",
    CMD_HOMELINK: "homelink", CMD_COOLDOWN: "cooldown", CMD_CLIMATE: "climate control",
    CMD_SERVER_GPRS: "GPRS usage", CMD_SERVER_HISTORY_SUMMARY: "history summary",
    CMD_SERVER_HISTORY: "history records", CMD_SEND_SMS: "send SMS", CMD_USSD: "USSD",
    CMD_RAW_AT: "raw AT command",
}
RESULT_NAMES: dict[int, str] = {
    RESULT_OK: "ok", RESULT_FAILED: "failed", RESULT_UNSUPPORTED: "unsupported",
    RESULT_UNIMPLEMENTED: "unimplemented",
}
