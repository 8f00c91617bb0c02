"""Gammu (connection `at`) against `vmodem serve` exactly as the README tells a tester to run it.

A fresh `vmodem serve` process at its default (realistic) timing, gammu started the moment the
server prints `vmodem: ready`, SMS injected and the outbox read through the `vmodem` command line.
Gammu sleeps ~400 ms per command while it initialises and the modem boots for ~10 s, so every job
gets its own modem and they all run in parallel.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.realrig import VmodemServe

GAMMU = shutil.which("gammu")
pytestmark = pytest.mark.skipif(GAMMU is None, reason="gammu binary not installed (apt-get install gammu)")

PHONE = "+447700900123"
LONG_TEXT = ("0123456789 The quick brown fox " * 12)[:300]

JOBS: dict[str, list[str]] = {
    "identify": ["identify"],
    "plain": ["sendsms", "TEXT", PHONE, "-text", "Hello from gammu"],
    "unicode": ["sendsms", "TEXT", PHONE, "-unicode", "-text", "Grüße ✓ 你好"],
    "long": ["sendsms", "TEXT", PHONE, "-autolen", "300", "-text", LONG_TEXT],
    "getallsms": ["getallsms"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert GAMMU is not None
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        served = {name: stack.enter_context(VmodemServe(tmp_path_factory.mktemp(name))) for name in JOBS}
        procs = {}
        for name, args in JOBS.items():
            vm = served[name]
            pty = vm.wait_ready()
            if name == "getallsms":
                vm.sms(PHONE, "STAT")
                vm.sms("+447700900555", "Ünïcödé ✓")
            rc = Path(vm.tmp / "gammurc")
            rc.write_text(f"[gammu]\ndevice = {pty}\nconnection = at\n")
            procs[name] = subprocess.Popen(
                [GAMMU, "-c", str(rc), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        for name, proc in procs.items():
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            vm = served[name]
            status = vm.tool("status")
            results[name] = {"rc": proc.returncode, "out": out, "outbox": vm.outbox(), "status": status.stdout}
    return results


def ok(run: dict[str, Any]) -> str:
    assert run["rc"] == 0, run["out"]
    return str(run["out"])


def test_identify(runs: dict[str, Any]) -> None:
    out = ok(runs["identify"])
    imei = [ln for ln in runs["identify"]["status"].splitlines() if '"imei"' in ln][0].split('"')[3]
    assert "SIMCOM_Ltd" in out and f"IMEI                 : {imei}" in out


@pytest.mark.parametrize(
    ("job", "text", "parts"),
    [("plain", "Hello from gammu", 1), ("unicode", "Grüße ✓ 你好", 1), ("long", LONG_TEXT, 2)],
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
