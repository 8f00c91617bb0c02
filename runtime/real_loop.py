"""The real clock: `selectors` over serial ports, ptys, sockets and python-can buses, plus timers.

This is what runs on a Raspberry Pi and against ptys. Deadlines use the monotonic clock, because a
Pi has no RTC and its calendar clock jumps when NTP first syncs.
"""

from __future__ import annotations

import errno
import heapq
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from runtime.fdstream import FdStream
from runtime.loop import AcceptHandler, ConnectHandler, Listener, Loop

log = logging.getLogger(__name__)

# Accept back-off when the process is out of fds or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
ACCEPT_BACKOFF_MIN = 0.05
ACCEPT_BACKOFF_MAX = 1.0
ACCEPT_LOG_INTERVAL = 10.0


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class RealLoop(Loop):
    """A small selector loop; one thread, no asyncio, same interface as the virtual clock."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed if seed is not None else int.from_bytes(os.urandom(4), "big"))
        self._sel = selectors.DefaultSelector()
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._threadsafe: list[tuple[Callable[..., Any], tuple]] = []
        self._ts_lock = threading.Lock()
        self.add_reader(self._wake_r, self._drain_wakeup)

    def time(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    # -- fds -----------------------------------------------------------------------------------------
    def _update(self, fd: int) -> None:
        mask = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        try:
            self._sel.get_key(fd)
            registered = True
        except KeyError:
            registered = False
        if mask and registered:
            self._sel.modify(fd, mask)
        elif mask:
            self._sel.register(fd, mask)
        elif registered:
            self._sel.unregister(fd)

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        fd = _fd(fileobj)
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fileobj: Any) -> None:
        fd = _fd(fileobj)
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fileobj: Any, callback: Callable[[], None]) -> None:
        fd = _fd(fileobj)
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fileobj: Any) -> None:
        fd = _fd(fileobj)
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    # -- threads (tests, control front ends) ----------------------------------------------------------
    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Schedule from another thread; the only thread-safe method."""
        with self._ts_lock:
            self._threadsafe.append((callback, args))
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._ts_lock:
            pending, self._threadsafe = self._threadsafe, []
        for callback, args in pending:
            self.call_soon(callback, *args)

    # -- run -----------------------------------------------------------------------------------------
    def run(self, until: float | None = None) -> None:
        self._stopping = False
        while not self._stopping:
            now = self.time()
            if until is not None and now >= until:
                break
            nxt = self.next_timer()
            timeout: float | None
            if nxt is not None:
                timeout = max(0.0, nxt - now)
            else:
                timeout = None
            if until is not None:
                timeout = min(timeout, until - now) if timeout is not None else until - now
            if timeout is None and len(self._readers) <= 1 and not self._writers:
                break  # only the wake-up pipe: nothing can ever happen
            for key, mask in self._sel.select(timeout):
                fd = key.fd
                if mask & selectors.EVENT_READ and fd in self._readers:
                    self._call(self._readers[fd])
                if mask & selectors.EVENT_WRITE and fd in self._writers:
                    self._call(self._writers[fd])
            self._run_due()

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("I/O callback %r failed", callback)

    def _run_due(self) -> None:
        now = self.time()
        timers = self._timers
        # Only timers due now; those a callback schedules for "now" run on the next pass, after I/O.
        due = []
        while timers and timers[0][0] <= now:
            due.append(heapq.heappop(timers)[2])
        for timer in due:
            if not timer.cancelled:
                self._run_timer(timer)

    def close(self) -> None:
        self.remove_reader(self._wake_r)
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._sel.close()

    # -- TCP -----------------------------------------------------------------------------------------
    def listen_tcp(self, host: str, port: int, on_accept: AcceptHandler) -> Listener:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
        # Out of fds (EMFILE) the listener stays readable: retrying at once spins at 100 % CPU. Stop
        # watching it for a growing, capped delay instead; one log line per interval, with a count.
        paused: dict[str, Any] = {"delay": 0.0, "timer": None, "logged": float("-inf"), "since": 0}

        def accept() -> None:
            for _ in range(64):
                try:
                    conn, addr = sock.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                        continue  # that one connection is gone; the next may be fine
                    back_off(exc)
                    return
                if paused["delay"]:
                    log.warning("accepting on %s:%d again (%d failed accepts)", host, port, paused["since"])
                    paused.update(delay=0.0, since=0, logged=float("-inf"))
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = FdStream(self, conn)
                stream.remote_address = (str(addr[0]), int(addr[1]))
                on_accept(stream)

        def back_off(exc: OSError) -> None:
            listener.accept_failures += 1
            paused["since"] += 1
            paused["delay"] = min(ACCEPT_BACKOFF_MAX, max(ACCEPT_BACKOFF_MIN, paused["delay"] * 2))
            self.remove_reader(sock)
            paused["timer"] = self.call_later(paused["delay"], lambda: self.add_reader(sock, accept))
            if self.time() - paused["logged"] >= ACCEPT_LOG_INTERVAL:
                paused["logged"] = self.time()
                log.warning("accept on %s:%d failed: %s (%d failures so far); not accepting for %.2f s, "
                            "then retrying (back-off up to %.0f s)", host, port, exc, paused["since"],
                            paused["delay"], ACCEPT_BACKOFF_MAX)

        self.add_reader(sock, accept)

        def close() -> None:
            if paused["timer"] is not None:
                paused["timer"].cancel()
            self.remove_reader(sock)
            sock.close()

        listener = Listener(host, sock.getsockname()[1], close)
        return listener  # (back_off counts failures on it)

    def connect_tcp(self, host: str, port: int, on_done: ConnectHandler) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            err = sock.connect_ex((host, port))
        except OSError as exc:  # e.g. name resolution failure
            sock.close()
            self.call_soon(on_done, None, str(exc))
            return
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.call_soon(on_done, None, os.strerror(err).lower())
            return

        def writable() -> None:
            self.remove_writer(sock)
            result = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if result:
                sock.close()
                on_done(None, os.strerror(result).lower())
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            on_done(FdStream(self, sock), None)

        self.add_writer(sock, writable)
