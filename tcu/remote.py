"""Remote commands: encode by the vehicle profile, send on CAN, and confirm from what the car reports.

OVMS v2 replied "Vehicle lock requested" whether or not the CAN write did anything. We reply with the
result the car reports: after sending, we watch the metric the command should change (fed by the
car's next frames) and answer `ok` when a fresh update shows the target value, or `failed` with a
reason when the deadline passes. Commands with nothing to observe (homelink) succeed once sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runtime import Loop
from tcu.metrics import Metrics
from tcu.plural import plural

log = logging.getLogger(__name__)

CONFIRM_DEADLINE = 6.0   # seconds for the car to show the result in its frames
CHECK_EVERY = 0.25

# command → (metric, target or "$arg" name, text when done)
EXPECT: dict[str, tuple[str, object, str] | None] = {
    "lock": ("v.e.locked", True, "Locked"),
    "unlock": ("v.e.locked", False, "Unlocked"),
    "valet_on": ("v.e.valet", True, "Valet mode on"),
    "valet_off": ("v.e.valet", False, "Valet mode off"),
    "climate_on": ("v.e.hvac", True, "Climate on"),
    "climate_off": ("v.e.hvac", False, "Climate off"),
    "charge_start": ("v.c.charging", True, "Charging started"),
    "charge_stop": ("v.c.charging", False, "Charging stopped"),
    "charge_mode": ("v.c.mode", "$mode", "Charge mode set"),
    "charge_limit": ("v.c.climit", "$amps", "Charge limit set"),
    "wakeup": ("v.e.awake", True, "Car awake"),
    "homelink": None,
}

FAIL_TEXT = {
    "lock": "Lock failed", "unlock": "Unlock failed", "valet_on": "Valet failed",
    "valet_off": "Unvalet failed", "climate_on": "Climate failed", "climate_off": "Climate off failed",
    "charge_start": "Charge start failed", "charge_stop": "Charge stop failed",
    "charge_mode": "Charge mode failed", "charge_limit": "Charge limit failed", "wakeup": "Wakeup failed",
    "homelink": "Homelink failed",
}

# OVMS v2 server command codes (ovms-v2-server.md §4) → our command names.
CHARGE_MODES = {0: "standard", 1: "storage", 3: "range", 4: "performance"}


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    text: str
    reason: str = ""   # why it failed, without the command name (for "Lock failed: <reason>")


Done = Callable[[CommandResult], None]
Encoder = Callable[..., list[tuple[int, bytes]]]


class RemoteCommands:
    """Run vehicle commands with confirmation. `encode(name, **args)` is the profile's encoder."""

    def __init__(self, loop: Loop, metrics: Metrics, encode: Encoder, send: Callable[[int, bytes], None],
                 deadline: float = CONFIRM_DEADLINE, last_frame_at: Callable[[], float] | None = None) -> None:
        """`last_frame_at()`: when the car last sent any frame. Decoders report changes only, so a
        command whose target is already the state (LOCK on a locked car) is confirmed by the car
        talking after the command with the metric at the target value."""
        self.last_frame_at = last_frame_at
        self.loop = loop
        self.metrics = metrics
        self.encode = encode
        self.send = send
        self.deadline = deadline
        self.executed = 0
        self.failed = 0
        self.last: tuple[str, CommandResult] | None = None

    def execute(self, name: str, args: Mapping[str, object] | None, done: Done) -> None:
        """Send `name` and call `done(CommandResult)` once the car confirmed it or the deadline passed."""
        args = dict(args or {})
        if name not in EXPECT:
            self._finish(name, done, CommandResult(False, f"unsupported command {name}"))
            return
        reason = self._precondition(name, args)
        if reason:
            self._finish(name, done, CommandResult(False, f"{FAIL_TEXT[name]}: {reason}", reason))
            return
        try:
            frames = self.encode(name, **args)
        except Exception as e:  # the profile rejects the arguments (bad mode, amps out of range)
            self._finish(name, done, CommandResult(False, f"{FAIL_TEXT[name]}: {e}", str(e)))
            return
        try:
            for can_id, data in frames:
                self.send(can_id, data)
        except Exception as e:
            log.warning("CAN send of %s failed: %s", name, e)
            self._finish(name, done, CommandResult(False, f"{FAIL_TEXT[name]}: CAN write failed", "CAN write failed"))
            return
        sent_at = self.loop.time()
        expect = EXPECT[name]
        if expect is None:
            self._finish(name, done, CommandResult(True, _done_text(name, args)))
            return
        metric, target, text = expect
        if isinstance(target, str) and target.startswith("$"):
            target = args.get(target[1:])
        log.info("command %s sent (%s); waiting for %s = %r", name, plural(len(frames), "frame"), metric, target)
        self.loop.call_later(CHECK_EVERY, self._check, name, metric, target, text, sent_at, done)

    def _precondition(self, name: str, args: Mapping[str, object]) -> str:
        if name == "charge_start" and self.metrics.get("v.c.pilot") is False:
            return "not plugged in"
        if name == "charge_stop" and self.metrics.get("v.c.charging") is False:
            return "charge not in progress"
        return ""

    def _check(self, name: str, metric: str, target: object, text: str, sent_at: float, done: Done) -> None:
        now = self.loop.time()
        updated = self.metrics.updated_at(metric)
        value = self.metrics.get(metric)
        fresh = updated is not None and updated > sent_at
        if not fresh and self.last_frame_at is not None and updated is not None:
            fresh = self.last_frame_at() > sent_at + CHECK_EVERY   # the car has spoken since
        if fresh and _same(value, target):
            self._finish(name, done, CommandResult(True, text))
            return
        if now - sent_at >= self.deadline:
            why = "no answer from the car" if updated is None or updated <= sent_at else f"car reports {value}"
            self._finish(name, done, CommandResult(False, f"{FAIL_TEXT[name]}: {why}", why))
            return
        self.loop.call_later(CHECK_EVERY, self._check, name, metric, target, text, sent_at, done)

    def _finish(self, name: str, done: Done, result: CommandResult) -> None:
        if result.ok:
            self.executed += 1
        else:
            self.failed += 1
        self.last = (name, result)
        log.info("command %s: %s", name, result.text)
        try:
            done(result)
        except Exception:
            log.exception("command %s: result handler failed", name)

    # -- server `C` codes ----------------------------------------------------------------------------
    def server_command(self, cmd: int, params: tuple[str, ...], done: Done) -> bool:
        """Run an OVMS `C<cmd>` vehicle command; False when `cmd` is not a vehicle command."""
        name, args = _from_server(cmd, params)
        if name is None:
            return False
        if name == "":
            done(CommandResult(False, "Invalid syntax"))
            return True
        self.execute(name, args, done)
        return True


