"""The unit's delivery guarantees with a switchable modem: outage → SMS fallback → catch-up, in order."""

from __future__ import annotations

from pathlib import Path

from runtime import VirtualLoop
from sim.direct_modem import DirectModem, Smsc
from tcu.alert_tag import alert_ids
from tcu.params import Params
from tcu.unit import Unit
from tcu.vehicle_logic import Alert
from tools.server.core import OvmsServer

OWNER = "+447700900123"


def make_unit(tmp_path: Path, seed: int = 1) -> tuple[VirtualLoop, Unit, DirectModem, Smsc, OvmsServer]:
    loop = VirtualLoop(seed=seed)
    server = OvmsServer(loop, tmp_path / "server.db", "127.0.0.1", 6867)
    server.add_vehicle("TESTCAR", "carpass123")
    smsc = Smsc(loop)
    modem = DirectModem(loop, smsc)
    params = Params({"owner": OWNER, "server": "127.0.0.1:6867", "server_password": "carpass123",
                     "vehicle_id": "TESTCAR", "module_password": "modpass1", "profile": "demo-ev"},
                    tmp_path / "unit" / "params.db")
    unit = Unit(loop, params, modem, None, tmp_path / "unit")
    unit.start()
    return loop, unit, modem, smsc, server


def alert(n: int, critical: bool = False) -> Alert:
    return Alert(f"t-{n}", "test", f"12:00 test alert {n}", critical, 1_767_225_600.0 + n)


def server_ids(server: OvmsServer) -> list[int]:
    return [i for a in server.alerts("TESTCAR") for i in alert_ids(a.text)]


def phone_ids(smsc: Smsc) -> list[int]:
    return [i for _, _, text in smsc.inboxes.get(OWNER, []) for i in alert_ids(text)]


def test_online_alert_reaches_the_server_once_and_no_sms(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    assert unit.link.online and server.connected("TESTCAR")
    aid = unit.raise_alert(alert(1))
    loop.run_for(120)
    assert server_ids(server) == [aid]
    assert phone_ids(smsc) == []
    assert unit.outbox.queued_count() == 0
    assert "S" in server.messages("TESTCAR")


def test_outage_sms_fallback_then_catch_up_in_order_exactly_once(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    assert unit.link.online
    modem.set_gprs(False)
    loop.run_for(5)
    assert not unit.link.online and unit.link.sup.gsm_registered
    ids = [unit.raise_alert(alert(n, critical=(n == 2))) for n in range(1, 5)]
    loop.run_for(600)
    # every alert raised during the outage reached the owner's phone by SMS
    assert sorted(set(phone_ids(smsc))) == ids
    assert server_ids(server) == []
    modem.set_gprs(True)
    loop.run_for(900)
    assert unit.link.online
    # catch-up: all of them at the server, in order, once each
    assert server_ids(server) == ids
    assert unit.outbox.queued_count() == 0


def test_restart_on_the_same_state_dir_delivers_what_is_owed(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    modem.set_gprs(False)
    modem.set_coverage(False)
    loop.run_for(5)
    ids = [unit.raise_alert(alert(n)) for n in range(1, 4)]
    loop.run_for(30)
    assert phone_ids(smsc) == []       # no coverage: nothing could go anywhere
    unit.stop()                         # "power cut": the new unit starts from the same directory
    modem2 = DirectModem(loop, smsc, number="+447700900998")
    params = Params({"owner": OWNER, "server": "127.0.0.1:6867", "server_password": "carpass123",
                     "vehicle_id": "TESTCAR", "profile": "demo-ev"}, tmp_path / "unit" / "params.db")
    unit2 = Unit(loop, params, modem2, None, tmp_path / "unit")
    unit2.start()
    loop.run_for(900)
    assert server_ids(server) == ids
    assert unit2.outbox.queued_count() == 0


def test_sms_stat_from_the_owner_gets_a_reply_in_every_link_state(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    modem.set_gprs(False)
    loop.run_for(5)
    smsc.submit(OWNER, modem.number, "STAT")
    smsc.submit("+15550001111", modem.number, "STAT")          # a stranger without the password
    loop.run_for(60)
    replies = [text for _, sender, text in smsc.inboxes.get(OWNER, []) if sender == modem.number]
    assert len(replies) == 1 and "SOC" in replies[0] and "offline since" in replies[0]
    stranger = smsc.inboxes.get("+15550001111", [])
    assert [t for _, _, t in stranger] == ["Permission denied"]


def test_server_command_7_runs_the_sms_interpreter(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    replies: list[str] = []
    unit.link.write = lambda data, w=unit.link.write: (replies.append(data.decode()), w(data))[1]  # type: ignore[method-assign]
    from tcu.ovms.car_client import CommandRequest
    unit._server_command(CommandRequest(7, ("VERSION",)))
    loop.run_for(5)
    assert replies and "modpass1" not in "".join(replies)


def test_stat_gives_the_offline_time_in_the_cars_local_time(tmp_path: Path) -> None:
    """The link line follows `tz_offset`, like alert texts do (VirtualLoop's calendar starts 00:00 UTC)."""
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    unit.params.set("tz_offset", "+02:00", "test")
    loop.run_for(3600)
    modem.set_gprs(False)
    loop.run_for(5)
    assert unit.status_line() == "Server: offline since 03:00, 0 queued"
