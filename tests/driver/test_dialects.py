"""The modem seam's driver side: dialects by name, the port spec, and a channel that knows no SIM800."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.driver import dialect as dialect_module
from modem.driver.at_channel import MORE, ATChannel, Command, DataHeader, Response
from modem.driver.dialect import Dialect, UnknownDialect, dialect_names, get_dialect, register_dialect
from modem.driver.modem import Modem
from modem.driver.open import open_modem, parse_modem_spec
from modem.driver.urc import ModemBooted, TcpClosed, TcpData, Urc
from runtime import VirtualLoop, pipe_pair

# -- the registry ------------------------------------------------------------------------------------


def test_sim800_is_registered_by_name_case_insensitively() -> None:
    assert "sim800" in dialect_names()
    d = get_dialect("SIM800")
    assert d.name == "sim800" and d.max_connections >= 1
    assert get_dialect("sim800") is not d  # a fresh dialect per modem


def test_unknown_dialect_names_the_known_ones() -> None:
    with pytest.raises(UnknownDialect, match=r"'sim900'.*known: .*sim800"):
        get_dialect("sim900")
    with pytest.raises(UnknownDialect, match=r"'sim900'.*sim800"):
        parse_modem_spec("sim900:/dev/ttyS0")


@pytest.mark.parametrize(("spec", "want"), [
    ("sim800:/dev/serial0", ("sim800", "/dev/serial0")),
    ("SIM800:/dev/ttyUSB2", ("sim800", "/dev/ttyUSB2")),
    ("sim800:/dev/pts/7@9600", ("sim800", "/dev/pts/7@9600")),
    ("sim800:socket://127.0.0.1:7777", ("sim800", "socket://127.0.0.1:7777")),
    # a bare port keeps meaning sim800: existing configs and the README's --modem /tmp/modem
    ("/dev/serial0", ("sim800", "/dev/serial0")),
    ("/tmp/modem", ("sim800", "/tmp/modem")),
    ("/dev/pts/7@9600", ("sim800", "/dev/pts/7@9600")),
    ("loop://", ("sim800", "loop://")),
    ("socket://localhost:7777", ("sim800", "socket://localhost:7777")),
    ("rfc2217://host:2217?ign_set_control", ("sim800", "rfc2217://host:2217?ign_set_control")),
    ("/tmp/odd:name", ("sim800", "/tmp/odd:name")),
])
def test_modem_spec(spec: str, want: tuple[str, str]) -> None:
    assert parse_modem_spec(spec) == want


@pytest.mark.parametrize("spec", ["", "  ", "sim800:", "sim800:  "])
def test_empty_port_is_an_error(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_modem_spec(spec)


def test_open_modem_returns_a_modem_of_the_dialect() -> None:
    loop = VirtualLoop(seed=1)
    for spec in ("sim800:loop://", "loop://"):
        m = open_modem(loop, spec, sms_pdu_mode=False)
        assert isinstance(m, Modem) and m.dialect.name == "sim800" and m.sms_pdu_mode is False
        m.close()


def test_unknown_dialect_never_opens_the_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "not-a-port"
    with pytest.raises(UnknownDialect):
        open_modem(VirtualLoop(seed=1), f"nosuch:{path}")
    assert not path.exists()


# -- a new dialect is a module: register it, open it by name -----------------------------------------


class _HashUrcs:
    """A made-up modem: `#UP` after boot, `#BYE,<n>` when link n closes, data as `#DATA,<n>,<len>:`."""

    data_prefixes = (b"#DATA,",)

    def data_header(self, buf: bytes) -> DataHeader | str | None:
        end = buf.find(b":")
        if end < 0:
            return MORE if len(buf) < 20 else None
        n, length = buf[6:end].split(b",")
        return DataHeader(end + 1, int(length), int(n))

    def classify(self, line: str) -> Urc | None:
        if line == "#UP":
            return ModemBooted(line)
        if line.startswith("#BYE,"):
            return TcpClosed(line, conn=int(line[5:]))
        return None


class _HashModem(Dialect):
    name = "hash"
    urcs = _HashUrcs()  # type: ignore[assignment]
    max_connections = 3

    def tcp_open(self, conn: int, host: str, port: int):  # type: ignore[no-untyped-def]
        yield Command(f"AT#OPEN={conn},{host},{port}")

    def tcp_close(self, conn: int):  # type: ignore[no-untyped-def]
        yield Command(f"AT#CLOSE={conn}")


def test_a_registered_dialect_opens_by_name_and_its_urcs_drive_the_channel(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dialect_module, "_REGISTRY", dict(dialect_module._REGISTRY))  # leave no trace
    register_dialect("hash", _HashModem)
    assert "hash" in dialect_names()
    loop = VirtualLoop(seed=1)
    m = open_modem(loop, "hash:loop://")
    assert m.dialect.name == "hash" and m.max_connections == 3
    m.close()
    ch = ATChannel(_HashModem.urcs)
    cmd = Command("AT")
    ch.send(cmd, 0)
    ch.receive_data(b"\r\n#DATA,2,5:\r\nOK\r\r\n#BYE,2\r\nCLOSED\r\n\r\nOK\r\n\r\n#UP\r\n", 0)
    evs = ch.events()
    assert evs[0] == TcpData("#DATA,2,5:", data=b"\r\nOK\r", conn=2)
    assert evs[1] == TcpClosed("#BYE,2", conn=2)
    # SIM800's CLOSED means nothing to this dialect: it is an information line of the command
    assert isinstance(evs[2], Response) and evs[2].lines == ("CLOSED",)
    assert evs[3] == ModemBooted("#UP")


def test_a_dialect_modem_runs_its_scripts_with_link_numbers() -> None:
    loop = VirtualLoop(seed=1)
    a, b = pipe_pair(loop, latency=0.01)
    seen: list[bytes] = []

    def answer(data: bytes) -> None:
        seen.append(data)
        b.write(b"\r\nOK\r\n")
    b.set_handlers(answer)
    m = Modem(loop, a, dialect=_HashModem(), echo=False)
    results: list = []
    conns = [m.tcp_connect("h", 1, results.append) for _ in range(3)]
    assert conns == [0, 1, 2]
    assert m.tcp_connect("h", 1, results.append) == -1  # all three in use
    loop.run_for(5)
    assert sum(1 for r in results if type(r).__name__ == "Ok") == 3 and len(results) == 4
    m.tcp_close(results.append, conn=1)
    assert m.tcp_connect("h", 1, results.append) == 1  # the lowest free number again
    loop.run_for(5)
    assert b"AT#OPEN=1,h,1\r" in seen and b"AT#CLOSE=1\r" in seen


# -- SIM800 data headers and link URCs (property tests on the dialect's parsers) ---------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ipd", "receive"]), st.integers(0, 5),
                          st.binary(min_size=0, max_size=80)), min_size=1, max_size=5),
       st.data())
def test_sim800_data_frames_survive_any_split(frames: list[tuple[str, int, bytes]], data: st.DataObject) -> None:
    urcs = get_dialect("sim800").urcs
    wire = b""
    want = []
    for kind, conn, payload in frames:
        if kind == "ipd":
            wire += b"\r\n+IPD," + str(len(payload)).encode() + b":" + payload
            want.append((0, payload))
        else:
            wire += b"\r\n+RECEIVE," + str(conn).encode() + b"," + str(len(payload)).encode() + b":\r\n" + payload
            want.append((conn, payload))
    wire += b"\r\n1, CLOSED\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    ch = ATChannel(urcs, echo=False)
    last = 0
    for cut in [*cuts, len(wire)]:
        ch.receive_data(wire[last:cut], 0)
        last = cut
    evs = ch.events()
    got = [(e.conn, e.data) for e in evs if isinstance(e, TcpData)]
    assert got == want
    assert not any(e.truncated for e in evs if isinstance(e, TcpData))
    assert evs[-1] == TcpClosed("1, CLOSED", conn=1)


@pytest.mark.parametrize(("line", "conn"), [("CLOSED", 0), ("0, CLOSED", 0), ("5, CLOSED", 5)])
def test_sim800_link_closed_urcs(line: str, conn: int) -> None:
    assert get_dialect("sim800").urcs.classify(line) == TcpClosed(line, conn=conn)


@pytest.mark.parametrize("line", ["0, CONNECT OK", "3, SEND OK", "2, CLOSE OK", "1, CONNECT FAIL"])
def test_sim800_late_link_finals_are_never_information_lines(line: str) -> None:
    assert type(get_dialect("sim800").urcs.classify(line)) is Urc


@pytest.mark.parametrize("line", ["+CREG: ¹", "+CGREG: ²", '+CMTI: "SM",³', "+CMTI: \"SM\",٣"])
def test_sim800_urcs_with_non_ascii_digits_are_not_events(line: str) -> None:
    """'¹'.isdigit() is True but int('¹') raises, and '٣' would be read as 3: neither is a modem's answer."""
    from modem.driver.dialects.sim800 import classify_urc
    from modem.driver.urc import RegistrationChanged, SmsStored

    assert not isinstance(classify_urc(line), RegistrationChanged | SmsStored)
