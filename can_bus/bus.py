"""Opening a CAN bus from one string, on either loop (python-can does the talking).

    socketcan:can0                 a Pi's MCP2515 HAT (SocketCAN)
    slcan:/dev/pts/7[?bitrate=500000&sleep=0]   an SLCAN adapter: USB, or a virtual car on a pty
    virtual:<name>                 python-can's in-process virtual bus (tests; deep-copies frames)
    replay:trace.log|.asc|.blf[?speed=10&repeat=1]   a recorded trace at recorded timing

The caller never imports a backend. Trouble on a bus (garbage, error frames, bus-off, an adapter
pulled out) arrives at the port's `on_error` as text and in `stats`, never as an exception in the loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import can

from can_bus.port import MAX_STD_ID, CanPort, check_frame

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

# A bus without a file descriptor (python-can virtual) is polled this often on the loop.
POLL_INTERVAL = 0.002
# At most this many frames per readable event, so one busy bus cannot starve the others.
MAX_BATCH = 512
# SocketCAN error class bits in an error frame's id (linux/can/error.h).
CAN_ERR_BUSOFF = 0x40
CAN_ERR_RESTARTED = 0x100


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


def open_bus(spec: str, loop: Loop, **options: Any) -> CanPort:
    """Open the bus `spec` on `loop`. Raises BusSpecError (bad spec) or BusOpenError (no such bus)."""
    kind, target, opts = parse_spec(spec)
    try:
        return _open(kind, target, opts, spec, loop, options)
    except (BusSpecError, ValueError):
        raise
    except (can.CanError, OSError) as exc:
        raise BusOpenError(f"cannot open {spec}: {exc}") from exc


def _open(kind: str, target: str, opts: dict[str, str], spec: str, loop: Loop, options: dict[str, Any]) -> CanPort:
    opts.update({k: str(v) for k, v in options.items()})
    if kind == "replay":
        from can_bus.replay import ReplayPort

        return ReplayPort(loop, target, speed=float(opts.get("speed", 1.0)),
                          repeat=opts.get("repeat", "0") not in ("0", "false", ""))
    if kind == "socketcan":
        bus = can.Bus(interface="socketcan", channel=target, receive_own_messages=False)
    elif kind == "slcan":
        kwargs: dict[str, Any] = {"sleep_after_open": float(opts.get("sleep", 0)), "timeout": 0}
        if opts.get("bitrate", "500000") not in ("", "none"):
            kwargs["bitrate"] = int(opts.get("bitrate", 500000))
        bus = can.Bus(interface="slcan", channel=target, **kwargs)
    elif kind == "virtual":
        bus = can.Bus(interface="virtual", channel=target, receive_own_messages=False)
    else:
        raise BusSpecError(f"bus spec {spec!r}: unknown kind {kind!r} (socketcan, slcan, virtual, replay)")
    return PythonCanPort(loop, bus, name=spec)


class PythonCanPort(CanPort):
    """A python-can bus on our loop: select() on its fd where it has one, else a polling timer."""

    def __init__(self, loop: Loop, bus: can.BusABC, name: str = "can") -> None:
        super().__init__()
        self.name = name
        self.bus = bus
        self._loop = loop
        self._fd: int | None = None
        self._timer = None
        self.gone = False
        fd = None
        try:
            fd = bus.fileno()
        except (NotImplementedError, AttributeError, OSError, ValueError):
            fd = None
        if fd is not None and fd >= 0:
            try:
                loop.add_reader(fd, self._drain)
                self._fd = fd
            except TypeError:  # the virtual clock has no fds: poll instead
                pass
        if self._fd is None:
            self._timer = loop.call_later(POLL_INTERVAL, self._poll)

    def _poll(self) -> None:
        if self.closed or self.gone:
            return
        self._drain()
        self._timer = self._loop.call_later(POLL_INTERVAL, self._poll)

    def _drain(self) -> None:
        now = self._loop.time()
        for _ in range(MAX_BATCH):
            try:
                msg = self.bus.recv(0)
            except (ValueError, IndexError, UnicodeDecodeError) as exc:
                # python-can's slcan parser raises on a garbled line; the line is consumed, go on.
                self._error(f"garbled frame ignored: {exc}")
                continue
            except (can.CanError, OSError) as exc:
                self._lost(f"bus read failed: {exc}")
                return
            except Exception as exc:  # any other backend surprise: report, keep the loop alive
                self._error(f"bus read failed unexpectedly: {exc!r}")
                return
            if msg is None:
                return
            if msg.is_error_frame:
                self.stats.error_frames += 1
                if msg.arbitration_id & CAN_ERR_BUSOFF:
                    self._error("bus-off: the controller left the bus (wiring, bitrate or termination?)")
                elif msg.arbitration_id & CAN_ERR_RESTARTED:
                    self._error("controller restarted after bus-off", count=False)
                else:
                    self._error(f"error frame class {msg.arbitration_id:#x} data {bytes(msg.data).hex()}")
                continue
            if msg.is_remote_frame:
                self.stats.remote_frames += 1
                continue
            self._deliver(msg.arbitration_id, bytes(msg.data), now)

    def _lost(self, text: str) -> None:
        """The adapter vanished (unplugged, interface down): stop reading and say so once."""
        if self.gone:
            return
        self.gone = True
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._error(f"{text}; no longer reading this bus (reopen it to resume)")

    def send(self, arbitration_id: int, data: bytes) -> None:
        check_frame(arbitration_id, data)
        if self.closed or self.gone:
            self.stats.tx_errors += 1
            return
        msg = can.Message(arbitration_id=arbitration_id, data=data,
                          is_extended_id=arbitration_id > MAX_STD_ID)
        try:
            self.bus.send(msg, timeout=0.1)
        except (can.CanError, OSError, ValueError) as exc:
            self.stats.tx_errors += 1
            self._error(f"send 0x{arbitration_id:X} failed: {exc}")
            return
        self.stats.tx += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._fd is not None and not self.gone:
            self._loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.bus.shutdown()
        except Exception as exc:  # an adapter already gone cannot be shut down cleanly
            log.debug("%s: shutdown: %s", self.name, exc)
