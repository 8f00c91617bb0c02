"""The unit's whole CAN side in one object: a port, the profile's decoder, its poller, its commands.

Frames go to the poller if they answer a poll, else to the decoder; metric updates go to one
callback; the poll schedule follows the car's state as the metrics report it. The firmware needs
nothing else from `can_bus`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from can_bus.poller import Poller, state_from_metrics
from can_bus.port import CanPort
from can_bus.profile import Profile, load_profile

if TYPE_CHECKING:
    from runtime import Loop

log = logging.getLogger(__name__)

Updates = list[tuple[str, Any]]
STATE_METRICS = frozenset({"v.c.charging", "v.e.on", "v.p.speed", "v.e.gear", "v.e.awake"})
# Silence for this long means the car's networks are asleep: poll as "off" (do not wake it).
SILENCE_IS_SLEEP = 5.0


class CanIngest:
    def __init__(self, loop: Loop, port: CanPort, profile: str | Profile,
                 on_metrics: Callable[[Updates], None],
                 on_error: Callable[[str], None] | None = None, poll: bool = True) -> None:
        self.loop = loop
        self.port = port
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.decoder = self.profile.decoder()
        self._on_metrics = on_metrics
        self._on_error = on_error
        self.state: dict[str, Any] = {}
        self.last_frame = loop.time()
        self._silent = False
        self.poller = Poller(loop, port.send, self.profile.polls, on_metrics) if poll and self.profile.polls else None
        self._feed = self.decoder.feed
        self._poll_feed = self.poller.feed if self.poller is not None else None
        self._silence_timer = loop.call_later(SILENCE_IS_SLEEP, self._check_silence)
        port.set_handler(self._frame, self._error)

    def _frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        self.last_frame = timestamp
        if self._silent:  # the car woke up: its metrics may not change, the poll state does
            self._silent = False
            self._follow_state()
        if self._poll_feed is not None and self._poll_feed(arbitration_id, data):
            return
        updates = self._feed(arbitration_id, data)
        if updates:
            for name, value in updates:
                if name in STATE_METRICS:
                    self.state[name] = value
                    self._follow_state()
            self._on_metrics(updates)

    def _follow_state(self) -> None:
        if self.poller is not None:
            self.poller.set_state(state_from_metrics(self.state))

    def _check_silence(self) -> None:
        if self.loop.time() - self.last_frame >= SILENCE_IS_SLEEP and self.poller is not None:
            self._silent = True
            self.poller.set_state("off")
        self._silence_timer = self.loop.call_later(SILENCE_IS_SLEEP, self._check_silence)

    def _error(self, text: str) -> None:
        if self._on_error is not None:
            self._on_error(text)

    def send_command(self, name: str, **args: Any) -> None:
        """Encode and send a command (UnsupportedCommand / ValueError for the caller's mistakes)."""
        for arbitration_id, data in self.profile.encode_command(name, **args):
            self.port.send(arbitration_id, data)

    def close(self) -> None:
        self._silence_timer.cancel()
        if self.poller is not None:
            self.poller.close()
        self.port.close()
