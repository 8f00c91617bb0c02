"""Is a SQLite write-ahead log damaged? SQLite itself cannot tell, so this reads it (sqlite.org/fileformat2.html §4).

On open SQLite replays the WAL up to the first frame whose checksum fails and silently ignores the
rest: that is right for a torn *last* write, but when a byte in the middle of the log is damaged every
transaction committed after it vanishes without a word — issue 12 saw queued alerts become "0 items
queued". A torn write can only hit the tail (with `synchronous=FULL` a commit is on disk before it is
acknowledged), so a frame that fails its checksum *followed by a commit frame of the same log
generation* (same salts) means committed transactions were lost. A damaged header loses every frame.

Call it before SQLite opens the file: opening replays and may checkpoint, erasing the evidence.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tcu.plural import plural

WAL_MAGIC_LE = 0x377F0682     # §4.1: checksums over little-endian words
WAL_MAGIC_BE = 0x377F0683     # §4.1: checksums over big-endian words
WAL_HEADER = 32               # §4.1
FRAME_HEADER = 24             # §4.2


def _checksum(data: bytes, s0: int, s1: int, fmt: str) -> tuple[int, int]:
    """§4.3: the cumulative Fibonacci-weighted checksum over 32-bit word pairs."""
    words = struct.unpack(f"{fmt}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def wal_damage(db_path: str | Path) -> str | None:
    """None when `<db>-wal` is absent, empty or sound; else what was lost, for people."""
    path = Path(f"{db_path}-wal")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) <= WAL_HEADER:   # nothing but a (possibly torn) header: no frame was ever committed
        return None
    magic, _version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:WAL_HEADER])
    if magic not in (WAL_MAGIC_LE, WAL_MAGIC_BE) or not 512 <= page_size <= 65536 \
            or page_size & (page_size - 1):
        return f"WAL header unreadable ({plural(len(data), 'byte')} of log ignored)"
    fmt = "<" if magic == WAL_MAGIC_LE else ">"
    s0, s1 = _checksum(data[:24], 0, 0, fmt)
    if (s0, s1) != (c0, c1):
        return f"WAL header checksum wrong ({plural(len(data), 'byte')} of log ignored)"
    frame_size = FRAME_HEADER + page_size
    off = WAL_HEADER
    broken_at: int | None = None
    lost_commits = 0
    while off + frame_size <= len(data):
        _pgno, commit, fs1, fs2, fc0, fc1 = struct.unpack(">6I", data[off:off + FRAME_HEADER])
        same_generation = (fs1, fs2) == (salt1, salt2)
        if broken_at is None:
            if same_generation:
                s0, s1 = _checksum(data[off:off + 8], s0, s1, fmt)
                s0, s1 = _checksum(data[off + FRAME_HEADER:off + frame_size], s0, s1, fmt)
            if not same_generation or (s0, s1) != (fc0, fc1):
                broken_at = off
        elif same_generation and commit:
            lost_commits += 1
        off += frame_size
    if broken_at is not None and lost_commits:
        return (f"WAL damaged at byte {broken_at}: {lost_commits} committed "
                f"transaction{'s' if lost_commits != 1 else ''} after it cannot be read")
    return None
