"""Gammu (connection `at`) works against the virtual modem unchanged: the spec's outside check.

Gammu sleeps 400 ms per command while it initialises, so each run takes about 4 s; the runs go in
parallel, each against its own virtual modem, to keep the suite fast.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.realrig import ServedModem

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
        procs = {}
        for name, args in JOBS.items():
            tmp = tmp_path_factory.mktemp(name)
            served = stack.enter_context(ServedModem(tmp))
            if name == "getallsms":
                served.client.sms(PHONE, "STAT")
                served.client.sms("+447700900555", "Ünïcödé ✓")
            rc = Path(tmp / "gammurc")
            rc.write_text(f"[gammu]\ndevice = {served.path}\nconnection = at\n")
            proc = subprocess.Popen(
                [GAMMU, "-c", str(rc), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            procs[name] = (proc, served)
        for name, (proc, served) in procs.items():
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            results[name] = {
                "rc": proc.returncode,
                "out": out,
                "outbox": served.client.outbox(),
                "imei": served.modem.interp.imei,
            }
    return results


def ok(run: dict[str, Any]) -> str:
    assert run["rc"] == 0, run["out"]
    return str(run["out"])


def test_identify(runs: dict[str, Any]) -> None:
    out = ok(runs["identify"])
    assert "SIMCOM_Ltd" in out and runs["identify"]["imei"] in out


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
    assert "STAT" in out and "Ünïcödé ✓" in out
    assert "2 SMS parts in 2 SMS sequences" in out
