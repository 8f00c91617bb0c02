"""`tcu-server alerts|messages|vehicles` as processes against the database of a running `tcu-server serve`
that a car session filled over loopback TCP (issue 13, "Inspection")."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from car_link import CarLink
from real_server import ENV, PY, real_server, run_until

from runtime import RealLoop
from tcu.ovms.car_client import CarSession, Delivered, LoggedIn

PASSWORD = "inspect-e2e-pw"



def tcu_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "tools.server.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=60)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory):
    """A running server whose database holds two alerts and two records of INSP1 (one record from
    3 h ago by the car's clock), and a second vehicle that never connected."""
    tmp = tmp_path_factory.mktemp("inspect")
    with real_server(tmp, {"INSP1": PASSWORD, "QUIET2": "other-pw"}) as srv:
        loop = RealLoop()
        car = CarLink(loop, "127.0.0.1", srv.port, CarSession("INSP1", PASSWORD, None, loop.time()),
                      lambda: {"v.b.soc": 55})
        car.connect()
        try:
            run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in car.events))
            s = car.session
            car.write(s.send_alert("a1", "Vehicle alarm is sounding! #a1", loop.time()))
            car.write(s.send_alert("a2", "Charging stopped, 12 kWh #a2", loop.time()))
            car.write(s.send_history("r1", "*-LOG-Trip", "0,12.5,km", loop.time(), recno=1, timediff=-3 * 3600))
            car.write(s.send_history("r2", "*-LOG-Trip", "0,3.1,km", loop.time(), recno=2))
            done: set[object] = set()
            run_until(loop, lambda: done.update(i for e in car.events if isinstance(e, Delivered)
                                                 for i in e.ids) or done >= {"a1", "a2", "r1", "r2"})
            loop.run_for(1.5)   # the server writes telemetry (the latest S) within a second
            yield srv           # the server keeps running while the tests read its database
        finally:
            car.close()
            loop.close()


def test_alerts_table_while_the_server_runs(filled) -> None:
    assert filled.proc.poll() is None
    r = tcu_server("alerts", "--db", str(filled.db))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("time (")                                 # the zone in the header
    assert lines[0].index("vehicle") == lines[1].index("INSP1")          # aligned columns
    assert "Vehicle alarm is sounding! #a1" in lines[1] and "Charging stopped, 12 kWh #a2" in lines[2]
    assert lines[-1] == "2 alerts"
    one = tcu_server("alerts", "--db", str(filled.db), "--vehicle", "insp1", "--since", "10m")
    assert one.stdout.splitlines()[-1].startswith("2 alerts for INSP1 since ")
    none = tcu_server("alerts", "--db", str(filled.db), "--until", "1h")
    assert none.returncode == 0 and none.stdout.startswith("nothing stored until ")
    quiet = tcu_server("alerts", "--db", str(filled.db), "--vehicle", "QUIET2")
    assert quiet.returncode == 0 and quiet.stdout == "nothing stored for QUIET2\n"


def test_alerts_json(filled) -> None:
    r = tcu_server("alerts", "--db", str(filled.db), "--json", "--vehicle", "INSP1")
    doc = json.loads(r.stdout)
    assert doc["vehicle"] == "INSP1" and doc["since"] is None
    assert [(a["kind"], a["text"]) for a in doc["alerts"]] == [
        ("A", "Vehicle alarm is sounding! #a1"), ("A", "Charging stopped, 12 kWh #a2")]
    assert abs(doc["alerts"][0]["time_epoch"] - time.time()) < 120
    assert doc["alerts"][0]["time"].endswith("Z")


def test_messages_time_range(filled) -> None:
    r = tcu_server("messages", "--db", str(filled.db), "--json")
    doc = json.loads(r.stdout)
    kinds = [(x["kind"], x["type"], x["recno"]) for x in doc["messages"]]
    assert kinds[0] == ("record", "*-LOG-Trip", 1)                       # the car's time: 3 h ago
    assert ("record", "*-LOG-Trip", 2) in kinds and ("latest", "S", None) in kinds
    recent = json.loads(tcu_server("messages", "--db", str(filled.db), "--json", "--since", "1h").stdout)
    assert [x["recno"] for x in recent["messages"] if x["kind"] == "record"] == [2]
    start = datetime.fromtimestamp(time.time() - 4 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = datetime.fromtimestamp(time.time() - 2 * 3600, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    old = json.loads(tcu_server("messages", "--db", str(filled.db), "--json", "--since", start,
                                "--until", end).stdout)
    assert [(x["type"], x["data"]) for x in old["messages"]] == [("*-LOG-Trip", "0,12.5,km")]
    table = tcu_server("messages", "--db", str(filled.db), "--vehicle", "INSP1").stdout
    assert "record *-LOG-Trip #1" in table and "latest S" in table and "S55,K," in table   # as stored
    assert table.splitlines()[-1] == "2 records, 5 latest messages for INSP1"


def test_vehicles(filled) -> None:
    r = tcu_server("vehicles", "--db", str(filled.db))
    lines = r.stdout.splitlines()
    assert lines[0].startswith("vehicle") and "last seen" in lines[0]
    insp = next(line for line in lines if line.startswith("INSP1")).split()
    assert insp[3:] == ["2", "2", "S", "D", "L", "F", "V"]
    assert next(line for line in lines if line.startswith("QUIET2")).split()[1:] == ["never", "0", "0", "-"]
    assert lines[-1] == "2 vehicles"
    doc = json.loads(tcu_server("vehicles", "--db", str(filled.db), "--json").stdout)
    assert {v["vehicle"]: (v["alerts"], v["records"]) for v in doc["vehicles"]} == {"INSP1": (2, 2), "QUIET2": (0, 0)}
    assert all("password" not in json.dumps(v) for v in doc["vehicles"])
    older = json.loads(tcu_server("vehicles", "--db", str(filled.db), "--json", "--until", "2h").stdout)
    assert {v["vehicle"]: v["records"] for v in older["vehicles"]} == {"INSP1": 0, "QUIET2": 0}


def test_clear_errors(tmp_path: Path) -> None:
    missing = tcu_server("alerts", "--db", str(tmp_path / "nope.sqlite"))
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    bad = tcu_server("messages", "--db", str(text))
    assert bad.returncode == 1 and "not a tcu-server database" in bad.stderr
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    foreign = tcu_server("vehicles", "--db", str(other))
    assert foreign.returncode == 1 and "not a tcu-server database (no table alerts" in foreign.stderr
    empty = tmp_path / "server.sqlite"
    tcu_server("add-vehicle", "CAR9", "pw9", "--db", str(empty))
    when = tcu_server("alerts", "--db", str(empty), "--since", "last tuesday")
    assert when.returncode == 2 and "not a time: 'last tuesday'" in when.stderr and "ISO-8601" in when.stderr
    order = tcu_server("alerts", "--db", str(empty), "--since", "1h", "--until", "2h")
    assert order.returncode == 2 and "is after --until" in order.stderr
    who = tcu_server("alerts", "--db", str(empty), "--vehicle", "nobody")
    assert who.returncode == 1 and "no vehicle NOBODY" in who.stderr and "CAR9" in who.stderr


def test_every_option_has_help() -> None:
    from runtime import logsetup
    from tools.server.cli import _parser

    for parser in logsetup.all_parsers(logsetup.spread(_parser())):
        for action in parser._actions:
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help text"
    r = tcu_server("alerts", "--help")
    assert r.returncode == 0 and "--since TIME" in r.stdout and "ISO-8601" in r.stdout
