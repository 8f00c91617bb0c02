"""The virtual modem under AT+CMUX: every DLCI an AT channel over one modem, and the mux faults."""

from __future__ import annotations

import functools

import pytest

from modem.cmux.channel import MuxPort
from modem.cmux.frame import Frame, FrameDecoder, Junk
from modem.cmux.mux import MuxClosed, MuxEvent, MuxParams, Role
from modem.emulator import VirtualNetwork
from runtime import Stream
from tests.emulator.rig import Rig


class Host:
    """The TE end: plain AT until `mux()`, then one text buffer per DLCI."""

    def __init__(self, **kw: object) -> None:
        self.r = Rig(**kw)  # type: ignore[arg-type]
        self.r.at("ATE0")
        self.rx: dict[int, bytearray] = {}
        self.events: list[MuxEvent] = []
        self.port: MuxPort | None = None

    def mux(self, args: str = "0", dlcis: tuple[int, ...] = (1, 2, 3)) -> str:
        answer = self.r.at(f"AT+CMUX={args}")
        if "OK" not in answer:
            return answer
        fields = args.split(",")
        n1 = int(fields[3]) if len(fields) > 3 else 127  # the SIM800's default N1
        self.port = MuxPort(self.r.loop, self.r.host, Role.INITIATOR, MuxParams(n1=n1), on_event=self.events.append)
        self.port.start()
        for n in dlcis:
            self.rx[n] = bytearray()
            ch = self.port.channel(n)
            ch.set_handlers(functools.partial(self._got, n))
            ch.open()
        self.r.loop.run_for(0.5)
        return answer

    def _got(self, n: int, data: bytes) -> None:
        self.rx[n] += data

    def at(self, dlci: int, line: str, wait: float = 0.05) -> str:
        for buf in self.rx.values():
            buf.clear()
        assert self.port is not None
        self.port.channel(dlci).write(line.encode() + b"\r")
        self.r.loop.run_for(wait)
        return self.text(dlci)

    def text(self, dlci: int) -> str:
        out = self.rx[dlci].decode("latin-1")
        self.rx[dlci].clear()
        return out


def test_cmux_parameters_as_the_manual_lists_them() -> None:
    h = Host()
    assert h.r.at("AT+CMUX=?") == "\r\n+CMUX: (0),(0),(1-7),(1-255),(1-255),(0-100),(2-255),(1-255),(1-7)\r\n\r\nOK\r\n"
    assert h.r.at("AT+CMUX?") == "\r\nERROR\r\n"  # not multiplexed
    for bad in ("1", "0,1", "0,0,8", "0,0,5,0", "0,0,5,256", "0,0,5,127,0", "0,0,5,127,10,101",
                "0,0,5,127,10,3,1", "0,0,5,127,10,3,30,10,8", "0,0,5,127,10,3,30,10,2,1", "x"):
        assert h.r.at(f"AT+CMUX={bad}") == "\r\nERROR\r\n", bad
    assert h.mux("0,0,5,64,10,3,30,10,2") == "\r\nOK\r\n"
    assert h.at(2, "AT+CMUX?") == "\r\n+CMUX: 0,0,5,64,10,3,30,10,2\r\n\r\nOK\r\n"
    assert h.at(3, "AT+CMUX=0") == "\r\nERROR\r\n"  # already multiplexed


def test_every_dlci_is_an_at_channel_over_one_modem() -> None:
    h = Host()
    h.mux()
    for n in (1, 2, 3):
        assert h.at(n, "AT") == "\r\nOK\r\n", n
    assert h.at(2, "AT+CMGF=1") == "\r\nOK\r\n"
    assert h.at(3, "AT+CMGF?") == "\r\n+CMGF: 1\r\n\r\nOK\r\n"  # one modem state
    assert h.at(3, "AT+CGSN").split()[0] == h.r.modem.interp.imei
    h.r.modem.inject_sms("+447700900123", "STAT")
    h.r.loop.run_for(10)
    assert "+CMTI:" in h.text(1)  # the modem's own URCs come out on DLCI 1
    listing = h.at(2, 'AT+CMGL="ALL"')  # one SMS store
    assert "STAT" in listing and listing.endswith("OK\r\n")
    assert h.text(3) == ""


