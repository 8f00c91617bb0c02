"""The virtual car on the virtual clock: it obeys every command frame, follows events, sleeps, replays."""

from __future__ import annotations

import pytest

from can_bus import frame_link, load_profile
from can_bus.car import SCENARIOS, VirtualCar, run_scenario
from can_bus.car.scenarios import duration
from can_bus.port import CanPort
from runtime import VirtualLoop

DEMO = load_profile("demo-ev")


class Unit:
    """What the TCU would hold: the other end of the link and a decoder."""

    def __init__(self, loop: VirtualLoop, port) -> None:
        self.port = port
        self.decoder = DEMO.decoder()
        self.metrics: dict = {}
        self.frames = 0
        self.per_id: dict[int, int] = {}
        port.set_handler(self._frame)

    def _frame(self, arbitration_id: int, data: bytes, ts: float) -> None:
        self.frames += 1
        self.per_id[arbitration_id] = self.per_id.get(arbitration_id, 0) + 1
        self.metrics.update(self.decoder.feed(arbitration_id, data))

    def command(self, name: str, **args) -> None:
        for fid, data in DEMO.encode_command(name, **args):
            self.port.send(fid, data)


def world(seed: int = 7, **kw):
    loop = VirtualLoop(seed=seed)
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, "demo-ev", **kw)
    return loop, car, Unit(loop, unit_port)


def test_car_emits_profile_frames_at_their_rates() -> None:
    loop, car, unit = world()
    loop.run(until=10.0)
    # DBC GenMsgCycleTime: 50 Hz + 2 x 20 Hz + 5 Hz + 2 Hz + 5 x 1 Hz (VIN in 3 frames) = 104 frames/s
    assert 1030 <= car.port.stats.tx <= 1045
    for message in DEMO.metric_messages:
        expected = 10.0 / DEMO.period(message) * (3 if message.name == "VIN" else 1)
        assert abs(unit.per_id[message.frame_id] - expected) <= 3, message.name
    assert unit.metrics["v.vin"] == "TCUSIM0DEMO000001"
    assert unit.metrics["v.e.locked"] is True
    assert 0 < unit.metrics["v.b.soc"] <= 100


@pytest.mark.parametrize(("command", "args", "metric", "before", "after"), [
    ("unlock", {}, "v.e.locked", True, False),
    ("valet_on", {}, "v.e.valet", False, True),
    ("climate_on", {}, "v.e.hvac", False, True),
    ("charge_mode", {"mode": "range"}, "v.c.mode", "standard", "range"),
    ("charge_limit", {"amps": 10}, "v.c.climit", 16, 10),
])
def test_car_obeys_command_frames(command: str, args: dict, metric: str, before, after) -> None:
    loop, car, unit = world()
    loop.run(until=2.0)
    assert unit.metrics[metric] == before
    unit.command(command, **args)
    loop.run(until=4.0)
    assert unit.metrics[metric] == after
    assert car.commands_obeyed == [(command, args)]


def test_lock_unlock_valet_climate_homelink_round_trip() -> None:
    loop, car, unit = world()
    for name, args, metric, value in [
        ("unlock", {}, "v.e.locked", False), ("lock", {}, "v.e.locked", True),
        ("valet_on", {}, "v.e.valet", True), ("valet_off", {}, "v.e.valet", False),
        ("climate_on", {}, "v.e.hvac", True), ("climate_off", {}, "v.e.hvac", False),
    ]:
        unit.command(name, **args)
        loop.run(until=loop.time() + 1.0)
        assert unit.metrics[metric] == value, name
    unit.command("homelink", button=2)
    loop.run(until=loop.time() + 1.0)
    assert car.s.homelink_presses == 1 and car.commands_obeyed[-1] == ("homelink", {"button": 2})


