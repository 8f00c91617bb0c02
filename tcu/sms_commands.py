"""The SMS command interpreter (shared/protocols/sms-commands.md), also serving server command 7 and
the local console.

Sans-IO: `handle()` takes the text, who sent it, on which channel and `now`; replies go to the
`respond` callback — at once for most commands, later for car commands, whose reply is the result the
car reports (`Locked` / `Lock failed: …`), not merely "requested". Everything the interpreter needs from
the unit comes through the `CommandContext` protocol so it runs the same in tests, in `tcu sim` and in a car.

Authentication (SMS only; the server link and the console are already trusted): the owner's number,
or the module password as the first word after the command, checked by `tcu.auth`. Every SMS reply,
`Permission denied` included, passes the reply budget (`tcu.reply_budget`) first; the failure counts
and the budget survive restarts through a `tcu.restart_memory.Ledger`.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from modem.sms import SmsError, split_text
from runtime.ratelog import RateLimitedLog
from tcu.alert_router import sms_parts
from tcu.auth import Guard, number_matches, password_matches
from tcu.params import ConfigError, Params
from tcu.phone import is_alphanumeric_sender, try_normalise
from tcu.reply_budget import ReplyBudget
from tcu.restart_memory import Ledger
from tcu.sms_log import MASK, SmsLog, mask_secrets

log = logging.getLogger(__name__)

MAX_PARTS = 4  # sms-commands.md: longer replies as a concatenated SMS of at most 4 parts
UNKNOWN = "Unknown command. Send HELP."
DENIED = "Permission denied"
CHARGE_MODES = ("STANDARD", "STORAGE", "RANGE", "PERFORMANCE")

Respond = Callable[[str], None]
CarResult = Callable[[bool, str], None]  # (ok, detail) — detail explains a failure


@dataclass(frozen=True)
class ModemStatus:
    registered: bool
    signal_dbm: float | None
    operator: str
    state: str  # the link supervisor's state name, e.g. "online", "gprs-attach"


class MetricsLike(Protocol):
    def get(self, name: str, /) -> object: ...
    def is_stale(self, name: str, now: float) -> bool: ...
    def updated_at(self, name: str) -> float | None: ...


class CommandContext(Protocol):
    """What the interpreter needs from the unit (implemented by the wiring, faked in tests)."""

    @property
    def metrics(self) -> MetricsLike:  # tcu.metrics.MetricsView
        ...

    @property
    def params(self) -> Params: ...

    @property
    def version(self) -> str:
        """The firmware version number alone (`0.1.0`); VERSION adds the product's name."""
        ...

    def link_status(self, now: float) -> str:
        """`Server: online` or `Server: offline since 14:02, 3 queued`."""
        ...

    def modem_status(self) -> ModemStatus: ...

    def queued_count(self) -> int: ...

    def uptime(self, now: float) -> float: ...

    def reset_reason(self) -> str: ...

    def health_summary(self, now: float) -> str:
        """`OK`, or what the unit cannot do right now (`tcu.health.Health.summary`)."""
        ...

    def wall(self, now: float) -> float:
        """Epoch seconds for `now` (for `GPS` fix age and local times)."""
        ...

    def car_command(self, name: str, on_result: CarResult, **args: object) -> None:
        """Send a car command (tcu names: lock, unlock, valet_on, valet_off, charge_start, charge_stop,
        charge_mode(mode), charge_limit(amps), climate_on, climate_off, homelink(button), wakeup);
        call `on_result(ok, detail)` once when the car confirms, fails or times out."""
        ...

    def restart(self, reason: str) -> None:
        """Restart the unit; called after the reply has been handed to `respond`."""
        ...

    def notify(self, text: str) -> None:
        """An info notification for the server (operator SMS), sent when the link is up."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What `handle` did, for logs, tests and statistics."""

    status: str  # ok, deferred, denied, ignored, locked_out, unknown, operator, error
    command: str = ""


@dataclass(frozen=True)
class _Cmd:
    name: str
    handler: Callable[..., str | None]
    owner_only: bool = False
    car: bool = False  # deferred reply from the car
    takes_args: bool = False  # otherwise extra words are ignored (and masked in the SMS log)


