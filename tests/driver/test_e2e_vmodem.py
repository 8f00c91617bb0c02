"""End to end: the driver (`Modem`) against the virtual modem over a real pty, on the real clock.

Bytes cross a kernel pty exactly as they would cross /dev/serial0; TCP goes to a loopback server.
Every wait is bounded: a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modem.driver.at_channel import Command
from modem.driver.modem import (
    Failed,
    GnssFixReceived,
    GprsLost,
    LineNoise,
    ModemPoweredDown,
    ModemRebooted,
    ModemSilent,
    NmeaReceived,
    Ok,
    SmsReceived,
    TcpClosed,
    TcpDataReceived,
)
from modem.driver.open import open_modem
from modem.driver.power import VirtualPowerKey
from modem.emulator import VirtualModem, VirtualNetwork
from runtime import RealLoop
from runtime.pty import PtyEndpoint


class World:
    def __init__(self, sms_pdu_mode: bool = True) -> None:
        self.loop = RealLoop(seed=7)
        self.pty = PtyEndpoint(self.loop)
        self.network = VirtualNetwork(self.loop)
        self.vm = VirtualModem(self.loop, self.pty.stream, self.network, profile="instant")
        self.modem = open_modem(self.loop, self.pty.path, sms_pdu_mode=sms_pdu_mode,
                                power_key=VirtualPowerKey(self.loop, self.vm, pulse_s=0.1))
        self.events: list = []
        self.modem.subscribe(self.events.append)
        self.server_rx = bytearray()
        self.server_conns: list = []
        self.listener = self.loop.listen_tcp("127.0.0.1", 0, self._accept)

    def _accept(self, stream) -> None:
        self.server_conns.append(stream)

        def on_data(data: bytes) -> None:
            self.server_rx.extend(data)
            stream.write(b"ack:" + data)
        stream.set_handlers(on_data)

    def call(self, method: str, *args, limit: float = 10.0, **kw):
        got: list = []
        getattr(self.modem, method)(*args, on_done=got.append, **kw)
        self.run_until(lambda: got, limit, f"{method} did not finish")
        assert len(got) == 1
        return got[0]

    def run_until(self, cond, limit: float = 5.0, what: str = "condition") -> None:
        end = self.loop.time() + limit
        while not cond():
            assert self.loop.time() < end, f"timed out waiting for {what}"
            self.loop.run_for(0.01)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def up(self) -> None:
        assert self.call("probe") == Ok(None)
        assert isinstance(self.call("init"), Ok)
        self.run_until(lambda: self.call("registration").value.registered, 10, "registration")

    def online(self) -> None:
        self.up()
        assert isinstance(self.call("gprs_attach", "internet"), Ok)
        assert self.call("tcp_connect", "127.0.0.1", self.listener.port) == Ok(None)

    def close(self) -> None:
        self.modem.close()
        self.vm.close()
        self.listener.close()
        self.pty.close()


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


def test_boot_identify_register_signal_operator_time(world):
    world.up()
    info = world.modem.info
    assert info.manufacturer == "SIMCOM_Ltd" and info.model.startswith("SIMCOM_SIM800")
    assert len(info.imei) == 15 and info.iccid and info.imsi
    assert world.call("sim_status") == Ok("READY")
    assert world.call("sim_inserted") == Ok(True)
    st = world.call("poll").value
    assert st.registration.registered and -113 <= st.signal.dbm <= -51
    assert world.call("operator").value.name
    t = world.call("network_time").value
    assert abs((t - datetime.now(UTC)).total_seconds()) < 120


def test_gprs_tcp_exchange_with_loopback_server(world):
    world.online()
    assert world.call("ip_status") == Ok("CONNECT OK")
    payload = b"MP-C 0 TEST\r\nline two with OK\r\n\x00binary\xff"
    assert world.call("tcp_send", payload) == Ok(None)
    world.run_until(lambda: bytes(world.server_rx) == payload, what="server data")
    world.run_until(lambda: world.of(TcpDataReceived), what="reply")
    got = b"".join(e.data for e in world.of(TcpDataReceived))
    world.run_until(lambda: b"".join(e.data for e in world.of(TcpDataReceived)) == b"ack:" + payload,
                    what="whole reply")
    assert got
    big = bytes(range(256)) * 12  # 3072 bytes: several CIPSENDs
    world.server_rx.clear()
    assert world.call("tcp_send", big) == Ok(None)
    world.run_until(lambda: bytes(world.server_rx) == big, what="big payload")
    assert world.call("tcp_close") == Ok(None)
    assert world.call("gprs_shutdown") == Ok(None)
    assert world.call("ip_status") == Ok("IP INITIAL")


def test_sms_send_pdu_unicode_and_concatenated(world):
    world.up()
    assert isinstance(world.call("send_sms", "+447700900123", "Battery at 80%"), Ok)
    long_text = "Grüße aus dem Auto 🚗, alles in Ordnung. " * 4
    r = world.call("send_sms", "+447700900123", long_text)
    assert isinstance(r, Ok) and len(r.value.references) == 3
    texts = [s.text for s in world.vm.outbox]
    assert texts == ["Battery at 80%", long_text]


def test_sms_receive_concatenated_unicode(world):
    world.up()
    text = "Привет, машина! Где ты? " * 5
    assert world.vm.inject_sms("+447700900555", text)
    world.run_until(lambda: world.of(SmsReceived), what="SMS")
    [sms] = world.of(SmsReceived)
    assert sms.sender == "+447700900555" and sms.text == text and sms.time is not None


def test_sms_text_mode_send_and_receive():
    w = World(sms_pdu_mode=False)
    try:
        w.up()
        assert isinstance(w.call("send_sms", "+447700900123", "LOCKED"), Ok)
        assert isinstance(w.call("send_sms", "+447700900123", "Zürich ✓"), Ok)  # falls back to PDU
        w.run_until(lambda: [s.text for s in w.vm.outbox] == ["LOCKED", "Zürich ✓"], what="outbox")
        w.vm.inject_sms("+447700900555", "STAT")
        w.run_until(lambda: w.of(SmsReceived), what="SMS")
        assert w.of(SmsReceived)[0].text == "STAT"
        assert isinstance(w.call("command", Command("AT+CNMI=0,0,0,0,0")), Ok)
        w.vm.inject_sms("+447700900556", "in store")
        w.run_until(lambda: w.call("list_sms").value, what="stored SMS")
        [stored] = w.call("list_sms").value
        assert (stored.sender, stored.text, stored.status) == ("+447700900556", "in store", "REC READ")  # listed once already
        assert w.call("read_sms", stored.index).value.text == "in store"
    finally:
        w.close()


def test_gnss_fix(world):
    world.up()
    assert world.call("gnss_power", True) == Ok(None)
    fix = world.call("gnss_fix").value
    assert fix.valid and 51 < fix.latitude < 52 and fix.satellites_used
    assert world.call("gnss_stream", True) == Ok(None)
    world.run_until(lambda: [e for e in world.of(GnssFixReceived) if e.fix.satellites_used], 5, "NMEA fix")
    streamed = [e.fix for e in world.of(GnssFixReceived) if e.fix.satellites_used][0]
    assert abs(streamed.latitude - fix.latitude) < 0.01 and world.of(NmeaReceived)
    assert world.call("gnss_stream", False) == Ok(None)


def test_fault_reboot_mid_send(world):
    world.online()
    world.vm.fault("slow", 10)  # the CIPSEND prompt is late: the reboot lands while it is in flight
    got: list = []
    world.modem.tcp_send(b"hello", on_done=got.append)
    world.loop.call_later(0.5, world.vm.fault, "reboot")
    t0 = world.loop.time()
    world.run_until(lambda: got, 5, "send result")
    assert isinstance(got[0], Failed) and "RDY" in got[0].reason
    assert world.loop.time() - t0 < 2
    assert world.of(ModemRebooted)


def test_fault_pdp_deact_and_closed(world):
    world.online()
    world.server_conns[0].close()
    world.run_until(lambda: world.of(TcpClosed), what="CLOSED")
    assert world.of(TcpClosed)[0].reason == "CLOSED"
    assert world.call("tcp_connect", "127.0.0.1", world.listener.port) == Ok(None)
    world.vm.fault("gprs-down", 30)
    world.run_until(lambda: world.of(GprsLost), what="+PDP: DEACT")
    assert isinstance(world.call("tcp_send", b"x"), Failed)
    assert isinstance(world.call("gprs_attach", "internet"), Failed)


def test_fault_garbage_then_recovers(world):
    world.up()
    world.vm.fault("garbage", 1.0)
    end = world.loop.time() + 1.0
    while world.loop.time() < end:  # short timeouts: a poll whose answer was mangled fails fast
        world.call("command", Command("AT+CSQ", timeout=0.3, prefixes=("+CSQ:",)))
    assert world.of(LineNoise)
    world.vm.clear_faults()
    assert isinstance(world.call("poll"), Ok)


def test_fault_brownout_silence_and_power_cycle(world):
    world.up()
    world.vm.fault("brownout")
    world.run_until(lambda: world.of(ModemPoweredDown), what="power down")
    assert world.of(ModemPoweredDown)[0].reason == "under-voltage"
    r = world.call("probe", tries=2, interval=0.5)
    assert isinstance(r, Failed) and r.timeout
    assert world.of(ModemSilent)
    assert world.call("power_cycle", settle=0.5) == Ok(None)
    assert world.call("probe") == Ok(None)
    assert isinstance(world.call("init"), Ok)


def test_stored_sms_cmti_fetch_and_list(world):
    world.up()
    assert isinstance(world.call("command", Command("AT+CNMI=2,1,0,0,0")), Ok)  # store, announce +CMTI
    world.vm.inject_sms("+447700900555", "stored then fetched")
    world.run_until(lambda: world.of(SmsReceived), what="SMS via +CMTI")
    assert world.of(SmsReceived)[0].text == "stored then fetched"
    assert world.call("list_sms") == Ok([])  # fetched messages are deleted from the SIM
    assert isinstance(world.call("command", Command("AT+CNMI=0,0,0,0,0")), Ok)  # store silently
    world.vm.inject_sms("+447700900556", "kept on the SIM")
    world.run_until(lambda: world.call("list_sms").value, what="stored SMS")
    [stored] = world.call("list_sms").value
    assert (stored.sender, stored.text) == ("+447700900556", "kept on the SIM")
    assert world.call("read_sms", stored.index).value.text == "kept on the SIM"
    assert world.call("delete_sms", stored.index) == Ok(None)
    assert world.call("list_sms") == Ok([])
