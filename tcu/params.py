"""Parameters: what a person configures (TOML file, command-line flags) and what SMS/server commands change.

Layers, lowest first: built-in defaults < config file (TOML) < environment (passwords) < flags <
runtime overrides (SQLite, written by `PASS`, `SERVER`, `GPRS`, `REGISTER` and server commands 2/4).

Precedence across a restart — the newer change wins: a value set by SMS or the server is kept, and
beats the file, the environment and the flags, for as long as that setting's file/flag value stays
what it was when the change was made (each override stores a fingerprint of it). Once the file or
flag for that setting says something else, someone edited it after the SMS: the file/flag wins and
the stored change is dropped. So an owner's `REGISTER` survives `systemctl restart` with the same
`--owner`, and an edited config file is never silently ignored. Either way the start logs one INFO
line per setting concerned, and `tcu state` shows every value with its origin (`provenance`).
Overrides written by an older version (no fingerprint) keep winning, as they did. `reset(name)`
drops an override.

Every value is validated on the way in and errors name the setting (`server: expected HOST[:PORT],
got 'a:b:c'`), so `tcu run` stops at start with a message a person can act on. Secret parameters are
flagged: they are never logged, never shown by `PARAMS?`, and offered to the log redactor.

The runtime layer lives in `params.db` in the state directory. `Params.open` checks it at start
(`tcu.db_check`: a damaged file is set aside, what can be read kept); when the directory cannot be
used at all, or a write fails later (disk full), the change still takes effect in memory, is written
with the next write that succeeds, and the fault is reported (`guard`, `store_fault`, `damage`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcu.db_check import Damage, open_checked
from tcu.phone import normalise_number
from tcu.sqlite_store import open_db, storage_fault, transaction
from tcu.storage_guard import StorageGuard

log = logging.getLogger(__name__)

OVMS_DEFAULT_PORT = 6867  # OVMS v2 server protocol, plain TCP
MQTT_DEFAULT_PORT = 1883  # MQTT over plain TCP (IANA)

ParamValue = str | int | float | bool


class ConfigError(ValueError):
    """A setting is missing or invalid; the message starts with the setting's name."""


# -- parsers: take a value from TOML, a flag or an SMS word, return the normalised value ----------

def _text(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {v!r}")
    if any(ord(c) < 32 for c in v):
        raise ValueError("control characters are not allowed")
    return v.strip()


def _password(v: object) -> str:
    s = _text(v)
    if s and (len(s) < 4 or " " in s):
        raise ValueError("expected at least 4 characters and no spaces")
    return s


def _owner(v: object) -> str:
    s = _text(v)
    if not s:
        return ""
    return normalise_number(s)


_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*")


def _server(v: object, default_port: int = OVMS_DEFAULT_PORT) -> str:
    s = _text(v)
    if not s:
        return ""
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?", s)
    if not m or not (m.group(1).startswith("[") or _HOST.fullmatch(m.group(1))):
        raise ValueError(f"expected HOST[:PORT], got {s!r}")
    port = int(m.group(2)) if m.group(2) else default_port
    if not 1 <= port <= 65535:
        raise ValueError(f"expected HOST[:PORT] with port 1-65535, got {s!r}")
    return f"{m.group(1)}:{port}"


def _mqtt_server(v: object) -> str:
    return _server(v, MQTT_DEFAULT_PORT)


SERVER_KINDS = ("ovms", "mqtt")   # OVMS v2 (`server`), MQTT as OVMS v3 lays it out (`mqtt_server`)


def _servers(v: object) -> str:
    """Which servers the unit reports to: `ovms`, `mqtt` or both (`ovms,mqtt`, `both`)."""
    s = _text(v).lower()
    names = list(SERVER_KINDS) if s == "both" else [n.strip() for n in s.split(",") if n.strip()]
    bad = [n for n in names if n not in SERVER_KINDS]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"expected ovms, mqtt or both, got {s!r}")
    return ",".join(n for n in SERVER_KINDS if n in names)


