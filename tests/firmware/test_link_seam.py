"""The modem seam, firmware side: one modem API for the AT driver and DirectModem, events with link
numbers, the link following only its own link, and `tcu run --modem DIALECT:PORT`."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_unit_delivery import make_unit

from modem.driver.events import ModemEvent, TcpClosed, TcpDataReceived
from modem.driver.modem import Modem
from modem.driver.script import Ok
from runtime import VirtualLoop
from sim.direct_modem import DirectModem, Smsc
from tcu.cli import main
from tcu.link import LinkConfig
from tcu.ovms.car_client import CarSession
from tcu.server_link import LinkDriver, ModemApi


def _api_members() -> list[str]:
    return [n for n in vars(ModemApi) if not n.startswith("_")]


def test_driver_and_direct_modem_both_provide_the_modem_api() -> None:
    members = _api_members()
    assert {"subscribe", "tcp_connect", "tcp_send", "tcp_close", "can_power_cycle"} <= set(members)
    for cls in (Modem, DirectModem):
        missing = [n for n in members if not hasattr(cls, n)]
        assert missing == [], f"{cls.__name__} lacks {missing}"


def test_link_driver_leaves_the_callers_config_alone() -> None:
    loop = VirtualLoop(seed=1)
    cfg = LinkConfig()
    drv = LinkDriver(loop, DirectModem(loop, Smsc(loop)), CarSession("CAR", "secret"), dict, dict, cfg)
    assert cfg == LinkConfig()
    # one liveness mechanism (issue 18): the sessions' own; the supervisor is told, its config untouched
    assert drv.sup.config == LinkConfig() and drv.sup.session_liveness


def _echo_server(loop: VirtualLoop, port: int, tag: bytes) -> list:
    conns: list = []

    def accept(stream) -> None:  # type: ignore[no-untyped-def]
        conns.append(stream)
        stream.set_handlers(lambda data: stream.write(tag + data))
    loop.listen_tcp("127.0.0.1", port, accept)
    return conns


def test_direct_modem_holds_two_links_and_numbers_their_events() -> None:
    loop = VirtualLoop(seed=2)
    modem = DirectModem(loop, Smsc(loop))
    events: list[ModemEvent] = []
    modem.subscribe(events.append)
    a_side = _echo_server(loop, 7001, b"A:")
    _echo_server(loop, 7002, b"B:")
    results: list = []
    a = modem.tcp_connect("127.0.0.1", 7001, results.append)
    b = modem.tcp_connect("127.0.0.1", 7002, results.append)
    loop.run_for(5)
    assert (a, b) == (0, 1) and results == [Ok(None), Ok(None)]
    modem.tcp_send(b"x" * 100, results.append, conn=a)
    modem.tcp_send(b"y" * 5000, results.append, conn=b)
    loop.run_for(5)
    got = {c: b"".join(e.data for e in events if isinstance(e, TcpDataReceived) and e.conn == c) for c in (a, b)}
    assert got == {a: b"A:" + b"x" * 100, b: b"B:" + b"y" * 5000}
    a_side[0].close()   # the server behind link a hangs up
    loop.run_for(5)
    assert [e for e in events if isinstance(e, TcpClosed)] == [TcpClosed("CLOSED", a)]


def test_the_link_follows_only_its_own_tcp_link(tmp_path: Path) -> None:
    loop, unit, modem, smsc, server = make_unit(tmp_path)
    loop.run_for(60)
    assert unit.link.online and unit.link.conn == 0
    other = _echo_server(loop, 7003, b"other:")
    results: list = []
    conn = modem.tcp_connect("127.0.0.1", 7003, results.append)   # a second server protocol, say
    loop.run_for(5)
    assert conn == 1 and results == [Ok(None)]
    modem.tcp_send(b"hello", results.append, conn=conn)
    loop.run_for(5)
    other[0].close()
    loop.run_for(30)
    assert unit.link.online and unit.link.sup.counters["tcp"] == 1   # never reconnected
    modem.remote_close()      # now the server's own link closes too
    loop.run_for(120)
    assert unit.link.online and unit.link.sup.counters["tcp"] == 2


def test_tcu_run_unknown_dialect_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--state-dir", str(tmp_path / "s"), "--modem", "sim900:/dev/ttyS0", "--can", "replay:x.log",
            "--server", "127.0.0.1", "--vehicle-id", "CAR", "--server-password", "pw123",
            "--owner", "+447700900123", "--profile", "demo-ev"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = next((x for x in err.splitlines() if x.startswith("tcu run: modem:")), "")
    assert line.startswith("tcu run: modem: unknown modem dialect 'sim900'") and "sim800" in line, err


def test_tcu_run_help_shows_the_dialect_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "[DIALECT:]PORT" in " ".join(capsys.readouterr().out.split())