def test_charge_start_stop_really_stop_and_start_energy() -> None:
    loop, car, unit = world(rate=0.2)
    car.do("set-soc", soc=50)
    car.do("plug", kind="ac")
    loop.run(until=600.0)
    assert unit.metrics["v.c.charging"] is True and unit.metrics["v.c.state"] == "charging"
    assert 10.5 < unit.metrics["v.c.power"] <= 11.0  # 16 A x 3 x 230 V = 11 kW
    unit.command("charge_stop")
    loop.run(until=620.0)
    soc_stopped = car.s.soc
    assert unit.metrics["v.c.charging"] is False and unit.metrics["v.c.state"] == "stopped"
    loop.run(until=1200.0)
    assert car.s.soc <= soc_stopped  # no energy flows after charge stop
    unit.command("charge_start")
    loop.run(until=1800.0)
    assert car.s.soc > soc_stopped + 2
    unit.command("charge_limit", amps=8)
    loop.run(until=1900.0)
    assert 5.0 < unit.metrics["v.c.power"] < 6.0  # 8 A x 3 x 230 V


def test_dc_charge_tapers_and_stops_at_the_limit() -> None:
    loop, car, unit = world(rate=0.1)
    car.do("set-soc", soc=20)
    car.do("plug", kind="dc")
    loop.run(until=120.0)
    early = unit.metrics["v.c.power"]
    assert early > 90
    loop.run(until=45 * 60.0)
    assert unit.metrics["v.c.power"] < early * 0.7  # tapering above 50 %
    loop.run(until=3 * 3600.0)
    assert unit.metrics["v.c.state"] == "done" and unit.metrics["v.c.charging"] is False
    assert 89.5 <= car.s.soc <= 90.5  # default limit 90 %


def test_drive_moves_uses_energy_and_parks() -> None:
    loop, car, unit = world(rate=0.5)
    lat0, lon0, _, _ = car.position()
    soc0, odo0 = car.s.soc, car.s.odometer_km
    car.do("drive", minutes=10)
    loop.run(until=300.0)
    assert unit.metrics["v.e.on"] is True and unit.metrics["v.e.gear"] == 1
    assert unit.metrics["v.p.speed"] > 0 or car.s.odometer_km > odo0
    loop.run(until=700.0)
    assert unit.metrics["v.p.speed"] == 0 and unit.metrics["v.e.gear"] == 0
    assert unit.metrics["v.e.handbrake"] is True
    km = car.s.odometer_km - odo0
    assert 3 < km < 25
    used_kwh = (soc0 - car.s.soc) / 100 * car.s.capacity_kwh
    assert 0.10 < used_kwh / km < 0.30  # kWh/km of a real EV
    lat, lon, _, _ = car.position()
    assert (lat, lon) != (lat0, lon0)


def test_sleeps_when_idle_is_silent_and_wakes_on_a_frame() -> None:
    loop, car, unit = world(sleep_after=60)
    loop.run(until=90.0)
    assert car.s.awake is False
    assert unit.metrics["v.e.awake"] is False  # its last words before the silence
    frames = unit.frames
    loop.run(until=3600.0)
    assert unit.frames == frames  # asleep: silence
    v12_before = car.s.aux_voltage
    car.do("drain-12v", amps=10)
    car.do("sleep")
    loop.run(until=3 * 3600.0)
    assert car.s.aux_voltage < v12_before - 0.2  # a parasitic drain empties the 12 V battery
    unit.command("wakeup")
    loop.run(until=3 * 3600.0 + 2)
    assert car.s.awake and unit.frames > frames
    assert car.commands_obeyed[-1] == ("wakeup", {})


def test_alarm_on_forced_door_and_tow_while_locked() -> None:
    loop, car, unit = world()
    car.do("open-door", door="rl")
    loop.run(until=2.0)
    assert unit.metrics["v.d.rl"] is True and unit.metrics["v.e.alarm"] is True
    unit.command("unlock")
    loop.run(until=4.0)
    assert unit.metrics["v.e.alarm"] is False
    with pytest.raises(ValueError):
        car.do("fly")
    with pytest.raises(ValueError):
        car.do("open-door", door="roof")


