"""The unit's health (issue 12, "never silently"): a vanished CAN adapter is a health problem with its
retries and next try, DIAG says so, CAN metrics go stale, the owner gets one SMS once it lasted longer
than `health.notify_after_s`, and status.json carries it all for `tcu state`. Virtual clock only."""

from __future__ import annotations

import json
import stat
from collections import deque
from pathlib import Path

import can

from can_bus.bus import PythonCanPort
from runtime import VirtualLoop
from sim.direct_modem import DirectModem, Smsc
from tcu.params import Params
from tcu.status_file import CHECK_EVERY
from tcu.unit import Unit
from tools.server.core import OvmsServer

OWNER = "+447700900123"
SOC_FRAME = (0x102, bytes.fromhex("2b0c6c0500000000"))  # demo-ev BMS_Pack (SOC 4.3 %)


class Adapter:
    """A USB CAN adapter that can be pulled out, behind python-can's interface."""

    def __init__(self) -> None:
        self.plugged = True
        self.frames: deque[can.Message] = deque()

    def lost(self) -> None:
        pass

    def open(self) -> can.BusABC:
        if not self.plugged:
            raise can.CanInitializationError("could not open port /dev/ttyACM0: No such file or directory")
        return _Bus(self)

    def send(self, arbitration_id: int, data: bytes) -> None:
        self.frames.append(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))


class _Bus(can.BusABC):
    def __init__(self, adapter: Adapter) -> None:
        super().__init__(channel="fake")
        self.adapter = adapter

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        pass

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if not self.adapter.plugged:
            raise can.CanOperationError("Could not read from serial device") from OSError(5, "Input/output error")
        return (self.adapter.frames.popleft() if self.adapter.frames else None), False


def make_unit(tmp_path: Path, notify_after: float = 600.0, **unit_kw: object):
    loop = VirtualLoop(seed=5)
    server = OvmsServer(loop, tmp_path / "server.db", "127.0.0.1", 6867)
    server.add_vehicle("TESTCAR", "carpass123")
    smsc = Smsc(loop)
    modem = DirectModem(loop, smsc)
    params = Params({"owner": OWNER, "server": "127.0.0.1:6867", "server_password": "carpass123",
                     "vehicle_id": "TESTCAR", "module_password": "modpass1", "profile": "demo-ev",
                     "health.notify_after_s": notify_after}, tmp_path / "unit" / "params.db")
    adapter = Adapter()
    port = PythonCanPort(loop, adapter.open(), name="slcan:/dev/ttyACM0", reopen=adapter)
    unit = Unit(loop, params, modem, port, tmp_path / "unit", **unit_kw)  # type: ignore[arg-type]
    unit.start()
    return loop, unit, adapter, modem, smsc


def owner_sms(smsc: Smsc) -> list[str]:
    return [text for _, _, text in smsc.inboxes.get(OWNER, [])]


def ask(unit: Unit, loop: VirtualLoop, command: str) -> str:
    replies: list[str] = []
    unit.interpreter.handle(command, None, "console", loop.time(), replies.append)
    loop.run_for(1.0)
    return "\n".join(replies)