def test_a_tcp_link_belongs_to_the_channel_that_opened_it() -> None:
    h = Host()
    got = bytearray()
    conns: list[Stream] = []

    def accept(s: Stream) -> None:
        conns.append(s)
        s.set_handlers(got.extend)

    h.r.loop.listen_tcp("127.0.0.1", 6867, accept)
    h.mux()
    for line in ('AT+CSTT="internet"', "AT+CIICR", "AT+CIFSR"):
        assert "ERROR" not in h.at(2, line), line
    assert h.at(2, 'AT+CIPSTART="TCP","127.0.0.1",6867', wait=0.5) == "\r\nOK\r\n\r\nCONNECT OK\r\n"
    assert h.at(3, "AT+CIPSTATUS").count("CONNECT OK") == 1  # the IP stack is shared
    conns[0].write(b"hello")
    h.r.loop.run_for(0.2)
    assert "hello" in h.text(2) and h.text(1) == "" and h.text(3) == ""
    assert h.at(2, "AT+CIPSEND=3") == "\r\n> "
    assert h.at(2, "abc\x1a", wait=0.2).endswith("SEND OK\r\n")
    assert bytes(got) == b"abc"


def test_nmea_streams_on_the_channel_that_asked_for_it() -> None:
    h = Host(gnss=(51.5, -0.1))
    h.mux()
    assert h.at(3, "AT+CGNSPWR=1") == "\r\nOK\r\n"
    assert h.at(3, "AT+CGNSTST=1") == "\r\nOK\r\n"
    h.r.loop.run_for(60)
    assert "$G" in h.text(3)
    assert "$G" not in h.text(1) and "$G" not in h.text(2)


def test_cld_returns_the_line_to_plain_at() -> None:
    h = Host()
    h.mux()
    assert h.port is not None
    h.port.close_down()
    h.r.loop.run_for(0.5)
    assert MuxClosed("closed down (CLD answered)") in h.events
    h.port.detach()
    h.r.host.set_handlers(h.r.rx.extend)
    assert h.r.at("AT") == "\r\nOK\r\n"
    assert h.r.modem.status()["mux"] is None


def test_mux_reboot_gives_rdy_in_plain_text_and_plain_at_after() -> None:
    h = Host()
    h.mux()
    h.r.modem.fault("mux-reboot")
    h.r.loop.run_for(30)
    junk = b"".join(e.data for e in h.events if isinstance(e, Junk))
    assert b"RDY" in junk
    assert h.port is not None
    h.port.detach()
    h.r.host.set_handlers(h.r.rx.extend)
    assert h.r.at("AT").endswith("OK\r\n")


def test_mux_corrupt_never_passes_a_damaged_frame_and_the_channels_recover() -> None:
    h = Host()
    h.mux()
    assert h.port is not None
    h.r.modem.fault("mux-corrupt", 5.0)
    answers = [h.at(2, "AT+CSQ", wait=0.3) for _ in range(10)]
    decoder = h.port.mux.decoder.stats
    assert decoder.discarded > 0  # frames were damaged and thrown away
    for a in answers:  # frames were lost, but nothing that arrived is garbled
        assert set(a) <= set("\r\n+CSQ: 0123456789,OK"), a
    assert any(a.endswith("OK\r\n") for a in answers)
    h.r.loop.run_for(6)
    assert h.at(2, "AT", wait=0.3) == "\r\nOK\r\n"


def test_mux_stall_the_multiplexer_stops_answering() -> None:
    h = Host()
    h.mux()
    h.r.modem.fault("mux-stall", 3.0)
    assert h.at(1, "AT", wait=1.0) == ""
    h.r.loop.run_for(3)
    assert h.at(1, "AT", wait=0.5) == "\r\nOK\r\n"


@pytest.mark.parametrize("dialect", ["sim800", "sim7600"])
def test_both_dialects_take_cmux(dialect: str) -> None:
    h = Host(dialect=dialect, network=None)
    assert h.mux() == "\r\nOK\r\n"
    assert h.at(2, "AT") == "\r\nOK\r\n"


def test_log_mux_traces_frames(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="modem.emulator.mux")
    h = Host(log_mux=True)
    h.mux()
    h.at(1, "AT")
    lines = [r.getMessage() for r in caplog.records if r.name == "modem.emulator.mux"]
    assert any("rx DLCI 0 SABM P/F len 0 FCS ok" in x for x in lines)
    assert any("tx DLCI 1 UIH len" in x for x in lines)


def test_frames_on_the_wire_after_cmux_are_27010() -> None:
    h = Host()
    h.r.at("AT+CMUX=0")
    h.r.rx.clear()
    h.r.host.write(bytes.fromhex("F9 03 3F 01 1C F9"))
    h.r.loop.run_for(0.1)
    assert bytes(h.r.rx) == bytes.fromhex("F9 03 73 01 D7 F9")  # the vector: UA to SABM
    out = [x for x in FrameDecoder().feed(bytes(h.r.rx)) if isinstance(x, Frame)]
    assert len(out) == 1


_ = VirtualNetwork
