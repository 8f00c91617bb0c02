"""Secrets at rest and `tcu run`'s state directory (issue 12 items 4 and 11), through the front door."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_fs import tiny_fs  # noqa: E402  (a helper next to this test, not a package)

from tcu.config_cli import StartError, add_run_args, load_settings, warn_secret_flags

TCU = [sys.executable, "-m", "tcu.cli"]


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_run_args(p)
    return p.parse_args(list(argv))


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    f = tmp_path / name
    f.write_text(value + "\n")
    f.chmod(0o600)
    return f


def test_passwords_from_files_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TCU_MODULE_PASSWORD", "envmodpass")
    args = parse("--server-password-file", str(secret_file(tmp_path, "s.pw", "filepass1")))
    values = load_settings(args)
    assert values["server_password"] == "filepass1" and values["module_password"] == "envmodpass"
    warn_secret_flags(args)
    assert capsys.readouterr().err == ""                  # no warning: nothing secret on the command line


def test_a_password_flag_still_works_but_warns(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--server-password", "flagpass1")
    values = load_settings(args)
    assert values["server_password"] == "flagpass1"
    warn_secret_flags(args)
    err = capsys.readouterr().err
    assert "--server-password is visible to every user" in err and "flagpass1" not in err


def test_flag_and_file_together_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(StartError, match="server_password: give"):
        load_settings(parse("--server-password", "x1234", "--server-password-file",
                            str(secret_file(tmp_path, "s.pw", "y1234"))))
    with pytest.raises(StartError, match=r"module_password_file: cannot read .*nope"):
        load_settings(parse("--module-password-file", str(tmp_path / "nope")))


def test_the_config_file_can_name_password_files(tmp_path: Path) -> None:
    conf = tmp_path / "tcu.toml"
    conf.write_text(f'module_password_file = "{secret_file(tmp_path, "m.pw", "m0dulepass")}"\n'
                    f'[server]\nhost = "127.0.0.1:6867"\npassword_file = "{secret_file(tmp_path, "s.pw", "s3rverpass")}"\n')
    values = load_settings(parse("--config", str(conf)))
    assert values["server_password"] == "s3rverpass" and values["module_password"] == "m0dulepass"
    conf.write_text('owner_file = "/etc/passwd"\n')
    with pytest.raises(StartError, match="owner_file: unknown setting"):
        load_settings(parse("--config", str(conf)))


def _run_until(argv: list[str], env: dict[str, str], cwd: Path, done: str, timeout: float = 20.0
               ) -> tuple[subprocess.Popen[bytes], Path]:
    log = cwd / "tcu.log"
    proc = subprocess.Popen(argv + ["--log-level", "INFO", "--log-file", str(log)], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and done in log.read_text(errors="replace"):
            break
        time.sleep(0.1)
    return proc, log


def test_tcu_run_keeps_passwords_out_of_its_command_line_and_its_state_private(tmp_path: Path) -> None:
    """The README's safe form: passwords from a file and the environment; state dir 0700, databases 0600."""
    master, slave = os.openpty()             # a modem port that stays silent: enough to keep `tcu run` up
    state = tmp_path / "state"
    env = {**os.environ, "TCU_MODULE_PASSWORD": "m0dulepass"}
    argv = TCU + ["run", "--modem", os.ttyname(slave), "--can", "virtual:h5-secrets", "--server", "127.0.0.1:9",
                  "--vehicle-id", "DEMO1", "--server-password-file", str(secret_file(tmp_path, "s.pw", "s3rverpass")),
                  "--owner", "+447700900123", "--state-dir", str(state), "--no-gnss"]
    proc, log = _run_until(argv, env, tmp_path, "unit started")
    try:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"s3rverpass" not in cmdline and b"m0dulepass" not in cmdline
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for db in ("params.db", "outbox.db", "sms_log.db", "unit.db"):
            assert stat.S_IMODE((state / db).stat().st_mode) == 0o600, db
        assert "s3rverpass" not in log.read_text() and "m0dulepass" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.close(master)
        os.close(slave)


def test_tcu_run_on_a_read_only_state_dir_names_the_setting_and_runs(tmp_path: Path) -> None:
    """Before: a raw sqlite3 traceback and no unit. Now: one line naming state_dir, and the link runs."""
    with tiny_fs(tmp_path) as fs:
        (fs.path / "state").mkdir()
        fs.readonly()
        master, slave = os.openpty()
        env = {**os.environ, "TCU_SERVER_PASSWORD": "s3rverpass"}
        argv = TCU + ["run", "--modem", os.ttyname(slave), "--can", "virtual:h5-ro", "--server", "127.0.0.1:9",
                      "--vehicle-id", "DEMO1", "--owner", "+447700900123", "--state-dir", str(fs.path / "state"),
                      "--no-gnss"]
        proc, log = _run_until(argv, env, tmp_path, "unit started")
        try:
            assert proc.poll() is None
            text = log.read_text()
            assert f"state_dir: {fs.path / 'state'} is read-only" in text
            assert "health: " in text and "in-memory state" in text
            assert "Traceback" not in text
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            os.close(master)
            os.close(slave)
            fs.readonly(False)
        assert f"tcu run: state_dir: {fs.path / 'state'} is read-only: running on in-memory state" in err.decode()
        assert "Traceback" not in err.decode()
