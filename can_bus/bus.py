"""Opening a CAN bus from one string, on either loop (python-can does the talking).

    socketcan:can0                 a Pi's MCP2515 HAT (SocketCAN)
    slcan:/dev/pts/7[?bitrate=500000&sleep=0]   an SLCAN adapter: USB, or a virtual car on a pty
    virtual:<name>                 python-can's in-process virtual bus (tests; deep-copies frames)
    replay:trace.log|.asc|.blf[?speed=10&repeat=1]   a recorded trace at recorded timing

The caller never imports a backend. Trouble on a bus (garbage, error frames, bus-off) arrives at the
port's `on_error` as text and in `stats`, never as an exception in the loop.

Device lifecycle (issue 12): a garbled line from the adapter is rejected, counted and logged (rate
limited) and reading goes on; an adapter that vanishes (USB unplugged, `vcar serve` stopped, a
SocketCAN interface down or removed) is closed and the same spec reopened with capped back-off
(`runtime.backoff`), which is how udev or a restarted emulator brings it back at the same path. The
port object stays the same for its user; `on_state` hears `BusGone` (again after each failed reopen,
with the retry count and next attempt) and `BusBack`.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

import can
from can.interfaces.slcan import slcanBus

from can_bus.port import MAX_STD_ID, BusBack, BusGone, CanPort, check_frame
from runtime.backoff import Backoff

if TYPE_CHECKING:
    from runtime import Loop, Timer

log = logging.getLogger(__name__)
# python-can logs "Created a socket" at INFO on every SocketCAN open; a unit whose CAN interface is
# missing reopens it every few seconds and says so itself (rate-limited), so that line flooded the
# journal (seen booting the Pi image without a CAN HAT). Its warnings and errors still come through.
logging.getLogger("can.interfaces.socketcan").setLevel(logging.WARNING)

# A bus without a file descriptor (python-can virtual) is polled this often on the loop.
POLL_INTERVAL = 0.002
# At most this many frames per readable event, so one busy bus cannot starve the others.
MAX_BATCH = 512
# SocketCAN error class bits in an error frame's id (linux/can/error.h).
CAN_ERR_BUSOFF = 0x40
CAN_ERR_RESTARTED = 0x100
# Reopening a vanished adapter: the first try soon (a replugged USB adapter is back within a second),
# then doubling to a cap that bounds how long a returned adapter waits unread. A try is one open():
# cheap enough to repeat every few seconds for as long as the adapter stays away.
REOPEN_FIRST = 0.5
REOPEN_CAP = 5.0
IFF_UP = 0x1  # linux/if.h
# A reopened SLCAN adapter must answer `V` within this (blocks the loop only while probing a reopen).
SLCAN_PROBE_TIMEOUT = 0.5


class BusSpecError(ValueError):
    """The spec string names no bus we know how to open."""


class BusOpenError(Exception):
    """The bus exists in the spec but could not be opened (no interface, no device, no permission)."""


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """`kind:target?k=v&k=v` → (kind, target, options)."""
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise BusSpecError(f"bus spec {spec!r}: expected KIND:TARGET (socketcan:can0, slcan:/dev/pts/3, ...)")
    target, _, query = rest.partition("?")
    return kind.lower(), target, dict(parse_qsl(query))


def open_bus(spec: str, loop: Loop, *, wait_for_device: bool = False, **options: Any) -> CanPort:
    """Open the bus `spec` on `loop`. Raises BusSpecError (bad spec) or BusOpenError (no such bus).

    `wait_for_device`: an SLCAN or SocketCAN adapter that is not there yet (a USB adapter enumerating
    after the unit started) is no error: the port starts gone and is opened as soon as it appears.
    """
    kind, target, opts = parse_spec(spec)
    opts.update({k: str(v) for k, v in options.items()})
    if kind == "replay":
        from can_bus.replay import ReplayPort

        try:
            return ReplayPort(loop, target, speed=float(opts.get("speed", 1.0)),
                              repeat=opts.get("repeat", "0") not in ("0", "false", ""))
        except (can.CanError, OSError) as exc:
            raise BusOpenError(f"cannot open {spec}: {exc}") from exc
    if kind not in ("socketcan", "slcan", "virtual"):
        raise BusSpecError(f"bus spec {spec!r}: unknown kind {kind!r} (socketcan, slcan, virtual, replay)")

    def opener() -> can.BusABC:
        return _make_bus(kind, target, opts)

    reopen = _DeviceReopener(opener, kind, target) if kind in ("socketcan", "slcan") else None
    try:
        bus = opener()
    except (can.CanError, OSError) as exc:
        if not wait_for_device or reopen is None:
            raise BusOpenError(f"cannot open {spec}: {exc}") from exc
        return PythonCanPort(loop, None, name=spec, reopen=reopen, absent=f"cannot open {spec}: {exc}")
    return PythonCanPort(loop, bus, name=spec, reopen=reopen)


def _make_bus(kind: str, target: str, opts: dict[str, str]) -> can.BusABC:
    if kind == "socketcan":
        return can.Bus(interface="socketcan", channel=target, receive_own_messages=False)
    if kind == "slcan":
        kwargs: dict[str, Any] = {"sleep_after_open": float(opts.get("sleep", 0)), "timeout": 0}
        if opts.get("bitrate", "500000") not in ("", "none"):
            kwargs["bitrate"] = int(opts.get("bitrate", 500000))
        return can.Bus(interface="slcan", channel=target, **kwargs)
    return can.Bus(interface="virtual", channel=target, receive_own_messages=False)


class Reopener(Protocol):
    """How a port gets its vanished adapter back: `lost()` when it goes, `open()` for each attempt
    (raises can.CanError, OSError or BusOpenError while the adapter is not back)."""

    def lost(self) -> None: ...

    def open(self) -> can.BusABC: ...


def _link_identity(path: str) -> tuple[int, int, int] | None:
    """The symlink itself (not what it points at), or None when `path` is not a symlink."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns) if stat.S_ISLNK(st.st_mode) else None


