"""`sim.report.summary_lines`: the run told for people at the end of every `tcu sim`."""

from __future__ import annotations

import copy

from sim.report import SUMMARY_ALERTS, clock, duration, summary_lines


def test_demo_summary_tells_the_outage_the_alarm_by_sms_the_catch_up_and_the_commands(demo_direct) -> None:  # type: ignore[no-untyped-def]
    report, tl = demo_direct.report, demo_direct.timeline
    text = "\n".join(summary_lines(report))
    [o] = tl.outages
    assert f"gprs-down 0:40:00 - 1:00:00 (20 min 00 s): online again {duration(o.recovery_s)} after it ended" in text
    alarm = next(a for a in tl.alerts if a.path == "both")
    assert (f"#{alarm.id} {clock(alarm.raised_at)} {alarm.text} (critical): SMS and server - "
            f"SMS after {duration(alarm.sms_at - alarm.raised_at)}, "
            f"server after {duration(alarm.server_at - alarm.raised_at)}") in text
    assert "0 still queued, 0 lost" in text and "duplicates: 0 at the server, 0 by SMS" in text
    assert "1 raised during an outage, 1 of them delivered" in text
    assert "SMS: the owner sent 4 (4 reached the unit)" in text
    lock = next(c for c in tl.commands if c.command == "LOCK")
    assert f"{clock(lock.t)} sms LOCK - answered after {duration(lock.done_at - lock.t)}: Locked" in text
    assert all("\n" not in line for line in summary_lines(report))


def test_summary_of_a_report_without_a_timeline_counts_only(demo_direct) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(demo_direct.report)
    del report["timeline"]
    lines = summary_lines(report)
    assert lines[1].startswith("Network: 1 outage.")
    assert not any(line.startswith("  #") for line in lines)


def test_summary_lists_lost_ids_cuts_long_lists_and_keeps_texts_on_one_line() -> None:
    n = SUMMARY_ALERTS + 3
    alerts = [{"id": i, "raised_at": 60.0 * i, "critical": False, "path": "pending", "server_at": None,
               "sms_at": None, "latency_s": None, "text": "line one\nline\x07two"} for i in range(n)]
    report = {"seed": 3, "sim_seconds": 7200.0, "wall_seconds": 0.0, "can_frames": 10, "server_messages": 2,
              "alerts": {"raised": n, "via_server": 0, "via_sms": 0, "via_both": 0, "queued": 0, "lost": n,
                         "lost_ids": list(range(n)), "raised_during_outage": 0, "during_outage_delivered": 0},
              "duplicates": 0, "sms_duplicates": 1, "outages": [{"start": 100.0, "end": None, "recovered_after_s": None,
                                                                "kind": "no-coverage"}],
              "sms": {"sent": 0, "received": 0, "owner_sent": 0}, "commands": {"executed": 0, "failed": 0},
              "timeline": {"alerts": alerts, "commands": [], "sms_in": 0, "sms_out": 0, "link_seconds": {}}}
    lines = summary_lines(report)
    text = "\n".join(lines)
    assert f"{n} lost (ids {', '.join(map(str, range(n)))})" in text and "1 by SMS" in text
    assert "no-coverage from 0:01:40, still going at the end" in text
    assert "  ... and 3 more" in lines
    assert "#0 0:00:00 line one | line two: not delivered" in text
