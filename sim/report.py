"""The `tcu sim` report: delivery counted at the receiving end, matched to the alerts raised.

Every alert carries an id in its text (`#a<id>`, see `tcu.alert_tag`), in the `P` line the server stores
and in the SMS the owner's phone receives, so matching is exact and never trusts the unit's own
bookkeeping. Coalesced SMS carry several tags. The report is a plain dict (JSON); with the same seed it
is identical except `wall_seconds`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tcu.alert_tag import alert_ids


@dataclass(frozen=True)
class RaisedAlert:
    id: int
    at: float
    text: str
    critical: bool = False


@dataclass(frozen=True)
class Outage:
    start: float
    end: float | None
    recovered_at: float | None = None   # when the unit was online again (server session up)
    kind: str = ""

    def as_json(self) -> dict:
        recovered = None
        if self.end is not None and self.recovered_at is not None:
            recovered = round(max(0.0, self.recovered_at - self.end), 3)
        out: dict[str, object] = {"start": round(self.start, 3),
                                  "end": None if self.end is None else round(self.end, 3),
                                  "recovered_after_s": recovered}
        if self.kind:
            out["kind"] = self.kind
        return out


@dataclass
class Observations:
    """What the world saw; filled by `sim.world` from the server, the SMSC and the car."""

    seed: int
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    can_frames: int = 0
    server_messages: int = 0
    raised: list[RaisedAlert] = field(default_factory=list)
    server_alert_texts: list[str] = field(default_factory=list)   # P texts the server stored, in order
    phone_sms_texts: list[str] = field(default_factory=list)      # what the owner's phone received
    phone_sms_sent: int = 0                                       # SMS the owner sent to the car
    unit_sms_sent: int = 0                                        # SMS the SMSC accepted from the unit
    still_queued_ids: set[int] = field(default_factory=set)       # in the unit's outbox after the drain
    outages: list[Outage] = field(default_factory=list)
    commands_executed: int = 0
    commands_failed: int = 0
    servers: tuple[str, ...] = ("ovms",)                          # what the unit reported to (issue 18)
    mqtt_alerts: list[tuple[str, bool]] = field(default_factory=list)   # (payload, DUP) at the MQTT broker
    extra: dict = field(default_factory=dict)


def build_report(obs: Observations) -> dict:
    """The JSON report (see the issue for the required keys)."""
    raised_ids = [a.id for a in obs.raised]
    raised_set = set(raised_ids)
    ovms_counts: Counter[int] = Counter()
    for text in obs.server_alert_texts:
        ovms_counts.update(set(alert_ids(text)))
    # At the broker: a publish with DUP set is MQTT's own retransmission (QoS 1, PUBACK lost with the
    # link, §4.3.2), which a subscriber dedups by the tag; a second publish without DUP is a duplicate.
    mqtt_counts: Counter[int] = Counter()
    mqtt_redelivered: Counter[int] = Counter()
    for text, dup in obs.mqtt_alerts:
        for i in set(alert_ids(text)):
            if dup and mqtt_counts[i]:
                mqtt_redelivered[i] += 1
            else:
                mqtt_counts[i] += 1
    received = {"ovms": ovms_counts, "mqtt": mqtt_counts}
    server_counts: Counter[int] = Counter()
    for name in obs.servers:
        server_counts.update(received[name])
    sms_counts: Counter[int] = Counter()
    for text in obs.phone_sms_texts:
        sms_counts.update(set(alert_ids(text)))
    via_server = raised_set & set(server_counts)
    via_sms = raised_set & set(sms_counts)
    delivered = via_server | via_sms
    undelivered = raised_set - delivered
    queued = undelivered & obs.still_queued_ids
    lost = undelivered - queued
    # Duplicates as each server sees them: an alert stored (published anew) more than once.
    per_server: dict[str, dict[str, object]] = {}
    for name in obs.servers:
        counts = received[name]
        got = raised_set & set(counts)
        waiting = (raised_set - got) & obs.still_queued_ids
        per_server[name] = {"received": len(got), "queued": len(waiting), "lost": len(raised_set - got - waiting),
                            "lost_ids": sorted(raised_set - got - waiting),
                            "duplicates": sum(n - 1 for n in counts.values() if n > 1)}
        if name == "mqtt":
            per_server[name]["qos1_redeliveries"] = sum(mqtt_redelivered.values())
    duplicates = sum(n - 1 for name in obs.servers for n in received[name].values() if n > 1)
    sms_duplicates = sum(n - 1 for n in sms_counts.values() if n > 1)
    unknown = sorted((set(server_counts) | set(sms_counts)) - raised_set)
    during_outage = [a.id for a in obs.raised if _in_outage(a.at, obs.outages)]
    return {
        "seed": obs.seed,
        "sim_seconds": round(obs.sim_seconds, 3),
        "wall_seconds": round(obs.wall_seconds, 3),
        "can_frames": obs.can_frames,
        "server_messages": obs.server_messages,
        "alerts": {
            "raised": len(raised_set),
            "via_server": len(via_server),
            "via_sms": len(via_sms),
            "via_both": len(via_server & via_sms),
            "queued": len(queued),
            "lost": len(lost),
            "lost_ids": sorted(lost),
            "raised_during_outage": len(during_outage),
            "during_outage_delivered": sum(1 for i in during_outage if i in delivered),
            "unmatched_deliveries": unknown,
        },
        "duplicates": duplicates,
        "per_server": per_server,
        "sms_duplicates": sms_duplicates,
        "outages": [o.as_json() for o in obs.outages],
        "sms": {"sent": obs.unit_sms_sent, "received": len(obs.phone_sms_texts),
                "owner_sent": obs.phone_sms_sent},
        "commands": {"executed": obs.commands_executed, "failed": obs.commands_failed},
        **obs.extra,
    }


def _in_outage(t: float, outages: Iterable[Outage]) -> bool:
    return any(o.start <= t and (o.end is None or t < o.end) for o in outages)


def summary_lines(report: dict) -> list[str]:
    """A few lines for people (the end of `make demo`)."""
    a = report["alerts"]
    speed = report["sim_seconds"] / report["wall_seconds"] if report["wall_seconds"] else float("inf")
    lines = [
        f"seed {report['seed']}: {report['sim_seconds'] / 3600:.2f} h simulated in "
        f"{report['wall_seconds']:.1f} s wall ({speed:.0f}x)",
        f"CAN frames {report['can_frames']}, server messages {report['server_messages']}",
        f"alerts raised {a['raised']}: via server {a['via_server']}, via SMS {a['via_sms']}, "
        f"queued {a['queued']}, lost {a['lost']}; duplicates at the server {report['duplicates']}",
        f"outages {len(report['outages'])}: "
        + ", ".join(f"{o['start']:.0f}-{o['end'] if o['end'] is None else round(o['end'])}s"
                    f" (online again +{o['recovered_after_s']}s)" for o in report["outages"][:6]),
        f"SMS sent by the unit {report['sms']['sent']}, received by the owner {report['sms']['received']}; "
        f"commands executed {report['commands']['executed']}, failed {report['commands']['failed']}",
    ]
    return lines
