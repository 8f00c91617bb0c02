"""Pseudo-terminals for devices we emulate (virtual modem, virtual car's SLCAN adapter).

The emulator holds the master; a client opens the slave path exactly as it would open
/dev/serial0. We keep our own slave fd open so the master never reads EIO when the client closes
the port: the client may close and reopen it any number of times. A pty has no DTR/RTS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import termios
import tty
from typing import TYPE_CHECKING

from runtime.fdstream import FdStream

if TYPE_CHECKING:
    from runtime.loop import Loop

log = logging.getLogger(__name__)


def open_raw_pty() -> tuple[int, int, str]:
    """Open a pty pair in raw mode (no echo, no CR/LF translation); return (master, slave, path)."""
    master, slave = pty.openpty()
    tty.setraw(slave, termios.TCSANOW)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO  # lflag: raw mode already clears it; make it explicit
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave, os.ttyname(slave)


class PtyEndpoint:
    """The device side of a pty: `.stream` is the master as a Stream, `.path` what clients open."""

    def __init__(self, loop: Loop, link: str | None = None) -> None:
        self._master, self._slave, self.path = open_raw_pty()
        self.link = link
        if link:
            with contextlib.suppress(FileNotFoundError):
                if os.path.islink(link):
                    os.unlink(link)
            os.symlink(self.path, link)
        # eof_closes=False: with our slave fd held open there is no EOF; EIO would mean "no client".
        self.stream = FdStream(loop, self._master, eof_closes=False)

    @property
    def client_path(self) -> str:
        """The stable name if one was asked for, else the /dev/pts path."""
        return self.link or self.path

    def close(self) -> None:
        self.stream.close()
        with contextlib.suppress(OSError):
            os.close(self._slave)
        if self.link:
            with contextlib.suppress(OSError):
                if os.path.islink(self.link) and os.readlink(self.link) == self.path:
                    os.unlink(self.link)
