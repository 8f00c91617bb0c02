"""Polling over ISO-TP (can-isotp) against the virtual car's UDS ECU, on the virtual clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from can_bus import frame_link, load_profile
from can_bus.car import VirtualCar
from can_bus.car.ecu import UdsResponder
from can_bus.ingest import CanIngest
from can_bus.poller import Poller, decode_value, encode_value, request_payload, state_from_metrics
from can_bus.profile import PollSpec, PollValue
from runtime import VirtualLoop

DEMO = load_profile("demo-ev")


def ecu_world(metrics: dict, awake: bool = True):
    loop = VirtualLoop(seed=1)
    unit_port, ecu_port = frame_link(loop)
    ecu = UdsResponder(loop, ecu_port.send, DEMO.polls, lambda: metrics, lambda: awake)
    ecu_port.set_handler(lambda i, d, t: ecu.feed(i, d))
    got: list = []
    poller = Poller(loop, unit_port.send, DEMO.polls, got.extend)
    frames: list = []

    def unit_frame(i: int, d: bytes, t: float) -> None:
        frames.append((i, d))
        poller.feed(i, d)

    unit_port.set_handler(unit_frame)
    return loop, poller, ecu, got, frames


def test_polls_multi_frame_vin_and_health_when_awake() -> None:
    loop, poller, ecu, got, frames = ecu_world({"v.b.soh": 93.5, "v.b.cac": 171.3, "v.vin": "TCUSIM0DEMO000001"})
    loop.run(until=1.0)
    assert got == []  # state "off": nothing asked, so a parked car may sleep
    assert poller.stats.requests == 0
    poller.set_state("charging")
    loop.run(until=2.0)
    assert dict(got) == {"v.b.soh": 93.5, "v.b.cac": 171.3, "v.vin": "TCUSIM0DEMO000001"}
    assert poller.stats.responses == 2 and poller.stats.timeouts == 0
    # The 17-byte VIN needs a first frame, flow control and consecutive frames.
    assert any(d[0] >> 4 == 1 for i, d in frames if i == 0x7EC)
    assert all(len(d) == 8 for i, d in frames)  # ISO 15765-4 padding


def test_schedule_follows_state() -> None:
    loop, poller, ecu, got, frames = ecu_world({"v.b.soh": 90, "v.b.cac": 170, "v.vin": "X"})
    poller.set_state("driving")
    loop.run(until=100.0)
    health_driving = ecu.requests
    assert 10 <= health_driving <= 13  # bms-health every 10 s + one VIN
    poller.set_state("charging")
    loop.run(until=200.0)
    assert 3 <= ecu.requests - health_driving <= 5  # every 30 s
    poller.set_state("off")
    before = ecu.requests
    loop.run(until=1000.0)
    assert ecu.requests == before


def test_sleeping_ecu_times_out_and_negative_answers_are_counted() -> None:
    loop, poller, ecu, got, frames = ecu_world({}, awake=False)
    poller.set_state("charging")
    loop.run(until=5.0)
    assert poller.stats.timeouts == 2 and got == []
    assert ecu.answer(0x7E4, bytes([0x22, 0x12, 0x34])) == bytes([0x7F, 0x22, 0x31])
    assert ecu.answer(0x7E4, bytes([0x10, 0x01])) == bytes([0x7F, 0x10, 0x11])
    assert ecu.answer(0x7E4, bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])
    assert ecu.answer(0x7E4, b"") == bytes([0x7F, 0x00, 0x13])


def test_negative_response_to_a_poll() -> None:
    loop = VirtualLoop()
    unit_port, ecu_port = frame_link(loop)
    spec = PollSpec("x", tx=0x7E0, rx=0x7E8, service=0x22, did=0x1234, interval={"awake": 10},
                    values=(PollValue("v.b.soh", 0, 1),))
    ecu_port.set_handler(lambda i, d, t: ecu_port.send(0x7E8, bytes([0x03, 0x7F, 0x22, 0x31]) + bytes(4)))
    got: list = []
    poller = Poller(loop, unit_port.send, [spec], got.extend, state="awake")
    unit_port.set_handler(lambda i, d, t: poller.feed(i, d))
    loop.run(until=1.0)
    assert poller.stats.negative == 1 and got == []


def test_obd2_mode01_request_payload() -> None:
    spec = PollSpec("speed", tx=0x7DF, rx=0x7E8, service=0x01, did=0x0D, interval={"driving": 1},
                    values=(PollValue("v.p.speed", 0, 1, type="int"),))
    assert request_payload(spec) == b"\x01\x0d"


@settings(max_examples=100, deadline=None)
@given(value=st.floats(0, 6553.5, allow_nan=False))
def test_poll_value_codec_round_trip(value: float) -> None:
    pv = PollValue("v.b.cac", start=1, length=2, scale=0.1, round=1)
    data = b"\x00" + encode_value(pv, value)
    assert abs(decode_value(pv, data) - value) <= 0.05 + 1e-9


def test_state_from_metrics() -> None:
    assert state_from_metrics({}) == "off"
    assert state_from_metrics({"v.e.awake": True}) == "awake"
    assert state_from_metrics({"v.e.on": True, "v.p.speed": 30, "v.e.gear": 1}) == "driving"
    assert state_from_metrics({"v.c.charging": True, "v.e.awake": True}) == "charging"


def test_ingest_with_the_virtual_car_polls_only_while_awake() -> None:
    loop = VirtualLoop(seed=2)
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, "demo-ev", sleep_after=120, rate=0.2)
    metrics: dict = {}
    ingest = CanIngest(loop, unit_port, "demo-ev", lambda ups: metrics.update(ups))
    loop.run(until=30.0)
    assert metrics["v.vin"] == "TCUSIM0DEMO000001"  # awake and parked: the VIN only
    assert "v.b.soh" not in metrics
    loop.run(until=400.0)
    assert not car.s.awake  # polling did not keep the parked car awake...
    requests = car.ecu.requests
    loop.run(until=4000.0)
    assert car.ecu.requests == requests and not car.s.awake  # ...and stays quiet while it sleeps
    ingest.send_command("wakeup")
    loop.run(until=4010.0)
    assert car.s.awake and car.ecu.requests > requests  # awake again: the VIN is asked at once
    car.do("plug", kind="ac")
    loop.run(until=4100.0)
    assert metrics["v.b.soh"] == 96.5 and metrics["v.b.cac"] > 100  # charging: battery health polled


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(st.tuples(st.sampled_from([0x7E4, 0x7EC]), st.binary(max_size=8)), max_size=12))
def test_garbage_iso_tp_frames_never_raise(frames) -> None:
    """Random frames on the diagnostic ids reach both ISO-TP ends; nothing escapes into the loop."""
    loop, poller, ecu, got, _ = ecu_world({"v.b.soh": 90, "v.b.cac": 170, "v.vin": "X"})
    poller.set_state("charging")
    for fid, data in frames:
        if fid == 0x7EC:
            poller.feed(fid, data)
        else:
            ecu.feed(fid, data)
        loop.run(until=loop.time() + 0.01)
    loop.run(until=loop.time() + 40.0)
    assert poller.stats.requests >= 1  # and the schedule is still running
