"""A `Stream` over a real file descriptor: socket, pty master or serial port."""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from runtime.stream import Stream

if TYPE_CHECKING:
    from runtime.loop import Loop

log = logging.getLogger(__name__)

# A peer that stops reading must not make us grow without bound (a modem with no client, say).
MAX_BUFFERED = 1 << 20


class FdStream(Stream):
    """Non-blocking reads and buffered writes on the real loop."""

    def __init__(self, loop: Loop, fileobj: Any, *, close_fd: bool = True, eof_closes: bool = True) -> None:
        super().__init__()
        self._loop = loop
        self._obj = fileobj
        self._fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._is_socket = isinstance(fileobj, socket.socket)
        self._close_fd = close_fd
        self._eof_closes = eof_closes
        self._out = bytearray()
        self.dropped = 0
        os.set_blocking(self._fd, False)
        loop.add_reader(self._fd, self._readable)

    def __repr__(self) -> str:
        return f"<FdStream fd={self._fd}{' closed' if self.closed else ''}>"

    def fileno(self) -> int:
        return self._fd

    def _readable(self) -> None:
        try:
            data = self._obj.recv(65536) if self._is_socket else os.read(self._fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EIO and not self._eof_closes:
                return  # pty master with no client attached: wait for one
            log.debug("read on fd %d failed: %s", self._fd, exc)
            data = b""
        if not data:
            if self._eof_closes:
                self._shutdown()
                self._peer_closed()
            return
        self._deliver(data)

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if self._out:
            self._buffer(data)
            return
        try:
            n = self._obj.send(data) if self._is_socket else os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            if exc.errno == errno.EIO and not self._eof_closes:
                self.dropped += len(data)  # nobody on the other side of the pty
                return
            log.debug("write on fd %d failed: %s", self._fd, exc)
            self._shutdown()
            self._peer_closed()
            return
        if n < len(data):
            self._buffer(data[n:])

    def _buffer(self, data: bytes) -> None:
        if not self._out:
            self._loop.add_writer(self._fd, self._writable)
        self._out += data
        if len(self._out) > MAX_BUFFERED:
            excess = len(self._out) - MAX_BUFFERED
            del self._out[:excess]
            self.dropped += excess
            log.warning("fd %d: peer is not reading; dropped %d bytes", self._fd, excess)

    def _writable(self) -> None:
        try:
            n = self._obj.send(self._out) if self._is_socket else os.write(self._fd, self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EIO and not self._eof_closes:
                self.dropped += len(self._out)
                self._out.clear()
                self._loop.remove_writer(self._fd)
                return
            self._shutdown()
            self._peer_closed()
            return
        del self._out[:n]
        if not self._out:
            self._loop.remove_writer(self._fd)

    def _shutdown(self) -> None:
        self.closed = True
        try:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        except (KeyError, ValueError, OSError):
            pass
        if self._close_fd:
            try:
                if self._is_socket or hasattr(self._obj, "close"):
                    self._obj.close()
                else:
                    os.close(self._fd)
            except OSError:
                pass

    def close(self) -> None:
        if self.closed:
            return
        if self._out:  # best effort: flush what is pending before closing
            try:
                if self._is_socket:
                    self._obj.send(self._out)
                else:
                    os.write(self._fd, self._out)
            except OSError:
                pass
        self._close_seen = True
        self._shutdown()
