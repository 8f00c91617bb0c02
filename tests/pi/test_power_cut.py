"""Power cuts (issue 17): an alert raised before the cut survives it.

A car's 12 V can go at any instant — a thief's first move is often the battery, just after the alarm
starts sounding. The unit remembers which conditions it already raised (`unit.db`) so that a restart
does not raise a still-sounding alarm again; that memory must never reach the disk before the alert
itself (`outbox.db`), or a cut between the two loses the alarm for good: the restarted unit sees the
alarm still sounding, finds it "already raised", and says nothing.

Here the "cut" is the process state dropped on the floor at the worst moment (the alarm metric has
arrived, the logic's next tick has not run): no stop(), no close(), only what was committed. The
e2e twin is `test_power_cut_e2e.py` (SIGKILL of `tcu run`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from runtime import VirtualLoop
from sim.direct_modem import DirectModem, Smsc
from tcu.params import Params
from tcu.unit import Unit

OWNER = "+447700900123"


def _unit(loop: VirtualLoop, smsc: Smsc, state: Path) -> Unit:
    params = Params({"owner": OWNER, "server": "127.0.0.1:6867", "server_password": "carpass123",
                     "vehicle_id": "TESTCAR", "module_password": "modpass1", "profile": "demo-ev"},
                    state / "params.db")
    unit = Unit(loop, params, DirectModem(loop, smsc), None, state)
    unit.start()
    return unit


def _alarms_on_disk(state: Path) -> list[str]:
    with sqlite3.connect(state / "outbox.db") as c:
        rows = c.execute("SELECT payload FROM outbox WHERE kind = 'alert'").fetchall()
    return [json.loads(p)["text"] for (p,) in rows if "ALARM" in json.loads(p)["text"]]


def _remembered(state: Path) -> set[str]:
    with sqlite3.connect(state / "unit.db") as c:
        return {k for (k,) in c.execute("SELECT kind FROM raised_conditions")}


def test_condition_memory_never_gets_ahead_of_the_alert(tmp_path: Path) -> None:
    loop = VirtualLoop(seed=3)
    smsc = Smsc(loop)
    state = tmp_path / "unit"
    unit = _unit(loop, smsc, state)
    loop.run_for(5.5)                                   # half-way between two logic ticks
    unit.metrics.set("v.e.alarm", False, loop.time())
    unit.metrics.set("v.e.alarm", True, loop.time())    # the alarm starts sounding ...
    # ... and the 12 V goes now, before the next logic tick: whatever is on disk is all there is
    assert "alarm" not in _remembered(state) or _alarms_on_disk(state), \
        "unit.db says the alarm was raised, but no alarm alert is on disk"

    del unit                                            # its loop never runs again
    loop = VirtualLoop(seed=4)
    unit2 = _unit(loop, Smsc(loop), state)              # power back: the alarm is still sounding
    unit2.metrics.set("v.e.alarm", True, loop.time())
    loop.run_for(5)
    assert len(_alarms_on_disk(state)) >= 1
    unit2.metrics.set("v.e.alarm", True, loop.time() + 1)
    loop.run_for(5)
    assert len(_alarms_on_disk(state)) == 1             # raised once, not again on the next frames
