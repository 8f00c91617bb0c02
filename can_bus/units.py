"""OVMS standard metric names and their units: the one vocabulary the profile maps DBC signals onto.

Names and units follow OVMS v3 (`v.b.soc` %, `v.p.odometer` km …) so the firmware's metric store,
the server protocol and the apps all agree on what a number means.
"""

from __future__ import annotations

METRIC_UNITS: dict[str, str] = {
    "v.b.soc": "%", "v.b.soh": "%", "v.b.range.ideal": "km", "v.b.range.est": "km",
    "v.b.voltage": "V", "v.b.current": "A", "v.b.power": "kW", "v.b.temp": "°C", "v.b.cac": "Ah",
    "v.b.12v.voltage": "V", "v.b.12v.current": "A",
    "v.b.c.voltage.min": "V", "v.b.c.voltage.max": "V", "v.b.p.voltage.avg": "V",
    "v.b.p.temp.min": "°C", "v.b.p.temp.max": "°C", "v.b.p.temp.avg": "°C",
    "v.c.charging": "bool", "v.c.state": "", "v.c.mode": "", "v.c.voltage": "V", "v.c.current": "A",
    "v.c.climit": "A", "v.c.kwh": "kWh", "v.c.pilot": "bool", "v.c.power": "kW", "v.c.type": "",
    "v.c.limit.soc": "%", "v.c.duration.full": "min", "v.c.temp": "°C",
    "v.d.cp": "bool", "v.d.fl": "bool", "v.d.fr": "bool", "v.d.rl": "bool", "v.d.rr": "bool",
    "v.d.trunk": "bool", "v.d.hood": "bool",
    "v.e.locked": "bool", "v.e.valet": "bool", "v.e.on": "bool", "v.e.awake": "bool", "v.e.alarm": "bool",
    "v.e.handbrake": "bool", "v.e.hvac": "bool", "v.e.cabintemp": "°C", "v.e.temp": "°C", "v.e.gear": "",
    "v.p.speed": "km/h", "v.p.odometer": "km", "v.p.trip": "km",
    "v.p.latitude": "°", "v.p.longitude": "°", "v.p.direction": "°",
    "v.m.temp": "°C", "v.i.temp": "°C", "v.vin": "",
}

CHARGE_STATES = ("charging", "topoff", "done", "prepare", "heating", "stopped")
CHARGE_MODES = ("standard", "storage", "range", "performance")
