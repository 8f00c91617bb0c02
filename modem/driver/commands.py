"""SIMCom 2G commands as `Command` values, and pure parsers for their answers (sim800-at.md §2, §3).

Everything here is a function of strings: no channel, no clock. `sim800.Modem` strings these into
operations; tests check each parser on its own, including against malformed answers (a parser raises
`ParseError`, which the modem turns into `Failed`, never a crash).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from modem.driver.at_channel import CTRL_Z, Command

# Worst-case durations (sim800-at.md §1) plus margin.
T_SHORT = 5.0
T_CIICR = 90.0  # spec: up to 85 s
T_CIPSTART = 80.0  # spec: up to 75 s before CONNECT OK/FAIL
T_CIPSHUT = 65.0
T_CMGS = 65.0  # spec: up to 60 s
T_CIPSEND = 65.0
T_COPS_SCAN = 180.0  # spec: minutes
T_CFUN = 15.0

IP_RE = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"

# TS 27.007 +CREG <stat> (spec §2).
REG_NOT = 0
REG_HOME = 1
REG_SEARCHING = 2
REG_DENIED = 3
REG_UNKNOWN = 4
REG_ROAMING = 5


class ParseError(ValueError):
    """The modem's answer does not have the shape the spec gives: a peer mistake, not our bug."""


