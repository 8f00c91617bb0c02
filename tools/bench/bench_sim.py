"""`sim-speed`: simulated seconds per wall second, for one unit and for worlds of N units.

The world here is built from the public pieces, one per unit, all on one `VirtualLoop`:
`VirtualCar` (demo-ev, the "day" scenario) → `can_bus.memory.frame_link` → `tcu.unit.Unit` →
`modem.driver.modem.Modem` (the sim800 dialect, or unit by unit the dialects of a mixed fleet) →
`pipe_pair` (the UART) → `VirtualModem` of the same dialect (realistic timing, harsh weather) → one shared `VirtualNetwork` → one `OvmsServer` on the same
loop, which every unit logs into. That is the wiring of `tcu sim` (sim.world.World, one unit only)
with N units; `tcu sim --report`'s own figure for one unit and a day is printed beside ours.

The cars send their frames at the DBC rates (a real bus: 50 Hz drive data) unless a fleet says
otherwise; `tcu sim` sends a tenth of them by default (`--can-rate 0.1`), so fleets are measured at
both. A fleet's figure holds only with the report's guarantees: after the timed window the world runs
a drain period (not timed) and every alert a unit raised must be stored by the server exactly once
or still be in that unit's outbox (`delivery`: counted at the receiving end, as `tcu sim` counts).

Logging below ERROR is switched off while the world runs: at N = 100 a harsh day logs thousands of
warnings (every outage, every reconnect), and the figure is for the simulation, not for a terminal.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.bench.registry import Figure, at_least, at_most, info

GOAL_ONE = 10_000.0   # issue 13: one unit, a day of harsh weather at the DBC rates, >= 10,000x real time
GOAL_HUNDRED = 200.0  # issues 8 and 13: 100 units sharing one server, >= 200x
GOAL_THOUSAND = 20.0  # issue 13: 1,000 units at the default CAN rate in one process, >= 20x
DRAIN = 600.0         # simulated seconds after a fleet's timed window, for deliveries under way
INCIDENT_EVERY = 3 * 3600.0  # a car's break-ins in a fleet: `tcu sim`'s default incident rate, 1 per 3 h
DAY = 24 * 3600.0
PASSWORD = "bench-secret"
OWNER = "+447700900123"


@dataclass
class World:
    loop: Any
    server: Any
    network: Any
    units: list[Any] = field(default_factory=list)
    cars: list[Any] = field(default_factory=list)
    modems: list[Any] = field(default_factory=list)
    raised: list[set[int]] = field(default_factory=list)  # per unit: the alert ids it raised

    def online(self) -> int:
        return sum(1 for u in self.units if u.link.online)

    def delivery(self) -> dict[str, int]:
        """Alerts raised, stored by the server, still queued, lost and stored twice, over all units.

        Matched by the id tag in the stored text (`tcu.alert_tag`), never by the unit's bookkeeping.
        """
        from collections import Counter

        from tcu.alert_tag import alert_ids

        out = dict.fromkeys(("raised", "delivered", "queued", "lost", "duplicates"), 0)
        for k, (unit, raised) in enumerate(zip(self.units, self.raised, strict=True)):
            stored: Counter[int] = Counter()
            for alert in self.server.alerts(f"SIM{k:04d}"):
                stored.update(set(alert_ids(alert.text)))
            pending = {i.id for i in unit.outbox.pending() if i.kind == "alert"}
            delivered = raised & set(stored)
            out["raised"] += len(raised)
            out["delivered"] += len(delivered)
            out["queued"] += len((raised - delivered) & pending)
            out["lost"] += len(raised - delivered - pending)
            out["duplicates"] += sum(1 for i in raised if stored[i] > 1)
        return out


def build_world(n: int, state_dir: str, *, seed: int = 1, weather: str | None = "harsh",
                scenario: str | None = "day", can_rate: float = 1.0,
                dialects: tuple[str, ...] = ("sim800",), alarms: tuple[float, float] | None = None) -> World:
    """`n` cars, units and modems sharing one network and one server on a fresh VirtualLoop.

    Car k lives the scenario's day from phase `k * DAY / n` (its steps shifted and wrapped around the
    day): a fleet's cars do not all leave home in the same second, and any window of a fleet's day
    carries the day's average mix of parked, driving and charging cars. Car 0 starts at phase 0.
    `can_rate` is the fraction of the DBC frame rates the cars send (`tcu sim --can-rate`, default 0.1
    there; 1.0 here: a real bus). Unit k's modem (driver and emulator) is `dialects[k % len(dialects)]`.
    With `alarms=(start, end)` cars are broken into between `start` and `end` as often as `tcu sim`'s
    incidents come (one per car and `INCIDENT_EVERY` seconds; later if the car is on the road or
    charging then): critical alerts to deliver, so the delivery count means something.
    """
    from can_bus.car import VirtualCar
    from can_bus.memory import frame_link
    from modem.driver.modem import Modem
    from modem.emulator import VirtualModem, VirtualNetwork
    from runtime import VirtualLoop, pipe_pair
    from tcu.params import Params
    from tcu.unit import Unit, UnitHooks
    from tools.server.core import OvmsServer

    loop = VirtualLoop(seed=seed)
    server = OvmsServer(loop, ":memory:", "127.0.0.1", 6867)
    network = VirtualNetwork(loop)
    world = World(loop, server, network)
    for k in range(n):
        vid = f"SIM{k:04d}"
        server.add_vehicle(vid, PASSWORD)
        car_end, unit_end = frame_link(loop, name=f"can{k}")
        # A fleet's cars are parked and asleep when the window opens, unless their day says otherwise;
        # car 0 (the one-unit day) is awake at power-on as `tcu sim` starts it.
        car = VirtualCar(loop, car_end, "demo-ev", name=f"car{k}", awake=(k == 0), rate=can_rate)
        uart_unit, uart_modem = pipe_pair(loop, name=f"uart{k}")
        dialect = dialects[k % len(dialects)]
        vmodem = VirtualModem(loop, uart_modem, network, number=f"+4477009{k:05d}", profile="realistic",
                              weather=weather, gnss=car.position, name=f"vmodem{k}", dialect=dialect)
        modem = Modem(loop, uart_unit, dialect=dialect)
        params = Params({"vehicle_id": vid, "server": "127.0.0.1:6867", "server_password": PASSWORD,
                         "owner": OWNER, "profile": "demo-ev", "apn": "internet"})
        raised: set[int] = set()
        hooks = UnitHooks(alert_raised=_recorder(raised))
        unit = Unit(loop, params, modem, unit_end, os.path.join(state_dir, vid), hooks=hooks)
        unit.start()
        world.raised.append(raised)
        if scenario is not None:
            schedule_day(loop, car, scenario, phase=k * DAY / max(1, n))
        if alarms is not None:
            start, end = alarms
            if k % max(1, round(INCIDENT_EVERY / (end - start))) == 0:
                loop.call_at(start + (end - start) * k / max(1, n), break_in, loop, car)
        world.units.append(unit)
        world.cars.append(car)
        world.modems.append(vmodem)
    return world


def schedule_day(loop: Any, car: Any, scenario: str, phase: float) -> None:
    """The scenario's steps from `phase` seconds into its day, wrapped (can_bus.car.scenarios' data)."""
    from can_bus.car.scenarios import SCENARIOS

    for at, event, kw in SCENARIOS[scenario]:
        loop.call_later((at - phase) % DAY if phase else at, lambda e=event, k=kw: car.do(e, **k))


def break_in(loop: Any, car: Any) -> None:
    """Forced entry into the locked car (the alarm sounds), the owner comes back two minutes later."""
    s = car.s
    if s.speed_kmh > 1 or s.charging or s.towing:
        loop.call_later(600, break_in, loop, car)
        return
    car.do("lock")
    car.do("open-door", door="fl")
    loop.call_later(120, car.do, "unlock")
    loop.call_later(130, functools.partial(car.do, "close-door", door="fl"))


def _recorder(raised: set[int]) -> Callable[[int, Any], None]:
    def note(alert_id: int, _alert: Any) -> None:
        raised.add(alert_id)
    return note


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def sim_rate(n: int, sim_seconds: float, *, warmup: float = 300.0, weather: str | None = "harsh",
             scenario: str | None = "day", can_rate: float = 1.0,
             dialects: tuple[str, ...] = ("sim800",), drain: float = 0.0) -> dict[str, float]:
    """Build a world of `n` units, run `warmup` simulated seconds (logins), then time `sim_seconds`;
    with a `drain`, cars are broken into during the timed window (`build_world`'s `alarms`), the world
    runs `drain` more seconds (untimed) and the alerts' delivery is counted at the server."""
    with tempfile.TemporaryDirectory(prefix="tcu-bench-sim-") as tmp, quiet():
        t0 = time.perf_counter()
        alarms = (warmup, warmup + sim_seconds) if drain > 0 else None
        world = build_world(n, tmp, weather=weather, scenario=scenario, can_rate=can_rate, dialects=dialects,
                            alarms=alarms)
        build_s = time.perf_counter() - t0
        loop = world.loop
        loop.run(until=warmup)
        online_after_warmup = world.online()
        timers0 = loop.timers_run
        t0 = time.perf_counter()
        loop.run(until=warmup + sim_seconds)
        wall = time.perf_counter() - t0
        result = {
            "units": n, "sim_seconds": sim_seconds, "wall_seconds": wall, "rate": sim_seconds / wall,
            "build_seconds": build_s, "online_after_warmup": online_after_warmup, "online_at_end": world.online(),
            "timers_per_sim_second": (loop.timers_run - timers0) / sim_seconds,
            "server_messages_in": world.server.stats["messages_in"],
        }
        if drain > 0:
            loop.run(until=warmup + sim_seconds + drain)
        result.update({f"alerts_{k}": v for k, v in world.delivery().items()})
        for unit in world.units:
            unit.stop()
        world.server.close()
        return result


def drive_one_unit(sim_seconds: float = 3600.0) -> dict[str, Any]:
    """One world of one unit whose car drives for `sim_seconds` (calm weather); for `footprint`.

    The process holds the whole world (car, modem emulator, server), so its RSS is an upper bound for
    the unit alone.
    """
    with tempfile.TemporaryDirectory(prefix="tcu-bench-drive-") as tmp, quiet():
        world = build_world(1, tmp, weather=None, scenario=None)
        world.cars[0].do("drive", minutes=sim_seconds / 60 + 1, mode="mixed")
        world.loop.run(until=sim_seconds)
        unit = world.units[0]
        return {"what": "world of 1 unit, in-process", "can_frames": unit.can_frames,
                "online": unit.link.online, "sim_seconds": sim_seconds}


def tcu_sim_report(timeout: float = 120.0) -> dict[str, Any] | None:
    """`tcu sim` for a day in harsh weather with `--report`, if the firmware's CLI offers it."""
    with tempfile.TemporaryDirectory(prefix="tcu-bench-tcusim-") as tmp:
        report = os.path.join(tmp, "report.json")
        args = [sys.executable, "-m", "tcu.cli", "sim", "--hours", "24", "--weather", "harsh", "--quiet",
                "--report", report]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"error": f"tcu sim took more than {timeout:.0f} s"}
        if out.returncode != 0 or not os.path.exists(report):
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"exit {out.returncode}: {tail[:160]}"}
        with open(report) as fh:
            return json.load(fh)


