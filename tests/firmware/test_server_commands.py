"""Server `C` commands through the whole stack: app → server → unit → car (CAN) → confirmation → `c`."""

from __future__ import annotations

from ovms_v2 import messages as m
from sim.world import CAR_PASSWORD, SERVER_PORT, VEHICLE_ID, World, WorldConfig
from tools.app.client import AppClient


def test_app_commands_are_executed_and_answered_with_the_cars_result() -> None:
    world = World(WorldConfig(seed=3, hours=1.0, scenario="theft", modem="direct", incidents=False,
                              outages=[], owner_script=(), can_rate=0.05))
    loop = world.loop
    loop.run(until=120)
    assert world.unit.link.online
    app = AppClient(loop, "127.0.0.1", SERVER_PORT, VEHICLE_ID, CAR_PASSWORD)
    app.connect()
    loop.run(until=130)
    assert app.state == "open"

    def replies(cmd: int) -> list[m.CommandReply]:
        return [msg for _, msg in app.received if isinstance(msg, m.CommandReply) and msg.cmd == cmd]

    app.command(22)                 # unlock (the theft scenario parks the car locked)
    loop.run(until=150)
    assert [r.result for r in replies(22)] == [0]
    assert world.car.s.locked is False and world.unit.metrics.get("v.e.locked") is False
    app.command(20)                 # lock
    app.command(7, "STAT")          # the SMS interpreter, trusted channel
    app.command(99)                 # unknown
    app.command(4, "1,")            # the module password may not be emptied
    loop.run(until=200)
    assert [r.result for r in replies(20)] == [0] and world.car.s.locked is True
    stat = replies(7)
    assert stat and stat[0].result == 0 and "SOC" in stat[0].text and "," not in stat[0].text
    assert [r.result for r in replies(99)] == [3]
    assert [r.result for r in replies(4)] == [1]
    # a parameter change: answered, stored, and the link re-initialises with it
    app.command(4, "5,apn.example")  # parameter 5: APN
    loop.run(until=205)
    assert [r.result for r in replies(4)] == [1, 0] and world.unit.params["apn"] == "apn.example"
    loop.run(until=400)
    assert world.unit.link.online
    assert world.unit.remote.executed == 2
    app.close()
    world.close()
