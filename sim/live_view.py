"""The live view of `make demo` / `tcu sim --speed <factor>`: the story of the run on one screen.

A newcomer must be able to tell from the screen alone when the data link failed, that the alarm went
to the owner by SMS, and when the queued alert reached the server afterwards. So, top to bottom:

- a status line in words (link up, or down since when and what that means for alerts);
- a timeline strip of the whole run with "now": the link as a band, each outage, each alert (raised,
  sent by SMS, stored at the server, waiting in the queue between), each SMS; marks stay where they
  happened for the rest of the run;
- the alerts and outages, each on one line with its delivery path and how late;
- the car, the link (its recovery work in words), the server;
- the event log (`sim.event_log`), filling the rest of the screen.

Every panel has a fixed size derived from the terminal's, and every line is cut, never wrapped, so
nothing jumps as the text changes. The screen is drawn from the main thread only (between slices: the
server's store is SQLite, which must not be read from rich's refresh thread), on the terminal's
alternate screen; at the end the last frame is printed once more, so it stays in the scrollback
above the summary. Without a terminal (CI, a pipe) the event log is printed as plain lines instead.
"""

from __future__ import annotations

import sys
import time as _time
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sim.event_log import EventFeed, Item, PlainLog, alert_words, duration, outage_words
from sim.progress import sim_clock

LABEL_W = 11                  # the timeline strip's row labels
REDRAW_EVERY_S = 0.1          # wall seconds between two frames at most 10 per second
FINAL_LOG_LINES = 12          # the event log's height in the frame left in the scrollback

SHORT_OUTAGE: dict[str, str] = {
    "gprs-down": "mobile data down", "no-coverage": "no coverage", "stall": "link stalls",
    "remote-close": "closed", "netopen-fail": "bearer fails", "no-service-online": "no service",
    "rat-fallback-2g": "2G fallback",
}
LINK_STYLE: dict[str, str] = {"online": "green", "connecting": "yellow", "modem starting": "yellow"}
# The link band: a different character per kind as well as a colour, so it reads without colour too.
LINK_MARK: dict[str, tuple[str, str]] = {"online": ("█", "green"), "connecting": ("▒", "yellow"),
                                         "modem starting": ("▒", "yellow")}
