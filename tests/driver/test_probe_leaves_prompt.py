"""A unit that died at the `> ` of `AT+CMGS` leaves the modem there: the next unit's `AT`s are message
text, never answered. The probe sends ESC after an unanswered `AT`, so the modem comes back and no SMS
made of our AT commands is ever sent (found by the power-cut test, issue 17)."""

from __future__ import annotations

from modem.driver.modem import Modem, Ok
from modem.emulator import VirtualModem, VirtualNetwork
from runtime import VirtualLoop, pipe_pair


def test_probe_brings_back_a_modem_left_at_the_sms_prompt() -> None:
    loop = VirtualLoop(seed=3)
    network = VirtualNetwork(loop)
    ours, theirs = pipe_pair(loop, name="uart")
    vm = VirtualModem(loop, theirs, network, profile="instant")
    loop.run_for(30.0)                                     # booted and registered
    # the previous process: text mode, a CMGS whose prompt it got, then it died
    ours.write(b'ATE0\rAT+CMGF=1\rAT+CMGS="+447700900123"\r')
    loop.run_for(1.0)
    ours.set_handlers(lambda data: None)                   # what it said is gone with it

    modem = Modem(loop, ours, dialect="sim800")
    got: list = []
    modem.probe(got.append, tries=5, interval=1.0)
    loop.run_for(20.0)
    assert got and isinstance(got[0], Ok), got
    done: list = []
    modem.init(done.append)
    loop.run_for(20.0)
    assert done and isinstance(done[0], Ok), done
    assert network.smsc.outbox == []                       # ESC cancelled the dead process's SMS
    assert vm.outbox == []                                 # nor did the modem send anything else