class _DeviceReopener:
    """Reopen `spec`'s device at its path, making sure what answers there really is our adapter again.

    SocketCAN: a socket bound to an interface that is still down is not back. SLCAN: a path that opens
    is not enough. A link whose device vanished under it (`vcar serve` killed with SIGKILL cannot
    remove its link) may soon point at a pty number another program holds: such a stale link is not
    opened again until it is replaced (the restarted emulator, or udev, makes a new one). And the
    adapter must answer the Lawicel `V` (version) command, which CANable, USBtin, CANUSB and `vcar`
    all answer.
    """

    def __init__(self, opener: Callable[[], can.BusABC], kind: str, target: str) -> None:
        self._opener = opener
        self._kind = kind
        self._target = target
        self._stale_link: tuple[int, int, int] | None = None

    def lost(self) -> None:
        ident = _link_identity(self._target)
        self._stale_link = ident if ident is not None and not os.path.exists(self._target) else None

    def open(self) -> can.BusABC:
        if self._stale_link is not None:
            if _link_identity(self._target) == self._stale_link:
                raise BusOpenError(f"{self._target} is still the link to the vanished device")
            self._stale_link = None
        bus = self._opener()
        if self._kind == "socketcan":
            flags = Path("/sys/class/net") / self._target / "flags"
            try:
                up = bool(int(flags.read_text().strip(), 16) & IFF_UP)
            except (OSError, ValueError):
                up = True  # no sysfs here: trust the open
            if not up:
                _shutdown(bus)
                raise BusOpenError(f"interface {self._target} is down")
        elif isinstance(bus, slcanBus):
            try:
                hw, _sw = bus.get_version(SLCAN_PROBE_TIMEOUT)
            except (can.CanError, ValueError, IndexError):  # no adapter, or something else answering
                hw = None
            if hw is None:
                _shutdown(bus)
                raise BusOpenError(f"no SLCAN adapter answers at {self._target}")
        return bus