DOWN = ("░", "red")
# What the link supervisor's current state (`tcu.link.STATES`) has the unit doing, in words.
DOING: dict[str, str] = {
    "off": "nothing (stopped)", "port_gone": "waiting for the modem's port",
    "power_cycle": "power-cycling the modem", "soft_reset": "restarting the modem",
    "probe": "waking the modem", "init": "setting the modem up", "sim": "checking the SIM card",
    "register": "looking for the network", "gprs": "attaching to mobile data",
    "gprs_wait": "waiting to retry mobile data", "tcp": "connecting to the server",
    "tcp_wait": "waiting to retry the server", "login": "logging in to the server",
    "online": "reporting to the server",
}
TICKS = (60, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith(("s", "sh", "ch")) else f"{n} {word}s"


def link_work(counters: dict[str, int]) -> str:
    """The supervisor's counters (`LinkSupervisor.counters`: steps done so far) as what it took to keep
    the link: the first data attach, TCP connect and login are the start, not recoveries."""
    parts = []
    if counters.get("power_cycle"):
        parts.append(_plural(counters["power_cycle"], "modem power cycle"))
    if counters.get("soft_reset"):
        parts.append(_plural(counters["soft_reset"], "modem soft reset"))
    if counters.get("gprs", 0) > 1:
        parts.append(_plural(counters["gprs"] - 1, "data re-attach"))
    if counters.get("tcp", 0) > 1:
        parts.append(_plural(counters["tcp"] - 1, "TCP reconnect"))
    if counters.get("stall"):
        n = counters["stall"]
        parts.append(f"{n} silent link{'' if n == 1 else 's'} noticed")
    return ", ".join(parts) if parts else "none needed yet"


def down_since(spans: list[Any]) -> float | None:
    """When the link last stopped being online (None while it is online or has not been yet)."""
    if not spans or spans[-1].state == "online":
        return None
    since = spans[-1].start
    for span in reversed(spans):
        if span.state == "online":
            return since
        since = span.start
    return None    # never online yet: starting, not down


class LiveView:
    """`update()` after each slice of simulated time; `close()` at the end."""

    def __init__(self, world: Any, out: TextIO | None = None, tty: bool | None = None,
                 total_s: float | None = None, title: str = "tcu sim") -> None:
        from sim.runner import total_seconds

        self.world = world
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.total = total_s if total_s is not None else total_seconds(world)
        self.title = title
        self.feed = EventFeed(world)
        self._wall0 = _time.perf_counter()
        self._sim0 = world.loop.time()
        self._last_draw = 0.0
        self._live: Live | None = None
        self._plain: PlainLog | None = None
        if self.tty:
            self.console = Console(file=self.out, force_terminal=True)
            self._live = Live(console=self.console, auto_refresh=False, screen=True, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            self.update(force=True)
        else:
            self._plain = PlainLog(self.feed, self.out)

    def update(self, force: bool = False) -> None:
        now = self.world.loop.time()
        if self._plain is not None:
            self._plain.update(now)
            return
        wall = _time.perf_counter()
        if not force and wall - self._last_draw < REDRAW_EVERY_S:
            return
        self._last_draw = wall
        self.feed.poll()
        if self._live is not None:
            self._live.update(self.render(self.console.width, self.console.height), refresh=True)

    def close(self) -> None:
        if self._plain is not None:
            self._plain.flush()
            return
        if self._live is not None:
            self.feed.poll(final_all=True)
            self._live.stop()
            self._live = None
            # The last frame, once, in the normal scrollback above the summary.
            self.console.print(self.render(self.console.width, None))

    # -- the frame ---------------------------------------------------------------------------------
    def render(self, width: int, height: int | None) -> RenderableType:
        """The whole screen for a terminal of `width` × `height` (None: the final frame, log cut short)."""
        small = height is not None and height < 40
        rows = 3 if small else 5
        head = self._header(width)
        strip = Panel(self._strip(width - 4), title="timeline of the whole run", title_align="left",
                      height=10, width=width)
        story = Panel(self._story(width - 4, rows), title="alerts (how each reached the owner) and outages",
                      title_align="left", height=rows + 2, width=width)
        boxes = self._boxes(width, 5 if small else 6)
        used = 2 + 10 + rows + 2 + (7 if small else 8)
        log_lines = FINAL_LOG_LINES if height is None else max(3, height - used - 3)
        log = Panel(self._log(width - 4, log_lines), title="what happened (newest at the bottom)",
                    title_align="left", height=log_lines + 2, width=width)
        return Group(*head, strip, story, boxes, log)

    def _header(self, width: int) -> list[Text]:
        w = self.world
        now = w.loop.time()
        wall = _time.perf_counter() - self._wall0
        speed = f"  ·  {(now - self._sim0) / wall:,.0f}× real time" if wall > 1 else ""
        first = Text(f"{self.title}  ·  simulated {sim_clock(now)} of {sim_clock(self.total)}{speed}"
                     f"  ·  seed {w.cfg.seed}", style="bold", no_wrap=True, overflow="ellipsis")
        since = down_since(w.timeline.link)
        queued = w.unit.outbox.queued_count()
        if since is None:
            status = Text("DATA LINK UP: the car reports to the server; alerts go straight there",
                          style="bold green")
        else:
            waits = "1 message waits" if queued == 1 else f"{queued} messages wait"
            status = Text(f"DATA LINK DOWN since {sim_clock(since)} ({duration(now - since)}): urgent alerts "
                          f"go by SMS, {waits} in the queue", style="bold white on red")
        status.no_wrap, status.overflow = True, "ellipsis"
        first.truncate(width)
        status.truncate(width)
        return [first, status]

    def _col(self, t: float, cols: int) -> int:
        return min(cols - 1, max(0, int(t / self.total * cols))) if self.total > 0 else 0

    def _strip(self, width: int) -> Group:
        """The timeline strip: a row per kind of fact, one column per `total / cols` seconds."""
        w = self.world
        tl = w.timeline
        now = w.loop.time()
        cols = max(10, width - LABEL_W)
        col = self._col

        def blank(ch: str = " ", style: str = "") -> list[tuple[str, str]]:
            return [(ch, style)] * cols

        def put(row: list[tuple[str, str]], c: int, ch: str, style: str, shift: bool = False) -> None:
            if shift:
                while c < cols - 1 and row[c][0] in "!S✓":
                    c += 1
            row[c] = (ch, style)

        now_c = col(now, cols)
        axis = blank()
        step = next((s for s in TICKS if cols * s / max(self.total, 1) >= 8), TICKS[-1])
        t = 0
        while t <= self.total:
            label = sim_clock(t)[:-3]    # H:MM
            c = col(t, cols)
            if c + len(label) <= cols:
                for i, ch in enumerate(label):
                    axis[c + i] = (ch, "dim")
            t += step
        link = [("·", "dim") if c > now_c else (" ", "") for c in range(cols)]
        first_online = next((s.start for s in tl.link if s.state == "online"), now)
        for prio in (True, False):     # online first, then anything else painted over it
            for span in tl.link:
                if (span.state == "online") != prio:
                    continue
                end = now if span.end is None else span.end
                # Before the first login the unit is starting up, not down.
                mark = LINK_MARK["connecting"] if span.start < first_online else LINK_MARK.get(span.state, DOWN)
                for c in range(col(span.start, cols), col(end, cols) + 1):
                    link[c] = mark
        outage = blank()
        for o in tl.outages:
            a, b = col(o.start, cols), col(now if o.end is None else o.end, cols)
            for c in range(a, b + 1):
                outage[c] = ("▓", "red")
            label = f" {SHORT_OUTAGE.get(o.kind, o.kind)} "
            if b - a + 1 >= len(label) + 2:
                start = a + (b - a + 1 - len(label)) // 2
                for i, ch in enumerate(label):
                    outage[start + i] = (ch, "bold white on red")
        alerts = blank()
        for al in tl.alerts:    # the wait in the queue first, the marks over it
            end = al.server_at if al.server_at is not None else now
            if end - al.raised_at >= 60:
                for c in range(col(al.raised_at, cols) + 1, col(end, cols)):
                    alerts[c] = ("╌", "yellow")
        for al in tl.alerts:
            put(alerts, col(al.raised_at, cols), "!", "bold red" if al.critical else "yellow")
        for al in tl.alerts:
            if al.sms_at is not None:
                put(alerts, col(al.sms_at, cols), "S", "bold magenta", shift=True)
            if al.server_at is not None:
                put(alerts, col(al.server_at, cols), "✓", "bold green", shift=True)
        sms_in, sms_out = blank(), blank()
        for s in tl.sms:
            if s.direction == "in":
                sms_in[col(s.t, cols)] = ("●", "cyan")
            else:
                sms_out[col(s.t, cols)] = ("●", "magenta")
        marker = blank()
        note = f"▲ now {sim_clock(now)}"
        if now_c + len(note) > cols:             # no room on the right: the words before the mark
            note = f"now {sim_clock(now)} ▲"
        start = now_c if note.startswith("▲") else now_c - len(note) + 1
        for i, ch in enumerate(note):
            marker[start + i] = (ch, "bold")

        def line(label: str, row: list[tuple[str, str]]) -> Text:
            text = Text(f"{label:<{LABEL_W}}", style="bold", no_wrap=True, overflow="crop")
            for ch, style in row:
                text.append(ch, style)
            return text

        legend = Text.assemble(
            ("link ", "dim"), ("█", "green"), " up ", ("▒", "yellow"), " connecting ", ("░", "red"), " down   ",
            ("▓", "red"), " outage   ", ("alert ", "dim"), ("!", "yellow"), " raised ", ("S", "bold magenta"),
            " sent by SMS ", ("✓", "bold green"), " at the server ", ("╌", "yellow"), " queued for the server",
            no_wrap=True, overflow="ellipsis")
        legend.truncate(width)
        return Group(line("time", axis), line("data link", link), line("network", outage),
                     line("alerts", alerts), line("SMS in", sms_in), line("SMS out", sms_out),
                     line("", marker), legend)

    def _story(self, width: int, rows: int) -> Text:
        """Outages and alerts, one line each, the most telling kept when they do not all fit."""
        w = self.world
        tl = w.timeline
        now = w.loop.time()
        entries: list[tuple[float, bool, Text]] = []    # (time, worth keeping, line)
        short = width < 140

        sep = " → " if short else "  → "

        def dur(seconds: float) -> str:
            return duration(seconds, short)

        for o in tl.outages:
            if o.end is None:
                length, after = f"{dur(now - o.start)} so far", ("  (still on)", "red")
            elif o.recovered_at is not None:
                length, after = dur(o.end - o.start), (
                    f"{sep}data link back {sim_clock(o.recovered_at)} (+{dur(o.recovery_s or 0)})", "green")
            else:
                length, after = dur(o.end - o.start), (f"{sep}the unit is reconnecting", "yellow")
            entries.append((o.start, True, Text.assemble(
                (f"{sim_clock(o.start)}  OUTAGE {length}: ", "bold red"),
                outage_words(o.kind).split(";")[0] if short else outage_words(o.kind), after)))
        for a in tl.alerts:
            line = Text.assemble((f"{sim_clock(a.raised_at)}  ", ""),
                                 ("URGENT " if a.critical else "alert ", "bold red" if a.critical else "yellow"),
                                 f"#a{a.id} {alert_words(a.text)[:24 if short else 40]}")
            if a.sms_at is not None:
                line.append(f"{sep}{'by SMS' if short else 'SMS to the owner'} {sim_clock(a.sms_at)} "
                            f"(+{dur(a.sms_at - a.raised_at)})", "bold magenta")
            if a.server_at is not None:
                late = a.server_at - a.raised_at
                how = f"+{dur(late)}, queued" if late >= 60 else ("at once" if late < 5 else f"+{dur(late)}")
                line.append(f"{sep}server {sim_clock(a.server_at)} ({how})", "bold green" if late >= 60 else "green")
            else:
                line.append(f"{sep}server: queued ({dur(now - a.raised_at)} so far)", "yellow")
            telling = a.sms_at is not None or a.server_at is None or a.server_at - a.raised_at >= 60
            entries.append((a.raised_at, telling, line))
        entries.sort(key=lambda e: e[0])
        while len(entries) > rows:
            boring = next((i for i, e in enumerate(entries) if not e[1]), 0)
            del entries[boring]
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (_, _, line) in enumerate(entries):
            line.truncate(width, overflow="ellipsis")
            text.append_text(line)
            if i < len(entries) - 1:
                text.append("\n")
        if not entries:
            text.append("none yet", style="dim")
        return text

    def _boxes(self, width: int, rows: int) -> Table:
        w = self.world
        u = w.unit
        m = u.metrics
        now = w.loop.time()
        speed = m.get("v.p.speed")
        car_rows = [
            ("SOC", m.format("v.b.soc", now)),
            ("speed", f"{speed:.0f} km/h" if isinstance(speed, int | float) else "-"),
            ("charging", "yes" if m.get("v.c.charging") else f"no ({m.get('v.c.state') or '-'})"),
            ("plugged in", "yes" if m.get("v.c.pilot") else "no"),
            ("locked", "yes" if m.get("v.e.locked") else "no"),
            ("odometer", m.format("v.p.odometer", now)),
        ]
        sup = u.link.sup
        tl = w.timeline
        span = tl.link[-1] if tl.link else None
        since = down_since(tl.link)
        if span is None:
            state = Text(sup.state)
        elif since is not None:
            state = Text(f"DOWN since {sim_clock(since)} ({span.state})", style="bold red")
        else:
            state = Text(f"{span.state} since {sim_clock(span.start)}", style=LINK_STYLE.get(span.state, "red"))
        logins = sup.counters.get("login", 0)
        link_rows: list[tuple[str, str | Text]] = [
            ("data link", state),
            ("SMS", "works (registered on GSM)" if sup.gsm_registered else "not possible (not registered)"),
            ("queue", f"{u.outbox.queued_count()} waiting for the server"),
            ("logins", f"{logins} ({_plural(max(0, logins - 1), 'reconnect')})"),
            ("recovery", link_work(sup.counters)),
            ("doing now", DOING.get(sup.state, sup.state.replace("_", " "))),
        ]
        srv = w.server
        via_sms = sum(1 for a in tl.alerts if a.sms_at is not None)
        server_rows = [
            ("car online", "yes" if srv.connected("SIMCAR") else "no"),
            ("alerts stored", str(len(srv.alerts("SIMCAR")))),
            ("data records", str(len(srv.records("SIMCAR")))),
            ("alerts by SMS", str(via_sms)),
            ("SMS to owner", str(sum(1 for s in tl.sms if s.direction == "out"))),
            ("SMS from owner", str(sum(1 for s in tl.sms if s.direction == "in"))),
        ]
        car_w = 30 if width >= 120 else 27
        srv_w = 30 if width >= 120 else 27
        link_w = max(30, width - car_w - srv_w)

        def box(title: str, items: list[tuple[str, Any]], w_: int, key_style: str, key_w: int) -> Panel:
            t = Table.grid(padding=(0, 1))
            t.add_column(style=key_style, width=key_w, no_wrap=True)
            t.add_column(no_wrap=True, overflow="ellipsis", max_width=w_ - key_w - 5)
            for k, v in items[:rows]:
                t.add_row(k, v)
            return Panel(t, title=title, title_align="left", width=w_, height=rows + 2)

        grid = Table.grid()
        grid.add_column(width=car_w)
        grid.add_column(width=link_w)
        grid.add_column(width=srv_w)
        grid.add_row(box("car", car_rows, car_w, "bold cyan", 10),
                     box("link (the unit's modem)", link_rows, link_w, "bold magenta", 11),
                     box("server and phone", server_rows, srv_w, "bold green", 14))
        return grid

    def _log(self, width: int, lines: int) -> Text:
        # Sorted by time: a server-stored alert is noticed up to a minute after it happened.
        items: list[Item] = sorted(self.feed.items[-2 * lines:], key=lambda i: (i.t, i.seq))[-lines:]
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, item in enumerate(items):
            line = Text.assemble((f"{sim_clock(item.t)}  ", "dim"), (f"{item.tag:<7}  ", "bold"),
                                 (item.text, item.style))
            line.truncate(width, overflow="ellipsis")
            text.append_text(line)
            if i < len(items) - 1:
                text.append("\n")
        return text
