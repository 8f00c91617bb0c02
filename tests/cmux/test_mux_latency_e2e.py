"""Real clock, real pty, `vmodem serve` as the README starts it (realistic SIM800/SIM7600 timing):
an owner's SMS is answered while a 20 KB catch-up goes to the server on the data channel.

The driver sends the catch-up as the unit's link does (1 KB messages, one send in flight) and answers
an SMS `STAT` the moment it arrives. On plain AT the reply's AT+CMGS shares the one channel with the
AT+CIPSENDs; under CMUX it goes on DLCI 2 while DLCI 1 keeps sending. The test prints both reply
latencies (`-s` shows them) and checks that under CMUX the reply is out before the catch-up is done
and that the catch-up no longer stands still while the SMS goes out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modem.driver.modem import Modem, SmsReceived
from modem.driver.open import open_modem
from modem.driver.script import Ok, Result
from runtime import RealLoop, Stream
from tests.emulator.realrig import VmodemServe

OWNER = "+447700900123"
CATCH_UP = 20 * 1024
CHUNK = 1024


class Bench:
    def __init__(self, loop: RealLoop, vm: VmodemServe, dialect: str, mux: str) -> None:
        self.loop, self.vm = loop, vm
        self.received = bytearray()
        self.listener = loop.listen_tcp("127.0.0.1", 0, self._accept)
        assert vm.pty is not None
        self.modem: Modem = open_modem(loop, f"{dialect}:{vm.pty}", mux=mux)
        self.sms_at: float | None = None
        self.modem.subscribe(self._event)

    def _accept(self, s: Stream) -> None:
        s.set_handlers(self.received.extend)

    def _event(self, ev: object) -> None:
        if isinstance(ev, SmsReceived) and ev.text == "STAT" and self.sms_at is None:
            self.sms_at = time.monotonic()
            self.modem.send_sms(OWNER, "SOC 80% Server: online", self._replied)

    def _replied(self, r: Result) -> None:
        assert isinstance(r, Ok), r
        self.replied_at = time.monotonic()

    def call(self, method: str, *args: object, limit: float = 60.0) -> Result:
        got: list[Result] = []
        getattr(self.modem, method)(*args, on_done=got.append)
        self.run_until(lambda: bool(got), limit, method)
        return got[0]

    def run_until(self, cond, limit: float, what: str) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + limit
        while not cond():
            assert time.monotonic() < end, f"timed out: {what}"
            self.loop.run(until=self.loop.time() + 0.01)

    def up(self) -> None:
        assert self.call("probe") == Ok(None)
        assert isinstance(self.call("init"), Ok)
        self.run_until(lambda: self.call("registration").value.registered, 60, "registration")  # type: ignore[union-attr]
        assert isinstance(self.call("gprs_attach", "internet"), Ok)
        assert self.call("tcp_connect", "127.0.0.1", self.listener.port) == Ok(None)

    def catch_up_with_sms(self) -> tuple[float, float, int, float]:
        """(reply latency s, catch-up duration s, chunks sent when the reply was out, of the latency:
        the time until the SMS had been read)."""
        sent = [0]
        done_at: list[float] = []
        self.replied_at = 0.0
        chunks_at_reply: list[int] = []

        def next_chunk(r: Result | None = None) -> None:
            if r is not None:
                assert isinstance(r, Ok), r
                sent[0] += 1
            if self.replied_at and not chunks_at_reply:
                chunks_at_reply.append(sent[0])
            if sent[0] * CHUNK >= CATCH_UP:
                done_at.append(time.monotonic())
                return
            self.modem.tcp_send(bytes([sent[0] % 256]) * CHUNK, next_chunk)

        start = time.monotonic()
        next_chunk()
        self.run_until(lambda: sent[0] >= 3, 60, "catch-up under way")
        injected = time.monotonic()
        self.vm.sms(OWNER, "STAT")
        self.run_until(lambda: bool(self.replied_at) and bool(done_at), 180, "reply and catch-up")
        assert bytes(self.received).count(b"\x00") >= CHUNK
        latency = self.replied_at - injected
        assert self.sms_at is not None
        return (latency, done_at[0] - start, chunks_at_reply[0] if chunks_at_reply else sent[0],
                self.sms_at - injected)

    def close(self) -> None:
        self.modem.close()
        self.listener.close()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("dialect", ["sim800", "sim7600"])
def test_sms_answered_during_a_20kb_catch_up_with_and_without_cmux(tmp_path: Path, dialect: str) -> None:
    figures: dict[str, tuple[float, float, int, float]] = {}
    with VmodemServe(tmp_path, "--dialect", dialect) as vm:
        vm.wait_ready(timeout=90)
        for mux in ("off", "on"):
            loop = RealLoop(seed=1)
            b = Bench(loop, vm, dialect, mux)
            try:
                b.up()
                assert b.modem.multiplexed == (mux == "on")
                figures[mux] = b.catch_up_with_sms()
                if mux == "on":
                    b.modem.leave_mux()
                    b.run_until(lambda: not b.modem.multiplexed, 5, "CLD")  # noqa: B023
            finally:
                b.close()
                loop.close()
    plain, muxed = figures["off"], figures["on"]
    print(f"\n{dialect}: SMS reply latency during a 20 KB catch-up: plain AT {plain[0]:.2f} s "
          f"(read after {plain[3]:.2f} s; catch-up {plain[1]:.1f} s), CMUX {muxed[0]:.2f} s "
          f"(read after {muxed[3]:.2f} s; catch-up {muxed[1]:.1f} s, {muxed[2]}/20 sent at the reply)")
    assert muxed[2] < CATCH_UP // CHUNK  # under CMUX the reply was out while the catch-up still ran
    # on plain AT the catch-up stands still while AT+CMGS (seconds at SIM800 timing) holds the line;
    # under CMUX it goes on. (The reply itself takes about as long either way: the unit keeps one
    # send in flight, so on plain AT the CMGS waits for at most one CIPSEND.)
    assert muxed[1] < plain[1]
