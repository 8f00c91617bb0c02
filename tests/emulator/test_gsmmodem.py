"""python-gsmmodem-new against `vmodem serve` as the README tells a tester to run it.

A second outside client beside gammu, with a different init (ATZ, AT+CFUN?, AT+CPMS="ME",...,
AT+CNMI=2,1,0,2) and text mode as well as PDU mode. Each job gets a fresh `vmodem serve` process at
default timing; the client connects the moment `vmodem: ready` is printed; the jobs run in parallel
with gammu's (`outside_clients.py`).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.outside_clients import DIALECTS, GSM_LONG_TEXT, MANUFACTURER, PHONE, have_gsmmodem

pytestmark = pytest.mark.skipif(not have_gsmmodem(), reason="python-gsmmodem-new (test extra) not installed")


@pytest.fixture(params=DIALECTS)
def runs(request: pytest.FixtureRequest, outside_clients: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return outside_clients["gsmmodem"][request.param]


def test_connects_and_identifies(runs: dict[str, Any]) -> None:
    for run in runs.values():
        assert run["identity"] == (MANUFACTURER[run["dialect"]], run["imei"])


def test_text_mode_send_and_receive(runs: dict[str, Any]) -> None:
    run = runs["text"]
    assert run["text_mode"] is True  # both texts went as AT+CMGS="<da>" + text, not as PDUs
    assert run["outbox"] == [(PHONE, "Hello from gsmmodem", 1), (PHONE, "Second, in text mode", 1)]
    assert run["refs"] == [1, 2]
    assert run["received"] == [("+447700900555", "STAT")]
    assert run["left_stored"] == 0  # read with AT+CMGR, then deleted with AT+CMGD


def test_pdu_mode_send_and_receive(runs: dict[str, Any]) -> None:
    run = runs["pdu"]
    assert run["outbox"] == [(PHONE, "Grüße ✓ 你好", 1), (PHONE, GSM_LONG_TEXT, 2)]
    assert run["received"] == [("+447700900556", "Ünïcödé ✓")]
    assert run["left_stored"] == 0
