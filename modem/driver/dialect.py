"""Modem dialects: what differs between modem models, registered by name (python-can's backends).

    open_modem(loop, "sim800:/dev/serial0")     # modem.driver.open: the caller names a dialect
    get_dialect("sim800")                      # → a Dialect; the caller never imports its module

A dialect is one small module under `modem/driver/dialects/` with a `Dialect` subclass: its URC table
(handed to the shared `ATChannel`) and the command scripts of what TS 27.007/27.005 leave to the vendor:
the data bearer, TCP links, GNSS. Everything standard (identification, SIM, registration, signal, SMS,
`AT+CFUN` reset) is `Modem`'s own and shared by all. docs/modem-seam.md says what a new dialect provides.

A dialect is a plain object without state: `Modem` keeps the connection table and the channel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import ClassVar

from modem.driver.at_channel import UrcTable
from modem.driver.script import Script
from modem.driver.urc import Urc

# Built-in dialects: name → module that registers it on import (imported only when asked for).
_BUILTIN: dict[str, str] = {
    "sim800": "modem.driver.dialects.sim800",
    "sim7600": "modem.driver.dialects.sim7600",
}
_REGISTRY: dict[str, Callable[[], Dialect]] = {}
DEFAULT_DIALECT = "sim800"


class UnknownDialect(ValueError):
    """A dialect name nobody registered. The message names the known ones."""


class Dialect:
    """Base class of a modem dialect. Subclasses set the class attributes and write the scripts.

    Scripts (generators, see `modem.driver.script`) for connection `conn` in 0..max_connections-1;
    `tcp_send` publishes `TcpClosed(reason, conn)` itself when the modem says the link is gone
    (SIM800 `SEND FAIL`), since only the dialect can read that from its answers.
    """

    name: ClassVar[str] = ""
    urcs: ClassVar[UrcTable]
    max_connections: ClassVar[int] = 1
    reset_command: ClassVar[str] = "AT+CFUN=1,1"  # the soft reset (`RDY` follows); SIM7600: AT+CRESET
    best_net_type: ClassVar[str] = "2G"  # the best technology the module can use (`net_type` words)
    # GSM 07.10 multiplexer (issue 16): the command that starts it, None for a modem without one, and
    # the N1 it asks for. Both SIMCom manuals give AT+CMUX=<mode>,<subset>,<port_speed>,<N1>,<T1>,<N2>,
    # <T2>,<T3>,<k>: basic option, UIH, 115200, N1 127, T1 100 ms, N2 3, T2 300 ms, T3 10 s, k 2.
    cmux_command: ClassVar[str | None] = "AT+CMUX=0,0,5,127,10,3,30,10,2"
    cmux_n1: ClassVar[int] = 127

    def setup(self) -> Script:
        """Dialect settings at the end of `Modem.init` (after the standard ones). Default: none."""
        return
        yield  # pragma: no cover  (makes this a generator)

    def gprs_attach(self, apn: str, user: str, password: str) -> Script:
        """Bring the data bearer up; return the local IP address."""
        raise NotImplementedError

    def gprs_shutdown(self) -> Script:
        """Take the bearer down from any state (every link closes with it)."""
        raise NotImplementedError

    def tcp_open(self, conn: int, host: str, port: int) -> Script:
        """Open TCP link `conn`; success means connected."""
        raise NotImplementedError

    def tcp_send(self, conn: int, data: bytes) -> Script:
        """Hand `data` to link `conn` (success: the modem took it, not that the peer got it)."""
        raise NotImplementedError

    def tcp_close(self, conn: int) -> Script:
        raise NotImplementedError

    def ip_status(self, conn: int = 0) -> Script:
        """The state of link `conn` in single-connection words (`CONNECT OK`, `TCP CLOSED` ...), or
        the bearer's (`IP INITIAL`, `IP GPRSACT`, `PDP DEACT` ...) while the link is unused."""
        raise NotImplementedError

    def gnss_power(self, on: bool) -> Script:
        raise NotImplementedError

    def gnss_stream(self, on: bool) -> Script:
        raise NotImplementedError

    def gnss_fix(self) -> Script:
        """Return a `modem.gnss.GnssFix` (`.valid` False while there is no fix)."""
        raise NotImplementedError

    def urc_script(self, urc: Urc) -> Script | None:
        """Commands an unsolicited line asks for (SIM7600 `+CIPRXGET: 1,<link>`: read the data), or None."""
        return None

    def net_type(self) -> Script:
        """The radio access technology as OVMS words `m.net.type`: `2G`, `3G`, `4G` ("" without service).
        Default: a GSM-only module (SIM800) is always `2G`."""
        return "2G"
        yield  # pragma: no cover  (makes this a generator)

    def radio_recover(self) -> Script:
        """The dialect's own recovery rung for a radio stuck on a worse technology or in a no-service
        loop (SIM7600: a preferred-mode toggle). Returns what it did; default: nothing to do ("")."""
        return ""
        yield  # pragma: no cover  (makes this a generator)


def register_dialect(name: str, factory: Callable[[], Dialect]) -> None:
    """Make `name` openable (`open_modem(loop, f"{name}:/dev/...")`). Names are lower case."""
    _REGISTRY[name.lower()] = factory


def dialect_names() -> list[str]:
    """Every dialect that can be asked for, built-in or registered."""
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_dialect(name: str) -> Dialect:
    """A fresh `Dialect` by name; `UnknownDialect` names the known ones."""
    key = name.lower()
    if key not in _REGISTRY and key in _BUILTIN:
        importlib.import_module(_BUILTIN[key])
    factory = _REGISTRY.get(key)
    if factory is None:
        raise UnknownDialect(f"unknown modem dialect {name!r}; known: {', '.join(dialect_names())}")
    return factory()
