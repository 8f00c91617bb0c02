"""The OVMS v3 MQTT topic tree (facts from OVMS v3's `ovms_server_v3`; the code is ours).

- prefix: `server.v3 topic.prefix`, default `ovms/<username>/<vehicleid>/` (ends with `/`).
- metrics: `<prefix>metric/<name with . as />`, QoS 0, retained, value as OVMS `AsString`
  (booleans `yes`/`no`, numbers without trailing zeros).
- online state: `<prefix>metric/s/v3/connected`, `yes` after CONNACK, `no` as the retained last will.
- notifications: `<prefix>notify/<info|error|alert>/<subtype with . as />`, QoS 1 (not retained).
- history data: `<prefix>notify/data/<type>/<record no>/<age s, <= 0>`, here QoS 1 (OVMS uses 2; the
  issue asks QoS 1 so the broker's PUBACK confirms delivery to the outbox).
- commands: apps publish `<prefix>client/<client id>/command/<n>`; the answer goes to
  `<prefix>client/<client id>/response/<n>`, QoS 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CONNECTED_METRIC: Final = "s.v3.connected"


def default_prefix(username: str, vehicle_id: str) -> str:
    """OVMS v3's default: `ovms/<user>/<vehicleid>/`."""
    return f"ovms/{username}/{vehicle_id}/"


def mqtt_topic(name: str) -> str:
    """OVMS `mqtt_topic()`: a metric or notification name with its dots as topic levels."""
    return name.replace(".", "/")


def format_value(value: object) -> str:
    """A metric value as OVMS v3 publishes it (`OvmsMetric::AsString`)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value)


def safe_level(text: str) -> str:
    """One topic level from free text: no wildcards, separators or NULs (they would change the topic)."""
    cleaned = "".join("_" if c in "+#/\x00" else c for c in text)
    return cleaned or "_"


@dataclass(frozen=True)
class Topics:
    """Every topic the unit publishes or subscribes to, under one prefix."""

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/") or "+" in self.prefix or "#" in self.prefix:
            raise ValueError(f"topic prefix must end with '/' and hold no wildcard: {self.prefix!r}")

    def metric(self, name: str) -> str:
        return f"{self.prefix}metric/{mqtt_topic(name)}"

    @property
    def connected(self) -> str:
        return self.metric(CONNECTED_METRIC)

    def notify(self, kind: str, subtype: str) -> str:
        return f"{self.prefix}notify/{kind}/{mqtt_topic(safe_level(subtype))}"

    def data(self, rtype: str, recno: int, age: int) -> str:
        return f"{self.prefix}notify/data/{mqtt_topic(safe_level(rtype))}/{recno}/{age}"

    @property
    def command_filter(self) -> str:
        return f"{self.prefix}client/+/command/+"

    def command(self, client: str, ref: str) -> str:
        return f"{self.prefix}client/{client}/command/{ref}"

    def response(self, client: str, ref: str) -> str:
        return f"{self.prefix}client/{client}/response/{ref}"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """(client id, command ref) of `<prefix>client/<id>/command/<n>`, else None."""
        if not topic.startswith(self.prefix):
            return None
        parts = topic[len(self.prefix):].split("/")
        if len(parts) != 4 or parts[0] != "client" or parts[2] != "command" or not parts[1] or not parts[3]:
            return None
        return parts[1], parts[3]

    @property
    def location(self) -> str:
        """Not an OVMS v3 topic: a JSON `{latitude, longitude, gps_accuracy}` for Home Assistant's
        device_tracker, which reads a position from one JSON attributes topic."""
        return f"{self.prefix}ha/location"