def link_status_text(online: bool, since_wall: float | None, queued: int, tz_offset_min: int) -> str:
    """The link line of STAT/DIAG: `Server: online` or `Server: offline since 14:02, 3 queued`."""
    if online:
        return "Server: online"
    since = ""
    if since_wall is not None:
        t = _time.gmtime(since_wall + tz_offset_min * 60)
        since = f" since {t.tm_hour:02d}:{t.tm_min:02d}"
    return f"Server: offline{since}, {queued} queued"


def fit_sms(text: str, max_parts: int = MAX_PARTS) -> str:
    """Trim `text` so it fits `max_parts` SMS parts (GSM-7 or UCS-2), ending with `...` if cut (GSM-7, unlike an ellipsis)."""
    try:
        split_text(text, max_parts=max_parts)
        return text
    except SmsError:
        pass
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits, with the ellipsis
        mid = (lo + hi + 1) // 2
        try:
            split_text(text[:mid] + "...", max_parts=max_parts)
            lo = mid
        except SmsError:
            hi = mid - 1
    return text[:lo] + "..."


class CommandInterpreter:
    def __init__(self, ctx: CommandContext, sms_log: SmsLog | None = None, guard: Guard | None = None,
                 budget: ReplyBudget | None = None, ledger: Ledger | None = None, now: float = 0.0) -> None:
        """`ledger` (with the current time `now`): where the guard and the reply budget keep their
        counts across restarts; used for whichever of `guard` / `budget` is not given."""
        self.ctx = ctx
        self.sms_log = sms_log
        self.guard = guard or Guard(ledger, now)
        self.budget = budget or ReplyBudget(ledger=ledger, now=now)
        # an SMS flood from rotating numbers must not become a log storm: one line a minute per kind,
        # with a count (every SMS is in the SMS log anyway)
        self._log = RateLimitedLog(log, 60.0)
        self._budget_log = self._log
        self.stats = {"executed": 0, "failed": 0, "denied": 0, "withheld": 0}
        self._by = ""

    # -- entry point -------------------------------------------------------------------------------
    def handle(self, text: str, sender: str | None, channel: str, now: float, respond: Respond) -> Outcome:
        """Interpret one message. `channel` is "sms" (authenticate `sender`), "server" or "console"."""
        p = self.ctx.params
        default_cc = str(p.get("country_code")) or None
        number = sender or ""
        if channel == "sms":
            if is_alphanumeric_sender(number):
                # Not a phone (an operator, or a spoofed alphanumeric sender): nothing is run. What looks
                # like a command keeps only its first word — the rest may be a password or a guess at
                # it — and the current secrets are masked in whatever is stored or forwarded.
                masked = self._masked_foreign_text(text)
                self._log_in(number, masked, now, "operator")
                self._log.info("operator", now, "operator SMS from %s kept in the SMS log and forwarded as info",
                               number)
                self.ctx.notify(f"SMS from {number}: {masked}")
                return Outcome("operator")
            number = try_normalise(number, default_cc) or number
            from_owner = number_matches(number, str(p.get("owner")), default_cc)
            if not from_owner and self.guard.is_ignored(number, now):
                words = text.split()
                self._log_in(number, " ".join(words[:1] + [MASK] * (len(words) > 1)), now, "ignored: locked out")
                self._log.info("locked-out", now, "SMS from %s ignored: number locked out after repeated failures",
                               number)
                return Outcome("locked_out")
            reply_fn = self._sms_responder(number, respond, now)
        else:
            from_owner = False
            reply_fn = respond

        words = text.strip().split()
        cmd, args = self._parse(words)
        is_owner = channel != "sms" or from_owner
        # who a parameter change is recorded as made by (`tcu state`, the start-up log)
        self._by = f"from {number}" if channel == "sms" else f"by {channel}"
        if cmd is None:
            if is_owner:
                self._log_in(number, text, now, "unknown")
                reply_fn(UNKNOWN)
                return Outcome("unknown")
            self._log_in(number, text, now, "ignored: not a command")
            self._log.info("not-a-command", now, "SMS from %s ignored: not a command and not from the owner", number)
            return Outcome("ignored")

        # authenticate: owner, or module password as the first word after the command
        module_pw = str(p.get("module_password"))
        had_pw = bool(args) and password_matches(args[0], module_pw)
        if had_pw:
            args = args[1:]
        if is_owner or had_pw:
            head = words[: len(words) - len(args) - (1 if had_pw else 0)]
            shown = head + ([MASK] if had_pw else []) + (args if cmd.takes_args else [MASK] * bool(args))
            self._log_in(number, " ".join(shown), now, f"command {cmd.name}")
        else:  # a failed attempt's arguments may be a guess at the password: never store them
            self._log_in(number, words[0] + (" " + MASK if len(words) > 1 else ""), now,
                         f"command {cmd.name}, not authenticated")
        if cmd.name == "REGISTER":
            if from_owner and self.guard.owner_command_ignored(number, now):
                self._log.info("owner-register", now,
                               "REGISTER from the owner's number %s ignored: too many wrong passwords this hour", number)
                return Outcome("locked_out", cmd.name)
        elif not (is_owner or had_pw):
            return self._deny(number, cmd.name, now, reply_fn)
        elif cmd.owner_only and not is_owner:
            reply_fn(f"{cmd.name}: only the owner's phone may do this")
            return Outcome("denied", cmd.name)

        try:
            if cmd.name == "REGISTER":
                # the owner needs no password (sms-commands.md): a bare REGISTER from the owner's
                # phone registers the sender again, which confirms it is the owner
                return self._register((had_pw or from_owner) and not args, number, channel, now, reply_fn)
            if cmd.car:
                cmd.handler(self, args, reply_fn)
                self.stats["executed"] += 1
                return Outcome("deferred", cmd.name)
            reply = cmd.handler(self, args, now)
        except _Usage as e:
            reply_fn(str(e))
            self.stats["failed"] += 1
            return Outcome("error", cmd.name)
        if reply is not None:
            reply_fn(reply)
        self.stats["executed"] += 1
        if cmd.name == "RESET":
            self.ctx.restart(f"{cmd.name} by {channel} {number}".strip())
        return Outcome("ok", cmd.name)

    # -- parsing -----------------------------------------------------------------------------------
    def _parse(self, words: list[str]) -> tuple[_Cmd | None, list[str]]:
        if not words:
            return None, []
        first = words[0].upper()
        query = first.endswith("?")
        base = first.rstrip("?")
        rest = words[1:]
        if not query and len(rest) == 1 and rest[0] == "?":  # "STAT ?"
            query, rest = True, []
        if base in ("CHARGE", "CLIMATE") and rest:
            sub = rest[0].upper().rstrip("?")
            key = f"{base} {sub}"
            if key in _COMMANDS:
                return _COMMANDS[key], rest[1:]
            return None, []
        if query and base in _QUERIES:
            return _QUERIES[base], rest
        cmd = _COMMANDS.get(base)
        if cmd is None and query:
            cmd = _QUERIES.get(base)
        return cmd, rest

    # -- logging and replies -----------------------------------------------------------------------
    def _secrets(self) -> list[str]:
        return self.ctx.params.secrets()

    def _log_in(self, number: str, text: str, now: float, note: str) -> None:
        if self.sms_log is None or not number:
            return
        self.sms_log.add("in", number, redact_command(text), now, note=note, secrets=self._secrets(),
                         at=self.ctx.wall(now))

    def _masked_foreign_text(self, text: str) -> str:
        words = text.strip().split()
        cmd, _args = self._parse(words)
        if cmd is not None and len(words) > 1:
            return f"{words[0]} {MASK}"
        return mask_secrets(redact_command(text), self._secrets())

    def _sms_responder(self, number: str, respond: Respond, now: float) -> Respond:
        def reply(text: str) -> None:
            text = fit_sms(mask_secrets(text, self._secrets()))
            parts, denied = sms_parts(text), text == DENIED
            why = self.budget.check(number, parts, now, denied=denied)
            if why is not None:
                self.stats["withheld"] += 1
                self.budget.withheld += 1
                self._budget_log.warning(f"withheld-{'denied' if denied else 'reply'}", now,
                                         "SMS reply to %s not sent: %s", number, why)
                if self.sms_log is not None:
                    self.sms_log.add("out", number, text, now, note=f"not sent: {why}", at=self.ctx.wall(now))
                return
            self.budget.spend(number, parts, now, denied=denied)
            if self.sms_log is not None:
                self.sms_log.add("out", number, text, now, note="reply", at=self.ctx.wall(now))
            respond(text)

        return reply

    def _deny(self, number: str, command: str, now: float, reply_fn: Respond, owner: bool = False) -> Outcome:
        self.stats["denied"] += 1
        rej = self.guard.failed(number, command, now, owner=owner)
        if rej.locked_out:
            return Outcome("locked_out", command)
        if rej.reply:
            reply_fn(DENIED)
        return Outcome("denied", command)

    # -- helpers for handlers ----------------------------------------------------------------------
    def _source(self, command: str) -> str:
        """`SMS PASS from +447700900123`, `server SERVER`, `console GPRS`."""
        return f"SMS {command} {self._by}" if self._by.startswith("from ") else f"{command} {self._by}"

    def _fmt(self, name: str, now: float, unit: str = "", digits: int = 0, stale_mark: str = " (stale)") -> str:
        v = self.ctx.metrics.get(name)
        if v is None:
            return "-"
        if isinstance(v, bool):
            text = "yes" if v else "no"
        elif isinstance(v, float | int):
            text = f"{v:.{digits}f}{unit}"
        else:
            text = f"{v}{unit}"
        if self.ctx.metrics.is_stale(name, now):
            text += stale_mark
        return text

    def _local(self, wall: float) -> str:
        t = _time.gmtime(wall + int(self.ctx.params.get("tz_offset")) * 60)
        return f"{t.tm_hour:02d}:{t.tm_min:02d}"

    def _car(self, name: str, ok_text: str, fail_text: str, reply_fn: Respond, **kw: object) -> None:
        def done(ok: bool, detail: str) -> None:
            if ok:
                reply_fn(ok_text)
            else:
                self.stats["failed"] += 1
                reply_fn(f"{fail_text}: {detail}" if detail else fail_text)

        self.ctx.car_command(name, done, **kw)

    # -- command handlers (immediate) --------------------------------------------------------------
    def _help(self, args: list[str], now: float) -> str:
        return ("Commands: STAT GPS LOCK UNLOCK VALET UNVALET CHARGE START|STOP CHARGEMODE CLIMATE ON|OFF "
                "HOMELINK WAKEUP REGISTER PASS SERVER GPRS PARAMS? DIAG VERSION RESET")

    def _stat(self, args: list[str], now: float) -> str:
        m = self.ctx.metrics
        state = str(m.get("v.c.state") or "").lower()
        mode = str(m.get("v.c.mode") or "").capitalize()
        if m.get("v.c.charging"):
            charge = _CHARGE_STATES.get(state, "Charging")
            volts, amps = m.get("v.c.voltage"), m.get("v.c.current")
            if isinstance(volts, float) and isinstance(amps, float):
                charge += f" {volts:.0f}V/{amps:.0f}A"
        else:
            charge = _CHARGE_STATES.get(state, "Not charging") if state in ("done", "stopped") else "Not charging"
        if mode:
            charge += f", {mode}"
        items = [
            ("SOC", "v.b.soc", "%", 0),
            ("Range", "v.b.range.est", " km", 0),
            ("Plugged in", "v.c.pilot", "", 0),
            ("Locked", "v.e.locked", "", 0),
            ("12V", "v.b.12v.voltage", "V", 1),
            ("ODO", "v.p.odometer", " km", 0),
        ]
        lines = [charge]
        any_stale = False
        for label, name, unit, digits in items:
            text = self._fmt(name, now, unit, digits, stale_mark="*")
            any_stale = any_stale or text.endswith("*")
            lines.append(f"{label}: {text}")
        lines.append(self.ctx.link_status(now))
        if any_stale:
            lines.append("* = stale")
        return "\n".join(lines)

    def _gps(self, args: list[str], now: float) -> str:
        m = self.ctx.metrics
        lat, lon = m.get("v.p.latitude"), m.get("v.p.longitude")
        if not isinstance(lat, float | int) or not isinstance(lon, float | int):
            return "Car location unknown (no GPS position yet)"
        fix = "GPS fix" if m.get("v.p.gpslock") else "no GPS fix"
        sats, hdop = m.get("v.p.satcount"), m.get("v.p.gpshdop")
        quality = fix + (f", {sats} sats" if sats is not None else "") + (
            f", HDOP {hdop:.1f}" if isinstance(hdop, float) else "")
        t = m.updated_at("v.p.latitude")
        age = "" if t is None else f"\nAge: {_duration(max(0.0, now - t))}"
        stale = " (stale)" if m.is_stale("v.p.latitude", now) else ""
        return f"Car location: https://maps.google.com/maps?q={lat:.5f},{lon:.5f}{stale}\n{quality}{age}"

    def _register_query(self, args: list[str], now: float) -> str:
        owner = str(self.ctx.params.get("owner"))
        return f"Registered number: {owner}" if owner else "No owner registered"

    def _pass(self, args: list[str], now: float) -> str:
        if len(args) != 1:
            raise _Usage("Usage: PASS <new password>")
        try:
            self.ctx.params.set("module_password", args[0], source=self._source("PASS"))
        except ConfigError as e:
            raise _Usage(f"PASS: {_reason(e)}") from None
        return "Module password has been changed."

    def _server_query(self, args: list[str], now: float) -> str:
        p = self.ctx.params
        pw = "set" if p.get("server_password") else "not set"
        return f"Server: {p.get('server') or '-'}\nPassword: {pw}\n{self.ctx.link_status(now)}"

    def _server(self, args: list[str], now: float) -> str:
        if not 1 <= len(args) <= 2:
            raise _Usage("Usage: SERVER <host[:port]> [<password>]")
        values: dict[str, object] = {"server": args[0]}
        if len(args) == 2:
            values["server_password"] = "" if args[1] == "-" else args[1]
        try:
            self.ctx.params.set_many(values, source=self._source("SERVER"))
        except ConfigError as e:
            raise _Usage(f"SERVER: {_reason(e)}") from None
        return self._server_query([], now)

    def _gprs_query(self, args: list[str], now: float) -> str:
        p = self.ctx.params
        ms = self.ctx.modem_status()
        pw = "set" if p.get("apn_password") else "not set"
        sq = f"{ms.signal_dbm:.0f} dBm" if ms.signal_dbm is not None else "no signal"
        gsm = f"GSM: {'registered' if ms.registered else 'not registered'}, {ms.operator or '-'}, {sq}"
        return (f"APN: {p.get('apn') or '-'}\nUser: {p.get('apn_user') or '-'}\nPassword: {pw}\n"
                f"{gsm}\n{self.ctx.link_status(now)}")

    def _gprs(self, args: list[str], now: float) -> str:
        if not 1 <= len(args) <= 3:
            raise _Usage("Usage: GPRS <apn> [<user> [<password>]]")
        names = ("apn", "apn_user", "apn_password")
        values = {n: ("" if a == "-" else a) for n, a in zip(names, args, strict=False)}
        try:
            self.ctx.params.set_many(values, source=self._source("GPRS"))
        except ConfigError as e:
            raise _Usage(f"GPRS: {_reason(e)}") from None
        return self._gprs_query([], now)

    def _params_query(self, args: list[str], now: float) -> str:
        lines = ["Params:"]
        for name, value in self.ctx.params.public_items():
            if name in ("modem", "can", "state_dir") or self.ctx.params.is_secret(name):
                continue
            if value != "":
                lines.append(f"{name}={value}")
        return "\n".join(lines)

    def _diag(self, args: list[str], now: float) -> str:
        ms = self.ctx.modem_status()
        sq = f"{ms.signal_dbm:.0f} dBm" if ms.signal_dbm is not None else "no signal"
        return "\n".join([
            "DIAG:",
            f"Modem: {ms.state}",
            f"GSM: {'registered' if ms.registered else 'not registered'}, {ms.operator or '-'}, {sq}",
            self.ctx.link_status(now),
            f"Queued: {self.ctx.queued_count()}",
            f"Uptime: {_duration(self.ctx.uptime(now))}",
            f"Last reset: {self.ctx.reset_reason()}",
            f"Health: {self.ctx.health_summary(now)}",
            f"12V: {self._fmt('v.b.12v.voltage', now, 'V', 1)}",
        ])

    def _version(self, args: list[str], now: float) -> str:
        vin = self.ctx.metrics.get("v.vin") or "-"
        return f"tcu-sim {self.ctx.version}\nProfile: {self.ctx.params.get('profile')}\nVIN: {vin}"

    def _reset(self, args: list[str], now: float) -> str:
        return "Restarting the unit"

    def _register(self, password_ok: bool, number: str, channel: str, now: float, reply_fn: Respond) -> Outcome:
        """`REGISTER <password>`: the argument must be exactly the module password, nothing else; the
        owner's phone may leave it out. Registering the owner's number again changes nothing (it is not
        written, so the parameter keeps its origin) and says so."""
        p = self.ctx.params
        if channel != "sms":
            reply_fn("REGISTER works only by SMS (it registers the sender's number)")
            return Outcome("error", "REGISTER")
        if not password_ok:
            is_owner = number_matches(number, str(p.get("owner")), str(p.get("country_code")) or None)
            return self._deny(number, "REGISTER", now, reply_fn, owner=is_owner)
        owner = try_normalise(number, str(p.get("country_code")) or None)
        if owner is None:
            reply_fn("REGISTER: your number cannot be used as the owner's")
            return Outcome("error", "REGISTER")
        if owner == p.get("owner"):
            reply_fn("Your phone is registered as the owner.")
        else:
            p.set("owner", owner, source=self._source("REGISTER"))
            reply_fn("Your phone has been registered as the owner.")
        self.stats["executed"] += 1
        return Outcome("ok", "REGISTER")

    # -- command handlers (car, deferred) ----------------------------------------------------------
    def _pin(self, args: list[str], usage: str) -> None:
        if len(args) > 1 or (args and not _ascii_digits(args[0])):
            raise _Usage(usage)

    def _lock(self, args: list[str], reply_fn: Respond) -> None:
        self._pin(args, "Usage: LOCK [pin]")
        self._car("lock", "Locked", "Lock failed", reply_fn)

    def _unlock(self, args: list[str], reply_fn: Respond) -> None:
        self._pin(args, "Usage: UNLOCK [pin]")
        self._car("unlock", "Unlocked", "Unlock failed", reply_fn)

    def _valet(self, args: list[str], reply_fn: Respond) -> None:
        self._pin(args, "Usage: VALET [pin]")
        self._car("valet_on", "Valet mode on", "Valet mode failed", reply_fn)

    def _unvalet(self, args: list[str], reply_fn: Respond) -> None:
        self._pin(args, "Usage: UNVALET [pin]")
        self._car("valet_off", "Valet mode off", "Valet mode cancel failed", reply_fn)

    def _charge_start(self, args: list[str], reply_fn: Respond) -> None:
        self._no_args(args, "Usage: CHARGE START")
        self._car("charge_start", "Charging started", "Charge start failed", reply_fn)

    def _charge_stop(self, args: list[str], reply_fn: Respond) -> None:
        self._no_args(args, "Usage: CHARGE STOP")
        self._car("charge_stop", "Charging stopped", "Charge stop failed", reply_fn)

    def _climate_on(self, args: list[str], reply_fn: Respond) -> None:
        self._no_args(args, "Usage: CLIMATE ON")
        self._car("climate_on", "Climate on", "Climate on failed", reply_fn)

    def _climate_off(self, args: list[str], reply_fn: Respond) -> None:
        self._no_args(args, "Usage: CLIMATE OFF")
        self._car("climate_off", "Climate off", "Climate off failed", reply_fn)

    def _wakeup(self, args: list[str], reply_fn: Respond) -> None:
        self._no_args(args, "Usage: WAKEUP")
        self._car("wakeup", "Car is awake", "Wake-up failed", reply_fn)

    def _homelink(self, args: list[str], reply_fn: Respond) -> None:
        if len(args) != 1 or args[0] not in ("1", "2", "3"):
            raise _Usage("Usage: HOMELINK <1-3>")
        n = int(args[0])
        self._car("homelink", f"Homelink {n} activated", f"Homelink {n} failed", reply_fn, button=n)

    def _chargemode(self, args: list[str], reply_fn: Respond) -> None:
        usage = "Usage: CHARGEMODE <STANDARD|STORAGE|RANGE|PERFORMANCE> [amps]"
        if not 1 <= len(args) <= 2 or args[0].upper() not in CHARGE_MODES:
            raise _Usage(usage)
        mode = args[0].lower()
        amps: int | None = None
        if len(args) == 2:
            if not _ascii_digits(args[1]) or not 1 <= int(args[1]) <= 100:
                raise _Usage(usage)
            amps = int(args[1])
        ok_text = f"Charge mode: {mode}" + (f", {amps}A" if amps else "")

        def mode_done(ok: bool, detail: str) -> None:
            if not ok:
                self.stats["failed"] += 1
                reply_fn(f"Charge mode failed: {detail}" if detail else "Charge mode failed")
            elif amps is None:
                reply_fn(ok_text)
            else:
                self._car("charge_limit", ok_text, f"Charge mode: {mode}; current limit failed", reply_fn,
                          amps=amps)

        self.ctx.car_command("charge_mode", mode_done, mode=mode)

    @staticmethod
    def _no_args(args: list[str], usage: str) -> None:
        if args:
            raise _Usage(usage)


