"""Opening the unit's SQLite databases the one way that survives power cuts — and private.

WAL mode lets readers (the live view) run while the firmware writes; `synchronous=FULL` makes every
committed transaction durable on power loss, which the outbox's "nothing confirmed is lost" needs.

The databases hold the owner's number, the SMS log and (in `params.db`) passwords changed by SMS, so
they are created 0600 in a 0700 directory, and an existing file with a looser mode is tightened at
open (SQLite gives its `-wal`/`-shm` files the database file's mode).

`storage_fault` tells a failing disk (full, read-only, I/O error, damaged file) from our own SQL bugs:
the first is weather the unit rides out (issue 12), the second must raise in tests.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")

# SQLite primary result codes (sqlite.org/rescode.html) that mean "the disk or the file", not "our SQL".
_FAULTS = {
    3: "permission denied",          # SQLITE_PERM
    5: "database is locked",         # SQLITE_BUSY
    6: "database is locked",         # SQLITE_LOCKED
    7: "out of memory",              # SQLITE_NOMEM
    8: "read-only",                  # SQLITE_READONLY
    10: "I/O error",                 # SQLITE_IOERR
    11: "damaged",                   # SQLITE_CORRUPT
    13: "disk full",                 # SQLITE_FULL
    14: "cannot open the file",      # SQLITE_CANTOPEN
    26: "damaged (not a database)",  # SQLITE_NOTADB
}
_OS_FAULTS = {errno.EROFS: "read-only", errno.ENOSPC: "disk full", errno.EDQUOT: "disk full",
              errno.EACCES: "not writable (permission denied)", errno.EPERM: "not writable (permission denied)",
              errno.EIO: "I/O error", errno.ENOENT: "missing", errno.ENOTDIR: "not a directory"}


def storage_fault(e: BaseException) -> str | None:
    """`disk full`, `read-only`, … when `e` is the disk's or the file's fault; None for our own bugs."""
    if isinstance(e, OSError):
        return _OS_FAULTS.get(e.errno or 0) or (os.strerror(e.errno).lower() if e.errno else str(e))
    if not isinstance(e, sqlite3.Error):
        return None
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _FAULTS.get(code & 0xFF)
    text = str(e)   # an error raised by the sqlite3 module itself, without a code
    for needle, fault in (("disk is full", "disk full"), ("readonly", "read-only"), ("disk I/O", "I/O error"),
                          ("malformed", "damaged"), ("not a database", "damaged (not a database)"),
                          ("unable to open", "cannot open the file")):
        if needle in text:
            return fault
    return None


def private_dir(path: str | Path) -> Path:
    """Create `path` (and parents) 0700; tighten an existing one that only holds our files.

    A directory that holds anything else (`--state-dir /tmp`) is left alone with a warning: changing
    the mode of a shared directory would break other programs."""
    p = Path(path)
    p.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        if all(_ours(child.name) for child in p.iterdir()):
            os.chmod(p, DIR_MODE)
        else:
            log.warning("state_dir: %s is readable by other users (mode %o) and holds other files; "
                        "it is left as it is — use a directory of its own", p, mode)
    return p


def _ours(name: str) -> bool:
    return name.split(".db", 1)[0] in ("outbox", "params", "sms_log", "unit") and ".db" in name


def private_file(path: str | Path) -> None:
    """Create `path` 0600 if missing; tighten it and its WAL/SHM files if they exist with a looser mode."""
    p = Path(path)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    for f in [p, *(Path(f"{p}{s}") for s in SIDE_FILES)]:
        try:
            if stat.S_IMODE(f.stat().st_mode) & 0o077:
                os.chmod(f, FILE_MODE)
        except FileNotFoundError:
            pass


def open_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating, 0600 in a 0700 directory) a database in WAL mode; transactions are ours."""
    if str(path) != ":memory:":
        private_dir(Path(path).parent)
        private_file(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class transaction:
    """`with transaction(conn):` — one BEGIN IMMEDIATE … COMMIT, rolled back on any exception.

    A COMMIT that fails (disk full) is rolled back too, so the connection is usable for the next try."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error as e:   # SQLite may have rolled back already (SQLITE_FULL, IOERR)
                log.debug("rollback after a failed transaction: %s", e)
