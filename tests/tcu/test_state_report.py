"""`tcu state` on a real unit's state directory (the simulated world, both servers, a data outage):
the outbox item by item with each server's part, the SMS log as stored, every parameter with its
origin, secrets never shown, and nothing created in the directory of a unit that holds it open."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.weather import OutageWindow
from sim.world import CAR_PASSWORD, MODULE_PASSWORD, MQTT_PASSWORD, OWNER, World, WorldConfig
from tcu.params import SPECS
from tcu.state_cli import gather, render

NEW_PASSWORD = "newpass77"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """30 min: STAT and PASS from the owner, then the data link down from minute 20 (items queue)."""
    w = World(WorldConfig(seed=2, hours=1, server="both", incidents=False,
                          owner_script=((300.0, "STAT"), (400.0, f"PASS {NEW_PASSWORD}")),
                          outages=[OutageWindow(1200.0, 9000.0, "gprs-down")]))
    try:
        w.loop.run(until=1800.0)
        w.unit.write_status()
        yield w
    finally:
        w.close()


def report(w: World) -> tuple[dict[str, object], str]:
    _code, rep = gather(w.dir / "unit", now=w.loop.wall())
    out = io.StringIO()
    render(rep, now=w.loop.wall(), out=out)
    return rep, out.getvalue()


def test_outbox_items_with_state_age_and_each_servers_part(world: World) -> None:
    rep, text = report(world)
    outbox = rep["outbox"]
    assert isinstance(outbox, dict)
    assert outbox["queued"] == world.unit.outbox.queued_count() > 0
    items, delivered = outbox["items"], outbox["delivered"]
    assert isinstance(items, list) and isinstance(delivered, list) and delivered
    assert [i["id"] for i in items] == [i.id for i in world.unit.outbox.pending()][:len(items)]
    assert all(i["state"] in ("queued", "sent") and isinstance(i["age_s"], float) for i in items)
    assert all(d["state"] == "delivered" and d["servers"] == {"ovms": "delivered", "mqtt": "delivered"}
               for d in delivered)
    first = items[0]
    assert f"  #{first['id']} {first['kind']} (" in text and "Recently delivered:" in text
    assert "[mqtt delivered, ovms delivered]" in text


def test_sms_log_as_stored_and_masked(world: World) -> None:
    rep, text = report(world)
    sms = rep["sms_log"]
    assert isinstance(sms, dict)
    entries = sms["entries"]
    assert isinstance(entries, list)
    assert [(e["direction"], e["text"]) for e in entries][2:] == [("in", "PASS ***"),
                                                                 ("out", "Module password has been changed.")]
    assert all(e["number"] == OWNER for e in entries)
    assert f"from {OWNER}: PASS ***  [command PASS]" in text and "2026-01-01 00:06:40" in text


def test_every_parameter_with_its_origin_and_no_secret(world: World) -> None:
    rep, text = report(world)
    params = rep["params"]
    assert isinstance(params, dict)
    table = {p["name"]: p for p in params["all"]}
    assert set(table) == {s.name for s in SPECS}
    assert table["module_password"]["value"] == "set"
    assert table["module_password"]["source"] == f"SMS PASS from {OWNER}"
    assert table["module_password"]["overrides"] == "configuration"
    assert table["server_password"] == {"name": "server_password", "secret": True, "value": "set",
                                        "source": "configuration", "at": None}
    assert table["apn_user"]["source"] == "default"
    assert "module_password           set  (SMS PASS from +447700900123 at 2026-01-01 00:06:40; " \
           "overrides the configuration)" in text
    everything = text + json.dumps(rep)
    for secret in (NEW_PASSWORD, MODULE_PASSWORD, CAR_PASSWORD, MQTT_PASSWORD):
        assert secret not in everything


def test_command_line_beside_the_open_databases_creates_nothing(world: World) -> None:
    unit_dir: Path = world.dir / "unit"
    before = sorted(p.name for p in unit_dir.iterdir())
    r = subprocess.run([sys.executable, "-m", "tcu.cli", "state", "--state-dir", str(unit_dir), "--json"],
                       capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    assert doc["outbox"]["queued"] == world.unit.outbox.queued_count()
    assert len(doc["params"]["all"]) == len(SPECS) and doc["sms_log"]["total"] == 4
    assert "params" not in doc["status"]         # shown once, under "params"
    assert sorted(p.name for p in unit_dir.iterdir()) == before
