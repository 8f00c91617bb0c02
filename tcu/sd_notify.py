"""systemd's notify protocol for `tcu run` under `Type=notify` + `WatchdogSec=` (issue 17).

The protocol is one datagram per message to the AF_UNIX socket named in `$NOTIFY_SOCKET` (a path,
or `@name` in the abstract namespace), text lines `KEY=value`. That is a dozen lines, so they are
written here rather than taken from a library: `sdnotify` (PyPI) last released in 2017 and is no
smaller, `systemd-python` needs libsystemd's headers and a compiler on the Pi, and `cysystemd`
likewise; none adds anything the unit needs.

What the unit says, and when (`ServiceNotifier`):
- `READY=1` once: the modem answered (the link supervisor left its probe) — the state directory is
  open before the loop starts (`tcu.config_cli.build`); until then systemd shows "activating".
- `STATUS=link <state>; <health summary>` whenever that text changes (`systemctl status tcu`).
- `WATCHDOG=1` every half `WatchdogSec` from a timer on the unit's one event loop, and only if the
  link supervisor completed a tick within the last `STALE_TICK_S`: a wedged loop runs no timer, a
  wedged supervisor fails the check; either way systemd kills and restarts the unit.
- `STOPPING=1` when the unit is told to stop.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Protocol

from runtime.loop import Loop, Timer
from runtime.ratelog import RateLimitedLog
from tcu.plural import plural

log = logging.getLogger(__name__)

# The link driver ticks once a second; three missed ticks mean the supervisor is not running.
STALE_TICK_S = 3.0
CHECK_EVERY_S = 1.0            # READY/STATUS checks (the watchdog has its own period)
# Link states before the modem has answered anything since start.
NOT_ANSWERED = frozenset({"off", "probe", "power_cycle", "port_gone"})


class Notifier:
    """Sends notify messages to one socket; never raises (a gone systemd must not stop the car)."""

    def __init__(self, address: str) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setblocking(False)
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier | None:
        address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
        if not address or not address.startswith(("/", "@")):
            return None
        return cls(address)

    def send(self, *lines: str) -> bool:
        try:
            self.sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as e:
            self.failed += 1
            if self.failed == 1 or self.failed % 100 == 0:
                log.warning("systemd notify to %s failed (%s; %s)", self.address.lstrip("\0"), e,
                            plural(self.failed, "time"))
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.sock.close()


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Half of `$WATCHDOG_USEC` in seconds (systemd's advice), or None when no watchdog is asked for
    (or it is meant for another process: `$WATCHDOG_PID`)."""
    env = os.environ if environ is None else environ
    usec, for_pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if for_pid and for_pid != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2e6


class Supervised(Protocol):
    """What the notifier needs to know about the unit (tcu.unit.Unit provides it via `UnitView`)."""

    def link_state(self) -> str: ...

    def supervisor_ticked_at(self) -> float | None: ...

    def health_summary(self, now: float) -> str: ...


class ServiceNotifier:
    """READY/STATUS/WATCHDOG/STOPPING for one unit on one loop (sans-IO apart from `Notifier.send`)."""

    def __init__(self, loop: Loop, notifier: Notifier, unit: Supervised, watchdog_s: float | None) -> None:
        self.loop = loop
        self.notifier = notifier
        self.unit = unit
        self.watchdog_s = watchdog_s
        self.ready = False
        self.pings = 0
        self.skipped_pings = 0
        self._status = ""
        self._timers: list[Timer] = []
        self._log = RateLimitedLog(log, 60.0)

    def start(self) -> None:
        self._timers = [self.loop.call_soon(self._check)]
        if self.watchdog_s is not None:
            self._timers.append(self.loop.call_later(self.watchdog_s, self._watchdog))

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        self.notifier.send("STOPPING=1", "STATUS=stopping")

    def _check(self) -> None:
        self._timers[0] = self.loop.call_later(CHECK_EVERY_S, self._check)
        now = self.loop.time()
        state = self.unit.link_state()
        status = f"STATUS=link {state}; {self.unit.health_summary(now)}"
        lines = []
        if not self.ready and state not in NOT_ANSWERED:
            self.ready = True
            lines.append("READY=1")
            log.info("systemd: ready (the modem answered)")
        if status != self._status:
            self._status = status
            lines.append(status)
        if lines:
            self.notifier.send(*lines)

    def _watchdog(self) -> None:
        assert self.watchdog_s is not None
        self._timers[-1] = self.loop.call_later(self.watchdog_s, self._watchdog)
        ticked = self.unit.supervisor_ticked_at()
        now = self.loop.time()
        if ticked is not None and now - ticked <= STALE_TICK_S:
            self.pings += 1
            self.notifier.send("WATCHDOG=1")
            return
        self.skipped_pings += 1
        self._log.error("stale", now, "systemd watchdog: not pinging: the link supervisor last ticked %s",
                  "never" if ticked is None else f"{now - ticked:.1f} s ago")


class UnitView:
    """`Supervised` over a `tcu.unit.Unit` (its link driver and health)."""

    def __init__(self, unit: _UnitLike) -> None:
        self.unit = unit

    def link_state(self) -> str:
        return self.unit.link_state()

    def supervisor_ticked_at(self) -> float | None:
        return self.unit.link.ticked_at

    def health_summary(self, now: float) -> str:
        return self.unit.health.summary(now)


class _Link(Protocol):
    @property
    def ticked_at(self) -> float | None: ...


class _Health(Protocol):
    def summary(self, now: float) -> str: ...


class _UnitLike(Protocol):
    @property
    def link(self) -> _Link: ...

    @property
    def health(self) -> _Health: ...

    def link_state(self) -> str: ...


def attach(loop: Loop, unit: _UnitLike, environ: Mapping[str, str] | None = None) -> ServiceNotifier | None:
    """Under systemd (`$NOTIFY_SOCKET` set): start notifying for `unit`; None elsewhere."""
    notifier = Notifier.from_env(environ)
    if notifier is None:
        return None
    service = ServiceNotifier(loop, notifier, UnitView(unit), watchdog_interval(environ))
    service.start()
    log.info("systemd: notify socket %s, watchdog %s", notifier.address.lstrip("\0"),
             "off" if service.watchdog_s is None else f"every {service.watchdog_s:.1f} s")
    return service
