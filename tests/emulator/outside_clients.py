"""Outside AT clients (gammu, python-gsmmodem-new) against `vmodem serve` as the README runs it.

Each job gets a fresh `vmodem serve` process at default (realistic) timing; its client starts the
moment the server prints `vmodem: ready`. Every modem boots (~10 s) and every client runs at the
same time — gammu and python-gsmmodem-new together — so the whole set costs one boot plus the
slowest client. `tests/emulator/conftest.py` runs it once per session; `test_gammu.py` and
`test_gsmmodem.py` assert on what came out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.realrig import VmodemServe

GAMMU = shutil.which("gammu")
# Every job runs once per modem model; what AT+CGMI says for each.
DIALECTS = ("sim800", "sim7600")
MANUFACTURER = {"sim800": "SIMCOM_Ltd", "sim7600": "SIMCOM INCORPORATED"}
PHONE = "+447700900123"
GAMMU_LONG_TEXT = ("0123456789 The quick brown fox " * 12)[:300]
GSM_LONG_TEXT = ("0123456789 The quick brown fox " * 8)[:200]

GAMMU_JOBS: dict[str, list[str]] = {
    "identify": ["identify"],
    "plain": ["sendsms", "TEXT", PHONE, "-text", "Hello from gammu"],
    "unicode": ["sendsms", "TEXT", PHONE, "-unicode", "-text", "Grüße ✓ 你好"],
    "long": ["sendsms", "TEXT", PHONE, "-autolen", "300", "-text", GAMMU_LONG_TEXT],
    "getallsms": ["getallsms"],
}

# name -> (text mode, texts to send, SMS to inject afterwards)
GSM_JOBS: dict[str, tuple[bool, list[str], tuple[str, str]]] = {
    "text": (True, ["Hello from gsmmodem", "Second, in text mode"], ("+447700900555", "STAT")),
    "pdu": (False, ["Grüße ✓ 你好", GSM_LONG_TEXT], ("+447700900556", "Ünïcödé ✓")),
}


def imei_of(vm: VmodemServe) -> str:
    return str(json.loads(vm.tool("status").stdout)["imei"])


def stored(vm: VmodemServe) -> int:
    """Messages in the modem's SMS stores, as `vmodem status` reports them."""
    return sum(json.loads(vm.tool("status").stdout)["sms"].values())


def run_gammu(vm: VmodemServe, args: list[str], inject: bool) -> dict[str, Any]:
    assert GAMMU is not None
    pty = vm.wait_ready()
    if inject:
        vm.sms(PHONE, "STAT")
        vm.sms("+447700900555", "Ünïcödé ✓")
    rc = Path(vm.tmp / "gammurc")
    rc.write_text(f"[gammu]\ndevice = {pty}\nconnection = at\n")
    proc = subprocess.Popen([GAMMU, "-c", str(rc), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return {"rc": proc.returncode, "out": out, "outbox": vm.outbox(), "imei": imei_of(vm)}


def run_gsmmodem(vm: VmodemServe, text_mode: bool, send: list[str], inject: tuple[str, str]) -> dict[str, Any]:
    """Connect at 'ready', send `send`, then receive `inject` through +CMTI; report what happened."""
    from gsmmodem.modem import GsmModem

    pty = vm.wait_ready()
    received: list[tuple[str, str]] = []
    arrived = threading.Event()

    def on_sms(sms: Any) -> None:
        received.append((sms.number, sms.text))
        arrived.set()

    modem = GsmModem(pty, 115200, smsReceivedCallbackFunc=on_sms)
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
        "imei": imei_of(vm),
        "dialect": json.loads(vm.tool("status").stdout)["dialect"],
    }


def have_gsmmodem() -> bool:
    try:
        import gsmmodem.modem  # noqa: F401
    except ImportError:
        return False
    return True


def run_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """{"gammu": {dialect: {job: result}}, "gsmmodem": {...}}; a missing client gives empty dicts."""
    jobs: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for dialect in DIALECTS:
        if GAMMU is not None:
            for name, args in GAMMU_JOBS.items():
                jobs[("gammu", dialect, name)] = (run_gammu, args, name == "getallsms")
        if have_gsmmodem():
            for name, job in GSM_JOBS.items():
                jobs[("gsmmodem", dialect, name)] = (run_gsmmodem, *job)
    results: dict[str, dict[str, dict[str, Any]]] = {c: {d: {} for d in DIALECTS} for c in ("gammu", "gsmmodem")}
    with ExitStack() as stack, ThreadPoolExecutor(max(1, len(jobs))) as pool:
        futures = {}
        for (client, dialect, name), (fn, *args) in jobs.items():
            tmp = tmp_path_factory.mktemp(f"{client}-{dialect}-{name}")
            vm = stack.enter_context(VmodemServe(tmp, "--dialect", dialect))
            futures[(client, dialect, name)] = pool.submit(fn, vm, *args)
        for (client, dialect, name), future in futures.items():
            results[client][dialect][name] = future.result(timeout=180)
    return results
