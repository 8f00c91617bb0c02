"""Open a serial device as a `Stream` with pyserial: a real port, a pty, or any pyserial URL."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import serial

from runtime.fdstream import FdStream
from runtime.stream import Stream

if TYPE_CHECKING:
    from runtime.loop import Loop

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.005


class SerialStream(FdStream):
    """A pyserial port with a real fd (ttyS, ttyUSB, ttyAMA, pts): selectors wait on it."""

    def __init__(self, loop: Loop, port: serial.Serial) -> None:
        self.port = port
        super().__init__(loop, port.fileno(), close_fd=False)

    def close(self) -> None:
        super().close()
        self.port.close()

    def _peer_closed(self) -> None:
        # The device went away (EIO on a pty whose other end closed, an unplugged USB adapter): let the
        # port go too, or every vanish-and-reopen would leak its fd.
        self.port.close()
        super()._peer_closed()


class PolledSerialStream(Stream):
    """A pyserial URL without an fd (loop://, rfc2217://, …): polled on a short timer."""

    def __init__(self, loop: Loop, port: serial.SerialBase) -> None:
        super().__init__()
        self._loop = loop
        self.port = port
        port.write_timeout = None  # no fd to wait on for writability: let pyserial finish the write
        self._timer = loop.call_later(POLL_INTERVAL, self._poll)

    def _poll(self) -> None:
        if self.closed:
            return
        try:
            waiting = self.port.in_waiting
            if waiting:
                self._deliver(self.port.read(waiting))
        except (serial.SerialException, OSError) as exc:
            log.warning("serial port %s failed: %s", self.port.port, exc)
            self.port.close()
            self._peer_closed()
            return
        self._timer = self._loop.call_later(POLL_INTERVAL, self._poll)

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.port.write(data)

    def close(self) -> None:
        self.closed = True
        self._close_seen = True
        self._timer.cancel()
        self.port.close()


def open_serial(loop: Loop, url: str, baudrate: int = 115200) -> Stream:
    """Open `/dev/serial0`, `/dev/pts/N`, `/dev/ttyUSB2` or any pyserial URL.

    DTR/RTS are left alone (dsrdtr/rtscts off): a pty has neither, and a SIM800 HAT does not need them.
    Raises `serial.SerialException` with the port's name if it cannot be opened.
    """
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=0,
                                 rtscts=False, dsrdtr=False, do_not_open=True)
    port.open()
    try:
        port.fileno()
    except (AttributeError, NotImplementedError, io.UnsupportedOperation, serial.SerialException):
        return PolledSerialStream(loop, port)
    return SerialStream(loop, port)
