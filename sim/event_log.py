"""What happened in the simulated world, as lines a newcomer can read, in time order.

The live view's event log and the plain (not a terminal) log of `tcu sim --demo` are the same lines.
They come from the world's timeline (`sim.timeline`: link bands, outages, alerts with their delivery,
SMS, commands) and its own event list (incidents, the network's weather), each told once: an SMS is
one line (who → who, the text on one line), an alert one line when raised and one when the server
stored it; a reply that went by SMS is that SMS.

Order: every source records a fact at the simulated time it happened, except the server's stored
alerts, which the world reads from the server's store (with the server's own timestamps) when asked
(`World.sync_timeline`). `EventFeed.poll` asks before it looks, and `PlainLog` holds the newest
`HOLD_BACK_S` simulated seconds back, so a late-noticed line is sorted in before it is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from sim.progress import sim_clock
from sim.report import duration as report_duration
from sim.world import OWNER
from tcu.alert_tag import alert_ids

HOLD_BACK_S = 60.0

# The weather's outage kinds (`sim.weather`, the virtual modem's faults) in words.
OUTAGE_WORDS: dict[str, str] = {
    "gprs-down": "mobile data (GPRS) down; calls and SMS still work",
    "no-coverage": "no mobile coverage at all: no data, no SMS",
    "stall": "the data connection stalls: it stays open but no bytes arrive",
    "remote-close": "the network closes the data connection",
    "netopen-fail": "the LTE data bearer cannot be opened",
    "no-service-online": "the LTE modem reports no service while still attached",
    "rat-fallback-2g": "the LTE modem falls back to 2G",
    "reboot": "the modem reboots by itself",
    "smsc-down": "the SMS centre is down: SMS cannot be sent",
}

INCIDENT_WORDS: dict[str, str] = {
    "alarm": "a door is opened on the locked car: the alarm goes off",
    "tow": "the parked car is being towed away",
    "valet-trunk": "valet mode on, the trunk is opened",
}

# Link band words (`sim.timeline.LINK_WORDS`) → what it means for the owner.
LINK_MEANING: dict[str, str] = {
    "online": "connected to the server: data and alerts go straight there",
    "connecting": "connecting to the server",
    "no data link": "no data link: urgent alerts go by SMS, the rest waits in the queue",
    "no coverage": "no coverage: everything waits in the queue",
    "modem starting": "the modem is starting",
    "modem restarting": "the unit restarts the modem to get the link back",
    "modem gone": "the modem does not answer",
    "off": "the unit is off",
}

# A link band shorter than this is not told (the modem's start-up and a restart pass through
# "no coverage" and "no data link" in a few seconds), except these, which are news at once.
MIN_SPAN_S = 10.0
TOLD_AT_ONCE = ("online", "modem restarting")

OWNER_NAME = "owner"
CAR_NAME = "car"


def outage_words(kind: str) -> str:
    return OUTAGE_WORDS.get(kind, kind)


def duration(seconds: float, short: bool = False) -> str:
    """`45 s`, `16 min 43 s`, `2 h 05 min` as the summary writes them (`sim.report.duration`); short,
    for a narrow screen: `45s`, `16m43s`, `2h05m`."""
    if not short:
        return report_duration(seconds)
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def alert_words(text: str) -> str:
    """An alert's text without the unit's own `HH:MM ` clock in front (the screen has the time)."""
    head, _, rest = text.partition(" ")
    return rest if rest and len(head) == 5 and head[2] == ":" and head.replace(":", "").isdigit() else text


def one_line(text: str) -> str:
    """An SMS body on one line: its line breaks as ` | `."""
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


@dataclass(frozen=True)
class Item:
    t: float
    seq: int           # discovery order: ties at the same instant keep it
    tag: str           # network | link | car | alert | server | SMS | command
    text: str
    style: str = ""    # a rich style for the live view

    def line(self) -> str:
        return f"{sim_clock(self.t)}  {self.tag:<7}  {self.text}"


class EventFeed:
    """Turns what the world recorded since the last `poll` into `Item`s (each fact once)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self._seq = 0
        self._events = 0
        self._link = 0
        self._last_link_word = ""
        self._sms = 0
        self._commands = 0
        self._alerts_raised = 0
        self._alerts_stored: set[int] = set()
        self.items: list[Item] = []       # everything so far, in discovery order

    def _add(self, out: list[Item], t: float, tag: str, text: str, style: str = "") -> None:
        self._seq += 1
        out.append(Item(t, self._seq, tag, text, style))

    def poll(self, final_all: bool = False) -> list[Item]:
        """The new items, sorted by time (`final_all`: the run is over, tell the newest link span too)."""
        w = self.world
        sync = getattr(w, "sync_timeline", None)
        if sync is not None:
            sync()
        tl = w.timeline
        new: list[Item] = []
        for t, what in w.events[self._events:]:
            self._world_event(new, t, what)
        self._events = len(w.events)
        spans = tl.link
        # A span is told when it starts. The newest may still be replaced in the instant it began
        # (`Timeline.link_state` drops a zero-width span), so it is told once the clock has moved on.
        now = w.loop.time()
        while self._link < len(spans):
            span = spans[self._link]
            if span.end is None and span.start >= now and not final_all:
                break       # may still be replaced in this instant
            lasted = (now if span.end is None else span.end) - span.start
            if span.state not in TOLD_AT_ONCE and lasted < MIN_SPAN_S and not final_all:
                if span.end is None:
                    break   # told when it has lasted, skipped if it ends sooner
            elif span.state != self._last_link_word and (span.state in TOLD_AT_ONCE or lasted >= MIN_SPAN_S):
                style = "green" if span.state == "online" else ("yellow" if span.state in (
                    "connecting", "modem starting") else "red")
                self._add(new, span.start, "link", LINK_MEANING.get(span.state, span.state), style)
                self._last_link_word = span.state
            self._link += 1
        for a in tl.alerts[self._alerts_raised:]:
            crit = "urgent " if a.critical else ""
            self._add(new, a.raised_at, "alert", f"{crit}alert #a{a.id} raised: {a.text}",
                      "bold red" if a.critical else "yellow")
        self._alerts_raised = len(tl.alerts)
        for a in tl.alerts:
            if a.server_at is not None and a.id not in self._alerts_stored:
                self._alerts_stored.add(a.id)
                late = a.server_at - a.raised_at
                how = (f"{duration(late)} after it was raised, from the queue" if late >= 60
                       else "at once" if late < 5 else f"after {duration(late)}")
                self._add(new, a.server_at, "server", f"alert #a{a.id} reached the server ({how})",
                          "bold green" if late >= 60 else "green")
        for s in tl.sms[self._sms:]:
            self._sms_item(new, s)
        self._sms = len(tl.sms)
        for c in tl.commands[self._commands:]:
            if c.source != "sms":    # an SMS command is its SMS line, its answer the reply SMS
                self._add(new, c.t, "command", f"from the {c.source}: {c.command}", "cyan")
        self._commands = len(tl.commands)
        new.sort(key=lambda i: (i.t, i.seq))
        self.items.extend(new)
        return new

    def _world_event(self, out: list[Item], t: float, what: str) -> None:
        if what.startswith(("owner texts ", "alert #a")):
            return   # told by the timeline: the SMS when the car gets it, the alert with its id
        if what.startswith("network: "):
            kind = what[len("network: "):]
            if kind.endswith(" over"):
                self._add(out, t, "network", f"the network is back to normal ({kind[:-5]} over)", "green")
            else:
                self._add(out, t, "network", f"OUTAGE: {outage_words(kind)}", "bold red")
            return
        if what.startswith("incident: "):
            kind = what[len("incident: "):]
            self._add(out, t, "car", INCIDENT_WORDS.get(kind, kind), "bold")
            return
        self._add(out, t, "world", what)

    def _sms_item(self, out: list[Item], s: Any) -> None:
        body = one_line(s.text)
        if s.direction == "in":
            who = f"{OWNER_NAME} → {CAR_NAME}" if self._is_owner(s.number) else f"{s.number} → {CAR_NAME}"
            self._add(out, s.t, "SMS", f"{who}: {body}", "cyan")
            return
        ids = alert_ids(s.text)
        about = f" (alert {', '.join(f'#a{i}' for i in ids)} by SMS)" if ids else ""
        who = f"{CAR_NAME} → {OWNER_NAME}" if self._is_owner(s.number) else f"{CAR_NAME} → {s.number}"
        self._add(out, s.t, "SMS", f"{who}{about}: {body}", "bold magenta" if ids else "magenta")

    def _is_owner(self, number: str) -> bool:
        return number == OWNER


class PlainLog:
    """The log without a terminal: one line per item, in time order, the newest `HOLD_BACK_S` held
    back until `flush()` (a server-stored alert is noticed up to a minute late)."""

    def __init__(self, feed: EventFeed, out: TextIO) -> None:
        self.feed = feed
        self.out = out
        self._held: list[Item] = []

    def update(self, now: float) -> None:
        self._held.extend(self.feed.poll())
        self._held.sort(key=lambda i: (i.t, i.seq))
        ready = [i for i in self._held if i.t <= now - HOLD_BACK_S]
        self._held = self._held[len(ready):]
        self._print(ready)

    def flush(self) -> None:
        self._held.extend(self.feed.poll(final_all=True))
        self._held.sort(key=lambda i: (i.t, i.seq))
        ready, self._held = self._held, []
        self._print(ready)

    def _print(self, items: list[Item]) -> None:
        for item in items:
            print(item.line(), file=self.out)
        if items:
            self.out.flush()
