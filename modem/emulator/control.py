"""The control interface of a running `vmodem serve`: JSON lines over a UNIX socket.

Request  {"cmd": "sms", "from": "+447700900123", "text": "STAT"}
         {"cmd": "outbox"} | {"cmd": "status"} | {"cmd": "power-key"} | {"cmd": "faults"}
         {"cmd": "fault", "kind": "no-coverage", "for": 120}   ("for" optional: until cleared)
         {"cmd": "fault", "kind": "clear"}  or  {"cmd": "clear"}
         {"cmd": "stop-fault", "kind": "stall"}
Answer   {"ok": true, ...} or {"ok": false, "error": "..."}; one line per request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from modem.emulator.faults import FAULT_KINDS, UnknownFault
from runtime.control import JsonLineServer

if TYPE_CHECKING:
    from modem.emulator.modem import VirtualModem
    from runtime import Loop

log = logging.getLogger(__name__)


def handle_request(modem: VirtualModem, req: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request; pure function of the modem API (tests call it directly)."""
    cmd = req.get("cmd")
    try:
        if cmd == "sms":
            sender, text = str(req["from"]), str(req["text"])
            return {"ok": True, "delivered": modem.inject_sms(sender, text)}
        if cmd == "outbox":
            return {"ok": True, "outbox": [s.as_dict() for s in modem.outbox]}
        if cmd == "status":
            return {"ok": True, "status": modem.status()}
        if cmd == "power-key":
            modem.power_key()
            return {"ok": True, "powered": modem.powered}
        if cmd == "faults":
            # the kinds this modem's model can suffer (a SIM800 has no LTE faults)
            kinds = modem.interp.dialect.faults
            return {"ok": True, "faults": {k: v for k, v in FAULT_KINDS.items() if k in kinds}}
        if cmd == "clear" or (cmd == "fault" and req.get("kind") == "clear"):
            return {"ok": True, "cleared": modem.clear_faults()}
        if cmd == "fault":
            duration = req.get("for")
            modem.fault(str(req["kind"]), None if duration is None else float(duration))
            return {"ok": True}
        if cmd == "stop-fault":
            modem.stop_fault(str(req["kind"]))
            return {"ok": True}
    except UnknownFault as exc:
        return {"ok": False, "error": str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "error": f"bad request: {exc!r}"}
    return {"ok": False, "error": f"unknown cmd {cmd!r}"}


class ControlServer(JsonLineServer):
    """`vmodem serve`'s control socket on the real loop; each line in is one request."""

    def __init__(self, loop: Loop, modem: VirtualModem, path: str) -> None:
        self.modem = modem
        super().__init__(loop, path, lambda req: handle_request(modem, req), name="vmodem control")
