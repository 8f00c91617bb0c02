"""python-gsmmodem-new against `vmodem serve` as the README tells a tester to run it.

A second outside client beside gammu, with a different init (ATZ, AT+CFUN?, AT+CPMS="ME",...,
AT+CNMI=2,1,0,2) and text mode as well as PDU mode. Each job gets a fresh `vmodem serve` process at
default timing; the client connects the moment `vmodem: ready` is printed; jobs run in parallel.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest

from tests.emulator.realrig import VmodemServe

gsmmodem = pytest.importorskip("gsmmodem.modem", reason="python-gsmmodem-new (test extra) not installed")

PHONE = "+447700900123"
LONG_TEXT = ("0123456789 The quick brown fox " * 8)[:200]


def run_client(vm: VmodemServe, text_mode: bool, send: list[str], inject: tuple[str, str]) -> dict[str, Any]:
    """Connect at 'ready', send `send`, then receive `inject` through +CMTI; report what happened."""
    pty = vm.wait_ready()
    received: list[tuple[str, str]] = []
    arrived = threading.Event()

    def on_sms(sms: Any) -> None:
        received.append((sms.number, sms.text))
        arrived.set()

    modem = gsmmodem.GsmModem(pty, 115200, smsReceivedCallbackFunc=on_sms)
    modem.smsTextMode = text_mode
    try:
        modem.connect()
        identity = (modem.manufacturer, modem.imei)
        refs = [modem.sendSms(PHONE, text).reference for text in send]
        still_text_mode = modem.smsTextMode
        vm.sms(*inject)
        arrived.wait(30)
        # gsmmodem deletes the message (AT+CMGD) after its callback: let it finish before closing.
        deadline = time.monotonic() + 10
        while stored(vm) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = stored(vm)
    finally:
        modem.close()
    return {
        "identity": identity,
        "refs": refs,
        "text_mode": still_text_mode,
        "received": received,
        "left_stored": left,
        "outbox": [(s["to"], s["text"], s["parts"]) for s in vm.outbox()],
        "imei": [ln for ln in vm.tool("status").stdout.splitlines() if '"imei"' in ln][0].split('"')[3],
    }


def stored(vm: VmodemServe) -> int:
    """Messages in the modem's SMS stores, as `vmodem status` reports them."""
    return sum(json.loads(vm.tool("status").stdout)["sms"].values())


JOBS: dict[str, tuple[bool, list[str], tuple[str, str]]] = {
    "text": (True, ["Hello from gsmmodem", "Second, in text mode"], ("+447700900555", "STAT")),
    "pdu": (False, ["Grüße ✓ 你好", LONG_TEXT], ("+447700900556", "Ünïcödé ✓")),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    with ExitStack() as stack, ThreadPoolExecutor(len(JOBS)) as pool:
        served = {name: stack.enter_context(VmodemServe(tmp_path_factory.mktemp(f"gsm-{name}"))) for name in JOBS}
        futures = {name: pool.submit(run_client, served[name], *job) for name, job in JOBS.items()}
        return {name: f.result(timeout=120) for name, f in futures.items()}


def test_connects_and_identifies(runs: dict[str, dict[str, Any]]) -> None:
    for run in runs.values():
        assert run["identity"] == ("SIMCOM_Ltd", run["imei"])


def test_text_mode_send_and_receive(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["text"]
    assert run["text_mode"] is True  # both texts went as AT+CMGS="<da>" + text, not as PDUs
    assert run["outbox"] == [(PHONE, "Hello from gsmmodem", 1), (PHONE, "Second, in text mode", 1)]
    assert run["refs"] == [1, 2]
    assert run["received"] == [("+447700900555", "STAT")]
    assert run["left_stored"] == 0  # read with AT+CMGR, then deleted with AT+CMGD


def test_pdu_mode_send_and_receive(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["pdu"]
    assert run["outbox"] == [(PHONE, "Grüße ✓ 你好", 1), (PHONE, LONG_TEXT, 2)]
    assert run["received"] == [("+447700900556", "Ünïcödé ✓")]
    assert run["left_stored"] == 0
