"""The HTML report (`sim.html_report`): well-formed whatever the SMS said, the demo's facts in its SVG, and
what headless Chromium renders — the outage band and every alert marker where their times say."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.html_report import LEFT, PW, clean, render_html, write_html
from sim.timeline import Timeline
from sim.world import OWNER, UNIT_NUMBER

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "section", "div", "ul", "li",
        "span", "i", "b", "svg", "defs", "pattern", "rect", "line", "text", "path", "circle", "g", "polygon",
        "polyline", "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "pre"}


def _parse(doc: str) -> ET.Element:
    """The page as XML (it is written well-formed), namespaces dropped from the tag names."""
    assert doc.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(doc.split("\n", 1)[1])
    for el in root.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    return root


def _by_id(root: ET.Element, id_: str) -> ET.Element:
    found = [el for el in root.iter() if el.get("id") == id_]
    assert len(found) == 1, id_
    return found[0]


def _small_report(n_alerts: int) -> dict:
    return {"seed": 1, "sim_seconds": 600.0, "wall_seconds": 0.1, "can_frames": 0, "server_messages": 0,
            "alerts": {"raised": n_alerts, "via_server": 0, "via_sms": n_alerts, "via_both": 0, "queued": 0,
                       "lost": 0, "lost_ids": [], "raised_during_outage": 0, "during_outage_delivered": 0,
                       "unmatched_deliveries": []},
            "duplicates": 0, "sms_duplicates": 0, "outages": [], "sms": {"sent": 1, "received": 1, "owner_sent": 1},
            "commands": {"executed": 0, "failed": 0}}


def _hostile_timeline(body: str, command: str) -> Timeline:
    tl = Timeline()
    tl.link_state(0.0, "online")
    tl.alert_raised(100.0, 1, body, True)
    tl.alert_delivered(102.0, [1], "sms")
    tl.sms_received(102.0, "out", OWNER, body, to=OWNER)
    tl.sms_received(200.0, "in", OWNER, command, to=UNIT_NUMBER)
    tl.command_received(200.0, 1, "sms", command)
    tl.command_answered(201.0, 1, body)
    for t in range(0, 601, 60):
        tl.sample(float(t), 50.0, 0.0, False)
    return tl


def _as_displayed(text: str) -> str:
    """What a parser hands back for a text node: unshowable characters escaped, line ends as \\n."""
    return clean(text).replace("\r\n", "\n").replace("\r", "\n")


ANY_CHAR = st.characters(exclude_categories=())   # lone surrogates too: a decoder may hand us those


@settings(max_examples=80, deadline=None)
@given(body=st.text(ANY_CHAR, max_size=160), command=st.text(ANY_CHAR, max_size=40))
def test_any_sms_text_stays_text(body: str, command: str) -> None:
    """Whatever an SMS or an answer holds — markup, quotes, control characters — the page stays well-formed,
    gains no element, and shows the text itself."""
    doc = render_html(_small_report(1), _hostile_timeline(body, command), title=command or "t")
    doc.encode("utf-8")   # what write_html does: no lone surrogate left in the page
    root = _parse(doc)
    assert {el.tag for el in root.iter()} <= TAGS
    rows = _by_id(root, "sms-table").find("table/tbody")
    assert rows is not None and len(rows) == 2
    shown = ["".join(r[3].itertext()) for r in rows]
    assert shown == [_as_displayed(body), _as_displayed(command)]
    [marker] = [el for el in root.iter() if el.get("class") == "alert-marker"]
    assert _as_displayed(body) in "".join(marker.itertext())
    assert len([el for el in root.iter() if el.get("class") == "sms-marker"]) == 2


def test_demo_report_svg_has_every_fact_at_its_time(demo_direct, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    write_html(out, demo_direct.report, demo_direct.timeline)
    root = _parse(out.read_text(encoding="utf-8"))
    svg = _by_id(root, "timeline")
    t0, t1 = float(svg.get("data-t0", "nan")), float(svg.get("data-t1", "nan"))
    assert t0 == 0.0 and t1 >= demo_direct.report["sim_seconds"]

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * PW

    [band] = [el for el in root.iter() if el.get("data-kind") == "outage"]
    assert (band.get("data-t"), band.get("data-t-end"), band.get("data-outage-kind")) == ("2400", "3600", "gprs-down")
    assert float(band.get("x", "nan")) == pytest.approx(x(2400.0), abs=0.01)
    assert float(band.get("width", "nan")) == pytest.approx(x(3600.0) - x(2400.0), abs=0.02)
    markers = {int(el.get("data-alert-id", "-1")): el for el in root.iter() if el.get("class") == "alert-marker"}
    assert set(markers) == {a.id for a in demo_direct.timeline.alerts}
    for a in demo_direct.timeline.alerts:
        m = markers[a.id]
        assert float(m.get("data-t", "nan")) == a.raised_at and m.get("data-path") == a.path
        assert float(m.get("data-latency", "nan")) == pytest.approx(a.latency)
    paths = {a.path for a in demo_direct.timeline.alerts}
    assert "both" in paths                                   # the alarm in the outage: SMS, then the server
    deliveries = [el for el in root.iter() if el.get("class") == "alert-delivery"]
    assert len(deliveries) == sum((a.sms_at is not None) + (a.server_at is not None)
                                  for a in demo_direct.timeline.alerts)
    assert len([el for el in root.iter() if el.get("class") == "sms-marker"]) == len(demo_direct.timeline.sms)
    assert len([el for el in root.iter() if el.get("class") == "command-done"]) == len(demo_direct.timeline.commands)
    assert len(_by_id(root, "alerts-table").find("table/tbody") or []) == demo_direct.report["alerts"]["raised"]


# -- headless Chromium --------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package "
                                    "`chromium`; .ci/run installs it)")

# Added to a copy of the page for the test only (the report itself has no script): where Chromium laid out
# the plot area, each alert marker and each outage band, in CSS pixels, written into the DOM.
PROBE = """<script>(function () {
  var svg = document.getElementById('timeline');
  var area = document.getElementById('plot-area').getBoundingClientRect();
  var t0 = +svg.dataset.t0, t1 = +svg.dataset.t1;
  function px(t) { return area.left + (t - t0) / (t1 - t0) * area.width; }
  var out = {area: [area.left, area.width], alerts: [], outages: []};
  document.querySelectorAll('.alert-marker').forEach(function (e) {
    var r = e.getBoundingClientRect();
    out.alerts.push({id: +e.dataset.alertId, t: +e.dataset.t, center: r.left + r.width / 2,
                     expected: px(+e.dataset.t), width: r.width, height: r.height});
  });
  document.querySelectorAll('[data-kind="outage"]').forEach(function (e) {
    var r = e.getBoundingClientRect();
    out.outages.push({t: +e.dataset.t, end: +e.dataset.tEnd, left: r.left, right: r.right,
                      expected: [px(+e.dataset.t), px(+e.dataset.tEnd)], height: r.height});
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def _chromium(tmp: Path, *args: str) -> str:
    cmd = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    env = {**os.environ, "HOME": str(tmp)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_chromium_renders_the_outage_and_every_alert_at_its_time(demo_direct, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    write_html(page, demo_direct.report, demo_direct.timeline, title="tcu sim — the demo")
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--window-size=1400,1800", "--dump-dom", probed.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, dom[-2000:]
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["area"][1] > 1000          # the timeline is drawn across the page
    tl = demo_direct.timeline
    assert sorted(a["id"] for a in probe["alerts"]) == sorted(a.id for a in tl.alerts)
    for a in probe["alerts"]:
        assert a["width"] > 5 and a["height"] > 5, a
        assert abs(a["center"] - a["expected"]) < 1.0, a
        assert a["t"] == tl.alert(a["id"]).raised_at   # type: ignore[union-attr]
    [o] = probe["outages"]
    assert (o["t"], o["end"]) == (2400.0, 3600.0) and o["height"] > 300
    assert abs(o["left"] - o["expected"][0]) < 1.0 and abs(o["right"] - o["expected"][1]) < 1.0, o
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html-report-demo.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, "--window-size=1400,1800", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
    with capsys.disabled():   # the path in the test log, also without -s
        print(f"\nscreenshot of the demo's HTML report: {shot}")


@needs_chromium
def test_chromium_shows_a_hostile_sms_as_text(tmp_path: Path) -> None:
    body = '</title><script>document.title="pwned"</script><img src=x onerror=alert(1)>\x00 "&amp;" \u202e'
    page = tmp_path / "hostile.html"
    write_html(page, _small_report(1), _hostile_timeline(body, "<b>LOCK</b>"), title="hostile")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert "<script" not in dom and "<img" not in dom and "pwned" not in dom.split("<title>")[1].split("</title>")[0]
    cells = re.findall(r'<span class="sms-text">(.*?)</span>', dom, re.S)
    assert [html.unescape(c) for c in cells[:2]] == [clean(body), "<b>LOCK</b>"]


def test_a_run_stopped_mid_outage_still_makes_a_page(tmp_path: Path) -> None:
    """Ctrl-C in the outage (the partial report): the outage and the current link span run to the end of
    the axis, the alarm has gone by SMS and waits for the server; an empty timeline makes a page too."""
    from sim.report import build_report
    from sim.world import World, demo_config

    cfg = demo_config(seed=1)
    cfg.modem, cfg.can_rate = "direct", 0.05
    w = World(cfg)
    w.loop.run(until=2700.0)
    report = build_report(w.observations(0.0))
    w.close()
    out = tmp_path / "partial.html"
    write_html(out, report, w.timeline)
    root = _parse(out.read_text(encoding="utf-8"))
    t1 = _by_id(root, "timeline").get("data-t1")
    assert t1 == "2700"
    [band] = [el for el in root.iter() if el.get("data-kind") == "outage"]
    assert (band.get("data-t"), band.get("data-t-end"), band.get("data-recovered-at")) == ("2400", "2700", None)
    [alarm] = [el for el in root.iter() if el.get("class") == "alert-marker"]
    assert alarm.get("data-path") == "sms"
    assert [el.get("data-t-end") for el in root.iter() if el.get("class") == "link-band"][-1] == "2700"
    empty = tmp_path / "empty.html"
    write_html(empty, _small_report(0), Timeline())
    root = _parse(empty.read_text(encoding="utf-8"))
    assert not [el for el in root.iter() if el.get("class") == "alert-marker"]


@needs_chromium
def test_chromium_renders_the_page_make_demo_writes(tmp_path: Path) -> None:
    """Through the front door: the page the README's `make demo` writes (`tcu sim --demo --html`, here at
    full speed, the same world), not one rendered in-process — the outage band and each alert of the
    run's JSON report are on it where their times say."""
    page, report_file = tmp_path / "demo-report.html", tmp_path / "demo.json"
    tcu = Path(sys.executable).parent / "tcu"
    done = subprocess.run([str(tcu), "sim", "--demo", "--speed", "max", "--html", str(page), "--report", str(report_file)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"HTML report: {page}" in done.stdout
    alerts = json.loads(report_file.read_text())["timeline"]["alerts"]
    assert alerts and any(a["path"] == "both" for a in alerts)   # the alarm in the outage: SMS, then the server
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    m = re.search(r'<pre id="probe">(.*?)</pre>', _chromium(tmp_path, "--window-size=1400,1800", "--dump-dom",
                                                           probed.as_uri()), re.S)
    assert m
    probe = json.loads(html.unescape(m.group(1)))
    assert sorted((a["id"], a["t"]) for a in probe["alerts"]) == sorted((a["id"], a["raised_at"]) for a in alerts)
    assert all(abs(a["center"] - a["expected"]) < 1.0 for a in probe["alerts"]), probe["alerts"]
    [o] = probe["outages"]
    assert (o["t"], o["end"]) == (2400.0, 3600.0)
    assert abs(o["left"] - o["expected"][0]) < 1.0 and abs(o["right"] - o["expected"][1]) < 1.0, o