def _shutdown(bus: can.BusABC) -> None:
    """Shut a bus down even when its device is gone (python-can's slcan writes `C` first and, when that
    fails, never closes the serial port: close it ourselves rather than leak the fd)."""
    try:
        bus.shutdown()
    except (can.CanError, OSError) as exc:
        log.debug("shutdown of a vanished bus: %s", exc)
        if isinstance(bus, slcanBus):
            try:
                bus.serialPortOrig.close()
            except OSError:
                pass


def _is_garbled(exc: BaseException) -> bool:
    """python-can wraps whatever failed in a read into CanOperationError: a line that is not UTF-8 is
    the line's fault (noise), an OS error is the device's (gone)."""
    return isinstance(exc, UnicodeDecodeError) or isinstance(exc.__cause__, UnicodeDecodeError)


class PythonCanPort(CanPort):
    """A python-can bus on our loop: select() on its fd where it has one, else a polling timer.

    With `reopen`, a vanished adapter is reopened with capped back-off; without, it stays gone. Without
    a `bus` (and with `reopen`) the port starts gone, `absent` saying why, and opens it when it appears.
    """

    def __init__(self, loop: Loop, bus: can.BusABC | None, name: str = "can",
                 reopen: Reopener | None = None, absent: str = "adapter not there") -> None:
        super().__init__()
        self.name = name
        self.bus = bus
        self._loop = loop
        self._fd: int | None = None
        self._timer: Timer | None = None
        self._reopener = reopen
        self._reopen_timer: Timer | None = None
        self._gone: BusGone | None = None
        self.backoff = Backoff(first=REOPEN_FIRST, cap=REOPEN_CAP, rng=loop.random(f"can-reopen:{name}"))
        if bus is not None:
            self._attach()
        elif reopen is None:
            raise ValueError("a port without a bus needs a way to open it")
        else:
            self._go(absent, loop.time())

    @property
    def gone(self) -> BusGone | None:
        return self._gone

    def _attach(self) -> None:
        fd = None
        assert self.bus is not None
        try:
            fd = self.bus.fileno()
        except (NotImplementedError, can.CanError, OSError, ValueError):
            fd = None
        self._fd = None
        if fd is not None and fd >= 0:
            try:
                self._loop.add_reader(fd, self._drain)
                self._fd = fd
            except TypeError:  # the virtual clock has no fds: poll instead
                pass
        if self._fd is None:
            self._timer = self._loop.call_later(POLL_INTERVAL, self._poll)

    def _detach(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _poll(self) -> None:
        if self.closed or self._gone is not None:
            return
        self._drain()
        if self._gone is None and not self.closed:
            self._timer = self._loop.call_later(POLL_INTERVAL, self._poll)

    def _drain(self) -> None:
        now = self._loop.time()
        bus = self.bus
        for _ in range(MAX_BATCH):
            if self._gone is not None or self.closed or bus is None:
                return
            try:
                msg = bus.recv(0)
            except (ValueError, IndexError) as exc:
                # python-can's slcan parser raises on a malformed line; the line is consumed, go on.
                self._drop_garbled_line()
                self._garbled(f"garbled line rejected: {exc}", now)
                continue
            except (can.CanError, OSError) as exc:
                if _is_garbled(exc):
                    self._drop_garbled_line()
                    self._garbled(f"garbled line rejected (not text: {exc.__cause__ or exc})", now)
                    continue
                self._lost(f"bus read failed: {exc}" + (f" ({exc.__cause__})" if exc.__cause__ else ""), now)
                return
            if msg is None:
                return
            if msg.is_error_frame:
                self.stats.error_frames += 1
                if msg.arbitration_id & CAN_ERR_BUSOFF:
                    self._error("bus-off: the controller left the bus (wiring, bitrate or termination?)",
                                now=now, key="bus-off")
                elif msg.arbitration_id & CAN_ERR_RESTARTED:
                    self._error("controller restarted after bus-off", count=False, now=now, key="restarted")
                else:
                    self._error(f"error frame class {msg.arbitration_id:#x} data {bytes(msg.data).hex()}",
                                now=now, key="error-frame")
                continue
            if msg.is_remote_frame:
                self.stats.remote_frames += 1
                continue
            self._deliver(msg.arbitration_id, bytes(msg.data), now)

    def _drop_garbled_line(self) -> None:
        # python-can 4.6's slcan reader decodes its line buffer before clearing it, so an undecodable
        # byte stays in the buffer and poisons every later line: drop the bad line ourselves.
        if isinstance(self.bus, slcanBus):
            self.bus._buffer.clear()

    def _garbled(self, text: str, now: float) -> None:
        self.stats.garbled += 1
        self._error(text, now=now, key="garbled")

    def _lost(self, text: str, now: float) -> None:
        """The adapter vanished: stop reading, close it, say so, and schedule the first reopen."""
        if self._gone is not None:
            return
        # Not an on_error: a vanished adapter is a state (on_state), not trouble the bus survives.
        self.stats.lost += 1
        self._detach()
        if self.bus is not None:
            _shutdown(self.bus)
        self._go(text, now)

    def _go(self, text: str, now: float) -> None:
        self.backoff.succeeded()
        if self._reopener is None:
            self._gone = BusGone(self.name, text, now, 0, None)
            self._ratelog.warning("lost", now, "%s: %s; no longer reading this bus", self.name, text)
        else:
            self._reopener.lost()
            delay = self.backoff.failed(now)
            self._gone = BusGone(self.name, text, now, 0, now + delay)
            self._reopen_timer = self._loop.call_later(delay, self._reopen)
            self._ratelog.warning("lost", now, "%s: %s; adapter gone, reopening it (first try in %.1f s)",
                                  self.name, text, delay)
        self._state(self._gone)

    def _reopen(self) -> None:
        self._reopen_timer = None
        gone = self._gone
        if self.closed or gone is None or self._reopener is None:
            return
        now = self._loop.time()
        try:
            bus = self._reopener.open()
        except (can.CanError, OSError, BusOpenError) as exc:
            delay = self.backoff.failed(now)
            self._gone = BusGone(self.name, gone.reason, gone.since, gone.retries + 1, now + delay)
            self._ratelog.info("reopen", now, "%s: still gone (%s); %d tries, next in %.1f s",
                               self.name, exc, gone.retries + 1, delay)
            self._reopen_timer = self._loop.call_later(delay, self._reopen)
            self._state(self._gone)
            return
        self.bus = bus
        self._gone = None
        self.stats.reopened += 1
        self.backoff.succeeded()
        self._ratelog.reset("reopen")
        self._ratelog.reset("lost")
        self._attach()
        self._loop.call_soon(self._drain)  # frames the probe read ahead are waiting in the bus
        log.warning("%s: adapter back after %.1f s (%d failed tries); reading again",
                    self.name, now - gone.since, gone.retries)
        self._state(BusBack(self.name, now - gone.since, gone.retries))

    def send(self, arbitration_id: int, data: bytes) -> None:
        check_frame(arbitration_id, data)
        if self.closed or self._gone is not None or self.bus is None:
            self.stats.tx_errors += 1
            return
        msg = can.Message(arbitration_id=arbitration_id, data=data,
                          is_extended_id=arbitration_id > MAX_STD_ID)
        try:
            self.bus.send(msg, timeout=0.1)
        except (can.CanError, OSError, ValueError) as exc:
            self.stats.tx_errors += 1
            self._error(f"send 0x{arbitration_id:X} failed: {exc}", now=self._loop.time(), key="send")
            return
        self.stats.tx += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._reopen_timer is not None:
            self._reopen_timer.cancel()
            self._reopen_timer = None
        if self._gone is None and self.bus is not None:
            self._detach()
            _shutdown(self.bus)
