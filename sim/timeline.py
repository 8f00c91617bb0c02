"""The run's timeline: what happened when, recorded live while the world runs (`world.timeline`).

The JSON report counts; the timeline says *when*: the link's state as bands, each outage and when the unit
was online again, each alert with the first time it reached a server and the owner's phone, every SMS in
and out, each command and its answer, and the car's SOC, speed and charging once a simulated minute. The
live view (`sim.live_view`) reads it mid-run; the HTML report (`sim.html_report`) draws it at the end.

It is a plain recorder, fed by the world (`sim.world`): every method takes the simulated time `t` (loop
time, as `world.events`) and does O(1) work. Nothing here is on a per-CAN-frame path: the world samples
the car on a one-minute timer and hooks events (link transitions, unit hooks, the phone, the broker).
Delivery times are the receiving end's: the server's stored alert, the phone's inbox, the broker's
publish — never the unit's own bookkeeping.

Items still in progress have `None` ends: the current `LinkSpan.end`, an `OutageMark.end` while the
outage lasts, `recovered_at` until the unit is online again, an alert's `server_at`/`sms_at` until it
arrives, a command's `done_at` until it is answered. A world restarted from its state directory records
from its own start (the report's counts still cover every run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# The supervisor's states (`tcu.link.STATES`) in the words a person reading the timeline needs.
LINK_WORDS: dict[str, str] = {
    "off": "off",
    "probe": "modem starting", "init": "modem starting", "sim": "modem starting",
    "soft_reset": "modem restarting", "power_cycle": "modem restarting",
    "port_gone": "modem gone",
    "register": "no coverage",
    "gprs": "no data link", "gprs_wait": "no data link",
    "tcp": "connecting", "tcp_wait": "connecting", "login": "connecting",
    "online": "online",
}

# Outage kinds the link can recover from inside the window (a new NETOPEN after NETCLOSE, the mode
# toggle): online at the window's end counts as recovered then (the report's rule, `sim.world`).
RECOVER_IN_WINDOW = ("netopen-fail", "no-service-online")


def link_word(state: str) -> str:
    """The human word for a supervisor state (an unknown state is shown as itself)."""
    return LINK_WORDS.get(state, state.replace("_", " "))


@dataclass
class LinkSpan:
    start: float
    end: float | None     # None while it is the current state
    state: str            # a human word from LINK_WORDS
    detail: str = ""      # the supervisor state that began the span


@dataclass
class OutageMark:
    kind: str             # the weather's kind: gprs-down, no-coverage, stall, remote-close, …
    start: float
    end: float | None     # None while the outage lasts; a remote-close ends where it starts
    recovered_at: float | None = None   # the unit online again (server session up) at or after `end`

    @property
    def recovery_s(self) -> float | None:
        """Seconds from the end of the outage until the unit was online again."""
        if self.end is None or self.recovered_at is None:
            return None
        return max(0.0, self.recovered_at - self.end)


@dataclass
class AlertMark:
    id: int
    raised_at: float
    text: str
    critical: bool = False
    server_at: float | None = None   # first stored at a server (OVMS store or MQTT broker)
    sms_at: float | None = None      # first in the owner's phone's inbox

    @property
    def path(self) -> str:
        """How it reached the owner: "server", "sms", "both" or "pending" (not yet anywhere)."""
        if self.server_at is not None and self.sms_at is not None:
            return "both"
        if self.server_at is not None:
            return "server"
        if self.sms_at is not None:
            return "sms"
        return "pending"

    @property
    def delivered_at(self) -> float | None:
        times = [t for t in (self.server_at, self.sms_at) if t is not None]
        return min(times) if times else None

    @property
    def latency(self) -> float | None:
        """End-to-end: raised at the unit → first delivery anywhere."""
        d = self.delivered_at
        return None if d is None else max(0.0, d - self.raised_at)


@dataclass
class SmsMark:
    t: float              # when the receiving end got it (the unit for "in", the phone for "out")
    direction: str        # "in" (to the unit) | "out" (from the unit)
    number: str           # the other end: the sender of an "in", the recipient of an "out"
    text: str
    sent_at: float | None = None   # when the sending end sent it, if the world saw that


@dataclass
class CommandMark:
    t: float              # when the unit got it
    source: str           # "sms" | "server" | "mqtt"
    command: str          # the command text as sent (an SMS body, an OVMS command 7 line, …)
    done_at: float | None = None   # its first answer (a car command: after the car confirmed it)
    result: str = ""      # that answer's text
    seq: int = 0          # the unit's number for it (pairs the answer)


@dataclass
class Sample:
    t: float
    soc: float            # %
    speed_kmh: float
    charging: bool


@dataclass
class Timeline:
    """The recorder. Lists are appended in time order; marks are updated in place as things arrive."""

    link: list[LinkSpan] = field(default_factory=list)
    outages: list[OutageMark] = field(default_factory=list)
    alerts: list[AlertMark] = field(default_factory=list)
    sms: list[SmsMark] = field(default_factory=list)
    commands: list[CommandMark] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    last_online_at: float | None = None

    def __post_init__(self) -> None:
        self._alerts: dict[int, AlertMark] = {a.id: a for a in self.alerts}
        self._commands: dict[int, CommandMark] = {c.seq: c for c in self.commands}
        self._sms_sent: dict[tuple[str, str], list[float]] = {}       # sent, receipt not seen yet
        self._sms_unsent: dict[tuple[str, str], list[SmsMark]] = {}   # received, send not seen yet

    # -- the link ----------------------------------------------------------------------------------
    def link_state(self, t: float, state: str) -> None:
        """The supervisor entered `state`; a span of the same word goes on (no band per retry)."""
        word = link_word(state)
        if state == "online":
            self.last_online_at = t
            for o in self.outages:
                if o.recovered_at is None and o.end is not None and o.end <= t:
                    o.recovered_at = t
        cur = self.link[-1] if self.link else None
        if cur is not None and cur.end is None:
            if cur.state == word:
                return
            if cur.start >= t and len(self.link) > 1:
                self.link.pop()        # left in the same instant (tcp → online): no band of width 0
                prev = self.link[-1]
                if prev.state == word and prev.end is not None and prev.end >= t:
                    prev.end = None    # and back to where it was: that span goes on
                    return
            else:
                cur.end = t
        self.link.append(LinkSpan(t, None, word, state))

    def link_at(self, t: float) -> str | None:
        """The link's word at time `t` (None before the first transition)."""
        for span in reversed(self.link):
            if span.start <= t:
                return span.state
        return None

    # -- the weather -------------------------------------------------------------------------------
    def outage_started(self, t: float, kind: str) -> OutageMark:
        mark = OutageMark(kind, t, t if kind == "remote-close" else None)
        self.outages.append(mark)
        return mark

    def outage_ended(self, mark: OutageMark, t: float) -> None:
        mark.end = t
        online_now = self.link_at(t) == "online"
        if mark.kind in RECOVER_IN_WINDOW and online_now:
            mark.recovered_at = t
        elif self.last_online_at is not None and self.last_online_at >= t:
            mark.recovered_at = self.last_online_at   # online again at this very instant

    # -- alerts ------------------------------------------------------------------------------------
    def alert_raised(self, t: float, alert_id: int, text: str, critical: bool) -> None:
        if alert_id not in self._alerts:
            mark = AlertMark(alert_id, t, text, critical)
            self._alerts[alert_id] = mark
            self.alerts.append(mark)

    def alert_delivered(self, t: float, alert_ids: list[int], where: str) -> None:
        """Alerts seen at the receiving end: `where` is "server" or "sms"; the first arrival counts."""
        for i in alert_ids:
            mark = self._alerts.get(i)
            if mark is None:
                continue   # raised before this run started (a restarted world) or not by this unit
            if where == "sms":
                if mark.sms_at is None:
                    mark.sms_at = t
            elif mark.server_at is None or t < mark.server_at:
                mark.server_at = t

    def alert(self, alert_id: int) -> AlertMark | None:
        return self._alerts.get(alert_id)

    # -- SMS ---------------------------------------------------------------------------------------
    def sms_sent(self, t: float, sender: str, to: str, text: str) -> None:
        """An SMS left its sender (the owner's phone or the unit). Whichever of send and receipt is seen
        first waits for the other: the unit hears its modem's OK for AT+CMGS after the SMS centre has
        already handed the message to the phone."""
        waiting = self._sms_unsent.get((to, text))
        if waiting:
            waiting.pop(0).sent_at = t
        else:
            self._sms_sent.setdefault((to, text), []).append(t)

    def sms_received(self, t: float, direction: str, number: str, text: str, to: str) -> SmsMark:
        """An SMS reached `to` (the unit for "in", the owner's phone for "out"); `number` is the other end."""
        sent = self._sms_sent.get((to, text))
        mark = SmsMark(t, direction, number, text, sent.pop(0) if sent else None)
        if mark.sent_at is None:
            self._sms_unsent.setdefault((to, text), []).append(mark)
        self.sms.append(mark)
        return mark

    # -- commands ----------------------------------------------------------------------------------
    def command_received(self, t: float, seq: int, source: str, command: str) -> None:
        mark = CommandMark(t, source, command, seq=seq)
        self._commands[seq] = mark
        self.commands.append(mark)

    def command_answered(self, t: float, seq: int, reply: str) -> None:
        mark = self._commands.get(seq)
        if mark is not None and mark.done_at is None:
            mark.done_at = t
            mark.result = reply

    # -- the car -----------------------------------------------------------------------------------
    def sample(self, t: float, soc: float, speed_kmh: float, charging: bool) -> None:
        self.samples.append(Sample(t, round(soc, 2), round(speed_kmh, 1), charging))

    # -- out ---------------------------------------------------------------------------------------
    def link_totals(self, until: float) -> dict[str, float]:
        """Seconds spent in each link word up to `until` (the current span counts to `until`)."""
        out: dict[str, float] = {}
        for s in self.link:
            end = until if s.end is None else min(s.end, until)
            if end > s.start:
                out[s.state] = round(out.get(s.state, 0.0) + end - s.start, 3)
        return out

    def summary(self, until: float) -> dict:
        """The compact part the JSON report carries: per-alert paths and latencies, commands, outages'
        recovery, time per link state (no samples, no SMS bodies: `tcu sim` prints the report)."""
        return {
            "alerts": [{"id": a.id, "raised_at": _r(a.raised_at), "critical": a.critical, "path": a.path,
                        "server_at": _r(a.server_at), "sms_at": _r(a.sms_at), "latency_s": _r(a.latency),
                        "text": a.text} for a in self.alerts],
            "commands": [{"t": _r(c.t), "source": c.source, "command": c.command, "done_at": _r(c.done_at),
                          "result": c.result} for c in self.commands],
            "sms_in": sum(1 for s in self.sms if s.direction == "in"),
            "sms_out": sum(1 for s in self.sms if s.direction == "out"),
            "link_seconds": self.link_totals(until),
        }

    def to_dict(self) -> dict:
        """Everything, JSON-able (derived values — path, latency, recovery — included)."""
        return {
            "link": [asdict(s) for s in self.link],
            "outages": [{**asdict(o), "recovery_s": _r(o.recovery_s)} for o in self.outages],
            "alerts": [{**asdict(a), "path": a.path, "latency_s": _r(a.latency)} for a in self.alerts],
            "sms": [asdict(s) for s in self.sms],
            "commands": [asdict(c) for c in self.commands],
            "samples": [asdict(s) for s in self.samples],
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