def _vehicle_id(v: object) -> str:
    s = _text(v)
    if s and not re.fullmatch(r"[A-Za-z0-9_\-]{1,32}", s):
        raise ValueError(f"expected 1-32 letters, digits, '-' or '_', got {s!r}")
    return s


def _bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("1", "yes", "on", "true"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("0", "no", "off", "false", ""):
        return False
    raise ValueError(f"expected yes/no, got {v!r}")


def _paranoid(v: object) -> bool:
    if _bool(v):
        raise ValueError("paranoid mode is not supported; set it to false")
    return False


def _modem_mux(v: object) -> str:
    """GSM 07.10 multiplexing of the modem line (issue 16): auto, on or off."""
    mode = _text(v).lower()
    if mode in ("auto", "on", "off"):
        return mode
    raise ValueError(f"expected auto, on or off, got {mode!r}")


def _power_key(v: object) -> str:
    """How the unit pulses the modem's power key: `none`, `gpio:<pin>` or `virtual:<control socket>`."""
    spec = _text(v)
    kind, _, target = spec.partition(":")
    if (kind == "none" and not target) or (kind in ("gpio", "virtual") and target):
        return spec
    raise ValueError(f"expected none, gpio:<pin> or virtual:<socket path>, got {spec!r}")


def _tz(v: object) -> int:
    """Minutes east of UTC, from 60, "+01:00", "-0530" or "UTC"."""
    if isinstance(v, bool):
        raise ValueError(f"expected minutes or +HH:MM, got {v!r}")
    if isinstance(v, int):
        minutes = v
    elif isinstance(v, str):
        s = v.strip().upper().removeprefix("UTC")
        m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", s)
        if s in ("", "Z"):
            minutes = 0
        elif re.fullmatch(r"[+-]?\d+", s):
            minutes = int(s)
        elif m:
            minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
            minutes = -minutes if m.group(1) == "-" else minutes
        else:
            raise ValueError(f"expected minutes or +HH:MM, got {v!r}")
    else:
        raise ValueError(f"expected minutes or +HH:MM, got {v!r}")
    if not -14 * 60 <= minutes <= 14 * 60:
        raise ValueError(f"offset out of range: {v!r}")
    return minutes


def _number(kind: type, lo: float, hi: float) -> Callable[[object], Any]:
    def parse(v: object) -> int | float:
        if isinstance(v, bool):
            raise ValueError(f"expected a number, got {v!r}")
        try:
            n = kind(v.strip()) if isinstance(v, str) else kind(v)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"expected a number, got {v!r}") from None
        if kind is int and isinstance(v, float) and not v.is_integer():
            raise ValueError(f"expected a whole number, got {v!r}")
        if not lo <= n <= hi:
            raise ValueError(f"expected {lo:g}..{hi:g}, got {v!r}")
        return n

    return parse


@dataclass(frozen=True)
class ParamSpec:
    name: str
    parse: Callable[[object], Any]
    default: ParamValue
    secret: bool = False
    help: str = ""


SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("owner", _owner, "", help="owner's phone number, E.164"),
    ParamSpec("module_password", _password, "", secret=True, help="password for SMS commands from other numbers"),
    ParamSpec("server", _server, "", help="OVMS v2 server HOST[:PORT]"),
    ParamSpec("server_password", _password, "", secret=True, help="server (net) password"),
    ParamSpec("vehicle_id", _vehicle_id, "", help="vehicle id on the server"),
    ParamSpec("servers", _servers, "ovms", help="servers to report to: ovms, mqtt or both (two TCP links)"),
    ParamSpec("mqtt_server", _mqtt_server, "", help="MQTT broker HOST[:PORT] (OVMS v3 topic layout)"),
    ParamSpec("mqtt_username", _text, "", help="MQTT user name (also the default topic prefix's user)"),
    ParamSpec("mqtt_password", _text, "", secret=True, help="MQTT password"),
    ParamSpec("mqtt_prefix", _text, "", help="MQTT topic prefix (default ovms/<user>/<vehicle id>/)"),
    ParamSpec("profile", _text, "demo-ev", help="vehicle profile name (can_bus/profiles)"),
    ParamSpec("apn", _text, "", help="GPRS access point name"),
    ParamSpec("apn_user", _text, "", help="GPRS user"),
    ParamSpec("apn_password", _text, "", secret=True, help="GPRS password"),
    ParamSpec("paranoid", _paranoid, False, help="OVMS paranoid mode (not supported)"),
    ParamSpec("tz_offset", _tz, 0, help="car local time, minutes east of UTC (or +HH:MM)"),
    ParamSpec("country_code", _text, "", help="country code to complete national caller IDs"),
    # devices (used by `tcu run`; not changeable by SMS)
    ParamSpec("modem", _text, "", help="modem as [DIALECT:]PORT[@BAUD]: sim800:/dev/serial0, sim800:/dev/pts/7@9600, "
              "a pyserial URL; a bare port means the sim800 dialect"),
    ParamSpec("can", _text, "", help="CAN bus string, e.g. socketcan:can0"),
    ParamSpec("state_dir", _text, "state", help="directory for the SQLite databases"),
    ParamSpec("power_key", _power_key, "none", help="modem power key: none, gpio:<pin>, virtual:<socket>"),
    ParamSpec("modem_mux", _modem_mux, "auto", help="GSM 07.10 multiplexer (AT+CMUX) on the modem line: "
              "auto (when the dialect has it and the modem agrees), on, off"),
    # alerts
    ParamSpec("alert.soc_low", _number(float, 0, 100), 10.0, help="alert when SOC falls below this %"),
    ParamSpec("alert.12v_low_drop", _number(float, 0.1, 5), 1.0, help="12 V alert when this far below reference, V"),
    ParamSpec("alert.12v_recover", _number(float, 0.0, 5), 0.6, help="12 V recovered when within this of reference, V"),
    ParamSpec("alert.moved_m", _number(float, 10, 100000), 500.0, help="moved-while-parked distance, m"),
    ParamSpec("alert.left_on_s", _number(float, 60, 86400), 900.0, help="car left on while parked, s"),
    ParamSpec("alert.server_deadline_s", _number(float, 1, 3600), 60.0, help="server confirmation deadline, s"),
    ParamSpec("alert.sms_per_day", _number(int, 0, 1000), 20, help="daily SMS budget for alerts"),
    ParamSpec("alert.sms_min_interval_s", _number(float, 0, 86400), 60.0, help="minimum gap between alert SMS, s"),
    ParamSpec("alert.coalesce_s", _number(float, 0, 600), 5.0, help="collect alerts firing together for, s"),
    ParamSpec("health.notify_after_s", _number(float, 60, 7 * 86400), 600.0,
              help="SMS the owner when the car cannot be watched (CAN, modem, storage) for this long, s"),
)

SPEC_BY_NAME: dict[str, ParamSpec] = {s.name: s for s in SPECS}

# Parameters the owner may change at run time (SMS PASS/SERVER/GPRS/REGISTER, server commands 2/4).
RUNTIME_SETTABLE = frozenset(
    n for n in SPEC_BY_NAME if n not in ("modem", "can", "state_dir", "power_key", "paranoid", "servers",
                                         "modem_mux")
)


# OVMS v2 parameter numbers (firmware 3.x `PARAM_*`), for server commands 3 (list) and 4 (set).
# Only those we have an equivalent for; the others are reported empty and refused on set.
OVMS_PARAM_NUMBERS: dict[int, str] = {
    0: "owner",  # PARAM_REGPHONE
    1: "module_password",  # PARAM_MODULEPASS
    4: "server",  # PARAM_SERVERIP
    5: "apn",  # PARAM_GPRSAPN
    6: "apn_user",  # PARAM_GPRSUSER
    7: "apn_password",  # PARAM_GPRSPASS
    8: "vehicle_id",  # PARAM_MYID
    9: "server_password",  # PARAM_NETPASS1
    10: "paranoid",  # PARAM_PARANOID
    14: "profile",  # PARAM_VEHICLETYPE
}


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _validate(name: str, value: object) -> ParamValue:
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        raise ConfigError(f"{name}: unknown setting")
    try:
        return spec.parse(value)
    except ValueError as e:
        raise ConfigError(f"{name}: {e}") from None


