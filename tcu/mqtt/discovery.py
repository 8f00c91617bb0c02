"""Home Assistant MQTT discovery: retained `homeassistant/<component>/<node>/<object>/config` messages,
so the car shows up in Home Assistant with no custom integration.

Every entity reads the OVMS v3 topics the session already publishes (nothing is published twice, except
the location, which Home Assistant's device_tracker wants as one JSON object) and uses the retained
online state `metric/s/v3/connected` (`yes`, last will `no`) as its availability. The lock's command
topic is an OVMS v3 command topic (`client/homeassistant/command/lock`), so Home Assistant's LOCK and
UNLOCK run through the same command interpreter as SMS, and the answer appears on the response topic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from .topics import Topics

DISCOVERY_PREFIX: Final = "homeassistant"
HA_CLIENT: Final = "homeassistant"      # the client id level of the lock's command topic


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity: component, object id, name, the metric it shows, extra config."""

    component: str
    object_id: str
    name: str
    metric: str | None
    extra: tuple[tuple[str, object], ...] = ()


_YES_NO: Final = (("payload_on", "yes"), ("payload_off", "no"))

ENTITIES: Final = (
    Entity("sensor", "soc", "State of charge", "v.b.soc",
           (("device_class", "battery"), ("unit_of_measurement", "%"), ("state_class", "measurement"))),
    Entity("sensor", "range", "Estimated range", "v.b.range.est",
           (("device_class", "distance"), ("unit_of_measurement", "km"), ("state_class", "measurement"))),
    Entity("sensor", "range_ideal", "Ideal range", "v.b.range.ideal",
           (("device_class", "distance"), ("unit_of_measurement", "km"), ("state_class", "measurement"))),
    Entity("sensor", "battery_12v", "12 V battery", "v.b.12v.voltage",
           (("device_class", "voltage"), ("unit_of_measurement", "V"), ("state_class", "measurement"))),
    Entity("binary_sensor", "charging", "Charging", "v.c.charging",
           (("device_class", "battery_charging"), *_YES_NO)),
    Entity("binary_sensor", "door_fl", "Front left door", "v.d.fl", (("device_class", "door"), *_YES_NO)),
    Entity("binary_sensor", "door_fr", "Front right door", "v.d.fr", (("device_class", "door"), *_YES_NO)),
    Entity("binary_sensor", "door_rl", "Rear left door", "v.d.rl", (("device_class", "door"), *_YES_NO)),
    Entity("binary_sensor", "door_rr", "Rear right door", "v.d.rr", (("device_class", "door"), *_YES_NO)),
    Entity("binary_sensor", "trunk", "Trunk", "v.d.trunk", (("device_class", "opening"), *_YES_NO)),
    Entity("binary_sensor", "hood", "Bonnet", "v.d.hood", (("device_class", "opening"), *_YES_NO)),
    Entity("lock", "lock", "Lock", "v.e.locked",
           (("payload_lock", "LOCK"), ("payload_unlock", "UNLOCK"),
            ("state_locked", "yes"), ("state_unlocked", "no"))),
    Entity("device_tracker", "location", "Location", None, (("source_type", "gps"),)),
    Entity("sensor", "alert", "Last alert", None, (("icon", "mdi:car-emergency"),)),
)


def node_id(vehicle_id: str) -> str:
    """Home Assistant allows [a-zA-Z0-9_-] in the node id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", vehicle_id) or "car"


def config_topic(component: str, node: str, object_id: str) -> str:
    return f"{DISCOVERY_PREFIX}/{component}/{node}/{object_id}/config"


def discovery_messages(topics: Topics, vehicle_id: str, firmware: str,
                       alert_subtype: str) -> list[tuple[str, bytes]]:
    """(config topic, JSON payload) for every entity; the caller publishes them retained."""
    node = node_id(vehicle_id)
    device = {"identifiers": [f"tcu_{node}"], "name": f"Car {vehicle_id}", "manufacturer": "tcu-sim",
              "model": "OVMS v3 compatible TCU", "sw_version": firmware}
    out: list[tuple[str, bytes]] = []
    for e in ENTITIES:
        cfg: dict[str, object] = {
            "name": e.name, "unique_id": f"tcu_{node}_{e.object_id}", "device": device,
            "availability_topic": topics.connected,
            "payload_available": "yes", "payload_not_available": "no",
        }
        if e.metric is not None:
            cfg["state_topic"] = topics.metric(e.metric)
        if e.component == "lock":
            cfg["command_topic"] = topics.command(HA_CLIENT, "lock")
        elif e.component == "device_tracker":
            cfg["json_attributes_topic"] = topics.location
        elif e.object_id == "alert":
            cfg["state_topic"] = topics.notify("alert", alert_subtype)
        cfg.update(e.extra)
        out.append((config_topic(e.component, node, e.object_id),
                    json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()))
    return out
