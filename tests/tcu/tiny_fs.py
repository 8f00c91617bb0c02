"""A real small filesystem for storage-fault tests: a tmpfs we can fill, free and make read-only.

Needs root (mount); `tiny_fs` skips the test where mounting is refused. Tests that must run
everywhere use SQLite's `PRAGMA max_page_count` instead (a database that is full for real).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


class TinyFs:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        """Take every free byte (a filler file), so the next write gets ENOSPC."""
        with open(self.filler, "ab", buffering=0) as f:
            chunk = b"\0" * 4096
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        return
                    chunk = chunk[: len(chunk) // 2]

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def readonly(self, on: bool = True) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path)], check=True)


@contextmanager
def tiny_fs(tmp_path: Path, size: str = "512k") -> Iterator[TinyFs]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0 or os.geteuid() != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not root'})")
    try:
        yield TinyFs(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
