"""A tiny scripted SIM800 stand-in for driver tests: a table of command line → answer bytes.

Not an emulator: it knows only what a test tells it. The real virtual modem is `modem.emulator`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from runtime import Loop, Stream

Answer = bytes | Callable[[str], bytes] | None


class ScriptedModem:
    """Answers command lines from `table` (regex → bytes or fn(line) → bytes); records what it got."""

    def __init__(self, loop: Loop, stream: Stream, table: dict[str, Answer] | None = None,
                 echo: bool = False) -> None:
        self.loop = loop
        self.stream = stream
        self.table: dict[str, Answer] = dict(table or {})
        self.echo = echo
        self.lines: list[str] = []
        self.payloads: list[bytes] = []
        self.silent = False
        self._buf = b""
        self._prompt: tuple[int | None, str] | None = None  # (fixed length, answer-after)
        self.prompt_answers: dict[str, Answer] = {
            r"AT\+CIPSEND.*": b"\r\nSEND OK\r\n",
            r"AT\+CMGS.*": b"\r\n+CMGS: 7\r\n\r\nOK\r\n",
        }
        stream.set_handlers(self._on_data)

    def push(self, data: bytes) -> None:
        self.stream.write(data)

    def _on_data(self, data: bytes) -> None:
        if self.silent:
            return
        self._buf += data
        while self._buf:
            if self._prompt is not None:
                n, cmd = self._prompt
                if n is not None:
                    if len(self._buf) < n:
                        return
                    payload, self._buf = self._buf[:n], self._buf[n:]
                else:
                    i = min((self._buf.find(c) for c in (b"\x1a", b"\x1b") if c in self._buf), default=-1)
                    if i < 0:
                        return
                    payload, end, self._buf = self._buf[:i], self._buf[i:i + 1], self._buf[i + 1:]
                    if end == b"\x1b":
                        self._prompt = None
                        self.push(b"\r\nOK\r\n")
                        continue
                self._prompt = None
                self.payloads.append(payload)
                self._answer(cmd, self.prompt_answers, payload.decode("latin-1"))
                continue
            i = self._buf.find(b"\r")
            if i < 0:
                return
            line, self._buf = self._buf[:i].decode("latin-1"), self._buf[i + 1:]
            line = line.lstrip("\n\x1b")
            if not line:
                continue
            self.lines.append(line)
            if self.echo:
                self.push(line.encode() + b"\r")
            m = re.match(r"AT\+(CIPSEND|CMGS)(?:=(\S+))?$", line)
            if m and self._lookup(line, self.table) is None:
                n = int(m.group(2)) if m.group(1) == "CIPSEND" and m.group(2) else None
                self._prompt = (n, line)
                self.push(b"\r\n> ")
                continue
            self._answer(line, self.table, line)

    @staticmethod
    def _lookup(line: str, table: dict[str, Answer]) -> Answer:
        for pat, ans in table.items():
            if re.fullmatch(pat, line):
                return ans
        return None

    def _answer(self, key: str, table: dict[str, Answer], arg: str) -> None:
        ans = self._lookup(key, table)
        if ans is None:
            if table is self.table:
                ans = b"\r\nOK\r\n"
            else:
                return
        if callable(ans):
            ans = ans(arg)
        if ans:
            self.push(ans)
