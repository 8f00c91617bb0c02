"""The virtual car's physics, sans-IO: state in, `step(dt)` and events, metrics out.

Small on purpose, believable where someone looks: a drive draws power for rolling resistance, drag
and acceleration and gives some back by regeneration; AC charging is flat until it tapers in the
top-off band, DC charging tapers from half full; the pack voltage follows state of charge and sags
under load; the 12 V battery drains while the car sleeps and is recharged by the DC-DC converter
while it is awake. Time and randomness come from outside (the loop), so a seed replays exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

G = 9.81
AIR_DENSITY = 1.2
EARTH_M_PER_DEG = 111_320.0
DOORS = ("fl", "fr", "rl", "rr", "trunk", "hood", "cp")


@dataclass
class CarState:
    """Everything the car knows about itself; `metrics()` turns it into OVMS names."""

    # where and how fast
    lat: float = 52.5200
    lon: float = 13.4050
    course: float = 90.0
    speed_kmh: float = 0.0
    odometer_km: float = 12_345.6
    trip_km: float = 0.0
    # powertrain
    on: bool = False
    awake: bool = True
    gear: int = 0  # OVMS: -1 reverse, 0 park/neutral, 1 drive
    handbrake: bool = True
    driving: bool = False
    target_kmh: float = 0.0
    # high-voltage battery
    capacity_kwh: float = 64.0
    energy_kwh: float = 44.8
    soh: float = 96.5
    pack_cells: int = 96
    pack_voltage: float = 380.0
    pack_current: float = 0.0
    batt_power_kw: float = 0.0
    batt_temp: float = 18.0
    motor_temp: float = 18.0
    inverter_temp: float = 18.0
    # charging
    plugged: str | None = None  # None, "ac" or "dc"
    charging: bool = False
    charge_state: str = "stopped"
    charge_mode: str = "standard"
    charge_limit_amps: int = 16
    charge_limit_soc: int = 90
    charge_kwh: float = 0.0
    charge_power_kw: float = 0.0
    charge_voltage: float = 0.0
    charge_current: float = 0.0
    charger_temp: float = 18.0
    # 12 V
    aux_soc: float = 0.9
    aux_voltage: float = 12.6
    aux_current: float = 0.0
    aux_extra_drain_a: float = 0.0
    # body
    doors: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(DOORS, False))
    locked: bool = True
    valet: bool = False
    alarm: bool = False
    hvac: bool = False
    cabin_temp: float = 16.0
    ambient_temp: float = 12.0
    towing: bool = False
    homelink_presses: int = 0
    vin: str = "TCUSIM0DEMO000001"

    @property
    def soc(self) -> float:
        return max(0.0, min(100.0, 100.0 * self.energy_kwh / self.capacity_kwh))

    def metrics(self) -> dict[str, Any]:
        soc = self.soc
        usable = self.energy_kwh
        return {
            "v.b.soc": round(soc, 1),
            "v.b.soh": self.soh,
            "v.b.cac": round(self.capacity_kwh * 1000 / (self.pack_cells * 3.7) * self.soh / 100, 1),
            "v.b.range.ideal": int(usable / 0.150),
            "v.b.range.est": int(usable / (0.185 if self.ambient_temp > 5 else 0.230)),
            "v.b.voltage": round(self.pack_voltage, 1),
            "v.b.current": round(self.pack_current, 1),
            "v.b.power": round(self.batt_power_kw, 2),
            "v.b.temp": int(round(self.batt_temp)),
            "v.b.12v.voltage": round(self.aux_voltage, 2),
            "v.b.12v.current": round(self.aux_current, 2),
            "v.c.charging": self.charging,
            "v.c.pilot": self.plugged is not None,
            "v.c.state": self.charge_state,
            "v.c.mode": self.charge_mode,
            "v.c.type": {"ac": "type2", "dc": "ccs"}.get(self.plugged or "", "none"),
            "v.c.voltage": int(round(self.charge_voltage)),
            "v.c.current": round(self.charge_current, 1),
            "v.c.climit": self.charge_limit_amps,
            "v.c.limit.soc": self.charge_limit_soc,
            "v.c.kwh": round(self.charge_kwh, 2),
            "v.c.power": round(self.charge_power_kw, 2),
            "v.c.temp": int(round(self.charger_temp)),
            "v.c.duration.full": self.minutes_to_full(),
            "v.d.fl": self.doors["fl"], "v.d.fr": self.doors["fr"], "v.d.rl": self.doors["rl"],
            "v.d.rr": self.doors["rr"], "v.d.trunk": self.doors["trunk"], "v.d.hood": self.doors["hood"],
            "v.d.cp": self.doors["cp"],
            "v.e.locked": self.locked,
            "v.e.valet": self.valet,
            "v.e.on": self.on,
            "v.e.awake": self.awake,
            "v.e.alarm": self.alarm,
            "v.e.handbrake": self.handbrake,
            "v.e.hvac": self.hvac,
            "v.e.cabintemp": round(self.cabin_temp, 1),
            "v.e.temp": round(self.ambient_temp, 1),
            "v.e.gear": self.gear,
            "v.p.speed": round(self.speed_kmh, 2),
            "v.p.odometer": round(self.odometer_km, 1),
            "v.p.trip": round(self.trip_km, 1),
            "v.m.temp": int(round(self.motor_temp)),
            "v.i.temp": int(round(self.inverter_temp)),
            "v.vin": self.vin,
        }

    def minutes_to_full(self) -> int:
        if not self.charging or self.charge_power_kw <= 0.1:
            return 0
        missing = self.capacity_kwh * max(0.0, self.charge_limit_soc - self.soc) / 100
        return int(min(4095, 60 * missing / (self.charge_power_kw * 0.9)))

    def snapshot(self) -> dict[str, Any]:
        d = asdict(self)
        d["soc"] = round(self.soc, 2)
        return d


class CarModel:
    """Advances a `CarState` in time. `rng` decides traffic (target speeds, turns)."""

    # vehicle constants (a mid-size EV)
    MASS_KG = 1750.0
    CDA = 0.62  # drag coefficient x frontal area, m²
    CRR = 0.011
    DRIVE_EFF = 0.90
    REGEN_EFF = 0.65
    MAX_REGEN_KW = 60.0
    AUX_KW = 0.3
    HVAC_KW = 2.0
    PACK_R_OHM = 0.08
    AUX_AH = 45.0
    AC_VOLTS = 230.0
    AC_PHASES = 3

    def __init__(self, state: CarState, rng: random.Random, max_ac_kw: float = 11.0,
                 max_dc_kw: float = 100.0, mass_kg: float | None = None) -> None:
        self.s = state
        self.rng = rng
        self.max_ac_kw = max_ac_kw
        self.max_dc_kw = max_dc_kw
        if mass_kg:
            self.MASS_KG = float(mass_kg)
        self.drive_mode = "mixed"
        self._segment_left = 0.0
        self._update_voltage()

    # -- time ----------------------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        s = self.s
        wheel_kw = self._drive(dt) if s.driving or s.speed_kmh > 0 else 0.0
        if s.towing:
            self._move(20.0 / 3.6, dt)
        aux_kw = (self.AUX_KW if s.awake else 0.0) + (self.HVAC_KW if s.hvac else 0.0)
        if wheel_kw >= 0:
            batt_kw = wheel_kw / self.DRIVE_EFF + aux_kw
        else:
            batt_kw = max(wheel_kw * self.REGEN_EFF, -self.MAX_REGEN_KW) + aux_kw
        charge_kw = self._charge(dt)
        batt_kw -= charge_kw * 0.92  # charger losses
        s.energy_kwh = min(s.capacity_kwh, max(0.0, s.energy_kwh - batt_kw * dt / 3600))
        s.batt_power_kw = batt_kw  # OVMS: positive = out of the battery (driving), negative = charging/regen
        self._update_voltage(batt_kw)
        self._thermal(dt, wheel_kw, batt_kw)
        self._aux(dt)

    def _drive(self, dt: float) -> float:
        s = self.s
        v = s.speed_kmh / 3.6
        if s.driving:
            self._segment_left -= dt
            if self._segment_left <= 0:
                self._new_segment()
        target = s.target_kmh / 3.6 if s.driving else 0.0
        accel = max(-3.0, min(2.0, (target - v) / 2.5))
        v_new = max(0.0, v + accel * dt)
        if not s.driving and v_new < 0.3:
            v_new = 0.0
        s.speed_kmh = v_new * 3.6
        v_mid = (v + v_new) / 2
        force = self.MASS_KG * accel + 0.5 * AIR_DENSITY * self.CDA * v_mid ** 2 + self.CRR * self.MASS_KG * G
        if v_mid <= 0:
            force = 0.0
        s.course = (s.course + self.rng.gauss(0, 2.0 * dt) * (1 if v_mid > 1 else 0)) % 360
        self._move(v_mid, dt)
        km = v_mid * dt / 1000
        s.odometer_km += km
        s.trip_km += km
        return force * v_mid / 1000

    def _new_segment(self) -> None:
        s = self.s
        r = self.rng.random()
        mode = self.drive_mode
        if mode == "highway" or (mode == "mixed" and r < 0.3):
            s.target_kmh = self.rng.uniform(90, 125)
            self._segment_left = self.rng.uniform(60, 300)
        elif r < 0.45:
            s.target_kmh = 0.0  # traffic light
            self._segment_left = self.rng.uniform(10, 45)
        else:
            s.target_kmh = self.rng.uniform(25, 55)
            self._segment_left = self.rng.uniform(20, 120)

    def _move(self, v_ms: float, dt: float) -> None:
        s = self.s
        d = v_ms * dt
        rad = math.radians(s.course)
        s.lat += d * math.cos(rad) / EARTH_M_PER_DEG
        s.lon += d * math.sin(rad) / (EARTH_M_PER_DEG * max(0.01, math.cos(math.radians(s.lat))))

    def _charge(self, dt: float) -> float:
        s = self.s
        if not (s.plugged and s.charging):
            s.charge_power_kw = s.charge_current = 0.0
            s.charge_voltage = self.AC_VOLTS if s.plugged == "ac" else 0.0
            return 0.0
        soc = s.soc
        if soc >= s.charge_limit_soc:
            s.charging = False
            s.charge_state = "done"
            s.charge_power_kw = s.charge_current = 0.0
            return 0.0
        if s.plugged == "ac":
            power = min(self.max_ac_kw, s.charge_limit_amps * self.AC_VOLTS * self.AC_PHASES / 1000)
            if soc > 95:  # top-off: the BMS balances cells, power falls to a fifth by 100 %
                power *= max(0.2, 1 - (soc - 95) / 5 * 0.8)
                s.charge_state = "topoff"
            else:
                s.charge_state = "charging"
            s.charge_voltage = self.AC_VOLTS
        else:
            if soc < 50:
                factor = 1.0
            elif soc < 80:
                factor = 1.0 - (soc - 50) / 30 * 0.6
            else:
                factor = max(0.08, 0.4 - (soc - 80) / 20 * 0.32)
            cold = 0.5 if s.batt_temp < 5 else 1.0
            power = self.max_dc_kw * factor * cold
            s.charge_state = "charging" if soc < 80 else "topoff"
            s.charge_voltage = s.pack_voltage
        s.charge_power_kw = power
        s.charge_current = power * 1000 / max(1.0, s.charge_voltage) / (self.AC_PHASES if s.plugged == "ac" else 1)
        s.charge_kwh += power * dt / 3600
        return power

    def _update_voltage(self, batt_kw: float = 0.0) -> None:
        s = self.s
        ocv = s.pack_cells * (3.35 + 0.85 * s.soc / 100)
        current = batt_kw * 1000 / ocv if ocv else 0.0
        s.pack_current = current  # OVMS: positive = discharge
        s.pack_voltage = ocv - current * self.PACK_R_OHM

    def _thermal(self, dt: float, wheel_kw: float, batt_kw: float) -> None:
        s = self.s
        amb = s.ambient_temp
        heat = abs(batt_kw)
        s.batt_temp += ((amb + 8 + heat * 0.15) - s.batt_temp) * min(1.0, dt / 1800)
        s.motor_temp += ((amb + abs(wheel_kw) * 0.9) - s.motor_temp) * min(1.0, dt / 300)
        s.inverter_temp += ((amb + abs(wheel_kw) * 0.5) - s.inverter_temp) * min(1.0, dt / 200)
        s.charger_temp += ((amb + s.charge_power_kw * 2.0) - s.charger_temp) * min(1.0, dt / 600)
        cabin_target = 21.0 if s.hvac else amb + (2.0 if s.on else 0.0)
        tau = 300 if s.hvac else 3600
        s.cabin_temp += (cabin_target - s.cabin_temp) * min(1.0, dt / tau)

    def _aux(self, dt: float) -> None:
        s = self.s
        dcdc = s.on or s.charging or s.hvac
        if dcdc:
            s.aux_current = 5.0 if s.aux_soc < 0.99 else 0.5
            s.aux_soc = min(1.0, s.aux_soc + s.aux_current * dt / 3600 / self.AUX_AH)
            s.aux_voltage = 14.2 - (0.3 if s.aux_soc < 0.99 else 0.0)
        else:
            draw = (1.2 if s.awake else 0.03) + s.aux_extra_drain_a
            s.aux_current = -draw
            s.aux_soc = max(0.0, s.aux_soc - draw * dt / 3600 / self.AUX_AH)
            s.aux_voltage = 11.5 + 1.3 * s.aux_soc - draw * 0.01

    # -- events --------------------------------------------------------------------------------------
    def start_drive(self, mode: str = "mixed") -> None:
        s = self.s
        self.drive_mode = mode
        s.locked = False
        s.alarm = False
        for door in ("fl", "fr", "rl", "rr", "trunk", "hood"):
            s.doors[door] = False
        if s.plugged:
            self.unplug()
        s.awake = s.on = s.driving = True
        s.gear, s.handbrake = 1, False
        s.trip_km = 0.0
        self._segment_left = 0.0

    def stop_drive(self) -> None:
        self.s.driving = False
        self.s.target_kmh = 0.0

    def park(self) -> None:
        s = self.s
        s.driving = False
        s.speed_kmh = s.target_kmh = 0.0
        s.on = False
        s.gear, s.handbrake = 0, True

    def plug(self, kind: str = "ac") -> None:
        s = self.s
        if kind not in ("ac", "dc"):
            raise ValueError("plug kind is ac or dc")
        s.doors["cp"] = True
        s.plugged = kind
        s.awake = True
        s.charge_kwh = 0.0
        if s.soc < s.charge_limit_soc:
            s.charging = True
            s.charge_state = "charging"
        else:
            s.charging, s.charge_state = False, "done"

    def unplug(self) -> None:
        s = self.s
        s.plugged = None
        s.charging = False
        s.charge_state = "stopped"
        s.doors["cp"] = False
        s.charge_power_kw = s.charge_current = s.charge_voltage = 0.0

    def charge_start(self) -> bool:
        s = self.s
        if not s.plugged or s.soc >= s.charge_limit_soc:
            return False
        s.charging, s.charge_state = True, "charging"
        return True

    def charge_stop(self) -> None:
        s = self.s
        s.charging = False
        s.charge_state = "stopped"
        s.charge_power_kw = s.charge_current = 0.0
