"""The demo's screen (issue 13, "The demo"): a fixed layout, the story's marks kept on the timeline
strip, labels in words, each SMS once, and the plain (not a terminal) log in time order."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from sim.event_log import duration, one_line
from sim.live_view import LiveView, link_work
from sim.runner import SliceRunner
from sim.world import World, demo_config


def _demo_world() -> World:
    cfg = demo_config(seed=1)
    cfg.modem = "direct"
    cfg.can_rate = 0.05
    return World(cfg)


def _frame(view: LiveView, width: int, height: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, record=True, color_system=None)
    console.print(view.render(width, height))
    return console.export_text().splitlines()


@pytest.fixture(scope="module")
def frames() -> dict[tuple[int, int, int], list[str]]:
    """The demo's screen at 160×50 and 100×30, at minutes 30, 49 (in the outage) and 75 (after it)."""
    world = _demo_world()
    view = LiveView(world, io.StringIO(), tty=False)
    runner = SliceRunner(world)
    out = {}
    for minute in (30, 49, 75):
        while world.loop.time() < minute * 60:
            runner.step(world.loop.time() + 20)
            view.update()
        for size in ((160, 50), (100, 30)):
            out[(minute, *size)] = _frame(view, *size)
    world.close()
    return out


def _row(frame: list[str], label: str) -> str:
    line = next(ln for ln in frame if ln.startswith(f"│ {label}"))
    return line[2 + 11:-2]     # the strip's columns: after the border and the row label


@pytest.mark.parametrize("size", [(160, 50), (100, 30)])
def test_layout_is_fixed_whatever_happens(frames: dict, size: tuple[int, int]) -> None:
    """Same number of lines, every line the terminal's width, panels at the same places at every moment."""
    width, height = size
    shapes = set()
    for minute in (30, 49, 75):
        frame = frames[(minute, width, height)]
        assert len(frame) == height - 1, (minute, len(frame))
        assert all(len(ln) == width for ln in frame[2:]), [ln for ln in frame[2:] if len(ln) != width][:2]
        shapes.add(tuple((i, ln.index("╭")) for i, ln in enumerate(frame) if "╭" in ln))
    assert len(shapes) == 1, shapes


@pytest.mark.parametrize("size", [(160, 50), (100, 30)])
def test_strip_marks_the_outage_the_sms_alarm_and_the_catch_up_and_keeps_them(frames: dict,
                                                                           size: tuple[int, int]) -> None:
    during, after = frames[(49, *size)], frames[(75, *size)]
    assert "DATA LINK DOWN since 0:40:00" in during[1]
    assert "DATA LINK UP" in after[1]
    for frame in (during, after):
        network, alerts = _row(frame, "network"), _row(frame, "alerts")
        band = [i for i, ch in enumerate(network) if ch != " "]
        # the alarm (44 min) is raised inside the outage band and sent by SMS right away
        raised = alerts.index("!")
        assert band[0] <= raised <= band[-1] and alerts[raised + 1] == "S"
    alerts, network = _row(after, "alerts"), _row(after, "network")
    band = [i for i, ch in enumerate(network) if ch != " "]
    # 15 minutes later the catch-up is still on the strip: queued (╌) until the server stored it (✓)
    # just after the outage's end
    first_ok = alerts.index("✓")
    assert band[-1] - 1 <= first_ok <= band[-1] + 2
    assert set(alerts[alerts.index("S") + 1:first_ok]) == {"╌"}
    assert "mobile data down" in network or size[0] < 120


def test_story_panel_says_how_the_alarm_reached_the_owner(frames: dict) -> None:
    text = "\n".join(frames[(75, 160, 50)])
    assert re.search(r"0:40:00  OUTAGE 20 min 00 s: mobile data \(GPRS\) down.*data link back 1:00:\d\d", text)
    assert re.search(r"URGENT #a\d+ ALARM sounding  → SMS to the owner 0:44:0\d \(\+\d s\)  → server 1:00:\d\d "
                     r"\(\+16 min \d\d s, queued\)", text)
    narrow = "\n".join(frames[(75, 100, 30)])
    assert re.search(r"→ by SMS 0:44:0\d \(\+\ds\) → server 1:00:\d\d \(\+16m\d\ds, queued\)", narrow)
    for frame in frames.values():     # no bare supervisor words (`ladder soft_reset 1, gprs 2`)
        assert not re.search(r"ladder|soft_reset|gprs_wait|power_cycle|tcp_wait", "\n".join(frame))
    assert "doing now   waiting to retry mobile data" in "\n".join(frames[(49, 160, 50)])
    assert "recovery    1 modem soft reset" in text


def test_link_work_in_words() -> None:
    assert link_work({"power_cycle": 0, "soft_reset": 1, "gprs": 3, "tcp": 1, "login": 2, "stall": 0}) == \
        "1 modem soft reset, 2 data re-attaches"
    assert link_work({"gprs": 1, "tcp": 1, "login": 1}) == "none needed yet"
    assert link_work({"power_cycle": 2, "stall": 1}) == "2 modem power cycles, 1 silent link noticed"


def test_plain_log_in_time_order_each_sms_once() -> None:
    """Without a terminal: one line per fact, in time order even with coarse slices (the server's
    stored alerts are noticed late), each SMS once, who → who, on one line."""
    world = _demo_world()
    out = io.StringIO()
    view = LiveView(world, out, tty=False)
    runner = SliceRunner(world)
    while not runner.done:
        runner.step(world.loop.time() + 900)
        view.update()
    view.close()
    lines = out.getvalue().splitlines()
    stamps = [ln.split()[0] for ln in lines]
    secs = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (x.split(":") for x in stamps)]
    assert secs == sorted(secs), "\n".join(lines)
    sms = [ln for ln in lines if "  SMS  " in ln]
    assert len(sms) == len(world.timeline.sms) >= 8
    assert all(" → " in ln and "\\n" not in ln for ln in sms)
    outage = next(i for i, ln in enumerate(lines) if "OUTAGE" in ln)
    by_sms = next(i for i, ln in enumerate(lines) if "car → owner (alert #a" in ln)
    caught_up = next(i for i, ln in enumerate(lines) if "reached the server" in ln and "from the queue" in ln)
    back = next(i for i, ln in enumerate(lines) if "network is back" in ln)
    assert outage < by_sms < back < caught_up
    world.close()


def test_words() -> None:
    assert duration(45) == "45 s" and duration(1003) == "16 min 43 s" and duration(7500) == "2 h 05 min"
    assert duration(1003, short=True) == "16m43s"
    assert one_line("SOC: 61%\nRange: 210 km\n") == "SOC: 61% | Range: 210 km"


def test_on_a_terminal_the_last_frame_stays_above_the_summary() -> None:
    """The live screen (rich Live on the alternate screen) runs and, closed, leaves its last frame."""
    world = _demo_world()
    out = io.StringIO()
    view = LiveView(world, out, tty=True)
    runner = SliceRunner(world)
    while world.loop.time() < 50 * 60:
        runner.step(world.loop.time() + 300)
        view.update(force=True)
    view.close()
    world.close()
    text = out.getvalue()
    last = text[text.rindex("timeline of the whole run"):]
    assert "\x1b[?1049l" in text                  # left the alternate screen
    assert "DATA LINK DOWN since 0:40:00" in text[:text.rindex("timeline of the whole run")]
    assert "what happened" in last and "OUTAGE" in last
