"""What the interpreter asks its surroundings to do: frozen actions the adapter carries out."""

from __future__ import annotations

from dataclasses import dataclass

from modem.sms import ConcatInfo


@dataclass(frozen=True)
class TcpConnect:
    conn_id: int
    host: str
    port: int


@dataclass(frozen=True)
class TcpSend:
    conn_id: int
    data: bytes


@dataclass(frozen=True)
class TcpClose:
    conn_id: int


@dataclass(frozen=True)
class SmsOut:
    """One SMS (or one part of a concatenated one) the device handed to the network."""

    sender: str
    to: str
    text: str
    reference: int
    concat: ConcatInfo | None = None
    pdu: str | None = None


@dataclass(frozen=True)
class MuxStart:
    """AT+CMUX accepted (its OK is out): from now on the line carries 07.10 frames (modem/cmux)."""

    n1: int
    t1: float  # seconds
    n2: int
    t2: float  # seconds


Action = TcpConnect | TcpSend | TcpClose | SmsOut | MuxStart