_CHARGE_STATES = {
    "charging": "Charging", "topoff": "Topping off", "done": "Charge done", "prepare": "Preparing to charge",
    "heating": "Charging, heating", "stopped": "Charge stopped",
}


def _ascii_digits(word: str) -> bool:
    """`0`-`9` only: `str.isdigit()` also takes `³` (which `int()` then rejects) and `٣` (which it reads as 3)."""
    return word.isascii() and word.isdigit()


class _Usage(Exception):
    """A command was recognised but its arguments are wrong; the message is the reply."""


def _reason(e: ConfigError) -> str:
    return str(e).split(": ", 1)[-1]


def _duration(s: float) -> str:
    s = int(s)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h:02d}:{m:02d}"
    if h:
        return f"{h}:{m:02d}:{sec:02d}"
    if m:
        return f"{m} min {sec} s"
    return f"{sec} s"


# Which argument positions carry a password, for the SMS log: command -> indexes after the command
_SECRET_ARGS: Mapping[str, tuple[int, ...]] = {
    "REGISTER": (0,), "PASS": (0,), "SERVER": (1,), "GPRS": (2,),
}


def redact_command(text: str) -> str:
    """The text with the password arguments of REGISTER/PASS/SERVER/GPRS masked, for the SMS log.

    Wrong passwords are masked here too (they may be a near-miss of the real one); the current secrets
    anywhere in the text are masked by `SmsLog.add(secrets=...)`."""
    words = text.strip().split()
    if not words:
        return text
    base = words[0].upper().rstrip("?")
    idx = _SECRET_ARGS.get(base)
    if idx is None or words[0].endswith("?"):
        return text
    out = list(words)
    for i in idx:
        if len(out) > 1 + i and out[1 + i] != "-":
            out[1 + i] = MASK
    return " ".join(out)


