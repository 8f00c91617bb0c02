"""Operation scripts: the shape every modem operation has, shared by `Modem` and the dialects.

An operation is a generator that yields what it needs and gets back what happened:

    def tcp_open(conn, host, port) -> Script:
        yield Command(f'AT+CIPSTART={conn},"TCP","{host}",{port}', ...)   # gets the Response
        yield Delay(1.0)                                                  # gets None a second later
        yield TcpClosed("SEND FAIL", conn)                                # published to subscribers
        return value                                                      # the operation's Ok(value)

A command whose final result is a failure (or that times out, or is aborted by a reboot) is thrown
into the script as `StepFailed`; uncaught, it ends the operation with its `Failed`. The driver runs
the script (`modem.driver.modem.Modem`); a dialect only writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from modem.driver.at_channel import Command, Final, Response
from modem.driver.events import ModemEvent

T = TypeVar("T")


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Failed:
    """Why an operation failed. `final` is the modem's answer if it gave one; `timeout` if it gave none.
    `outcome_unknown`: the modem finished a command whose final result line noise garbled: it may have
    done its work (an SMS may have gone), so the caller must not take this as "nothing happened"."""

    reason: str
    final: Final | None = None
    timeout: bool = False
    outcome_unknown: bool = False


Result = Ok[Any] | Failed
Callback = Callable[[Result], None]


class StepFailed(Exception):
    """Thrown into a script when one of its commands failed; carries the `Failed` the op ends with."""

    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.reason)
        self.failed = failed


@dataclass(frozen=True)
class Delay:
    """Yielded by a script: resume it after `seconds` (on the loop's clock)."""

    seconds: float


@dataclass(frozen=True)
class CancelInput:
    """Yielded by a script: write ESC, which leaves a `> ` prompt the modem may be sitting at (a unit
    that died mid-`AT+CMGS` leaves it there: every later `AT` would be taken as message text). The next
    command waits for the modem's answer to the ESC, or the channel's cancel wait, so that answer is
    never read as its final. Resumes the script at once."""


# The send type is `Response`: a yielded `Command` gets its response back. A `Delay` or an event
# yield gets None at run time, but scripts use those as statements and never read the value, so the
# runner's one cast (`_Op.step`) is the only place that knows.
Script = Generator[Command | Delay | CancelInput | ModemEvent, Response, Any]
