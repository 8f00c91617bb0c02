"""A host on the other end of an in-memory serial line to a virtual modem, on the virtual clock."""

from __future__ import annotations

from typing import Any

from modem.emulator import VirtualModem, VirtualNetwork
from runtime import VirtualLoop, pipe_pair


class Rig:
    def __init__(self, *, seed: int = 1, network: VirtualNetwork | None = None, loop: VirtualLoop | None = None,
                 boot: bool = True, **kw: Any) -> None:  # fmt: skip
        self.loop = loop or VirtualLoop(seed=seed)
        self.host, dev = pipe_pair(self.loop)
        self.net = network or VirtualNetwork(self.loop)
        kw.setdefault("profile", "instant")
        self.modem = VirtualModem(self.loop, dev, self.net, **kw)
        self.rx = bytearray()
        self.host.set_handlers(self.rx.extend)
        if boot:
            self.loop.run_for(30 if kw["profile"] == "realistic" else 0.01)

    def take(self) -> str:
        out = self.rx.decode("latin-1")
        self.rx.clear()
        return out

    def send(self, data: bytes | str, wait: float = 0.01) -> str:
        self.rx.clear()
        self.host.write(data.encode("latin-1") if isinstance(data, str) else data)
        self.loop.run_for(wait)
        return self.take()

    def at(self, line: str, wait: float = 0.01) -> str:
        return self.send(line + "\r", wait)

    def run(self, seconds: float) -> str:
        self.loop.run_for(seconds)
        return self.take()
