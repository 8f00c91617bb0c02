"""The modem port that vanishes and returns (issue 12 item 2), as the link and the unit see it.

Sans-IO: the supervisor goes offline to `port_gone` on `PortClosed`, tries nothing while the port is
away (no watchdog power cycle of a modem it cannot reach), and starts over from `probe` on
`PortReopened`, as after a power cycle.
"""

from __future__ import annotations

from modem.driver.commands import Registration
from tcu.link import (
    Action,
    LinkSupervisor,
    ModemActivity,
    PortClosed,
    PortReopened,
    RegistrationChanged,
    StepDone,
)


def online(sup: LinkSupervisor) -> float:
    """Drive a supervisor to `online` with every step succeeding at once; returns the time."""
    t = 0.0
    acts = sup.start(t)
    for _ in range(20):
        if sup.state == "online":
            return t
        t += 0.5
        kinds = [a.kind for a in acts]
        acts = []
        for kind in kinds:
            if kind == "register":
                acts += sup.handle(RegistrationChanged(Registration(1), gprs=False), t)
            elif kind in ("probe", "init", "sim", "gprs", "tcp", "login"):
                acts += sup.handle(StepDone(kind, True), t)
    raise AssertionError(f"not online: {sup.state}")


def test_port_gone_is_a_rung_below_the_ladder() -> None:
    sup = LinkSupervisor()
    t = online(sup)
    acts = sup.handle(PortClosed("/tmp/modem", "serial stream closed", t, 0, t + 1), t)
    assert sup.state == "port_gone" and not sup.online and not sup.gsm_registered
    assert [a.kind for a in acts] == ["offline"]
    # Ten minutes without the port: failed reopens, ticks, stray events — not one action, no power cycle.
    tried: list[Action] = []
    for i in range(600):
        now = t + 1 + i
        tried += sup.tick(now)
        if i % 30 == 0:
            tried += sup.handle(PortClosed("/tmp/modem", "serial stream closed", t, i // 30 + 1, now + 30), now)
            tried += sup.handle(StepDone("probe", False, "modem port /tmp/modem is gone"), now)
            tried += sup.handle(ModemActivity(now), now)
    assert tried == [] and sup.state == "port_gone"
    assert sup.counters["power_cycle"] == 0 and sup.counters["soft_reset"] == 0
    # Back: from the probe, as after a power cycle (what answers may have rebooted).
    now = t + 700
    acts = sup.handle(PortReopened("/tmp/modem", 699.0, 20), now)
    assert sup.state == "probe" and [a.kind for a in acts] == ["probe"]
    for kind in ("probe", "init", "sim"):
        sup.handle(StepDone(kind, True), now)
    sup.handle(RegistrationChanged(Registration(1), gprs=False), now)
    for kind in ("gprs", "tcp", "login"):
        sup.handle(StepDone(kind, True), now)
    assert sup.online
