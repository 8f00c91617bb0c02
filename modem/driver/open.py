"""Open a modem by name: `open_modem(loop, "sim800:/dev/serial0")` → a `Modem` speaking that dialect.

The caller never imports a dialect or a port backend (STYLE.md, python-can): the spec string decides.

    sim800:/dev/serial0          the SIM800 dialect on a serial port (115200 baud)
    sim800:/dev/pts/7@9600       ... at another baud rate
    sim800:socket://host:7777    ... on any pyserial URL
    /dev/serial0, /tmp/modem     a bare port (or URL) means the default dialect, sim800

An unknown dialect name is a `UnknownDialect` error naming the known ones. DTR/RTS are never touched
(a pty has none; a SIM800 HAT does not need them). The modem reopens its port at the same path when
the device vanishes and returns (`runtime.reopen`, `Modem`'s port lifecycle).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modem.driver.dialect import DEFAULT_DIALECT, UnknownDialect, dialect_names, get_dialect
from runtime.reopen import PathReopener
from runtime.serialport import open_serial

if TYPE_CHECKING:
    from modem.driver.modem import Modem
    from runtime import Loop, Stream

DEFAULT_BAUD = 115200
_DIALECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

__all__ = ["DEFAULT_BAUD", "UnknownDialect", "dialect_names", "open_modem", "open_port", "parse_modem_spec",
           "parse_spec"]


def parse_spec(spec: str) -> tuple[str, int]:
    """`/dev/serial0` or `/dev/serial0@9600` → (port or URL, baud). A URL keeps its own query."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty modem port")
    port, sep, baud = spec.rpartition("@")
    if sep and baud.isdigit() and port:
        return port, int(baud)
    return spec, DEFAULT_BAUD


def parse_modem_spec(spec: str) -> tuple[str, str]:
    """`[dialect:]port` → (dialect, port). A bare port or pyserial URL (`loop://`) means sim800.

    Raises `UnknownDialect` for a `name:` prefix nobody registered, ValueError for an empty spec.
    """
    spec = spec.strip()
    name, sep, rest = spec.partition(":")
    if sep and _DIALECT_NAME.fullmatch(name) and not rest.startswith("//"):
        if name.lower() not in dialect_names():
            raise UnknownDialect(f"unknown modem dialect {name!r} in {spec!r}; known: "
                                 f"{', '.join(dialect_names())} (or a bare port for {DEFAULT_DIALECT})")
        if not rest.strip():
            raise ValueError(f"no port after {name}: in {spec!r}")
        return name.lower(), rest.strip()
    if not spec:
        raise ValueError("empty modem port")
    return DEFAULT_DIALECT, spec


def open_port(loop: Loop, spec: str, baudrate: int | None = None) -> Stream:
    """A `Stream` to a serial port, pty or pyserial URL (`port[@baud]`); raises `serial.SerialException`."""
    port, baud = parse_spec(spec)
    return open_serial(loop, port, baudrate=baudrate or baud)


def open_modem(loop: Loop, spec: str, *, baudrate: int | None = None, wait_for_device: bool = False,
               **options: Any) -> Modem:
    """The modem named by `spec` (`[dialect:]port[@baud]`), ready for `probe`/`init`.

    `options` go to `Modem` (`power_key`, `sms_pdu_mode`, ...). The dialect is looked up before the
    port is opened, so a typo in its name never touches a device. `wait_for_device`: a port that cannot
    be opened yet (OSError: a USB modem still enumerating, `vmodem serve` not started) is no error: the
    modem starts with its port gone and opens it when it appears; a malformed spec still raises.
    """
    from modem.driver.modem import Modem

    dialect_name, port = parse_modem_spec(spec)
    dialect = get_dialect(dialect_name)
    # A port that vanishes later (unplugged, emulator restarted) is reopened at the same path (issue 12).
    reopen = PathReopener(parse_spec(port)[0], lambda: open_port(loop, port, baudrate))
    try:
        stream = open_port(loop, port, baudrate)
    except OSError as exc:  # serial.SerialException is one
        if not wait_for_device:
            raise
        return Modem(loop, None, dialect=dialect, reopen=reopen, absent=str(exc), **options)
    return Modem(loop, stream, dialect=dialect, reopen=reopen, **options)
