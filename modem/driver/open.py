"""Open the modem's serial line by name: `/dev/serial0`, `/dev/ttyUSB2`, `/dev/pts/7`, a pyserial URL.

The caller never imports a backend (STYLE.md, python-can): the spec string decides. DTR/RTS are
never touched (a pty has none; a SIM800 HAT does not need them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.serialport import open_serial

if TYPE_CHECKING:
    from runtime import Loop, Stream

DEFAULT_BAUD = 115200


def parse_spec(spec: str) -> tuple[str, int]:
    """`/dev/serial0` or `/dev/serial0@9600` → (port or URL, baud). A URL keeps its own query."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty modem port")
    port, sep, baud = spec.rpartition("@")
    if sep and baud.isdigit() and port:
        return port, int(baud)
    return spec, DEFAULT_BAUD


def open_modem(loop: Loop, spec: str, baudrate: int | None = None) -> Stream:
    """A `Stream` to the modem; raises `serial.SerialException` naming the port if it cannot open."""
    port, baud = parse_spec(spec)
    return open_serial(loop, port, baudrate=baudrate or baud)
