"""Splitting an AT command line into commands, and the table handlers register in.

`AT+CREG?;+CSQ;E0` -> [Command("+CREG", "read"), Command("+CSQ", "exec"), Command("E", "set", "0")].
Quoted strings keep their case and may contain ';' and ','.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.emulator.errors import AtError

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter


@dataclass(frozen=True)
class Command:
    name: str  # "+CREG", "E", "&F", "I", "S0"
    op: str  # "exec" | "read" | "test" | "set"
    arg: str = ""  # raw text after '=' (set) or the digits of a basic command

    def args(self) -> list[str]:
        """Comma-separated parameters, quotes removed; an empty parameter is ''."""
        return split_args(self.arg)

    def int_arg(self, index: int, default: int | None = None) -> int:
        args = self.args()
        if index >= len(args) or args[index] == "":
            if default is None:
                raise AtError()
            return default
        try:
            return int(args[index])
        except ValueError:
            raise AtError() from None

    def str_arg(self, index: int, default: str | None = None) -> str:
        args = self.args()
        if index >= len(args) or args[index] == "":
            if default is None:
                raise AtError()
            return default
        return args[index]


PromptDone = Callable[["Interpreter", "Prompt"], "Reply"]


@dataclass
class Prompt:
    """A '> ' prompt waiting for payload: Ctrl-Z ends it, or exactly `length` bytes.

    `complete` answers the payload once it is in (the command module that opened the prompt owns
    it, so the interpreter needs to know no command); None means the SMS modules' `send_payload`.
    `marker` is what the modem prints to ask for the data: `> ` for CMGS/CIPSEND, `DOWNLOAD` for
    AT+HTTPDATA (which also does not echo what it takes).
    """

    kind: str  # "cmgs-text" | "cmgs-pdu" | "cipsend" | "httpdata"
    length: int | None = None
    target: str = ""
    buf: bytearray = field(default_factory=bytearray)
    complete: PromptDone | None = None
    marker: bytes = b"\r\n> "
    echo: bool = True


@dataclass
class Reply:
    """A command's answer: info lines, then a final code, possibly late."""

    lines: list[str | bytes] = field(default_factory=list)
    final: str | None = "OK"  # None: no final result code (AT+CIFSR, a prompt)
    delay: float = 0.0
    trailer: list[str] = field(default_factory=list)  # after the final code (CIPSTATUS)
    prompt: Prompt | None = None
    after: Callable[[], None] | None = None  # runs once the reply is on the wire


Handler = Callable[["Interpreter", Command], Reply]


class CommandTable(dict[str, Handler]):
    """A dialect's command handlers by name ("+CIPSTART", "E", "S0").

    A new dialect starts from a copy of another's table (`CommandTable(SIM800_COMMANDS)`) and
    registers or deletes what differs, so a second modem is a module, not a fork of the interpreter.
    """

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for name in names:
                self[name] = fn
            return fn

        return register


# The SIM800 table: the `commands_*` modules register in it with `@command("+X")` on import.
COMMANDS = CommandTable()
command = COMMANDS.command


class ParseError(ValueError):
    """The line is not a well-formed AT command line."""


def split_args(text: str) -> list[str]:
    args: list[str] = []
    cur: list[str] = []
    quoted = False
    was_quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            was_quoted = True
            continue
        if ch == "," and not quoted:
            args.append("".join(cur) if was_quoted else "".join(cur).strip())
            cur, was_quoted = [], False
            continue
        cur.append(ch)
    if text:
        args.append("".join(cur) if was_quoted else "".join(cur).strip())
    return args


def _scan_to_semicolon(body: str, i: int) -> int:
    quoted = False
    while i < len(body):
        ch = body[i]
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            return i
        i += 1
    if quoted:
        raise ParseError("unterminated string")
    return i


def parse_line(body: str) -> list[Command]:
    """Parse what follows 'AT' into commands."""
    cmds: list[Command] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch in " ;":
            i += 1
            continue
        if ch in "+^*#$%":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_&"):
                j += 1
            name = body[i:j].upper()
            if len(name) < 2:
                raise ParseError("empty command name")
            rest = body[j:]
            if rest.startswith("=?"):
                cmds.append(Command(name, "test"))
                i = _scan_to_semicolon(body, j + 2)
            elif rest.startswith("?"):
                cmds.append(Command(name, "read"))
                i = _scan_to_semicolon(body, j + 1)
            elif rest.startswith("="):
                end = _scan_to_semicolon(body, j + 1)
                cmds.append(Command(name, "set", body[j + 1 : end]))
                i = end
            else:
                end = _scan_to_semicolon(body, j)
                if body[j:end].strip():
                    raise ParseError(f"junk after {name}")
                cmds.append(Command(name, "exec"))
                i = end
            continue
        if ch.isalpha() or ch == "&":
            j = i + 1
            if ch == "&":
                if j >= n or not body[j].isalpha():
                    raise ParseError("bad & command")
                j += 1
            name = body[i:j].upper()
            if name == "D":  # dial: the rest of the line is its argument
                end = _scan_to_semicolon(body, j)
                cmds.append(Command("D", "set", body[j:end]))
                i = end
                continue
            if name == "S":  # S-registers: S0=1, S7?
                k = j
                while k < n and body[k].isdigit():
                    k += 1
                name = "S" + body[j:k]
                j = k
                if j < n and body[j] == "?":
                    cmds.append(Command(name, "read"))
                    i = j + 1
                    continue
                if j < n and body[j] == "=":
                    k = j + 1
                    while k < n and body[k].isdigit():
                        k += 1
                    cmds.append(Command(name, "set", body[j + 1 : k]))
                    i = k
                    continue
                cmds.append(Command(name, "exec"))
                i = j
                continue
            k = j
            while k < n and body[k].isdigit():
                k += 1
            if k < n and body[k] == "?":
                cmds.append(Command(name, "read"))
                i = k + 1
                continue
            cmds.append(Command(name, "set" if k > j else "exec", body[j:k]))
            i = k
            continue
        raise ParseError(f"unexpected {ch!r}")
    return cmds


def basic_value(cmd: Command, default: int = 0) -> int:
    if cmd.arg == "":
        return default
    try:
        return int(cmd.arg)
    except ValueError:
        raise AtError() from None
