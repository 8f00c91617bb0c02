"""Line noise must neither delay the alarm SMS nor send it twice (issue 12 follow-up, H15).

The whole world on the virtual clock, as in `test_noise_sms_fallback`: GPRS down (so alerts go by SMS),
and the virtual modem's `drop-chars` and `garbage` faults on its output for 15 minutes; an alarm a
minute in. Before: a garbled final of a long command (`SHUT OK`, CIICR's `ERROR`) held the channel
for 65-90 s (alarm SMS up to 88 s late over seeds 1-20), and a garbled `+CMGS: <mr>` after the SMS
had gone was a failure the router sent again: 12 duplicate SMS at the owner's phone over seeds 1-20.

Now a garbled final is resolved by a probe `AT` within seconds, `OK` with a garbled `+CMGS:` is a
sent SMS, and an AT+CMGS whose outcome is unknown is "maybe delivered": counted as sent, not sent
again (`tcu.unit.Unit.send_sms`). Each alert must reach the owner's phone exactly once: no duplicate
is documented as unavoidable (measured: 0 over seeds 1-20).
"""

from __future__ import annotations

import json

import pytest

from sim.world import UNIT_NUMBER, World, WorldConfig

NOISE_AT = 2700.0          # the car is parked by then (day scenario)
ALARM_AT = NOISE_AT + 60
BOUND = 30.0               # critical alert → SMS at the owner's phone; a garbled final cost up to 88 s


def sms_per_alert(seed: int) -> list[tuple[bool, list[float]]]:
    """(critical, delays of every SMS that carried the alert's tag) for each alert raised."""
    world = World(WorldConfig(seed=seed, hours=(NOISE_AT + 900) / 3600, incidents=False, outages=[],
                              owner_script=(), drain_s=10.0, incident_times=((ALARM_AT, "alarm"),)))
    try:
        def noise() -> None:
            for kind in ("gprs-down", "drop-chars", "garbage"):
                world.vmodem.fault(kind, 900)

        world.loop.call_at(NOISE_AT, noise)
        world.loop.run(until=NOISE_AT + 900)
        raised = [json.loads(line) for line in world.raised_journal.read_text().splitlines()]
        out = []
        for alert in raised:
            tag = f"#a{alert['id']}"
            got = [t - alert["t"] for t, sender, text in world.phone.received if sender == UNIT_NUMBER and tag in text]
            out.append((bool(alert["critical"]), got))
        return out
    finally:
        world.close()


@pytest.mark.parametrize("seed", range(1, 21))
def test_each_alert_reaches_the_owner_once_and_soon_under_noise(seed: int) -> None:
    alerts = sms_per_alert(seed)
    assert any(critical for critical, _ in alerts), f"seed {seed}: the alarm was not raised"
    for critical, delays in alerts:
        assert delays, f"seed {seed}: an alert never reached the owner"
        assert len(delays) == 1, f"seed {seed}: duplicate SMS at {delays}"
        if critical:
            assert delays[0] <= BOUND, f"seed {seed}: critical alert SMS {delays[0]:.0f} s late"
