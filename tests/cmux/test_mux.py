"""The multiplexer state machine, both ends in memory, on explicit times (no clock)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modem.cmux.control import FC, RTC, RTR, ControlMessage, ModemStatus
from modem.cmux.frame import Frame, FrameType
from modem.cmux.mux import (
    ChannelClosed,
    ChannelOpened,
    ControlTimeout,
    Data,
    DlciState,
    EchoAnswered,
    FlowControl,
    Multiplexer,
    MuxClosed,
    MuxEvent,
    MuxParams,
    NotSupported,
    OpenFailed,
    Role,
    StatusChanged,
)

H = bytes.fromhex


def exchange(a: Multiplexer, b: Multiplexer, now: float = 0.0) -> tuple[list[MuxEvent], list[MuxEvent]]:
    ea: list[MuxEvent] = []
    eb: list[MuxEvent] = []
    for _ in range(50):
        x, y = a.data_to_send(), b.data_to_send()
        if not x and not y:
            break
        b.receive_data(x, now)
        a.receive_data(y, now)
        ea += a.events()
        eb += b.events()
    return ea, eb


def connected(params: MuxParams | None = None, dlcis: tuple[int, ...] = (1, 2, 3)) -> tuple[Multiplexer, Multiplexer]:
    te, modem = Multiplexer(Role.INITIATOR, params), Multiplexer(Role.RESPONDER, params)
    te.start(0.0)
    exchange(te, modem)
    for n in dlcis:
        te.open(n, 0.0)
    ea, eb = exchange(te, modem)
    assert [e for e in ea if isinstance(e, ChannelOpened)] == [ChannelOpened(n) for n in dlcis]
    assert [e for e in eb if isinstance(e, ChannelOpened)] == [ChannelOpened(n) for n in dlcis]
    return te, modem


def test_start_up_bytes_are_the_issue_vectors() -> None:
    te, modem = Multiplexer(Role.INITIATOR), Multiplexer(Role.RESPONDER)
    te.start(0.0)
    sabm = te.data_to_send()
    assert sabm == H("F9 03 3F 01 1C F9")
    modem.receive_data(sabm, 0.0)
    assert modem.data_to_send() == H("F9 03 73 01 D7 F9")


def test_data_both_ways_split_by_n1_and_interleaved() -> None:
    te, modem = connected(MuxParams(n1=10))
    te.send(1, b"x" * 35, 0.0)
    te.send(2, b"AT+CMGS\r", 0.0)
    wire = te.data_to_send()
    # the short command on DLCI 2 goes out right after the first frame of the bulk on DLCI 1
    dec_frames = [f for f in Multiplexer(Role.RESPONDER).decoder.feed(wire) if isinstance(f, Frame)]
    assert [f.dlci for f in dec_frames] == [1, 2, 1, 1, 1]
    modem.receive_data(wire, 0.0)
    got = modem.events()
    assert b"".join(e.data for e in got if isinstance(e, Data) and e.dlci == 1) == b"x" * 35
    assert [e for e in got if isinstance(e, Data) and e.dlci == 2] == [Data(2, b"AT+CMGS\r")]
    modem.send(2, b"\r\nOK\r\n", 0.0)
    ea, _ = exchange(te, modem)
    assert ea == [Data(2, b"\r\nOK\r\n")]


def test_sabm_retransmitted_n2_times_then_no_mux() -> None:
    te = Multiplexer(Role.INITIATOR, MuxParams(t1=0.1, n2=3))
    te.start(0.0)
    sent = [te.data_to_send()]
    t = 0.0
    while (d := te.next_deadline()) is not None:
        t = d
        te.tick(t)
        sent.append(te.data_to_send())
    assert sent[:4] == [H("F9 03 3F 01 1C F9")] * 4 and sent[4] == b""
    assert abs(t - 0.4) < 1e-9
    assert te.events() == [MuxClosed("no UA to SABM on DLCI 0")]
    assert te.stats.retransmissions == 3


def test_channel_sabm_refused_or_unanswered() -> None:
    te, modem = connected(dlcis=())
    te.open(4, 1.0)
    lost = te.data_to_send()  # the modem never hears it
    assert lost
    while (d := te.next_deadline()) is not None:
        te.tick(d)
    assert te.events() == [OpenFailed(4, "no answer to SABM after 3 retransmissions")]
    # the modem answers DM to a SABM while its control channel is closed
    other = Multiplexer(Role.RESPONDER)
    other.receive_data(Frame(5, FrameType.SABM, pf=True).encode(), 0.0)
    assert Frame(5, FrameType.DM, pf=True, cr=True).encode() == other.data_to_send()


def test_disc_closes_a_channel_and_data_on_a_closed_channel_is_dropped() -> None:
    te, modem = connected()
    te.close(2, 0.0)
    ea, eb = exchange(te, modem)
    assert ChannelClosed(2, "closed (UA to DISC)") in ea
    assert ChannelClosed(2, "closed by the peer (DISC)") in eb
    assert te.state(2) is DlciState.CLOSED
    te.receive_data(Frame(2, FrameType.UIH, b"late", cr=False).encode(), 0.0)
    assert te.events() == [] and te.stats.dropped_frames == 1


def test_cld_either_way_closes_everything() -> None:
    te, modem = connected()
    modem.close_down(0.0)
    ea, eb = exchange(te, modem)
    assert ea[-1] == MuxClosed("CLD from the peer") and eb[-1] == MuxClosed("closed down (CLD answered)")
    assert {e.dlci for e in ea if isinstance(e, ChannelClosed)} == {1, 2, 3}
    assert te.closed and modem.closed


def test_cld_unanswered_is_taken_as_closed_after_t2_retries() -> None:
    te, _modem = connected()
    te.close_down(0.0)
    te.data_to_send()
    t = 0.0
    while (d := te.next_deadline()) is not None:
        t = d
        te.tick(t)
    ev = te.events()
    assert isinstance(ev[0], ControlTimeout) and ev[-1] == MuxClosed("no answer to CLD (taken as closed down)")
    assert abs(t - 1.2) < 1e-9  # T2 0.3 s, N2 3: 4 tries


def test_test_command_echo_and_unknown_command_gets_nsc() -> None:
    te, modem = connected()
    te.test(b"ping\xf9", 0.0)
    ea, _ = exchange(te, modem)
    assert ea == [EchoAnswered(b"ping\xf9")]
    te.receive_data(Frame(0, FrameType.UIH, ControlMessage(0x09 << 2 | 1, True, b"").encode(), cr=False).encode(), 0.0)
    modem.receive_data(te.data_to_send(), 0.0)
    assert modem.events() == [NotSupported(0x25)]


def test_fcoff_holds_data_until_fcon_and_msc_fc_holds_one_channel() -> None:
    te, modem = connected()
    modem.flow(True, 0.0)
    ea, _ = exchange(te, modem)
    assert ea == [FlowControl(True)]
    te.send(1, b"held", 0.0)
    assert te.data_to_send() == b"" and te.queued(1) == 4
    modem.flow(False, 0.0)
    _, eb = exchange(te, modem)
    assert Data(1, b"held") in eb
    modem.send_status(ModemStatus(1, RTC | RTR | FC | 1), 0.0)
    ea, _ = exchange(te, modem)
    assert isinstance(ea[0], StatusChanged) and ea[0].status.flow_stopped
    te.send(1, b"one", 0.0)
    te.send(2, b"two", 0.0)
    _, eb = exchange(te, modem)
    assert eb == [Data(2, b"two")]
    modem.send_status(ModemStatus(1, RTC | RTR | 1), 0.0)
    _, eb = exchange(te, modem)
    assert Data(1, b"one") in eb


def test_malformed_control_message_is_dropped_not_raised() -> None:
    te, modem = connected()
    modem.receive_data(Frame(0, FrameType.UIH, H("E3 07 0B"), cr=True).encode(), 0.0)  # value cut short
    modem.receive_data(Frame(0, FrameType.UIH, H("E3 03 0B"), cr=True).encode(), 0.0)  # MSC of one octet
    assert modem.events() == [] and modem.stats.dropped_frames == 2


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_responder_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    te, modem = connected()
    modem.receive_data(data, 0.0)
    modem.events()
    te.receive_data(data, 0.0)
    te.events()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.binary(min_size=1, max_size=200)), max_size=10),
       st.integers(1, 64))
def test_any_writes_arrive_in_order_per_channel(writes: list[tuple[int, bytes]], n1: int) -> None:
    te, modem = connected(MuxParams(n1=n1))
    for dlci, data in writes:
        te.send(dlci, data, 0.0)
    _, eb = exchange(te, modem)
    for n in (1, 2, 3):
        assert b"".join(e.data for e in eb if isinstance(e, Data) and e.dlci == n) == \
            b"".join(d for k, d in writes if k == n)
