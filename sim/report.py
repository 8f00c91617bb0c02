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


def clock(seconds: float) -> str:
    """Simulated time since the start as H:MM:SS (the demo's screen uses the same form)."""
    t = max(0, int(seconds))
    return f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}"


def duration(seconds: float) -> str:
    """A span for people: <0.1 s, 0.4 s, 9 s, 4 min 05 s, 2 h 07 min."""
    if seconds < 0.05:
        return "<0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    t = int(round(seconds))
    if t < 60:
        return f"{t} s"
    if t < 3600:
        return f"{t // 60} min {t % 60:02d} s"
    return f"{t // 3600} h {t % 3600 // 60:02d} min"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


SUMMARY_ALERTS = 12      # alerts listed one by one in the summary; the rest are counted
SUMMARY_OUTAGES = 8
SUMMARY_COMMANDS = 8
_PATH_WORDS = {"server": "server only", "sms": "SMS only", "both": "SMS and server", "pending": "not delivered"}


def summary_lines(report: dict) -> list[str]:
    """The run told for people (`tcu sim` prints it at the end of every run): the outages and when the unit
    was back, each alert with how and how fast it reached the owner, SMS, commands, what was lost or doubled.
    Reads only the JSON report (its `timeline` part when there is one), so a saved report can be told again."""
    a = report["alerts"]
    tl = report.get("timeline") or {}
    wall = report["wall_seconds"]
    speed = f" ({report['sim_seconds'] / wall:,.0f}x real time)" if wall else ""
    lines = [f"seed {report['seed']}: {clock(report['sim_seconds'])} simulated in {wall:.1f} s{speed}"]
    link_s = tl.get("link_seconds") or {}
    total = sum(link_s.values())
    outages = report["outages"]
    head = f"Network: {plural(len(outages), 'outage')}"
    if total:
        head += f"; the unit was online {100 * link_s.get('online', 0.0) / total:.1f}% of the time"
    lines.append(head + ("." if outages else ". No outages."))
    for o in outages[:SUMMARY_OUTAGES]:
        kind = o.get("kind", "outage")
        if o["end"] is None:
            lines.append(f"  {kind} from {clock(o['start'])}, still going at the end")
            continue
        span = (f"at {clock(o['start'])}" if o["end"] <= o["start"]
                else f"{clock(o['start'])} - {clock(o['end'])} ({duration(o['end'] - o['start'])})")
        back = o["recovered_after_s"]
        lines.append(f"  {kind} {span}: " + ("not back online by the end of the run" if back is None else
                                              f"online again {duration(back)} after it ended"))
    if len(outages) > SUMMARY_OUTAGES:
        lines.append(f"  ... and {len(outages) - SUMMARY_OUTAGES} more")
    lines.append(f"Alerts: {a['raised']} raised, {a['via_server']} reached the server, {a['via_sms']} went by SMS"
                 f" ({a['via_both']} both); {a['queued']} still queued, {a['lost']} lost"
                 + (f" (ids {', '.join(map(str, a['lost_ids']))})" if a["lost_ids"] else "")
                 + f"; duplicates: {report['duplicates']} at the server, {report.get('sms_duplicates', 0)} by SMS.")
    if a.get("raised_during_outage"):
        lines.append(f"  {a['raised_during_outage']} raised during an outage, "
                     f"{a['during_outage_delivered']} of them delivered")
    marks = tl.get("alerts") or []
    for m in marks[:SUMMARY_ALERTS]:
        crit = " (critical)" if m["critical"] else ""
        how = []
        if m["sms_at"] is not None:
            how.append(f"SMS after {duration(m['sms_at'] - m['raised_at'])}")
        if m["server_at"] is not None:
            how.append(f"server after {duration(m['server_at'] - m['raised_at'])}")
        lines.append(f"  #{m['id']} {clock(m['raised_at'])} {_one_line(m['text'], 50)}{crit}: "
                     f"{_PATH_WORDS.get(m['path'], m['path'])}" + (f" - {', '.join(how)}" if how else ""))
    if len(marks) > SUMMARY_ALERTS:
        lines.append(f"  ... and {len(marks) - SUMMARY_ALERTS} more")
    sms = report["sms"]
    lines.append(f"SMS: the owner sent {sms['owner_sent']}"
                 + (f" ({tl['sms_in']} reached the unit)" if "sms_in" in tl else "")
                 + f"; the unit sent {sms['sent']}, the owner's phone received {sms['received']}.")
    cmds = tl.get("commands") or []
    c = report["commands"]
    lines.append(f"Commands: {len(cmds) if tl else c['executed'] + c['failed']} received; car commands "
                 f"{c['executed']} confirmed, {c['failed']} failed.")
    for m in cmds[:SUMMARY_COMMANDS]:
        answer = ("no answer" if m["done_at"] is None else
                  f"answered after {duration(m['done_at'] - m['t'])}: {_one_line(m['result'], 40)}")
        lines.append(f"  {clock(m['t'])} {m['source']} {_one_line(m['command'], 24)} - {answer}")
    if len(cmds) > SUMMARY_COMMANDS:
        lines.append(f"  ... and {len(cmds) - SUMMARY_COMMANDS} more")
    lines.append(f"CAN frames {report['can_frames']:,}, server messages {report['server_messages']:,}.")
    return lines


def _one_line(text: str, width: int) -> str:
    """An SMS body or alert text on one line, cut to `width` (the summary is one fact a line)."""
    flat = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    flat = "".join(ch if ch.isprintable() else " " for ch in flat)
    return flat if len(flat) <= width else flat[: width - 3] + "..."