SIM800 = ("sim800",)
MIXED = ("sim800", "sim7600")   # every other unit on the LTE dialect (issue 15)
# (units, simulated seconds timed, CAN rate, dialects, goal in x real time or None for a plain figure)
Fleet = tuple[int, float, float, tuple[str, ...], float | None]
FLEETS: tuple[Fleet, ...] = (
    (10, 3600.0, 1.0, SIM800, None), (100, 1800.0, 1.0, SIM800, GOAL_HUNDRED),
    (10, 3600.0, 0.1, SIM800, None), (100, 1800.0, 0.1, SIM800, GOAL_HUNDRED),
    (100, 1800.0, 0.1, MIXED, GOAL_HUNDRED), (1000, 900.0, 0.1, SIM800, GOAL_THOUSAND))


def run(day: float = DAY, fleets: tuple[Fleet, ...] = FLEETS,
        with_tcu_sim: bool = True) -> list[Figure]:
    """One unit for a whole day from power-on; then each (units, simulated seconds, CAN rate) fleet."""
    figures: list[Figure] = []
    one = sim_rate(1, day, warmup=0.0)
    figures.append(at_least("sim-speed 1 unit, 24 h harsh, DBC rates", one["rate"], "x real", GOAL_ONE))
    figures.append(info("sim-speed 1 unit, wall time for that day", one["wall_seconds"], "s"))
    if with_tcu_sim:
        report = tcu_sim_report()
        if report and "sim_seconds" in report and report.get("wall_seconds"):
            rate = report["sim_seconds"] / report["wall_seconds"]
            figures.append(at_least("sim-speed tcu sim 24 h harsh (--report)", rate, "x real", GOAL_ONE))
            print(f"sim-speed: tcu sim --hours 24 --weather harsh: {report['sim_seconds']:.0f} simulated s "
                  f"(the day and its drain period) in {report['wall_seconds']:.1f} s, CAN at its default "
                  f"--can-rate (a tenth of the DBC rates)", flush=True)
        else:
            reason = (report or {}).get("error", "no report")
            print(f"sim-speed: `tcu sim --report` not measured: {reason}", flush=True)
    for n, seconds, can_rate, dialects, goal in fleets:
        r = sim_rate(n, seconds, can_rate=can_rate, dialects=dialects, drain=DRAIN)
        name = (f"sim-speed {n} units" + ("" if can_rate == 1.0 else f", CAN x{can_rate:g}")
                + ("" if dialects == SIM800 else f", {'+'.join(dialects)}"))
        figures.append(info(name, r["rate"], "x real") if goal is None else at_least(name, r["rate"], "x real", goal))
        figures.append(info(f"{name}: online at end", r["online_at_end"], "units"))
        figures.append(info(f"{name}: alerts raised", r["alerts_raised"], "alerts"))
        figures.append(at_most(f"{name}: alerts lost", r["alerts_lost"], "alerts", 0))
        figures.append(at_most(f"{name}: alerts stored twice", r["alerts_duplicates"], "alerts", 0))
        print(f"sim-speed: {n} units, CAN at {can_rate:g} of the DBC rates: {seconds:.0f} simulated s after a "
              f"300 s warm-up, world built in {r['build_seconds']:.1f} s; alerts: {r['alerts_raised']} raised, "
              f"{r['alerts_delivered']} stored by the server, {r['alerts_queued']} still queued after a "
              f"{DRAIN:.0f} s drain", flush=True)
    return figures