def test_gone_adapter_is_health_with_retries_then_one_owner_sms_then_clear(tmp_path: Path) -> None:
    loop, unit, adapter, modem, smsc = make_unit(tmp_path)
    adapter.send(*SOC_FRAME)
    loop.run_for(60)
    assert unit.health.ok and unit.metrics.get("v.b.soc") is not None

    adapter.plugged = False
    gone_at = loop.time()
    loop.run_for(100)
    problem = unit.health.get("can")
    assert problem is not None and "slcan:/dev/ttyACM0" in problem.text
    assert problem.retries >= 5 and problem.next_try is not None and problem.next_try > loop.time()
    assert "CAN adapter slcan:/dev/ttyACM0 is gone" in unit.health.summary(loop.time())
    diag = ask(unit, loop, "DIAG")
    assert "CAN adapter slcan:/dev/ttyACM0 is gone" in diag and "retries" in diag

    # CAN metrics go stale as they always have: STAT says so, it does not show them as current
    loop.run_for(60)
    assert "(stale)" in unit.stat_text().split("\n")[1]

    # not yet: the owner is told once the problem lasted longer than health.notify_after_s
    assert not [t for t in owner_sms(smsc) if "CAN adapter" in t]
    loop.run_for(600 - (loop.time() - gone_at) - 5)
    assert not [t for t in owner_sms(smsc) if "CAN adapter" in t]
    loop.run_for(30)
    told = [t for t in owner_sms(smsc) if "CAN adapter" in t]
    assert len(told) == 1 and told[0].startswith("TESTCAR: CAN adapter slcan:/dev/ttyACM0 is gone")
    assert len(told[0]) <= 160
    loop.run_for(3600)
    assert len([t for t in owner_sms(smsc) if "CAN adapter" in t]) == 1   # once per problem

    adapter.plugged = True
    adapter.send(*SOC_FRAME)
    loop.run_for(15)
    assert unit.health.ok and "(stale)" not in unit.stat_text().split("\n")[1]

    # a new loss is a new problem: told again after the delay
    adapter.plugged = False
    loop.run_for(700)
    assert len([t for t in owner_sms(smsc) if "CAN adapter" in t]) == 2


def test_short_absence_tells_nobody(tmp_path: Path) -> None:
    loop, unit, adapter, modem, smsc = make_unit(tmp_path, notify_after=300)
    loop.run_for(30)
    adapter.plugged = False
    loop.run_for(250)
    adapter.plugged = True
    loop.run_for(20)
    assert unit.health.ok
    loop.run_for(600)
    assert not [t for t in owner_sms(smsc) if "CAN adapter" in t]


def test_owner_sms_that_fails_is_retried_with_backoff_not_hammered(tmp_path: Path) -> None:
    loop, unit, adapter, modem, smsc = make_unit(tmp_path, notify_after=120)
    loop.run_for(30)
    sends: list[float] = []
    real_send = unit.send_sms

    def counting_send(number: str, text: str, done=None) -> None:
        if "CAN adapter" in text:
            sends.append(loop.time())
        real_send(number, text, done)

    unit.send_sms = counting_send  # type: ignore[method-assign]
    modem.set_coverage(False)
    adapter.plugged = False
    loop.run_for(3600)
    # tries at ~120 s, then after 60, 120, 240, 480, 960 … s: a handful in an hour, not thousands
    assert 3 <= len(sends) <= 8, sends
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    modem.set_coverage(True)
    loop.run_for(1900)
    assert len([t for t in owner_sms(smsc) if "CAN adapter" in t]) == 1


def test_status_json_is_written_atomically_0600_when_changed_and_carries_sources(tmp_path: Path) -> None:
    loop, unit, adapter, modem, smsc = make_unit(tmp_path, status_every=CHECK_EVERY)
    unit.add_status_source("sms-retry", lambda: {"attempts": 3, "next_try": "in 40 s"})
    loop.run_for(10)
    path = tmp_path / "unit" / "status.json"
    doc = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert doc["format"] == 1 and doc["vehicle_id"] == "TESTCAR" and doc["health"]["ok"] is True
    assert doc["sources"]["sms-retry"] == {"attempts": 3, "next_try": "in 40 s"}
    assert doc["sources"]["can"]["bus"] == "slcan:/dev/ttyACM0"
    assert abs(doc["written_at"] - loop.wall()) < 10
    assert not list(path.parent.glob(".status.json.*"))   # no temp file left behind

    adapter.plugged = False
    loop.run_for(30)
    doc = json.loads(path.read_text())
    [problem] = doc["health"]["problems"]
    assert problem["key"] == "can" and problem["retries"] >= 3 and problem["next_try"] > doc["written_at"] - 10

    # with nothing changing, a heartbeat every 30 s, not a write every check
    adapter.plugged = True
    loop.run_for(60)
    before = unit.status_writer.writes
    loop.run_for(300)
    assert unit.status_writer.writes - before <= 300 / 30 + 1


def test_no_status_file_in_a_simulation(tmp_path: Path) -> None:
    loop, unit, adapter, modem, smsc = make_unit(tmp_path)   # only `tcu run` asks for status.json
    loop.run_for(30)
    assert not (tmp_path / "unit" / "status.json").exists()
