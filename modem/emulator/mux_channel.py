"""One more AT channel of the same modem, for a 07.10 multiplexer DLCI (AT+CMUX).

27.010 §4 (and the SIM800 manual's AT+CMUX): once multiplexed, every DLCI is an AT command channel
of its own — its own line buffer, echo, command in progress, prompt and pending replies — over one
modem: one SIM, one registration, one SMS store, one IP stack. `ChannelInterpreter` is the shared
`Interpreter` class with exactly that split: the line-discipline and reply state (`_OWN`) is its
own, every other attribute is read from and written to the modem's primary interpreter (which
itself serves DLCI 1). So every command handler runs unchanged on any channel, and what it does to
the modem (a TCP link opened, an SMS stored, a setting changed) is seen on all of them.

Why the settings are shared too: the SIM800 keeps one `Settings` record (ATE, AT+CMGF, AT+CIPHEAD,
...) and the driver sets them once before AT+CMUX; one record keeps "one modem state" literal.
URCs a channel's own commands cause (a reply that comes late, `<n>, CONNECT OK`, received data of a
link it opened, NMEA it asked for) come out on that channel; the modem's own URCs (RING, +CMTI,
registration) come out on DLCI 1.
"""

from __future__ import annotations

from typing import Any

from modem.emulator.interpreter import Interpreter

_OWN = frozenset({
    "_primary", "dlci", "name",
    "_out", "_actions", "_events", "_seq",
    "_inbuf", "_echo", "_line", "_collecting", "_overflow", "_last_line",
    "_urcs", "_prompt", "_busy_until", "mode",
})


class ChannelInterpreter(Interpreter):
    """An AT interpreter for one extra DLCI that shares `primary`'s modem state."""

    def __init__(self, primary: Interpreter, dlci: int) -> None:
        # no super().__init__(): all state but the channel's own is the primary's
        own = {
            "_primary": primary, "dlci": dlci, "name": f"{primary.name}/dlci{dlci}",
            "_out": bytearray(), "_actions": [], "_events": [], "_seq": 0,
            "_inbuf": bytearray(), "_echo": bytearray(), "_line": bytearray(), "_collecting": False,
            "_overflow": False, "_last_line": "", "_urcs": [], "_prompt": None, "_busy_until": None,
            "mode": "cmd",
        }
        for k, v in own.items():
            object.__setattr__(self, k, v)

    @property
    def primary(self) -> Interpreter:
        return self._primary  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        # only called for names not found on the instance or the class: the modem's shared state
        return getattr(object.__getattribute__(self, "_primary"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._primary, name, value)
