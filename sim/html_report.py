"""The HTML report of a `tcu sim` run: one self-contained file, viewable without a network.

    write_html("report.html", report, world.timeline)

One page: the run's facts at a glance, the story (`sim.report.summary_lines`), then one timeline of the
whole run drawn as inline SVG — link-state bands, each outage (kind, start, end, time until online again),
every alert as a marker with its delivery path (server / SMS / both) and end-to-end latency, every SMS in
and out, each command and its answer — above the car's SOC, speed and charging on the same time axis;
then tables of the same facts and the JSON report itself. No script, no stylesheet or font from elsewhere:
hovering a mark shows its details (SVG `<title>`), and the tables say everything the drawing does.

The SVG's elements carry stable classes and data attributes so a test (or a curious reader) can find
them: `#timeline` has `data-t0`/`data-t1` (the axis, simulated seconds) and `#plot-area` is the drawn
range; `.link-band` (`data-state`), `.outage-band` (`data-kind="outage"`, `data-outage-kind`, `data-t`,
`data-t-end`, `data-recovered-at`), `.alert-marker` (`data-alert-id`, `data-t`, `data-path`,
`data-latency`), `.alert-delivery` (`data-via`), `.sms-marker` (`data-direction`), `.command-marker`
and `.command-done`, each with `data-t`.

Every text that came from outside (SMS bodies, alert texts, command answers) is escaped, and characters
no HTML or XML document may hold (C0 controls, lone surrogates, non-characters) are shown as `\\xNN` /
`\\uNNNN`: the page is well-formed XML as well as HTML, whatever the owner texted.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path

from sim.report import clock, duration, summary_lines
from sim.timeline import AlertMark, Timeline

# -- geometry of the timeline (SVG user units; the page scales it to its width) --------------------------
W = 1360
LEFT = 150          # lane labels
RIGHT = 24
PW = W - LEFT - RIGHT

# lane name → (top, height)
LANES: dict[str, tuple[int, int]] = {}
_y = 34
for _name, _h in (("link", 26), ("outages", 34), ("alerts", 104), ("sms", 40), ("commands", 70),
                  ("soc", 110), ("speed", 110), ("charging", 22)):
    LANES[_name] = (_y, _h)
    _y += _h + (18 if _name in ("commands",) else 8)
HEIGHT = _y + 26

LINK_COLOURS = {
    "online": "#2f9e5b", "connecting": "#f3c44f", "no data link": "#f08c2a", "no coverage": "#d9453d",
    "modem restarting": "#8d5bd0", "modem starting": "#9aa5b4", "modem gone": "#4a4f57", "off": "#4a4f57",
}
CHARTS = ("soc", "speed", "charging")
PATH_COLOURS = {"server": "#2f6fde", "sms": "#e4761b", "both": "#8a3fc6", "pending": "#d9453d"}
VIA_COLOURS = {"server": "#2f6fde", "sms": "#e4761b"}
PATH_WORDS = {"server": "server", "sms": "SMS", "both": "SMS + server", "pending": "not delivered"}
SMS_COLOURS = {"in": "#138a8a", "out": "#e4761b"}

_LEADING_CLOCK = re.compile(r"^\d\d:\d\d ")   # the unit's alert texts begin with the time of day
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def clean(text: str) -> str:
    """`text` with what no HTML/XML document may hold shown as an escape (an SMS body is input)."""
    def shown(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    return _BAD_CHARS.sub(shown, text)


def esc(text: object) -> str:
    """Escaped for element content and quoted attributes alike."""
    return html.escape(clean(str(text)), quote=True)


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _one_line(text: str, width: int) -> str:
    flat = " | ".join(p.strip() for p in text.splitlines() if p.strip())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class _Axis:
    """Simulated seconds → SVG x."""

    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1.0)

    def x(self, t: float) -> float:
        return LEFT + (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0) * PW

    def ticks(self) -> list[float]:
        span = self.t1 - self.t0
        step = next((s for s in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
                     if span / s <= 12), 86400 * 7)
        first = (self.t0 // step + (1 if self.t0 % step else 0)) * step
        out, t = [], first
        while t <= self.t1 + 1e-9:
            out.append(float(t))
            t += step
        return out


class _Labels:
    """Greedy placement of short labels in a few rows so they do not overlap (the rest go to tooltips).
    A label that would run past the right edge ends at its mark instead (`text-anchor="end"`)."""

    def __init__(self, rows: int) -> None:
        self.ends = [-1e9] * rows

    def place(self, x: float, text: str, char_w: float = 6.3) -> tuple[int, str] | None:
        """(row, SVG attributes for x and anchor), or None when every row is taken there."""
        width = len(text) * char_w
        start, attrs = x, f'x="{x:.2f}"'
        if x + width > LEFT + PW:
            start, attrs = x - width + 6, f'x="{x + 6:.2f}" text-anchor="end"'
        for i, end in enumerate(self.ends):
            if start >= end + 6:
                self.ends[i] = start + width
                return i, attrs
        return None


def write_html(path: str | Path, report: dict, timeline: Timeline, title: str = "tcu sim — the run") -> None:
    """Write the report page to `path` (UTF-8, one file, nothing else needed to view it)."""
    Path(path).write_text(render_html(report, timeline, title), encoding="utf-8")


def render_html(report: dict, timeline: Timeline, title: str = "tcu sim — the run") -> str:
    t_end = max([float(report.get("sim_seconds") or 0.0)]
                + [s.t for s in timeline.samples] + [s.start for s in timeline.link])
    axis = _Axis(0.0, t_end)
    parts = [
        "<!DOCTYPE html>",
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f'<header><h1>{esc(title)}</h1><p class="sub">{esc(_subtitle(report))}</p></header>',
        _facts(report, timeline),
        '<section id="story"><h2>What happened</h2><ul>',
        *(f'<li class="{"sub-line" if line.startswith("  ") else "line"}">{esc(line.strip())}</li>'
          for line in summary_lines(report)[1:]),
        "</ul></section>",
        '<section id="timeline-section"><h2>Timeline</h2>',
        _legend(),
        _svg(report, timeline, axis),
        "</section>",
        _tables(report, timeline),
        '<section id="json"><details><summary>The JSON report</summary>',
        f"<pre>{esc(json.dumps(report, indent=2, sort_keys=True))}</pre></details></section>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _subtitle(report: dict) -> str:
    bits = [f"seed {report.get('seed')}", f"{clock(report.get('sim_seconds', 0.0))} simulated"]
    for key in ("scenario", "weather"):
        if report.get(key):
            bits.append(f"{key} {report[key]}")
    if report.get("wall_seconds"):
        bits.append(f"{report['wall_seconds']:.1f} s of wall time")
    return " · ".join(bits)


def _facts(report: dict, tl: Timeline) -> str:
    a = report["alerts"]
    lat = sorted(x for x in (m.latency for m in tl.alerts) if x is not None)
    sms_lat = sorted(m.sms_at - m.raised_at for m in tl.alerts if m.sms_at is not None)
    catch_up = sorted(m.server_at - m.raised_at for m in tl.alerts if m.server_at is not None)
    totals = tl.link_totals(float(report.get("sim_seconds") or 0.0))
    online = 100 * totals.get("online", 0.0) / sum(totals.values()) if totals else None
    recov = [o.recovery_s for o in tl.outages if o.recovery_s is not None]
    cards = [
        ("alerts raised", str(a["raised"]), ""),
        ("delivered", f"{a['raised'] - a['queued'] - a['lost']}", "bad" if a["lost"] or a["queued"] else "good"),
        ("by SMS", str(a["via_sms"]), ""),
        ("lost", str(a["lost"]), "bad" if a["lost"] else "good"),
        ("duplicates", str(report.get("duplicates", 0) + report.get("sms_duplicates", 0)),
         "bad" if report.get("duplicates", 0) + report.get("sms_duplicates", 0) else "good"),
        ("outages", str(len(report.get("outages", []))), ""),
        ("longest recovery", _short(max(recov)) if recov else "–", ""),
        ("online", f"{online:.1f}%" if online is not None else "–", ""),
        ("slowest alert", _short(lat[-1]) if lat else "–", ""),
        ("slowest SMS alert", _short(sms_lat[-1]) if sms_lat else "–", ""),
        ("longest catch-up", _short(catch_up[-1]) if catch_up else "–", ""),
    ]
    out = ['<section id="facts">']
    for label, value, cls in cards:
        out.append(f'<div class="card {cls}"><div class="value">{esc(value)}</div>'
                   f'<div class="label">{esc(label)}</div></div>')
    out.append("</section>")
    return "".join(out)


def _plus(seconds: float) -> str:
    """A delay after something: +9 s, +16 min 09 s, <0.1 s."""
    d = duration(seconds)
    return d if d.startswith("<") else "+" + d


def _short(seconds: float) -> str:
    """A span for a card: 9 s, 16 min, 2.1 h."""
    if seconds < 60:
        return duration(seconds)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _legend() -> str:
    chips = [f'<span class="chip"><i style="background:{c}"></i>{esc(k)}</span>' for k, c in LINK_COLOURS.items()
             if k not in ("off",)]
    paths = [f'<span class="chip"><i class="dot" style="background:{PATH_COLOURS[k]}"></i>alert: {esc(w)}</span>'
             for k, w in PATH_WORDS.items()]
    return (f'<div class="legend"><b>link</b> {"".join(chips)}</div>'
            f'<div class="legend"><b>marks</b> <span class="chip"><i class="hatch"></i>outage</span>'
            f'{"".join(paths)}'
            f'<span class="chip">◆ critical alert</span><span class="chip">● other alert</span>'
            f'<span class="chip" style="color:{SMS_COLOURS["in"]}">▼ SMS to the car</span>'
            f'<span class="chip" style="color:{SMS_COLOURS["out"]}">▲ SMS to the owner</span>'
            f'<span class="chip">✓ command answered</span></div>')


def _svg(report: dict, tl: Timeline, axis: _Axis) -> str:
    x = axis.x
    top, bottom = LANES["link"][0], LANES["charging"][0] + LANES["charging"][1]
    o: list[str] = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {HEIGHT}" width="100%"'
        f' role="img" aria-label="timeline of the run" data-t0="{_num(axis.t0)}" data-t1="{_num(axis.t1)}"'
        f' data-left="{LEFT}" data-width="{PW}">',
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="8" height="8" fill="#d9453d" fill-opacity="0.07"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#d9453d" stroke-opacity="0.35" stroke-width="3"/>'
        "</pattern></defs>",
        f'<rect id="plot-area" x="{LEFT}" y="{top}" width="{PW}" height="{bottom - top}" fill="none"/>',
    ]
    # grid and time axis (top and bottom)
    for t in axis.ticks():
        xt = x(t)
        o.append(f'<line class="grid" x1="{xt:.2f}" y1="{top - 4}" x2="{xt:.2f}" y2="{bottom}"/>')
        o.append(f'<text class="tick" x="{xt:.2f}" y="{top - 10}" text-anchor="middle">{clock(t)[:-3]}</text>')
        o.append(f'<text class="tick" x="{xt:.2f}" y="{bottom + 16}" text-anchor="middle">{clock(t)[:-3]}</text>')
    for name, label in (("link", "link"), ("outages", "outages"), ("alerts", "alerts"), ("sms", "SMS"),
                        ("commands", "commands"), ("soc", "SOC %"), ("speed", "speed km/h"),
                        ("charging", "charging")):
        y, h = LANES[name]
        o.append(f'<text class="lane-label" x="8" y="{y + (h / 2 if h < 40 or name in CHARTS else 15) + 4:.1f}">'
                 f'{esc(label)}</text>')
        if name in ("alerts", "sms", "commands", "outages"):
            o.append(f'<rect class="lane-bg" x="{LEFT}" y="{y}" width="{PW}" height="{h}"/>')
    o += _outage_marks(tl, axis)
    o += _link_bands(tl, axis)
    o += _alert_marks(tl, axis)
    o += _sms_marks(tl, axis)
    o += _command_marks(tl, axis)
    o += _car_curves(tl, axis)
    o.append("</svg>")
    return "\n".join(o)


def _link_bands(tl: Timeline, axis: _Axis) -> list[str]:
    y, h = LANES["link"]
    out = []
    for s in tl.link:
        end = axis.t1 if s.end is None else s.end
        x0, x1 = axis.x(s.start), axis.x(end)
        colour = LINK_COLOURS.get(s.state, "#9aa5b4")
        tip = f"{s.state} ({s.detail}) {clock(s.start)} – {clock(end)}, {duration(end - s.start)}"
        out.append(f'<rect class="link-band" data-state="{esc(s.state)}" data-t="{_num(s.start)}"'
                   f' data-t-end="{_num(end)}" x="{x0:.2f}" y="{y}" width="{max(x1 - x0, 0.6):.2f}"'
                   f' height="{h}" fill="{colour}"><title>{esc(tip)}</title></rect>')
    return out


def _outage_marks(tl: Timeline, axis: _Axis) -> list[str]:
    y, h = LANES["outages"]
    top, bottom = LANES["link"][0], LANES["charging"][0] + LANES["charging"][1]
    labels = _Labels(1)
    out = []
    for i, m in enumerate(tl.outages):
        end = axis.t1 if m.end is None else m.end
        x0, x1 = axis.x(m.start), axis.x(end)
        width = max(x1 - x0, 2.0)
        back = "not online again" if m.recovered_at is None else (
            f"online again at {clock(m.recovered_at)}, {duration(m.recovery_s or 0.0)} after it ended")
        tip = f"outage: {m.kind} {clock(m.start)} – {clock(end)} ({duration(end - m.start)}); {back}"
        rec = "" if m.recovered_at is None else f' data-recovered-at="{_num(m.recovered_at)}"'
        out.append(f'<rect class="outage-band" id="outage-{i}" data-kind="outage" data-outage-kind="{esc(m.kind)}"'
                   f' data-t="{_num(m.start)}" data-t-end="{_num(end)}"{rec} x="{x0:.2f}" y="{top}"'
                   f' width="{width:.2f}" height="{bottom - top}" fill="url(#hatch)"><title>{esc(tip)}</title></rect>')
        out.append(f'<rect class="outage-bar" x="{x0:.2f}" y="{y + 4}" width="{width:.2f}" height="{h - 18}"'
                   f' rx="3"><title>{esc(tip)}</title></rect>')
        if m.recovered_at is not None and m.end is not None:
            xr = axis.x(m.recovered_at)
            out.append(f'<line class="recovery" x1="{x1:.2f}" y1="{y + 4 + (h - 18) / 2:.1f}" x2="{xr:.2f}"'
                       f' y2="{y + 4 + (h - 18) / 2:.1f}"/>')
            out.append(f'<circle class="recovered" data-t="{_num(m.recovered_at)}" cx="{xr:.2f}"'
                       f' cy="{y + 4 + (h - 18) / 2:.1f}" r="3.5"><title>{esc(back)}</title></circle>')
        text = m.kind + ("" if end <= m.start else f" {duration(end - m.start)}") + (
            " (going on)" if m.end is None else "") + (
            "" if m.recovery_s is None else f", back {_plus(m.recovery_s)}")
        placed = labels.place(x0, text, 5.8)
        if placed is not None:
            out.append(f'<text class="outage-label" {placed[1]} y="{y + h - 2}">{esc(text)}</text>')
    return out


def _alert_marks(tl: Timeline, axis: _Axis) -> list[str]:
    y, h = LANES["alerts"]
    y_mark, y_via = y + 16, y + 38
    labels = _Labels(3)
    out = []
    for a in sorted(tl.alerts, key=lambda a: a.raised_at):
        xr = axis.x(a.raised_at)
        colour = PATH_COLOURS[a.path]
        tip = _alert_tip(a)
        for via, t in (("sms", a.sms_at), ("server", a.server_at)):
            if t is None:
                continue
            xv = axis.x(t)
            yv = y_via + (0 if via == "sms" else 12)
            out.append(f'<path class="alert-link" d="M{xr:.2f},{y_mark} L{xr:.2f},{yv} L{xv:.2f},{yv}"'
                       f' stroke="{VIA_COLOURS[via]}"/>')
            shape = (f'<rect x="{xv - 4:.2f}" y="{yv - 4}" width="8" height="8"' if via == "server"
                     else f'<path d="M{xv - 5:.2f},{yv + 4} L{xv:.2f},{yv - 5} L{xv + 5:.2f},{yv + 4} Z"')
            where = "the server" if via == "server" else "the owner's phone (SMS)"
            note = f"#{a.id} at {where} {clock(t)}, {duration(t - a.raised_at)} after it was raised"
            out.append(f'<g class="alert-delivery" data-alert-id="{a.id}" data-via="{via}" data-t="{_num(t)}">'
                       f'{shape} fill="{VIA_COLOURS[via]}"/><title>{esc(note)}</title></g>')
        if a.critical:
            shape = f'<path d="M{xr:.2f},{y_mark - 8} L{xr + 8:.2f},{y_mark} L{xr:.2f},{y_mark + 8} L{xr - 8:.2f},{y_mark} Z"'
        else:
            shape = f'<circle cx="{xr:.2f}" cy="{y_mark}" r="6"'
        lat = "" if a.latency is None else f' data-latency="{_num(a.latency)}"'
        out.append(f'{shape} class="alert-marker" data-alert-id="{a.id}" data-t="{_num(a.raised_at)}"'
                   f' data-path="{a.path}"{lat} data-critical="{str(a.critical).lower()}" fill="{colour}">'
                   f'<title>{esc(tip)}</title>{"</path>" if a.critical else "</circle>"}')
        how = [f"{'SMS' if via == 'sms' else 'server'} {_plus(t - a.raised_at)}"
               for via, t in (("sms", a.sms_at), ("server", a.server_at)) if t is not None]
        text = f"#{a.id} {_one_line(_LEADING_CLOCK.sub('', a.text), 26)} · " + (" · ".join(how) or "not delivered")
        placed = labels.place(xr - 3, text)
        if placed is not None:
            out.append(f'<text class="alert-label" data-alert-id="{a.id}" {placed[1]}'
                       f' y="{y + 66 + 13 * placed[0]}" fill="{colour}">{esc(text)}</text>')
    return out


def _alert_tip(a: AlertMark) -> str:
    lines = [f"alert #{a.id}{' (critical)' if a.critical else ''} raised {clock(a.raised_at)}: {a.text}",
             f"path: {PATH_WORDS[a.path]}"]
    if a.sms_at is not None:
        lines.append(f"SMS at the owner's phone {clock(a.sms_at)} ({_plus(a.sms_at - a.raised_at)})")
    if a.server_at is not None:
        lines.append(f"at the server {clock(a.server_at)} ({_plus(a.server_at - a.raised_at)})")
    if a.latency is not None:
        lines.append(f"end-to-end latency {duration(a.latency)}")
    return "\n".join(lines)


def _sms_marks(tl: Timeline, axis: _Axis) -> list[str]:
    y, h = LANES["sms"]
    out = []
    for i, s in enumerate(tl.sms):
        xs = axis.x(s.t)
        colour = SMS_COLOURS.get(s.direction, "#555")
        if s.direction == "in":    # ▼ into the car
            d = f"M{xs - 6:.2f},{y + 8} L{xs + 6:.2f},{y + 8} L{xs:.2f},{y + 19} Z"
        else:                      # ▲ out to the owner
            d = f"M{xs - 6:.2f},{y + 32} L{xs + 6:.2f},{y + 32} L{xs:.2f},{y + 21} Z"
        who = f"from {s.number} to the car" if s.direction == "in" else f"from the car to {s.number}"
        sent = "" if s.sent_at is None else f" (sent {clock(s.sent_at)})"
        tip = f"SMS {who} at {clock(s.t)}{sent}:\n{s.text}"
        out.append(f'<path class="sms-marker" id="sms-{i}" data-direction="{esc(s.direction)}" data-t="{_num(s.t)}"'
                   f' d="{d}" fill="{colour}"><title>{esc(tip)}</title></path>')
    return out


def _command_marks(tl: Timeline, axis: _Axis) -> list[str]:
    y, h = LANES["commands"]
    labels = _Labels(3)
    out = []
    for i, c in enumerate(tl.commands):
        xc = axis.x(c.t)
        ym = y + 12
        tip = (f"{c.source} command {c.command!r} at {clock(c.t)}: "
               + ("no answer" if c.done_at is None else
                  f"answered {clock(c.done_at)} ({_plus(c.done_at - c.t)}):\n{c.result}"))
        if c.done_at is not None:
            xd = axis.x(c.done_at)
            out.append(f'<line class="command-span" x1="{xc:.2f}" y1="{ym}" x2="{xd:.2f}" y2="{ym}"/>')
            out.append(f'<text class="command-done" data-command="{i}" data-t="{_num(c.done_at)}" x="{xd + 2:.2f}"'
                       f' y="{ym + 4}">✓<title>{esc(tip)}</title></text>')
        out.append(f'<circle class="command-marker" id="command-{i}" data-source="{esc(c.source)}"'
                   f' data-t="{_num(c.t)}" cx="{xc:.2f}" cy="{ym}" r="5"><title>{esc(tip)}</title></circle>')
        answer = "no answer" if c.done_at is None else _one_line(c.result, 22)
        text = f"{_one_line(c.command, 16)} → {answer}"
        placed = labels.place(xc - 3, text, 6.0)
        if placed is not None:
            out.append(f'<text class="command-label" {placed[1]} y="{y + 32 + 13 * placed[0]}">{esc(text)}</text>')
    return out


def _car_curves(tl: Timeline, axis: _Axis) -> list[str]:
    out: list[str] = []
    samples = tl.samples
    if not samples:
        return out
    y, h = LANES["soc"]
    out.append(_gridlines(y, h, (0, 50, 100), 100.0))
    pts = [(axis.x(s.t), y + h - s.soc / 100.0 * h) for s in samples]
    out.append(_area("soc", pts, y + h, "#2f9e5b"))
    y, h = LANES["speed"]
    top = max(20.0, -(-max(s.speed_kmh for s in samples) // 20) * 20)
    out.append(_gridlines(y, h, (0, top / 2, top), top))
    pts = [(axis.x(s.t), y + h - s.speed_kmh / top * h) for s in samples]
    out.append(_area("speed", pts, y + h, "#2f6fde"))
    y, h = LANES["charging"]
    out.append(f'<rect class="lane-bg" x="{LEFT}" y="{y}" width="{PW}" height="{h}"/>')
    start = None
    for s, nxt in zip(samples, [*samples[1:], None], strict=True):
        if s.charging and start is None:
            start = s.t
        if start is not None and (nxt is None or not nxt.charging):
            end = s.t if nxt is None else nxt.t
            out.append(f'<rect class="charging-band" data-t="{_num(start)}" data-t-end="{_num(end)}"'
                       f' x="{axis.x(start):.2f}" y="{y + 3}" width="{max(axis.x(end) - axis.x(start), 1):.2f}"'
                       f' height="{h - 6}"><title>charging {clock(start)} – {clock(end)}</title></rect>')
            start = None
    if not any(s.charging for s in samples):
        out.append(f'<text class="tick" x="{LEFT + 6}" y="{y + h / 2 + 4:.1f}">not charging in this run</text>')
    return out


def _gridlines(y: int, h: int, values: Iterable[float], top: float) -> str:
    out = []
    for v in values:
        yy = y + h - v / top * h
        out.append(f'<line class="hgrid" x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + PW}" y2="{yy:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 4}" y="{yy + 3:.1f}" text-anchor="end">{v:.0f}</text>')
    return "".join(out)


def _area(name: str, pts: list[tuple[float, float]], base: float, colour: str) -> str:
    line = " ".join(f"{px:.2f},{py:.2f}" for px, py in pts)
    area = f"{pts[0][0]:.2f},{base} {line} {pts[-1][0]:.2f},{base}"
    return (f'<polygon class="{name}-area" points="{area}" fill="{colour}" fill-opacity="0.12"/>'
            f'<polyline class="{name}-line" points="{line}" fill="none" stroke="{colour}" stroke-width="1.6"/>')


# -- tables ----------------------------------------------------------------------------------------------
def _table(id_: str, title: str, head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<section id="{id_}"><h2>{esc(title)}</h2><p class="empty">{esc(empty)}</p></section>'
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<section id="{id_}"><h2>{esc(title)}</h2><table><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></section>")


def _t(x: float | None) -> str:
    return "–" if x is None else esc(clock(x))


def _tables(report: dict, tl: Timeline) -> str:
    out = []
    out.append(_table("outages-table", "Outages", ["kind", "start", "end", "length", "online again", "recovery"], [
        [esc(o.kind), _t(o.start), _t(o.end), "–" if o.end is None else esc(duration(o.end - o.start)),
         _t(o.recovered_at), "–" if o.recovery_s is None else esc(duration(o.recovery_s))]
        for o in tl.outages], "No outages in this run."))
    out.append(_table("alerts-table", "Alerts", ["#", "raised", "alert", "path", "SMS at phone", "at server",
                                                 "latency"], [
        [str(a.id), _t(a.raised_at), esc(a.text) + (' <span class="crit">critical</span>' if a.critical else ""),
         f'<span class="path" style="background:{PATH_COLOURS[a.path]}">{esc(PATH_WORDS[a.path])}</span>',
         _t(a.sms_at), _t(a.server_at), "–" if a.latency is None else esc(duration(a.latency))]
        for a in tl.alerts], "No alerts were raised."))
    out.append(_table("sms-table", "SMS", ["at", "direction", "number", "text", "sent"], [
        [_t(s.t), "to the car" if s.direction == "in" else "to the owner", esc(s.number),
         f'<span class="sms-text">{esc(s.text)}</span>', _t(s.sent_at)]
        for s in tl.sms], "No SMS in this run."))
    out.append(_table("commands-table", "Commands", ["at", "source", "command", "answered", "after", "answer"], [
        [_t(c.t), esc(c.source), esc(c.command), _t(c.done_at),
         "–" if c.done_at is None else esc(duration(c.done_at - c.t)), f'<span class="sms-text">{esc(c.result)}</span>']
        for c in tl.commands], "No commands in this run."))
    until = max(float(report.get("sim_seconds") or 0.0), tl.link[-1].start if tl.link else 0.0)
    totals = tl.link_totals(until)
    whole = sum(totals.values()) or 1.0
    spans: dict[str, int] = {}
    for s in tl.link:
        spans[s.state] = spans.get(s.state, 0) + 1
    out.append(_table("link-table", "Link states", ["state", "time", "share", "times entered"], [
        [f'<i class="swatch" style="background:{LINK_COLOURS.get(k, "#9aa5b4")}"></i>{esc(k)}', esc(duration(v)),
         f"{100 * v / whole:.1f}%", str(spans.get(k, 0))]
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1])], "No link states recorded."))
    changes = "".join(f"<tr><td>{_t(s.start)}</td><td>{esc(s.state)}</td><td>{esc(s.detail)}</td>"
                      f"<td>{'–' if s.end is None else esc(duration(s.end - s.start))}</td></tr>" for s in tl.link)
    out.append(f'<section id="link-changes"><details><summary>Every link state change ({len(tl.link)})</summary>'
               f"<table><thead><tr><th>from</th><th>state</th><th>supervisor state</th><th>for</th></tr></thead>"
               f"<tbody>{changes}</tbody></table></details></section>")
    return "\n".join(out)


_CSS = """
:root { --ink: #1d2430; --muted: #657184; --line: #e3e7ee; --bg: #f6f7fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1400px; padding: 20px 24px 40px; color: var(--ink); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header h1 { margin: 0; font-size: 24px; letter-spacing: -0.01em; }
header .sub { margin: 2px 0 14px; color: var(--muted); }
h2 { font-size: 16px; margin: 22px 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 4px 16px 14px;
  margin: 0 0 14px; }
#facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(104px, 1fr)); gap: 10px; padding: 14px 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.card .value { font-size: 20px; font-weight: 650; white-space: nowrap; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card.good .value { color: #1f7a45; } .card.bad .value { color: #c0322b; }
#story ul { margin: 0; padding-left: 18px; }
#story li.sub-line { margin-left: 18px; color: #3c4655; font-size: 13px; }
.legend { color: var(--muted); font-size: 12px; margin: 2px 0 4px; }
.legend b { color: var(--ink); display: inline-block; width: 48px; }
.chip { display: inline-block; margin-right: 12px; white-space: nowrap; }
.chip i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px; margin-right: 4px; }
.chip i.dot { border-radius: 50%; }
.chip i.hatch { background: repeating-linear-gradient(45deg, #f3c2bf 0 3px, #fdf1f0 3px 7px); border: 1px solid #e79a94; }
svg { display: block; margin-top: 8px; font-family: inherit; }
svg .grid { stroke: #edf0f4; stroke-width: 1; }
svg .hgrid { stroke: #edf0f4; stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 11px; }
svg .lane-label { fill: var(--ink); font-size: 12px; font-weight: 600; }
svg .lane-bg { fill: #fafbfd; stroke: #eef1f5; }
svg .outage-bar { fill: #d9453d; fill-opacity: 0.85; }
svg .outage-label { fill: #a4302a; font-size: 11px; font-weight: 600; }
svg .recovery { stroke: #2f9e5b; stroke-width: 2; stroke-dasharray: 3 2; }
svg .recovered { fill: #2f9e5b; }
svg .alert-marker { stroke: #fff; stroke-width: 1.5; }
svg .alert-link { fill: none; stroke-width: 1.4; stroke-opacity: 0.8; }
svg .alert-label { font-size: 11px; font-weight: 600; }
svg .command-marker { fill: #3c4655; }
svg .command-span { stroke: #3c4655; stroke-width: 2; }
svg .command-done { fill: #1f7a45; font-size: 13px; font-weight: 700; }
svg .command-label { fill: #3c4655; font-size: 11px; }
svg .charging-band { fill: #2f9e5b; fill-opacity: 0.75; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 4px 8px; }
td { border-bottom: 1px solid #f0f2f5; padding: 4px 8px; vertical-align: top; }
.sms-text { white-space: pre-wrap; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.path { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 12px; white-space: nowrap; }
.crit { color: #c0322b; font-size: 11px; font-weight: 600; margin-left: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.empty { color: var(--muted); }
details summary { cursor: pointer; margin: 12px 0 6px; font-weight: 600; }
pre { font-size: 12px; overflow-x: auto; }
"""
