"""Gammu (connection `at`) against `vmodem serve` exactly as the README tells a tester to run it.

A fresh `vmodem serve` process per job at its default (realistic) timing, gammu started the moment
the server prints `vmodem: ready`, SMS injected and the outbox read through the `vmodem` command
line. The jobs run in parallel with python-gsmmodem-new's (`outside_clients.py`).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.outside_clients import DIALECTS, GAMMU, GAMMU_LONG_TEXT, MANUFACTURER, PHONE

pytestmark = pytest.mark.skipif(GAMMU is None, reason="gammu binary not installed (apt-get install gammu)")


@pytest.fixture(params=DIALECTS)
def runs(request: pytest.FixtureRequest, outside_clients: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"dialect": request.param, **outside_clients["gammu"][request.param]}


def ok(run: dict[str, Any]) -> str:
    assert run["rc"] == 0, run["out"]
    return str(run["out"])


def test_identify(runs: dict[str, Any]) -> None:
    out = ok(runs["identify"])
    assert MANUFACTURER[runs["dialect"]] in out and f"IMEI                 : {runs['identify']['imei']}" in out


@pytest.mark.parametrize(
    ("job", "text", "parts"),
    [("plain", "Hello from gammu", 1), ("unicode", "Grüße ✓ 你好", 1), ("long", GAMMU_LONG_TEXT, 2)],
)
def test_sendsms(runs: dict[str, Any], job: str, text: str, parts: int) -> None:
    ok(runs[job])
    outbox = runs[job]["outbox"]
    assert [(s["to"], s["text"], s["parts"]) for s in outbox] == [(PHONE, text, parts)]


def test_getallsms_after_injection(runs: dict[str, Any]) -> None:
    out = ok(runs["getallsms"])
    assert out.count('Remote number        : "+447700900123"') == 1
    assert out.count('Remote number        : "+447700900555"') == 1
    assert "\nSTAT\n" in out and "\nÜnïcödé ✓\n" in out
    assert "2 SMS parts in 2 SMS sequences" in out
    assert runs["getallsms"]["outbox"] == []
