"""GNSS: power, time to first fix, +CGNSINF fields, NMEA streaming that pynmea2 parses."""

from __future__ import annotations

import pynmea2
import pytest

from modem.emulator import Fix, RoutePosition
from tests.emulator.rig import Rig


def fields(line: str) -> list[str]:
    return line.split("\r\n")[1].split(": ", 1)[1].split(",")


def test_cgnsinf_power_and_fix() -> None:
    r = Rig(gnss=(52.2, 0.12))
    r.at("ATE0")
    off = fields(r.at("AT+CGNSINF"))
    assert off[0] == "0" and len(off) == 21
    r.at("AT+CGNSPWR=1")
    assert r.at("AT+CGNSPWR?") == "\r\n+CGNSPWR: 1\r\n\r\nOK\r\n"
    f = fields(r.at("AT+CGNSINF"))
    assert f[:2] == ["1", "1"] and len(f) == 21
    assert float(f[3]) == pytest.approx(52.2) and float(f[4]) == pytest.approx(0.12)
    assert f[2] == "20260101000000.000"


def test_realistic_time_to_first_fix() -> None:
    r = Rig(profile="realistic")
    r.at("ATE0", wait=1)
    r.at("AT+CGNSPWR=1", wait=1)
    f = fields(r.at("AT+CGNSINF", wait=1))
    assert f[:2] == ["1", "0"] and f[3] == ""
    r.run(60)
    assert fields(r.at("AT+CGNSINF", wait=1))[1] == "1"


def test_nmea_stream_follows_a_route() -> None:
    route = RoutePosition([(51.5, -0.12), (51.6, -0.12)], speed_kmh=36)
    r = Rig(gnss=route)
    r.at("ATE0;+CGNSPWR=1;+CGNSTST=1")
    out = r.run(3.5)
    sentences = [pynmea2.parse(line) for line in out.split("\r\n") if line.startswith("$")]
    rmc = [s for s in sentences if isinstance(s, pynmea2.RMC)]
    gga = [s for s in sentences if isinstance(s, pynmea2.GGA)]
    assert len(rmc) == 3 and len(gga) == 3
    assert rmc[0].status == "A" and rmc[-1].latitude > rmc[0].latitude
    assert float(rmc[0].spd_over_grnd) == pytest.approx(36 / 1.852, abs=0.01)
    r.at("AT+CGNSTST=0")
    assert r.run(3) == ""


def test_callable_source_from_the_world() -> None:
    r = Rig(gnss=lambda now: Fix(48.0 + now / 1000, 11.0, speed_kmh=50))
    r.at("ATE0;+CGNSPWR=1")
    r.run(100)
    f = fields(r.at("AT+CGNSINF"))
    assert float(f[3]) == pytest.approx(48.1, abs=1e-3) and float(f[6]) == 50


def test_car_style_position_without_arguments() -> None:
    class Car:
        def position(self) -> tuple[float, float, float, float]:
            return 51.0, -1.0, 270.0, 88.0

    r = Rig(gnss=Car().position)
    r.at("ATE0;+CGNSPWR=1")
    f = fields(r.at("AT+CGNSINF"))
    assert (float(f[3]), float(f[4]), float(f[6]), float(f[7])) == (51.0, -1.0, 88.0, 270.0)
