"""Fault kinds the virtual modem can suffer (sim800-at.md §6), and which are on right now.

A fault is on until its expiry time (or until cleared). The interpreter asks `on(kind, now)`; it
never needs to know whether the fault came from a tester's command or from the weather.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> what it does; the names are the public, kebab-case vocabulary of `vmodem fault <kind>`.
FAULT_KINDS: dict[str, str] = {
    "no-sim": "SIM not inserted: +CPIN? gives +CME ERROR: 10, no registration",
    "sim-pin": 'SIM asks for its PIN (+CPIN: SIM PIN) until AT+CPIN="<pin>"',
    "no-coverage": "not registered (+CREG: 0), CSQ 99, GPRS and the TCP link drop",
    "registration-denied": "registration denied (+CREG: 3)",
    "roaming": "registered roaming (+CREG: 5)",
    "weak-signal": "CSQ between 2 and 7",
    "gprs-down": "GPRS attach fails (CGATT/CIICR ERROR); an active context gets +PDP: DEACT",
    "tcp-refused": "AT+CIPSTART answers CONNECT FAIL",
    "tcp-unreachable": "AT+CIPSTART answers CONNECT FAIL only after the SIM800's 75 s timeout",
    "remote-close": "the server closes the connection (CLOSED); new connections close at once",
    "stall": "the connection stays up but no data flows either way",
    "send-fail": "AT+CIPSEND answers SEND FAIL",
    "slow": "every command answers a few seconds late",
    "garbage": "random bytes appear in the modem's output",
    "drop-chars": "characters go missing from the modem's output",
    "reboot": "spontaneous reboot: RDY and the boot URCs again, volatile state lost (one-shot)",
    "brownout": "UNDER-VOLTAGE POWER DOWN, then silence until the power key (one-shot)",
    "smsc-down": "AT+CMGS fails with +CMS ERROR: 332 (network timeout)",
    "sms-delay": "SMS from phones reach the device late",
    # LTE modules (sim7600) only: the radio-access-technology faults of issue 15.
    "rat-fallback-2g": "LTE lost: the module registers on GSM and stays there (after the fault too) "
    "until a mode toggle (AT+CNMP) or a reset",
    "no-service-online": "+CPSI: NO SERVICE,Online with good signal, not registered, until a mode toggle or reset",
    "netopen-fail": "the data network closes (+CIPEVENT) and AT+NETOPEN fails until AT+NETCLOSE",
    # Under the 07.10 multiplexer (AT+CMUX; modem/emulator/mux_serve.py).
    "mux-corrupt": "bits flip in the multiplexer frames the modem sends (bad FCS, lost flags)",
    "mux-stall": "the multiplexer stops answering: frames in are ignored, nothing goes out",
    "mux-reboot": "the modem reboots under the multiplexer: RDY in plain text, the line is plain AT (one-shot)",
}

ONE_SHOT = frozenset({"reboot", "brownout"})

# Faults only a module with LTE and the NETOPEN stack has; other dialects refuse them.
LTE_ONLY = frozenset({"rat-fallback-2g", "no-service-online", "netopen-fail"})


class UnknownFault(ValueError):
    """A fault name nobody knows: the caller typed it wrong."""


@dataclass
class ActiveFault:
    kind: str
    since: float
    until: float | None  # None: until cleared


class Faults:
    """The set of faults in force; expiry is checked against the caller's clock."""

    def __init__(self) -> None:
        self._active: dict[str, ActiveFault] = {}

    @staticmethod
    def check(kind: str) -> str:
        if kind not in FAULT_KINDS:
            raise UnknownFault(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        return kind

    def start(self, kind: str, now: float, duration: float | None) -> ActiveFault:
        self.check(kind)
        fault = ActiveFault(kind, now, None if duration is None else now + duration)
        self._active[kind] = fault
        return fault

    def stop(self, kind: str) -> bool:
        return self._active.pop(kind, None) is not None

    def on(self, kind: str, now: float) -> bool:
        fault = self._active.get(kind)
        if fault is None:
            return False
        return fault.until is None or now < fault.until

    def expired(self, now: float) -> list[str]:
        """Remove and return the kinds whose time is up."""
        gone = [k for k, f in self._active.items() if f.until is not None and now >= f.until]
        for k in gone:
            del self._active[k]
        return gone

    def next_expiry(self) -> float | None:
        times = [f.until for f in self._active.values() if f.until is not None]
        return min(times) if times else None

    def active(self, now: float) -> dict[str, float | None]:
        """kind -> seconds left (None: until cleared)."""
        return {
            k: (None if f.until is None else max(0.0, f.until - now))
            for k, f in sorted(self._active.items())
            if self.on(k, now)
        }

    def clear(self) -> list[str]:
        kinds = sorted(self._active)
        self._active.clear()
        return kinds
