"""Pseudo-terminals for devices we emulate (virtual modem, virtual car's SLCAN adapter).

The emulator holds the master; a client opens the slave path exactly as it would open
/dev/serial0. We keep our own slave fd open so the master never reads EIO when the client closes
the port: the client may close and reopen it any number of times. A pty has no DTR/RTS.
A stable link to the pty is claimed (`runtime.claim`): another live process's link is never replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import termios
import tty
from typing import TYPE_CHECKING

from runtime.claim import LinkClaim
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

    def __init__(self, loop: Loop, link: str | LinkClaim | None = None) -> None:
        """`link`: a path to point at the pty, or a `LinkClaim` the caller took earlier (to refuse a
        path in use before booting a device). Raises `PathInUse` if another live process holds it."""
        claim = LinkClaim(link) if isinstance(link, str) else link
        self._link_claim = claim
        self.link = claim.path if claim is not None else None
        try:
            self._master, self._slave, self.path = open_raw_pty()
        except BaseException:
            if claim is not None and isinstance(link, str):
                claim.release()
            raise
        if claim is not None:
            claim.point_to(self.path)
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
        if self._link_claim is not None:
            self._link_claim.release()  # removes the link only if it still names our pty
            self._link_claim = None
