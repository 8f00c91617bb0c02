"""A small virtual world: one OvmsServer on a VirtualLoop, cars as CarLinks, apps as AppClients."""

from __future__ import annotations

from collections.abc import Callable

from car_link import CarLink

from runtime import VirtualLoop
from tcu.ovms.car_client import CarEvent, CarSession, CommandRequest
from tools.app.client import AppClient
from tools.server import OvmsServer

METRICS = {
    "v.b.soc": 80, "v.c.state": "stopped", "v.b.range.ideal": 350, "v.b.range.est": 300,
    "v.e.locked": True, "v.p.odometer": 12345.6, "v.b.12v.voltage": 12.6,
    "v.p.latitude": 52.520008, "v.p.longitude": 13.404954,
}


class World:
    def __init__(self) -> None:
        self.loop = VirtualLoop(seed=1)
        self.server = OvmsServer(self.loop, ":memory:", "127.0.0.1", 6867)
        self.server.add_vehicle("TESTCAR", "carpass123")
        self.server.add_vehicle("OTHER", "otherpass")

    def car(self, vid: str = "TESTCAR", password: str = "carpass123", metrics: dict | None = None,
            on_command: Callable[[CarLink, CommandRequest], None] | None = None) -> CarLink:
        data = dict(METRICS if metrics is None else metrics)

        def on_event(link: CarLink, ev: CarEvent) -> None:
            if isinstance(ev, CommandRequest) and on_command is not None:
                on_command(link, ev)

        session = CarSession(vid, password, self.loop.random(f"car-{vid}"), self.loop.time())
        link = CarLink(self.loop, "127.0.0.1", 6867, session, lambda: data, on_event)
        link.metrics_dict = data  # type: ignore[attr-defined]
        link.connect()
        return link

    def app(self, vid: str = "TESTCAR", password: str = "carpass123", role: str = "A") -> AppClient:
        app = AppClient(self.loop, "127.0.0.1", 6867, vid, password, role=role,
                        rng=self.loop.random(f"app-{vid}-{id(object())}"))
        app.connect()
        return app

    def run(self, seconds: float = 1.0) -> None:
        self.loop.run_for(seconds)

