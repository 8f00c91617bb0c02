"""The live view of `make demo` / `tcu sim --speed <factor>`: the car, the link, the queue, SMS, alerts.

On a terminal it is a `rich` panel redrawn a few times a second; without one (CI, a pipe) it prints a
plain log line for each thing that happened, so the same run is readable in a log file.
"""

from __future__ import annotations

import sys
import time as _time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _clock(world: Any, t: float) -> str:
    return _time.strftime("%H:%M:%S", _time.gmtime(world.loop.wall() - world.loop.time() + t))


class LiveView:
    """`update()` after each slice of simulated time; `close()` at the end."""

    def __init__(self, world: Any, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.world = world
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self._seen_events = 0
        self._last_state = ""
        self._last_sms: Any = None
        self._server_alerts = 0
        self._live: Live | None = None
        if self.tty:
            self._live = Live(self._render(), console=Console(file=self.out), refresh_per_second=8,
                              transient=False)
            self._live.start()

    def update(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._seen_events = len(self.world.events)
            return
        self._plain()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
        else:
            self._plain()

    # -- plain lines -------------------------------------------------------------------------------
    def _plain(self) -> None:
        w = self.world
        lines = []
        for t, what in w.events[self._seen_events:]:
            lines.append(f"{_clock(w, t)} world  {what}")
        self._seen_events = len(w.events)
        state = w.unit.link_state()
        if state != self._last_state:
            lines.append(f"{_clock(w, w.loop.time())} link   {self._last_state or 'start'} -> {state}"
                         f" (queue {w.unit.outbox.queued_count()})")
            self._last_state = state
        stored = w.server.alerts("SIMCAR")
        for a in stored[self._server_alerts:]:
            at = a.time - (w.loop.wall() - w.loop.time())   # the server's own timestamp
            lines.append(f"{_clock(w, at)} server stored alert: {a.text}")
        self._server_alerts = len(stored)
        sms = w.unit.last_sms
        if sms is not None and sms is not self._last_sms:
            self._last_sms = sms
            lines.append(f"{_clock(w, sms[0])} sms    {sms[1]}: {sms[2]!r}")
        for line in lines:
            print(line, file=self.out, flush=True)

    # -- the panel ---------------------------------------------------------------------------------
    def _render(self) -> Any:
        w = self.world
        u = w.unit
        m = u.metrics
        now = w.loop.time()
        car = Table.grid(padding=(0, 2))
        car.add_column(style="bold cyan")
        car.add_column()
        speed = m.get("v.p.speed")
        rows = [
            ("SOC", m.format("v.b.soc", now)),
            ("charge", f"{m.get('v.c.state') or '-'}{' (charging)' if m.get('v.c.charging') else ''}"),
            ("plugged", "yes" if m.get("v.c.pilot") else "no"),
            ("locked", "yes" if m.get("v.e.locked") else "no"),
            ("speed", f"{speed:.0f} km/h" if isinstance(speed, int | float) else "-"),
            ("odometer", m.format("v.p.odometer", now)),
            ("position", f"{m.get('v.p.latitude') or '-'}, {m.get('v.p.longitude') or '-'}"),
        ]
        for k, v in rows:
            car.add_row(k, v)
        sup = u.link.sup
        link = Table.grid(padding=(0, 2))
        link.add_column(style="bold magenta")
        link.add_column()
        style = "green" if sup.online else ("yellow" if sup.gsm_registered else "red")
        link.add_row("state", Text(sup.state, style=style))
        link.add_row("GSM", "registered (SMS ok)" if sup.gsm_registered else "not registered")
        link.add_row("server", u.status_line())
        link.add_row("queue", str(u.outbox.queued_count()))
        link.add_row("ladder", ", ".join(f"{k} {v}" for k, v in sup.counters.items() if v))
        srv = w.server
        server = Table.grid(padding=(0, 2))
        server.add_column(style="bold green")
        server.add_column()
        alerts = srv.alerts("SIMCAR")
        server.add_row("car connected", "yes" if srv.connected("SIMCAR") else "no")
        server.add_row("alerts stored", str(len(alerts)))
        server.add_row("last alert", alerts[-1].text[:70] if alerts else "-")
        server.add_row("records", str(len(srv.records("SIMCAR"))))
        sms = u.last_sms
        phone = w.phone.received[-1] if w.phone.received else None
        msgs = Table.grid(padding=(0, 2))
        msgs.add_column(style="bold yellow")
        msgs.add_column()
        msgs.add_row("last SMS", f"{sms[1]}: {sms[2][:70]!r}".replace("\\n", " | ") if sms else "-")
        msgs.add_row("owner got", f"{phone[2][:70]!r}" if phone else "-")
        la = u.last_alert
        msgs.add_row("last alert", la[1][:70] if la else "-")
        recent = Text("\n".join(f"{_clock(w, t)}  {what}" for t, what in w.events[-6:]) or "-")
        head = Text(f"tcu sim — {_clock(w, now)} (t={now:,.0f}s)  seed {w.cfg.seed}  weather {w.cfg.weather}",
                    style="bold")
        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_column()
        grid.add_row(Panel(car, title="car"), Panel(link, title="link"))
        grid.add_row(Panel(server, title="server"), Panel(msgs, title="SMS & alerts"))
        return Group(head, grid, Panel(recent, title="what happened"))
