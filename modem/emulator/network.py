"""The network behind the virtual modems: TCP to servers, and an SMS centre shared by many modems.

TCP goes through the runtime contract (`loop.connect_tcp`), so the same code opens real loopback
sockets on the real clock and in-process endpoints on the virtual clock. On the real clock only
loopback hosts are allowed unless the operator lists others: no traffic may leave the machine by
accident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from modem.sms import ConcatInfo, Reassembler, SmsDeliver, make_delivers

if TYPE_CHECKING:
    from runtime import Loop, Stream

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Subscriber(Protocol):
    """What the SMS centre needs from a modem: somewhere to hand a message."""

    number: str

    def receive_sms(self, parts: list[SmsDeliver]) -> None: ...


@dataclass(frozen=True)
class SentSms:
    """A whole message a device sent, reassembled from its parts."""

    sender: str
    to: str
    text: str
    time: float  # loop.wall() when the last part arrived
    parts: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.sender, "to": self.to, "text": self.text, "time": self.time, "parts": self.parts}


@dataclass
class SmsCentre:
    """Numbers -> modems; an outbox of what devices sent; delivery of what phones send."""

    loop: Loop
    number: str = "+447700900000"
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    outbox: list[SentSms] = field(default_factory=list)
    listeners: list[Callable[[SentSms], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reassembler = Reassembler(timeout=24 * 3600)
        self._concat_ref = 0

    def register(self, modem: Subscriber) -> None:
        self.subscribers[modem.number] = modem

    def unregister(self, modem: Subscriber) -> None:
        if self.subscribers.get(modem.number) is modem:
            del self.subscribers[modem.number]

    def submit(self, sender: str, to: str, text: str, concat: ConcatInfo | None = None) -> SentSms | None:
        """A device sent one part; returns the whole message when it is complete."""
        whole = self._reassembler.add(sender, text, concat, self.loop.time())
        if whole is None:
            return None
        sms = SentSms(sender, to, whole, self.loop.wall(), concat.total if concat else 1)
        self.outbox.append(sms)
        log.info("SMSC: %s -> %s: %r", sender, to, whole)
        for listener in list(self.listeners):
            listener(sms)
        target = self.subscribers.get(to)
        if target is not None and target.number != sender:
            self.deliver(sender, to, whole)
        return sms

    def deliver(self, sender: str, to: str, text: str) -> bool:
        """Send `text` from a phone (or another device) to the modem that owns `to`."""
        target = self.subscribers.get(to)
        if target is None:
            log.warning("SMSC: no subscriber %s; message from %s dropped", to, sender)
            return False
        self._concat_ref = (self._concat_ref + 1) % 256
        stamp = datetime.fromtimestamp(int(self.loop.wall()), UTC)
        parts = make_delivers(sender, text, stamp, concat_ref=self._concat_ref)
        target.receive_sms(parts)
        return True

    def sent_to(self, number: str) -> list[SentSms]:
        return [s for s in self.outbox if s.to == number]


class VirtualNetwork:
    """One world's network: shared by all the virtual modems in it."""

    def __init__(
        self,
        loop: Loop,
        *,
        smsc_number: str = "+447700900000",
        allow_hosts: tuple[str, ...] | list[str] = (),
        allow_any_host: bool | None = None,
    ) -> None:
        self.loop = loop
        self.smsc = SmsCentre(loop, smsc_number)
        self.allow_hosts = frozenset(allow_hosts)
        if allow_any_host is None:
            # On the virtual clock nothing touches the OS: any host name is an in-process endpoint.
            from runtime import VirtualLoop

            allow_any_host = isinstance(loop, VirtualLoop)
        self.allow_any_host = allow_any_host

    def host_allowed(self, host: str) -> bool:
        return self.allow_any_host or host in LOOPBACK or host.startswith("127.") or host in self.allow_hosts

    def connect(self, host: str, port: int, on_done: Callable[[Stream | None, str | None], None]) -> None:
        if not self.host_allowed(host):
            log.warning("refusing TCP to %s:%d: not loopback and not allowed (--allow-host)", host, port)
            self.loop.call_soon(on_done, None, f"host {host} not allowed")
            return
        try:
            self.loop.connect_tcp(host, port, on_done)
        except Exception as exc:  # a bad host name must look like a failed connect, not a crash
            log.warning("TCP to %s:%d failed: %s", host, port, exc)
            self.loop.call_soon(on_done, None, str(exc))