_CI = CommandInterpreter
_COMMANDS: dict[str, _Cmd] = {
    "HELP": _Cmd("HELP", _CI._help),
    "STAT": _Cmd("STAT", _CI._stat),
    "GPS": _Cmd("GPS", _CI._gps),
    "LOCATE": _Cmd("GPS", _CI._gps),
    "LOCK": _Cmd("LOCK", _CI._lock, car=True, takes_args=True),
    "UNLOCK": _Cmd("UNLOCK", _CI._unlock, car=True, takes_args=True),
    "VALET": _Cmd("VALET", _CI._valet, car=True, takes_args=True),
    "UNVALET": _Cmd("UNVALET", _CI._unvalet, car=True, takes_args=True),
    "CHARGE START": _Cmd("CHARGE START", _CI._charge_start, car=True),
    "CHARGE STOP": _Cmd("CHARGE STOP", _CI._charge_stop, car=True),
    "CHARGESTART": _Cmd("CHARGE START", _CI._charge_start, car=True),
    "CHARGESTOP": _Cmd("CHARGE STOP", _CI._charge_stop, car=True),
    "CHARGEMODE": _Cmd("CHARGEMODE", _CI._chargemode, car=True, takes_args=True),
    "CLIMATE ON": _Cmd("CLIMATE ON", _CI._climate_on, car=True),
    "CLIMATE OFF": _Cmd("CLIMATE OFF", _CI._climate_off, car=True),
    "HOMELINK": _Cmd("HOMELINK", _CI._homelink, car=True, takes_args=True),
    "WAKEUP": _Cmd("WAKEUP", _CI._wakeup, car=True),
    "REGISTER": _Cmd("REGISTER", _CI._help, takes_args=True),  # handled by _register
    "PASS": _Cmd("PASS", _CI._pass, owner_only=True, takes_args=True),
    "SERVER": _Cmd("SERVER", _CI._server, takes_args=True),
    "GPRS": _Cmd("GPRS", _CI._gprs, takes_args=True),
    "DIAG": _Cmd("DIAG", _CI._diag),
    "VERSION": _Cmd("VERSION", _CI._version),
    "RESET": _Cmd("RESET", _CI._reset),
}
_QUERIES: dict[str, _Cmd] = {
    "REGISTER": _Cmd("REGISTER?", _CI._register_query),
    "SERVER": _Cmd("SERVER?", _CI._server_query),
    "GPRS": _Cmd("GPRS?", _CI._gprs_query),
    "PARAMS": _Cmd("PARAMS?", _CI._params_query),
}