def test_theft_scenario_moves_a_locked_car_and_raises_the_alarm() -> None:
    loop, car, unit = world(sleep_after=300, rate=0.2)
    run_scenario(car, "theft", loop)
    lat0, lon0, _, _ = car.position()
    loop.run(until=39 * 60.0)
    assert car.s.awake is False
    loop.run(until=50 * 60.0)
    lat, lon, _, speed = car.position()
    assert car.s.alarm and unit.metrics["v.e.alarm"] is True and unit.metrics["v.e.locked"] is True
    assert unit.metrics["v.p.speed"] == 0  # wheels on the truck: CAN says standing still
    assert speed == 20.0 and abs(lat - lat0) + abs(lon - lon0) > 0.01  # GNSS says moving


def test_interrupted_charge_scenario() -> None:
    loop, car, unit = world(rate=0.1)
    run_scenario(car, "interrupted-charge", loop)
    loop.run(until=40 * 60.0)
    assert unit.metrics["v.c.state"] == "charging"
    loop.run(until=50 * 60.0)
    assert unit.metrics["v.c.state"] == "stopped" and unit.metrics["v.c.pilot"] is True
    loop.run(until=duration("interrupted-charge") + 60)
    assert unit.metrics["v.c.pilot"] is False


def test_day_scenario_is_deterministic_per_seed() -> None:
    def run(seed: int, hours: list[float]) -> list[tuple]:
        loop, car, unit = world(seed=seed, rate=0.02)
        run_scenario(car, "day", loop)
        out = []
        for h in hours:
            loop.run(until=h * 3600.0)
            out.append((round(car.s.odometer_km, 3), round(car.s.soc, 3), round(car.s.lat, 6),
                        unit.metrics["v.c.state"]))
        return out

    a, b, c = run(1, [0.5, 10.6]), run(1, [0.5, 10.6]), run(2, [0.5])
    assert a == b
    assert a[0] != c[0]
    assert a[1][3] == "charging" and a[1][0] > 12_345.6 + 20
    assert set(SCENARIOS) >= {"day", "theft", "interrupted-charge"}


class _RecordingPort(CanPort):
    """A port that only knows `send` (a bus driver): the car must fall back to frame by frame."""

    def __init__(self, loop: VirtualLoop) -> None:
        super().__init__()
        self.loop = loop
        self.sent: list[tuple[float, int, bytes]] = []

    def send(self, arbitration_id: int, data: bytes) -> None:
        self.sent.append((self.loop.time(), arbitration_id, bytes(data)))


def test_car_hands_each_burst_over_in_one_call_same_frames_as_frame_by_frame() -> None:
    loop, car, unit = world(seed=3)
    bursts: list[int] = []
    burst = car.port.send_checked

    def counting(frames, **kw) -> None:  # type: ignore[no-untyped-def]
        bursts.append(len(frames))
        burst(frames, **kw)

    car._send_burst = counting
    seen: list[tuple[float, int, bytes]] = []
    unit.port.set_handler(lambda i, d, t: seen.append((t, i, d)))
    car.do("drive", minutes=1)
    loop.run(until=20.0)
    # 50 Hz, 20 Hz, 5 Hz, 2 Hz and 1 Hz groups: 78 bursts a second, 104 frames
    assert 1540 <= len(bursts) <= 1570 and sum(bursts) == len(seen)

    loop2 = VirtualLoop(seed=3)
    port = _RecordingPort(loop2)
    car2 = VirtualCar(loop2, port, "demo-ev")
    car2.do("drive", minutes=1)
    loop2.run(until=20.0)
    assert port.sent == seen


def test_ecu_makes_its_isotp_channel_at_the_first_poll_only() -> None:
    """A fleet's cars are mostly never polled: no ISO-TP state machine until a request comes."""
    from can_bus.ingest import CanIngest

    loop = VirtualLoop(seed=2)
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, "demo-ev", rate=0.2)
    assert car.ecu._channels == {} and car.ecu.request_ids
    loop.run(until=5.0)
    assert car.ecu._channels == {}
    metrics: dict = {}
    CanIngest(loop, unit_port, "demo-ev", lambda ups: metrics.update(ups))
    loop.run(until=30.0)
    assert metrics["v.vin"] == "TCUSIM0DEMO000001" and car.ecu.requests >= 1
    assert set(car.ecu._channels) <= car.ecu.request_ids and car.ecu._channels
