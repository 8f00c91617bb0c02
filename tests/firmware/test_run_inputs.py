"""`tcu run` through the front door with inputs a user really gives it (issue 12 item 10):
`--console` with stdin from a file or /dev/null, a `--power-key` that cannot be pressed, and starts
that fail their checks, which must leave no state files behind (issue 13)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
OWNER = "+447700900123"


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _args(tmp_path: Path, modem: Path, car: Path) -> list[str]:
    return ["--modem", str(modem), "--can", f"slcan:{car}", "--profile", "demo-ev",
            "--server", "127.0.0.1:9", "--vehicle-id", "INCAR", "--server-password", "carpass123",
            "--owner", OWNER, "--module-password", "modpass1", "--state-dir", str(tmp_path / "state")]


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """`vmodem serve` and `vcar serve` on ptys, as the README starts them."""
    modem, car, mctl = tmp_path / "modem", tmp_path / "car", tmp_path / "modem.ctl"
    procs = [subprocess.Popen([str(BIN / "vmodem"), "serve", "--link", str(modem), "--control", str(mctl),
                               "--timing", "instant"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([str(BIN / "vcar"), "serve", "--link", str(car), "--control",
                               str(tmp_path / "car.ctl")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait("the ptys", lambda: modem.exists() and car.exists() and mctl.exists())
        yield modem, car, mctl
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", ["file", "devnull"])
def test_console_reads_a_file_or_dev_null_to_its_end_and_the_unit_keeps_running(
        tmp_path: Path, devices: tuple[Path, Path, Path], source: str) -> None:
    modem, car, _ = devices
    if source == "file":
        stdin_path = tmp_path / "commands.txt"
        stdin_path.write_text("VERSION\nPARAMS?\nHELP")           # no newline after the last line
    else:
        stdin_path = Path("/dev/null")
    out, err = tmp_path / "tcu.out", tmp_path / "tcu.err"
    with open(stdin_path, "rb") as stdin, open(out, "wb") as o, open(err, "wb") as e:
        tcu = subprocess.Popen([str(BIN / "tcu"), "run", "--console", *_args(tmp_path, modem, car)],
                               stdin=stdin, stdout=o, stderr=e)
    try:
        if source == "file":
            _wait("the console replies", lambda: b"Commands:" in out.read_bytes(), 30)
            assert b"Profile: demo-ev" in out.read_bytes() and b"Params:" in out.read_bytes()
        time.sleep(2.0)
        assert tcu.poll() is None, err.read_text()               # still running: the console did not kill it
        assert b"Traceback" not in err.read_bytes()
    finally:
        tcu.terminate()
        tcu.wait(15)


@pytest.mark.timeout(60)
def test_a_power_key_nobody_can_press_stops_the_unit_at_start_naming_the_setting(
        tmp_path: Path, devices: tuple[Path, Path, Path]) -> None:
    modem, car, mctl = devices
    r = subprocess.run([str(BIN / "tcu"), "run", *_args(tmp_path, modem, car), "--power-key",
                        f"virtual:{tmp_path / 'nonexistent'}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "tcu run: power_key:" in r.stderr and "nonexistent" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state").exists()     # the failed start left no state directory behind
    # the right socket is accepted (the unit starts; stopped here with SIGTERM)
    tcu = subprocess.Popen([str(BIN / "tcu"), "run", *_args(tmp_path, modem, car), "--power-key",
                            f"virtual:{mctl}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(3.0)
        assert tcu.poll() is None
    finally:
        tcu.terminate()
        tcu.wait(15)


def _state_files(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state.iterdir())} if state.exists() else {}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault, message", [
    ({"--server": None}, "tcu run: server: required but not set"),
    ({"--profile": "no-such-car"}, "tcu run: profile:"),
    ({"--owner": "not-a-number"}, "tcu run: owner:"),
])
def test_a_start_that_fails_its_checks_leaves_no_state_files(tmp_path: Path, fault: dict[str, str | None],
                                                             message: str) -> None:
    """A fresh state directory stays absent; one that exists (with params.db and more) stays as it was."""
    base = _args(tmp_path, tmp_path / "no-modem", tmp_path / "no-car")
    for flag, value in fault.items():
        i = base.index(flag)
        base[i + 1:i + 2] = [] if value is None else [value]
        if value is None:
            del base[i]
    state = tmp_path / "state"
    r = subprocess.run([str(BIN / "tcu"), "run", *base], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not state.exists()
    # a state directory that was there before: nothing added, nothing changed, nothing removed
    state.mkdir()
    conn = sqlite3.connect(state / "params.db")
    conn.execute("CREATE TABLE params (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO params VALUES ('apn', 'stored-apn')")
    conn.commit()
    conn.close()
    (state / "notes.txt").write_text("the owner's own file")
    before = _state_files(state)
    r = subprocess.run([str(BIN / "tcu"), "run", *base], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert _state_files(state) == before


def test_run_help_explains_the_precedence_and_every_option() -> None:
    r = subprocess.run([str(BIN / "tcu"), "run", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "the newer change wins" in text and "tcu state --state-dir STATE_DIR" in text
    import argparse

    from tcu.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    missing = [a.option_strings for a in run._actions if a.option_strings and not a.help]
    assert not missing, f"options without help text: {missing}"


@pytest.mark.timeout(90)
def test_a_stored_sms_change_is_logged_at_start_and_tcu_state_shows_it_while_the_unit_runs(
        tmp_path: Path, devices: tuple[Path, Path, Path]) -> None:
    """Issue 13: an SMS REGISTER silently beat --owner on the next start. Now the start says so, and
    `tcu state` beside the running unit shows the owner's origin, reading without creating anything."""
    from tcu.params import Params

    modem, car, _ = devices
    state, new_owner = tmp_path / "state", "+447700900555"
    stored = Params.open({"owner": OWNER}, state / "params.db", time.time(), origins={"owner": "flag --owner"})
    stored.wall = time.time
    stored.set("owner", new_owner, source=f"SMS REGISTER from {new_owner}")
    stored.close()
    log = tmp_path / "tcu.log"
    tcu = subprocess.Popen([str(BIN / "tcu"), "run", *_args(tmp_path, modem, car), "--log-file", str(log)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait("the status file", lambda: (state / "status.json").exists(), 30)
        text = log.read_text()
        assert f"owner: '{new_owner}' set by SMS REGISTER from {new_owner} at " in text
        assert f"overrides flag --owner '{OWNER}' (until that changes)" in text
        before = sorted(p.name for p in state.iterdir())
        r = subprocess.run([str(BIN / "tcu"), "state", "--state-dir", str(state)], capture_output=True,
                           text=True, timeout=30)
        assert "Unit: running" in r.stdout, (r.stdout, r.stderr)
        (owner,) = [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["owner"]]
        assert owner[1:5] == [new_owner, "(SMS", "REGISTER", "from"] and owner[-4:] == ["overrides", "the", "flag",
                                                                                        "--owner)"]
        assert "module_password" in r.stdout and "modpass1" not in r.stdout and "carpass123" not in r.stdout
        assert sorted(p.name for p in state.iterdir()) == before
        assert tcu.poll() is None
    finally:
        tcu.terminate()
        tcu.wait(15)
