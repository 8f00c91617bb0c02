"""Turn stored OVMS messages into words and units for people (`tcu-app status` / `watch`)."""

from __future__ import annotations

from ovms_v2 import messages as m

DOORS1 = ((0, "front left door"), (1, "front right door"), (2, "charge port"))
DOORS2 = ((6, "bonnet"), (7, "trunk"))
DOORS5 = ((0, "rear left door"), (1, "rear right door"))


UNKNOWN = "unknown"


def _bit(value: str, bit: int) -> bool:
    n = m.as_int(value, 0) or 0
    return bool(n >> bit & 1)


def _known(value: str, unit: str = "", stale: str = "") -> str:
    """A wire field for people: an empty field (or a stale indicator of -1, "no value") is "unknown",
    never 0 — the car did not read it. `unit` is appended to a known value."""
    if not value.strip() or stale.strip() == "-1":
        return UNKNOWN
    return f"{value} {unit}" if unit else value


def _unit(status: m.Status | None) -> str:
    return "mi" if status is not None and status.units == "M" else "km"


def describe_status(msg: m.Status) -> list[str]:
    unit = _unit(msg)
    lines = [f"State of charge: {_known(msg.soc, '%')}"]
    state = msg.charge_state or UNKNOWN
    mode_word = msg.charge_mode or {"1": "storage", "3": "range", "4": "performance"}.get(msg.charge_mode_num, "")
    mode = f", mode {mode_word}" if mode_word else ""
    lines.append(f"Charge state: {state}{mode}")
    if state in ("charging", "topoff", "heating", "prepare"):
        kwh = m.as_int(msg.charge_kwh_tenths)
        lines.append(f"Charging: {_known(msg.line_voltage, 'V')} × {_known(msg.charge_current, 'A')}, "
                     f"{_known(msg.charge_power_kw, 'kW')}, "
                     + (f"{kwh / 10:.1f} kWh so far" if kwh is not None else "energy so far unknown"))
        if (m.as_int(msg.mins_to_full, -1) or -1) >= 0:
            lines.append(f"Full in: {msg.mins_to_full} min")
    lines.append(f"Range: ideal {_known(msg.ideal_range, unit)}, estimated {_known(msg.est_range, unit)}")
    if msg.battery_voltage.strip() or msg.soh.strip():
        lines.append(f"Battery: {_known(msg.battery_voltage, 'V')}, SOH {_known(msg.soh, '%')}")
    return lines


def describe_environment(msg: m.Environment, unit: str = "km") -> list[str]:
    locked = msg.lock_state == "4" or _bit(msg.doors2, 3)
    lines = [f"Locked: {'yes' if locked else 'no'}" + (" (valet mode)" if _bit(msg.doors2, 4) else "")]
    open_ = [name for bit, name in DOORS1 if _bit(msg.doors1, bit)]
    open_ += [name for bit, name in DOORS2 if _bit(msg.doors2, bit)]
    open_ += [name for bit, name in DOORS5 if _bit(msg.doors5, bit)]
    lines.append("Doors: " + ("open: " + ", ".join(open_) if open_ else "all closed"))
    lines.append(f"Car: {'on' if _bit(msg.doors1, 7) else 'off'}"
                 + (", handbrake on" if _bit(msg.doors1, 6) else "")
                 + (", ALARM SOUNDING" if _bit(msg.doors4, 2) else ""))
    lines.append(f"12 V battery: {_known(msg.v12_line, 'V')}")
    odo = m.as_float(msg.odometer_tenths)
    lines.append(f"Odometer: {UNKNOWN if odo is None else f'{odo / 10:.1f} {unit}'}")
    lines.append(f"Temperatures: ambient {_known(msg.temp_ambient, '°C', msg.stale_ambient)}, "
                 f"battery {_known(msg.temp_battery, '°C', msg.stale_temps)}")
    return lines


def describe_location(msg: m.Location, unit: str = "km") -> list[str]:
    if not (msg.latitude.strip() and msg.longitude.strip()) or msg.stale_gps.strip() == "-1":
        return [f"Location: {UNKNOWN}"]
    fix = "GPS lock" if msg.gps_lock not in ("", "0") else "no GPS lock"
    line = f"Location: {msg.latitude}, {msg.longitude} ({fix})"
    speed = m.as_int(msg.speed, 0) or 0
    if speed:
        line += f", moving at {speed} {unit}/h" + (f" heading {msg.direction}°" if msg.direction.strip() else "")
    return [line]


def describe_status_report(vehicle_id: str, last: dict[str, m.Message], car_connected: bool | None,
                           age: int | None) -> str:
    """The full `tcu-app status` text."""
    conn = {True: "connected", False: "NOT connected", None: "unknown"}[car_connected]
    head = f"Vehicle {vehicle_id}: car {conn} to the server"
    if age is not None:
        head += f", last update {age} s ago"
    lines = [head]
    status = last.get("S")
    unit = _unit(status if isinstance(status, m.Status) else None)
    if isinstance(status, m.Status):
        lines += describe_status(status)
    env = last.get("D")
    if isinstance(env, m.Environment):
        lines += describe_environment(env, unit)
    loc = last.get("L")
    if isinstance(loc, m.Location):
        lines += describe_location(loc, unit)
    if len(lines) == 1:
        lines.append("No data from this car yet.")
    return "\n".join(lines)


def describe_reply(reply: m.CommandReply) -> str:
    name = m.COMMAND_NAMES.get(reply.cmd, f"command {reply.cmd}")
    result = m.RESULT_NAMES.get(reply.result, f"result {reply.result}")
    text = f": {reply.text.replace(chr(13), chr(10))}" if reply.text else ""  # firmware sends CR for LF
    return f"{name}: {result}{text}"


def describe_message(msg: m.Message) -> str:
    """One line for `tcu-app watch`."""
    if isinstance(msg, m.Status):
        return "status: " + "; ".join(describe_status(msg))
    if isinstance(msg, m.Environment):
        return "environment: " + "; ".join(describe_environment(msg))
    if isinstance(msg, m.Location):
        return "; ".join(describe_location(msg))
    if isinstance(msg, m.PushAlert):
        return f"ALERT ({msg.kind}): {msg.text}"
    if isinstance(msg, m.Peers):
        return "car connected" if msg.count else "car disconnected"
    if isinstance(msg, m.Time):
        return f"last update {msg.seconds} s ago"
    if isinstance(msg, m.CommandReply):
        return describe_reply(msg)
    if isinstance(msg, m.Firmware):
        return f"firmware {msg.firmware}, VIN {msg.vin or '?'}, GSM CSQ {msg.signal}, operator {msg.operator or '?'}"
    if isinstance(msg, m.ServerVersion):
        return f"server {msg.version}"
    return f"{type(msg).__name__}: {msg.encode()}"