def split_fields(text: str) -> list[str]:
    """Split `a,"b,c",d` on commas outside quotes; quotes are removed from quoted fields."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _after(line: str, prefix: str) -> str:
    if not line.startswith(prefix):
        raise ParseError(f"expected {prefix!r}, got {line!r}")
    return line[len(prefix):].strip()


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"{what}: {text!r} is not a number") from None


def find_line(lines: tuple[str, ...], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix):
            return line
    raise ParseError(f"no {prefix!r} line in {lines!r}")


# -- basic / identity --------------------------------------------------------------------------

def at(timeout: float = 1.0) -> Command:
    return Command("AT", timeout=timeout)


def simple(text: str, timeout: float = T_SHORT) -> Command:
    """A command answered by OK / ERROR with no information lines we need."""
    return Command(text, timeout=timeout)


def query(text: str, prefix: str, timeout: float = T_SHORT) -> Command:
    return Command(text, timeout=timeout, prefixes=(prefix,))


def identity(text: str) -> Command:
    """CGMI/CGMM/CGMR/CGSN/CCID/CIMI: one bare information line, then OK."""
    return Command(text, timeout=T_SHORT)


def parse_identity(lines: tuple[str, ...]) -> str:
    if not lines:
        raise ParseError("no identification line")
    value = lines[-1]
    for prefix in ("+CGMI:", "+CGMM:", "+CGMR:", "+CGSN:", "+CCID:", "+CIMI:", "Revision:"):
        if value.startswith(prefix):
            value = value[len(prefix):].strip()
    return value


@dataclass(frozen=True)
class ModemInfo:
    manufacturer: str
    model: str
    revision: str
    imei: str
    iccid: str | None
    imsi: str | None


# -- SIM -------------------------------------------------------------------------------------------

def parse_cpin(lines: tuple[str, ...]) -> str:
    """`+CPIN: READY` → "READY" (or "SIM PIN", "SIM PUK", "NOT INSERTED", ...)."""
    return _after(find_line(lines, "+CPIN:"), "+CPIN:")


def parse_csmins(lines: tuple[str, ...]) -> bool:
    """`+CSMINS: <n>,<inserted>` → SIM inserted."""
    f = split_fields(_after(find_line(lines, "+CSMINS:"), "+CSMINS:"))
    if len(f) < 2:
        raise ParseError(f"short +CSMINS: {f!r}")
    return _int(f[1], "CSMINS inserted") == 1


# -- network ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registration:
    """`+CREG: <n>,<stat>[,"<lac>","<ci>"]` (spec §2)."""

    stat: int
    lac: str | None = None
    ci: str | None = None

    @property
    def registered(self) -> bool:
        return self.stat in (REG_HOME, REG_ROAMING)

    @property
    def roaming(self) -> bool:
        return self.stat == REG_ROAMING


def parse_creg(lines: tuple[str, ...], prefix: str = "+CREG:") -> Registration:
    f = split_fields(_after(find_line(lines, prefix), prefix))
    if len(f) < 2:
        raise ParseError(f"short {prefix} answer: {f!r}")
    stat = _int(f[1], "registration stat")
    lac = f[2] if len(f) > 3 else None
    ci = f[3] if len(f) > 3 else None
    return Registration(stat, lac, ci)


@dataclass(frozen=True)
class Signal:
    """`+CSQ: <rssi>,<ber>`; `dbm` is None for 99 (not known)."""

    rssi: int
    ber: int
    dbm: int | None


def csq_to_dbm(rssi: int) -> int | None:
    """TS 27.007 §8.5: 0 → -113 dBm or less, 1 → -111, 2..30 → -109..-53, 31 → -51 or more, 99 unknown."""
    if rssi == 99 or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def parse_csq(lines: tuple[str, ...]) -> Signal:
    f = split_fields(_after(find_line(lines, "+CSQ:"), "+CSQ:"))
    if len(f) < 2:
        raise ParseError(f"short +CSQ: {f!r}")
    rssi = _int(f[0], "rssi")
    return Signal(rssi, _int(f[1], "ber"), csq_to_dbm(rssi))


@dataclass(frozen=True)
class Operator:
    """`+COPS: <mode>[,<format>,"<oper>"]`; name None when not registered."""

    mode: int
    format: int | None
    name: str | None


def parse_cops(lines: tuple[str, ...]) -> Operator:
    f = split_fields(_after(find_line(lines, "+COPS:"), "+COPS:"))
    mode = _int(f[0], "COPS mode")
    if len(f) >= 3:
        return Operator(mode, _int(f[1], "COPS format"), f[2])
    return Operator(mode, None, None)


_CCLK = re.compile(r'"?(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d?)?"?$')


def parse_sim_time(text: str) -> datetime:
    """`yy/MM/dd,hh:mm:ss±zz` (zz in quarter hours, TS 27.007 +CCLK; also SMS text-mode SCTS)."""
    m = _CCLK.match(text.strip())
    if not m:
        raise ParseError(f"bad time {text!r}")
    yy, mo, dd, hh, mi, ss = (int(g) for g in m.groups()[:6])
    tz = timezone(timedelta(minutes=15 * int(m.group(7) or 0)))
    try:
        return datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=tz)
    except ValueError as exc:
        raise ParseError(f"bad time {text!r}: {exc}") from None


def parse_cclk(lines: tuple[str, ...]) -> datetime:
    return parse_sim_time(_after(find_line(lines, "+CCLK:"), "+CCLK:"))


# -- GPRS and TCP (spec §3) ------------------------------------------------------------------------

def quote(value: str) -> str:
    """`value` as an AT string parameter (V.250 §5.4.2.2: no quote or line end inside)."""
    if '"' in value or not value.isascii() or "\r" in value or "\n" in value:
        raise ValueError(f"cannot pass {value!r} in an AT string parameter")  # our caller's bug
    return f'"{value}"'


_quote = quote


def cpin(pin: str) -> Command:
    if not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise ValueError("a SIM PIN is 4 to 8 digits")
    return Command(f'AT+CPIN="{pin}"', secret=True)


def cipshut() -> Command:
    return Command("AT+CIPSHUT", timeout=T_CIPSHUT, finals=("SHUT OK",))


def cstt(apn: str, user: str = "", password: str = "") -> Command:
    if user or password:
        return Command(f"AT+CSTT={_quote(apn)},{_quote(user)},{_quote(password)}", secret=True)
    return simple(f"AT+CSTT={_quote(apn)}")


def ciicr() -> Command:
    return simple("AT+CIICR", timeout=T_CIICR)


def cifsr() -> Command:
    """Spec §3: the IP address alone, no OK."""
    return Command("AT+CIFSR", timeout=T_SHORT, finals=(IP_RE,))


def cipstart(host: str, port: int) -> Command:
    """OK at once, then CONNECT OK / CONNECT FAIL / ALREADY CONNECT (spec §3)."""
    if not 0 < port < 65536:
        raise ValueError(f"bad port {port}")
    return Command(f'AT+CIPSTART="TCP",{_quote(host)},{port}', timeout=T_CIPSTART,
                   finals=("CONNECT OK", "ALREADY CONNECT"), fail_finals=("CONNECT FAIL",),
                   ok_is_final=False)


def cipsend(data: bytes, fixed_length: bool = True) -> Command:
    """`AT+CIPSEND=<n>` takes exactly n bytes (binary-safe); without n the payload ends at Ctrl-Z."""
    if fixed_length:
        return Command(f"AT+CIPSEND={len(data)}", timeout=T_CIPSEND, prompt=True, payload=data,
                       terminator=b"", finals=("SEND OK", r"DATA ACCEPT:"), fail_finals=("SEND FAIL",))
    if CTRL_Z in data:
        raise ValueError("payload contains Ctrl-Z: use fixed_length")
    return Command("AT+CIPSEND", timeout=T_CIPSEND, prompt=True, payload=data,
                   finals=("SEND OK", r"DATA ACCEPT:"), fail_finals=("SEND FAIL",))


def cipclose() -> Command:
    return Command("AT+CIPCLOSE", timeout=T_SHORT, finals=("CLOSE OK",))


def cipstatus() -> Command:
    """Spec §3 / SIM800 manual: OK, then `STATE: <state>`."""
    return Command("AT+CIPSTATUS", timeout=T_SHORT, finals=(r"STATE:",), ok_is_final=False)


def parse_state(line: str) -> str:
    return _after(line, "STATE:")


# -- SMS -------------------------------------------------------------------------------------------

def cmgs_pdu(hex_pdu: str, tpdu_length: int) -> Command:
    return Command(f"AT+CMGS={tpdu_length}", timeout=T_CMGS, prompt=True, payload=hex_pdu.encode("ascii"),
                   prefixes=("+CMGS:",))


def cmgs_text(number: str, text: str) -> Command:
    return Command(f"AT+CMGS={_quote(number)}", timeout=T_CMGS, prompt=True,
                   payload=text.replace("\n", "\r").encode("ascii"), prefixes=("+CMGS:",))


def parse_cmgs(lines: tuple[str, ...]) -> int:
    return _int(split_fields(_after(find_line(lines, "+CMGS:"), "+CMGS:"))[0], "message reference")


def cmgr(index: int) -> Command:
    return Command(f"AT+CMGR={index}", timeout=T_SHORT, prefixes=("+CMGR:",), body_after_prefix=True)


def cmgl(pdu_mode: bool) -> Command:
    return Command("AT+CMGL=4" if pdu_mode else 'AT+CMGL="ALL"', timeout=30.0, prefixes=("+CMGL:",),
                   body_after_prefix=True)


def cmgd(index: int) -> Command:
    return simple(f"AT+CMGD={index}")


@dataclass(frozen=True)
class TextHeader:
    """What a text-mode `+CMT:`/`+CMGR:`/`+CMGL:` header says about a message."""

    sender: str
    time: datetime | None
    status: str | None = None
    index: int | None = None


def parse_cmt_text_header(header: str) -> TextHeader:
    """`+CMT: "<oa>",[<alpha>],"<scts>"[,...]`."""
    f = split_fields(_after(header, "+CMT:"))
    if len(f) < 3:
        raise ParseError(f"short +CMT header {header!r}")
    return TextHeader(f[0], _maybe_time(f[2]))


def parse_cmgr_text_header(line: str) -> TextHeader:
    """`+CMGR: "<stat>","<oa>",[<alpha>],"<scts>"[,...]`."""
    f = split_fields(_after(line, "+CMGR:"))
    if len(f) < 2:
        raise ParseError(f"short +CMGR header {line!r}")
    return TextHeader(f[1], _maybe_time(f[3]) if len(f) > 3 else None, status=f[0])


def parse_cmgl_text_header(line: str) -> TextHeader:
    """`+CMGL: <index>,"<stat>","<oa>",[<alpha>],["<scts>"]...`."""
    f = split_fields(_after(line, "+CMGL:"))
    if len(f) < 3:
        raise ParseError(f"short +CMGL header {line!r}")
    return TextHeader(f[2], _maybe_time(f[4]) if len(f) > 4 else None, status=f[1],
                      index=_int(f[0], "CMGL index"))


def parse_cmgl_pdu_index(line: str) -> int:
    """`+CMGL: <index>,<stat>,[<alpha>],<length>`."""
    return _int(split_fields(_after(line, "+CMGL:"))[0], "CMGL index")


def _maybe_time(text: str) -> datetime | None:
    try:
        return parse_sim_time(text)
    except ParseError:
        return None


def ascii_digits(text: str) -> bool:
    """`str.isdigit()` also takes '¹' (int() raises) and '٣' (int() reads 3): a modem sends ASCII digits."""
    return text.isascii() and text.isdigit()


def is_pdu_cmt(header: str) -> bool:
    """PDU mode `+CMT: [<alpha>],<length>` has two fields; text mode has three or more."""
    f = split_fields(header.split(":", 1)[1]) if ":" in header else []
    return len(f) == 2 and ascii_digits(f[1])


def is_pdu_cmgr(header: str) -> bool:
    """PDU mode `+CMGR: <stat>,[<alpha>],<length>` starts with a number; text mode with "REC ..."."""
    f = split_fields(header.split(":", 1)[1]) if ":" in header else []
    return bool(f) and ascii_digits(f[0])


# -- GNSS -------------------------------------------------------------------------------------------

def cgnspwr(on: bool) -> Command:
    return simple(f"AT+CGNSPWR={1 if on else 0}")


def cgnsinf() -> Command:
    return query("AT+CGNSINF", "+CGNSINF:")
