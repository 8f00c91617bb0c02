"""The client of a running `vmodem serve`'s control socket (JSON lines over a UNIX socket).

Kept out of `modem.emulator` because the firmware uses it too (`power_key = "virtual:PATH"` presses
the virtual modem's power key): the firmware talks to the emulator only through this wire protocol,
never by importing it. The requests are listed in `modem.emulator.control`.
"""

from __future__ import annotations

from typing import Any

from runtime.control import ControlError, call

__all__ = ["ControlClient", "ControlError"]


class ControlClient:
    """Blocking client for scripts, tests and the driver's power-key adapter."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        answer = call(self.path, {"cmd": cmd, **args}, self.timeout)
        if not answer.get("ok"):
            raise ControlError(answer.get("error", "refused"))
        return answer

    def sms(self, sender: str, text: str) -> bool:
        return bool(self.call("sms", **{"from": sender, "text": text})["delivered"])

    def outbox(self) -> list[dict[str, Any]]:
        return list(self.call("outbox")["outbox"])

    def fault(self, kind: str, duration: float | None = None) -> None:
        self.call("fault", kind=kind, **({} if duration is None else {"for": duration}))

    def clear_faults(self) -> list[str]:
        return list(self.call("clear")["cleared"])

    def status(self) -> dict[str, Any]:
        return dict(self.call("status")["status"])

    def power_key(self) -> bool:
        return bool(self.call("power-key")["powered"])
