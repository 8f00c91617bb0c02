"""The byte-stream interface every adapter speaks: serial port, pty, TCP socket or in-memory pipe.

Components get a `Stream` and never learn which kind it is, so the same code runs against a real
SIM800 on /dev/serial0, a virtual modem on a pty, or an in-memory pipe on the virtual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

DataHandler = Callable[[bytes], None]
CloseHandler = Callable[[], None]


class Stream:
    """Base class: handler bookkeeping shared by every concrete stream.

    Data that arrives before `set_handlers` is kept and handed over when a handler appears, so
    a component may attach late without losing the modem's first bytes.
    """

    def __init__(self) -> None:
        self._on_data: DataHandler | None = None
        self._on_close: CloseHandler | None = None
        self._early: list[bytes] = []
        self._close_seen = False
        self.closed = False
        self.remote_address: tuple[str, int] | None = None   # (host, port) of an accepted TCP connection

    def set_handlers(self, on_data: DataHandler, on_close: CloseHandler | None = None) -> None:
        self._on_data = on_data
        self._on_close = on_close
        early, self._early = self._early, []
        for chunk in early:
            on_data(chunk)
        if self._close_seen and on_close is not None:
            on_close()

    def write(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- for subclasses -------------------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        if not data:
            return
        if self._on_data is None:
            self._early.append(data)
            return
        try:
            self._on_data(data)
        except Exception:  # a component bug must not take the loop down with it
            log.exception("data handler of %r failed", self)

    def _peer_closed(self) -> None:
        if self._close_seen:
            return
        self._close_seen = True
        self.closed = True
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception:
                log.exception("close handler of %r failed", self)