def load_toml(path: str | Path) -> dict[str, ParamValue]:
    """Read and validate a config file; tables flatten to dotted names (`[alert] soc_low` → `alert.soc_low`).

    `[server] host = …, password = …` is also accepted for `server` / `server_password`.
    A secret can be named by file instead (`server_password_file`, `module_password_file`,
    `apn_password_file`, `[server] password_file`): the file's first line is the value, so the
    config file itself can be shared without the passwords.
    """
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: {path}: {e}") from None
    if isinstance(raw.get("server"), dict):
        srv = raw.pop("server")
        for k, v in srv.items():
            name = {"host": "server", "password": "server_password",
                    "password_file": "server_password_file"}.get(k, f"server.{k}")
            raw[name] = v
    flat = _flatten(raw)
    for key in [k for k in flat if k.endswith("_file")]:
        name = key.removesuffix("_file")
        spec = SPEC_BY_NAME.get(name)
        if spec is None or not spec.secret:
            raise ConfigError(f"{key}: unknown setting")
        flat[name] = read_secret_file(key, flat.pop(key))
    return {name: _validate(name, v) for name, v in flat.items()}


def read_secret_file(setting: str, path: object) -> str:
    """The first line of a password file; ConfigError naming `setting` if it cannot be read.

    A file other users may read protects nothing: that is warned about, not refused (the owner of
    the machine decides)."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{setting}: expected a file name, got {path!r}")
    try:
        with open(path, encoding="utf-8") as f:
            value = f.readline().rstrip("\r\n")
            mode = os.fstat(f.fileno()).st_mode
    except OSError as e:
        raise ConfigError(f"{setting}: cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{setting}: {path} is not UTF-8 text") from None
    if mode & 0o077:
        log.warning("%s: %s can be read by other users (mode %o); chmod 600 it", setting, path, mode & 0o777)
    return value


class Params:
    """The unit's parameters; `get`/`[]` return validated, typed values."""

    def __init__(
        self,
        config: Mapping[str, object] | None = None,
        db: sqlite3.Connection | str | Path | None = None,
        origins: Mapping[str, str] | None = None,
    ) -> None:
        """`config`: the file's, environment's and flags' values merged; `origins`: where each came
        from (`config file`, `flag --owner`, `environment $TCU_MODULE_PASSWORD`), for `provenance`."""
        self._base: dict[str, ParamValue] = {s.name: s.default for s in SPECS}
        self._origin: dict[str, str] = {s.name: "default" for s in SPECS}
        for name, v in (config or {}).items():
            self._base[name] = _validate(name, v)
            self._origin[name] = (origins or {}).get(name, "configuration")
        # who changed an override and when (wall seconds; None when not known)
        self._changed: dict[str, tuple[str, float | None]] = {}
        self._unsaved_src: dict[str, tuple[str, float | None, str]] = {}
        self.wall: Callable[[], float] | None = None   # the unit's wall clock, to stamp runtime changes
        self._conn: sqlite3.Connection | None
        if db is None:
            self._conn = None
        elif isinstance(db, sqlite3.Connection):
            self._conn = db
        else:
            self._conn = open_db(db)
        self._overrides: dict[str, ParamValue] = {}
        self._unsaved: dict[str, ParamValue | None] = {}   # changes not yet on disk (None: a reset)
        self._listeners: list[Callable[[str, ParamValue], None]] = []
        self.guard = StorageGuard("params.db")
        self._now = 0.0
        self.damage: Damage | None = None          # params.db was damaged at start (set by `open`)
        self.store_fault: str | None = None        # the state directory could not be used at all
        if self._conn is not None:
            self._conn.executescript(_SCHEMA)
            rows = self._conn.execute("SELECT name, value FROM params").fetchall()
            self._settle(rows, _read_sources(self._conn), write=True, announce=True)

    def _settle(self, rows: Iterable[tuple[str, str]], sources: Mapping[str, tuple[str, float | None, str | None]],
                write: bool, announce: bool) -> None:
        """Apply the stored overrides by the precedence rule (module doc); drop (and, with `write`,
        delete) those whose file/flag value changed since; with `announce`, one INFO line per setting
        where one layer beats the other."""
        dropped = []
        for name, text in rows:
            try:
                value = _validate(name, text)
            except ConfigError as e:
                log.warning("ignoring stored override: %s", e)
                continue
            source, at, base_fp = sources.get(name, ("SMS or server (before provenance was kept)", None, None))
            base = self._base[name]
            if base_fp is not None and base_fp != _fingerprint(name, base):
                dropped.append(name)
                if announce and value != base:
                    log.info("%s: %s %s replaces %s set by %s%s (it changed after that)", name,
                             self._origin[name], self._shown(name, base), self._shown(name, value), source,
                             _when(at))
                continue
            self._overrides[name] = value
            self._changed[name] = (source, at)
            if announce and value != base:
                log.info("%s: %s set by %s%s overrides %s %s (until that changes)", name,
                         self._shown(name, value), source, _when(at), self._origin[name], self._shown(name, base))
        if write and dropped and self._conn is not None:
            try:
                with transaction(self._conn) as c:
                    for name in dropped:
                        c.execute("DELETE FROM params WHERE name = ?", (name,))
                        c.execute("DELETE FROM param_source WHERE name = ?", (name,))
            except sqlite3.Error as e:      # the override stays on disk; in memory the file/flag wins
                self.guard.failed(e, self._now)

    def _shown(self, name: str, value: ParamValue) -> str:
        if self.is_secret(name):
            return "(a secret)" if value else "(empty)"
        return repr(_format(value))

    @classmethod
    def preview(cls, config: Mapping[str, object] | None, path: str | Path,
                origins: Mapping[str, str] | None = None) -> Params:
        """The parameters a start would run with, `path` read without creating or writing anything
        (`tcu run` checks them before it creates its state directory); nothing logged."""
        params = cls(config, None, origins)
        params._read_only_overrides(Path(path), announce=False)
        return params

    @classmethod
    def open(cls, config: Mapping[str, object] | None, path: str | Path, wall: float,
             origins: Mapping[str, str] | None = None) -> Params:
        """Parameters with their runtime layer in `path`, checked at start; never fails for the disk's sake.

        A damaged file → `damage`; a directory that cannot be used (read-only, full, missing
        permission) → the runtime layer lives in memory and `store_fault` says why, naming the setting."""
        try:
            conn, damage = open_checked(path, _SCHEMA, ("params",), wall)
        except (sqlite3.Error, OSError) as e:
            fault = storage_fault(e)
            if fault is None:
                raise
            params = cls(config, None, origins)
            params._read_only_overrides(Path(path))
            params.store_fault = f"state_dir: {Path(path).parent} is {fault}"
            log.error("%s: parameters changed by SMS or server will not survive a restart", params.store_fault)
            return params
        params = cls(config, conn, origins)
        params.damage = damage
        return params

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read_only_overrides(self, path: Path, announce: bool = True) -> None:
        """Changes made by SMS before the directory became read-only still count (a changed server
        password above all): read them from the file without writing anything."""
        try:
            stored = read_stored(path)
        except sqlite3.Error as e:
            if announce:
                log.error("%s cannot be read either (%s): settings changed by SMS are not known", path, e)
            return
        rows = [(name, text) for name, text, _src, _at, _fp in stored]
        sources = {name: (src, at, fp) for name, _t, src, at, fp in stored if src is not None}
        self._settle(rows, sources, write=False, announce=announce)

    @classmethod
    def from_files(
        cls,
        config_path: str | Path | None,
        db: sqlite3.Connection | str | Path | None = None,
        flags: Mapping[str, object | None] | None = None,
    ) -> Params:
        """Config file, then flags given on the command line (None = flag not given), then SQLite."""
        config: dict[str, object] = dict(load_toml(config_path)) if config_path else {}
        for name, v in (flags or {}).items():
            if v is not None:
                config[name] = v
        return cls(config, db)

    # -- reading -----------------------------------------------------------------------------------
    def get(self, name: str) -> ParamValue:
        if name in self._overrides:
            return self._overrides[name]
        try:
            return self._base[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    __getitem__ = get

    def is_secret(self, name: str) -> bool:
        spec = SPEC_BY_NAME.get(name)
        return bool(spec and spec.secret)

    def secrets(self) -> list[str]:
        """The current secret values (non-empty), e.g. for `runtime.logsetup.register_secret`."""
        return [str(self.get(s.name)) for s in SPECS if s.secret and self.get(s.name)]

    def provenance(self) -> list[dict[str, object]]:
        """Every parameter: its value (a secret only as `set`/`unset`), where it comes from (`default`,
        `config file`, `flag --owner`, `environment $…`, or who changed it at run time, and when), and
        what it overrides. For `tcu state` (through status.json) and the start-up log."""
        out: list[dict[str, object]] = []
        for s in SPECS:
            v = self.get(s.name)
            entry: dict[str, object] = {"name": s.name, "secret": s.secret,
                                        "value": ("set" if v else "unset") if s.secret else _format(v)}
            if s.name in self._overrides:
                source, at = self._changed.get(s.name, ("SMS or server", None))
                entry.update(source=source, at=at)
                if self._overrides[s.name] != self._base[s.name]:
                    entry["overrides"] = self._origin[s.name]
            else:
                entry.update(source=self._origin[s.name], at=None)
            out.append(entry)
        return out

    def public_items(self) -> list[tuple[str, str]]:
        """(name, text) of every parameter, secrets shown as `(set)` / `(not set)`."""
        out = []
        for s in SPECS:
            v = self.get(s.name)
            if s.secret:
                out.append((s.name, "(set)" if v else "(not set)"))
            else:
                out.append((s.name, _format(v)))
        return out

    def ovms_list(self, count: int = 32) -> list[tuple[int, str]]:
        """(number, value) for OVMS server command 3; secrets are sent empty, never in clear."""
        out = []
        for num in range(count):
            name = OVMS_PARAM_NUMBERS.get(num)
            if name is None or self.is_secret(name):
                out.append((num, ""))
            else:
                v = self.get(name)
                out.append((num, "" if v is False else _format(v)))
        return out

    def set_ovms(self, number: int, value: str, source: str = "server command 4") -> ParamValue:
        """OVMS server command 4: set parameter `number`. ConfigError if unknown or invalid."""
        name = OVMS_PARAM_NUMBERS.get(number)
        if name is None:
            raise ConfigError(f"param {number}: not supported by this unit")
        return self.set(name, value, source=source)

    def require(self, names: Iterable[str]) -> None:
        """Raise ConfigError naming the first of `names` that has no value."""
        for name in names:
            if self.get(name) in ("", None):
                raise ConfigError(f"{name}: required but not set ({SPEC_BY_NAME[name].help})")

    # -- runtime changes ---------------------------------------------------------------------------
    def set(self, name: str, value: object, source: str = "runtime") -> ParamValue:
        """Validate and persist a runtime override (one transaction); returns the normalised value."""
        if name not in RUNTIME_SETTABLE:
            raise ConfigError(f"{name}: cannot be changed at run time")
        v = _validate(name, value)
        self.set_many({name: v}, source)
        return v

    def set_many(self, values: Mapping[str, object], source: str = "runtime") -> dict[str, ParamValue]:
        """Validate all, then persist all in one transaction (a GPRS command sets three at once)."""
        checked: dict[str, ParamValue] = {}
        for name, value in values.items():
            if name not in RUNTIME_SETTABLE:
                raise ConfigError(f"{name}: cannot be changed at run time")
            checked[name] = _validate(name, value)
        at = self.wall() if self.wall is not None else None
        self._unsaved.update(checked)
        for name in checked:
            self._unsaved_src[name] = (source, at, _fingerprint(name, self._base[name]))
            self._changed[name] = (source, at)
        self._save()
        self._overrides.update(checked)
        for name, v in checked.items():
            log.info("parameter %s changed by %s to %s", name, source,
                     "(secret)" if self.is_secret(name) else _format(v))
            for cb in tuple(self._listeners):
                cb(name, v)
        return checked

    def reset(self, name: str) -> None:
        """Drop the runtime override of `name`, falling back to the config file."""
        self._unsaved[name] = None
        self._unsaved_src.pop(name, None)
        self._changed.pop(name, None)
        self._save()
        if self._overrides.pop(name, None) is not None:
            for cb in tuple(self._listeners):
                cb(name, self.get(name))

    def _save(self, now: float | None = None) -> bool:
        """Write the unsaved changes in one transaction; on a failing disk they stay in memory (True: all saved).

        Params has no clock: `now` is the time of the latest `retry` (the unit's loop time)."""
        now = self._now if now is None else now
        if self._conn is None or not self._unsaved:
            self._unsaved.clear()
            self._unsaved_src.clear()
            return True
        try:
            with transaction(self._conn) as c:
                for name, v in self._unsaved.items():
                    if v is None:
                        c.execute("DELETE FROM params WHERE name = ?", (name,))
                        c.execute("DELETE FROM param_source WHERE name = ?", (name,))
                    else:
                        c.execute("INSERT OR REPLACE INTO params (name, value) VALUES (?, ?)", (name, _format(v)))
                        src = self._unsaved_src.get(name)
                        if src is not None:
                            c.execute("INSERT OR REPLACE INTO param_source (name, source, at, base) "
                                      "VALUES (?, ?, ?, ?)", (name, *src))
        except sqlite3.Error as e:
            self.guard.failed(e, now)     # re-raises our own bugs
            return False
        self._unsaved.clear()
        self._unsaved_src.clear()
        self.guard.succeeded(now)
        return True

    def retry(self, now: float) -> bool:
        """Write what a failing disk refused (the unit's storage back-off calls this). True: nothing left."""
        self._now = now
        if not self._unsaved or not self.guard.may_try(now):
            return not self._unsaved
        return self._save(now)

    def subscribe(self, callback: Callable[[str, ParamValue], None]) -> None:
        """`callback(name, new_value)` after each runtime change (e.g. the link re-inits on `server`)."""
        self._listeners.append(callback)


# `param_source` beside `params` rather than new columns: a params.db of an older version opens
# unchanged, and the salvage of a damaged file copies `params` rows as they are (its provenance is
# then unknown, and the stored values keep winning, as before).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS params (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS param_source (name TEXT PRIMARY KEY, source TEXT NOT NULL, at REAL, base TEXT);
"""


def _fingerprint(name: str, base: ParamValue) -> str:
    """What the file/flag layer said when an override was made, without keeping a secret in clear."""
    return hashlib.sha256(f"{name}\0{_format(base)}".encode()).hexdigest()


def _when(at: float | None) -> str:
    return "" if at is None else time.strftime(" at %Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _read_sources(conn: sqlite3.Connection) -> dict[str, tuple[str, float | None, str | None]]:
    try:
        rows = conn.execute("SELECT name, source, at, base FROM param_source").fetchall()
    except sqlite3.OperationalError:    # no such table: a file of an older version, read-only
        return {}
    return {str(n): (str(src), None if at is None else float(at), None if b is None else str(b))
            for n, src, at, b in rows}


def read_stored(path: str | Path) -> list[tuple[str, str, str | None, float | None, str | None]]:
    """(name, value text, source, at, base fingerprint) of every stored override in `path`, read without
    creating or writing anything (no file, no -wal/-shm: `tcu state` beside a running unit, `tcu run`
    before its checks passed). A missing file holds none. Raises sqlite3.Error if unreadable."""
    path = Path(path)
    if not path.exists():
        return []
    wal = Path(f"{path}-wal").exists() and Path(f"{path}-wal").stat().st_size > 0
    src = sqlite3.connect(f"file:{path}?{'mode=ro' if wal else 'immutable=1'}", uri=True, timeout=2.0)
    try:
        rows = src.execute("SELECT name, value FROM params").fetchall()
        sources = _read_sources(src)
    finally:
        src.close()
    return [(str(n), str(v), *sources.get(str(n), (None, None, None))) for n, v in rows]


def _format(v: ParamValue) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
