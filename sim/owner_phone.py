"""The owner's phone of the simulated world, and the JSON-lines journals that survive a kill.

What the phone received is journalled line by line, so a world killed and restarted from its
state directory still knows what reached the owner (the report counts at the receiving end).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from runtime import Loop


class OwnerPhone:
    """The owner's phone: sends scripted SMS to the car, keeps everything it receives."""

    def __init__(self, loop: Loop, send: Callable[[str, str], None], number: str,
                 journal: Path | None = None) -> None:
        self.loop = loop
        self._send = send
        self.number = number
        self.received: list[tuple[float, str, str]] = []
        self.sent = 0
        self.journal = journal

    def send(self, to: str, text: str) -> None:
        self.sent += 1
        self._send(to, text)

    def receive(self, sender: str, text: str) -> None:
        self.received.append((self.loop.time(), sender, text))
        if self.journal is not None:
            append_jsonl(self.journal, {"t": self.loop.time(), "from": sender, "text": text})


def append_jsonl(path: Path, obj: dict) -> None:
    """One JSON line, written with one write(): survives a SIGKILL of this process."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass   # a line cut by a kill
    return out
