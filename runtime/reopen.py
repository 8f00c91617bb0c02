"""Opening a serial device again at its path after it vanished (issue 12: devices that go and return).

A USB modem that is unplugged and plugged in again, or a `vmodem serve` that is stopped and started
again, comes back at the same path: udev (or the emulator) makes it again. What comes back at a path
is not always ours, though. A pty's symlink left behind by a killed emulator (SIGKILL leaves it)
points at a pty number the kernel hands to the next program that asks; opening it would put our AT
commands into someone else's terminal. So a symlink found dangling when the device vanished is not
followed again until it has been replaced (a new link: another inode or ctime). A plain device path
(`/dev/ttyUSB2`, `/dev/serial0`) is simply opened again.

`PathReopener` only opens; when to try (capped back-off) and what "back" means to the protocol on
top (probe the modem) belong to its user (`modem.driver.modem.Modem`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.stream import Stream


class DeviceNotBack(OSError):
    """The device is not there again yet (a reopen attempt that should be retried later)."""


def link_identity(path: str) -> tuple[int, int, int] | None:
    """The symlink itself (device, inode, ctime), or None when `path` is no symlink."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns) if stat.S_ISLNK(st.st_mode) else None


class PathReopener:
    """Opens the device at `path` again with `opener`, never through a stale symlink.

    `lost()` when the device vanished (after our own fd is closed); then `open()` for each attempt:
    it returns the new stream or raises OSError (`DeviceNotBack`, `serial.SerialException`, ENOENT …).
    """

    def __init__(self, path: str, opener: Callable[[], Stream]) -> None:
        self.path = path
        self._opener = opener
        self._stale: tuple[int, int, int] | None = None

    def lost(self) -> None:
        ident = link_identity(self.path)
        self._stale = ident if ident is not None and not os.path.exists(self.path) else None

    def open(self) -> Stream:
        if self._stale is not None:
            if link_identity(self.path) == self._stale:
                raise DeviceNotBack(f"{self.path} is still the link to the vanished device")
            self._stale = None
        return self._opener()
