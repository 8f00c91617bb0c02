"""What the owner's phone receives from the real unit (driver + virtual modem, virtual clock):
VERSION with one version string, DIAG/GPRS? naming the operator during a data outage, bare REGISTER."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from modem.emulator.commands_network import OPERATOR_LONG
from sim.weather import OutageWindow
from sim.world import World, WorldConfig


@pytest.fixture(scope="module")
def replies() -> dict[str, str]:
    """Each scripted command → the unit's reply, with the data link down all along (GSM registered)."""
    script = ((300.0, "DIAG"), (330.0, "GPRS?"), (360.0, "VERSION"), (390.0, "REGISTER"))
    w = World(WorldConfig(seed=3, hours=0.15, incidents=False, owner_script=script,
                          outages=[OutageWindow(0.0, 3600.0, "gprs-down")]))
    try:
        w.run()
        got = [text for _t, _sender, text in w.phone.received]
    finally:
        w.close()
    assert len(got) == len(script), got
    return {cmd: reply for (_at, cmd), reply in zip(script, got, strict=True)}


def test_version_is_the_package_version_once(replies: dict[str, str]) -> None:
    first = replies["VERSION"].splitlines()[0]
    assert first == f"tcu-sim {version('tcu-sim')}"


def test_diag_and_gprs_name_the_operator_while_the_data_link_is_down(replies: dict[str, str]) -> None:
    assert "Server: offline" in replies["DIAG"]
    assert f"GSM: registered, {OPERATOR_LONG}, " in replies["DIAG"]
    assert f"GSM: registered, {OPERATOR_LONG}, " in replies["GPRS?"]


def test_bare_register_from_the_owner(replies: dict[str, str]) -> None:
    assert replies["REGISTER"] == "Your phone is registered as the owner."