def _from_server(cmd: int, p: tuple[str, ...]) -> tuple[str | None, dict]:
    def num(i: int) -> int | None:
        """ASCII digits only: `int()` also reads `٣` as 3 (issue 12 item 10)."""
        word = p[i].strip() if i < len(p) else ""
        return int(word) if word.isascii() and word.isdigit() else None

    if cmd == 10:
        mode = CHARGE_MODES.get(-1 if (n := num(0)) is None else n)
        return ("charge_mode", {"mode": mode}) if mode else ("", {})
    if cmd == 11:
        return "charge_start", {}
    if cmd == 12:
        return "charge_stop", {}
    if cmd == 15:
        return ("charge_limit", {"amps": num(0)}) if num(0) is not None else ("", {})
    if cmd == 16:
        mode = CHARGE_MODES.get(-1 if (n := num(0)) is None else n)
        return ("charge_mode", {"mode": mode}) if mode else ("", {})
    if cmd in (18, 19):
        return "wakeup", {}
    if cmd == 20:
        return "lock", {}
    if cmd == 21:
        return "valet_on", {}
    if cmd == 22:
        return "unlock", {}
    if cmd == 23:
        return "valet_off", {}
    if cmd == 24:
        button = num(0)
        return ("homelink", {"button": button + 1}) if button is not None and 0 <= button <= 2 else ("", {})
    if cmd in (25, 26):
        return "climate_on", {}
    return None, {}


def _same(value: object, target: object) -> bool:
    if isinstance(target, str) and isinstance(value, str):
        return value.lower() == target.lower()
    if isinstance(target, int | float) and not isinstance(target, bool) and isinstance(value, int | float):
        return abs(float(value) - float(target)) < 0.5
    return value == target


def _done_text(name: str, args: Mapping[str, object]) -> str:
    if name == "homelink":
        return f"Homelink {args.get('button', 1)} activated"
    return "Done"
