"""A server that accepts and drops the unit is retried at a growing, capped pace (issue 12 item 7).

The unit used to start its reconnect back-off over at every successful login, so a server that
welcomed it and closed the connection at once was logged into every ~4.8 s, forever (111 logins in
10 minutes here). Now only a session that stayed up `stable_after` seconds starts it over. The whole
world runs on the virtual clock: driver, virtual modem and server, with the modem's own `remote-close`
fault and a server that closes every connection as it accepts it.
"""

from __future__ import annotations

from runtime import Listener, Stream
from sim.world import SERVER_PORT, World, WorldConfig
from tcu.link import LinkConfig, Transition
from tools.server.core import OvmsServer

START, LENGTH = 900.0, 600.0       # the hostile server: 10 simulated minutes, after a normal start
CAP = LinkConfig().backoff_cap
STABLE = LinkConfig().stable_after


class Hostile:
    """Counts TCP attempts and logins while the server is hostile; drives one of two hostile servers."""

    def __init__(self, world: World, mode: str) -> None:
        self.world, self.mode = world, mode
        self.attempts: list[float] = []
        self.logins: list[float] = []
        self.rude: Listener | None = None
        sup = world.unit.link.sup
        self._prev = sup.on_transition
        sup.on_transition = self._transition
        world.loop.call_at(START, self._begin)
        world.loop.call_at(START + LENGTH, self._end)

    def hostile(self, at: float) -> bool:
        return START <= at < START + LENGTH

    def _transition(self, tr: Transition) -> None:
        if self._prev is not None:
            self._prev(tr)
        if not self.hostile(tr.at):
            return
        if tr.dst == "tcp":
            self.attempts.append(tr.at)
        if tr.dst == "online":
            self.logins.append(tr.at)
            if self.mode == "login-then-close":
                self.world.vmodem.fault("remote-close", 1.0)   # the server drops us right after the welcome

    def _begin(self) -> None:
        self.world.vmodem.fault("remote-close", 1.0)   # end the session that is up now
        if self.mode == "close-at-once":
            self.world.server.close()

            def close(stream: Stream) -> None:
                stream.close()

            self.rude = self.world.loop.listen_tcp("127.0.0.1", SERVER_PORT, close)

    def _end(self) -> None:
        if self.rude is not None:
            self.rude.close()
            self.world.server = OvmsServer(self.world.loop, self.world.dir / "server.db", "127.0.0.1",
                                           SERVER_PORT)


def test_a_server_that_drops_the_unit_is_not_hammered() -> None:
    results = {}
    for mode in ("login-then-close", "close-at-once"):
        world = World(WorldConfig(seed=3, hours=(START + LENGTH + 600) / 3600, incidents=False, outages=[],
                                  owner_script=(), drain_s=10.0))
        try:
            h = Hostile(world, mode)
            world.loop.run(until=START + LENGTH)
            if mode == "login-then-close":
                # `tcu state` shows the grown back-off (status.json source "link").
                link = world.unit.link.sup.retry_status()
                assert int(str(link["backoff_step"])) >= 3, link
                sources = world.unit.status_snapshot()["sources"]
                assert isinstance(sources, dict) and "link" in sources
            # After the hostile spell: online again within one capped back-off period and a login.
            world.loop.run(until=START + LENGTH + CAP + 30)
            assert world.unit.link.online, mode
            back = next(t for t in world.online_times if t >= START + LENGTH)
            # A session that held for `stable_after` starts the back-off over: one drop, a quick return.
            world.loop.run(until=back + STABLE + 5)
            assert world.unit.link.online
            dropped = world.loop.time()
            world.vmodem.fault("remote-close", 1.0)
            world.loop.run(until=dropped + 15)
            assert any(dropped < t <= dropped + 15 for t in world.online_times), mode
            results[mode] = (len(h.attempts), len(h.logins), h.attempts)
        finally:
            world.close()

    attempts, logins, times = results["login-then-close"]
    # 10 minutes at a back-off capped at 40 s (jittered down to half): at most ~35 attempts (was 111).
    assert logins >= 3, "the scenario never logged in: it tests nothing"
    assert attempts <= LENGTH / (CAP / 2) + 5, attempts
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps[-5:]) >= CAP / 2, gaps       # the pace grew to the cap …
    assert max(gaps) <= CAP + 35, gaps           # … and no longer (a login's own timeout is inside it)
    attempts, logins, _ = results["close-at-once"]
    assert logins == 0 and attempts <= LENGTH / 15, attempts   # no login ever: back-off and GPRS re-attach
