"""Front ends: `tcu run` refuses a bad configuration naming the setting; `tcu sim` writes its report
(its screen and Ctrl-C: tests/sim/test_live_view.py, tests/sim/test_sim_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcu.cli import main


@pytest.mark.parametrize(("argv", "setting"), [
    ([], "modem"),
    (["--modem", "/dev/null", "--can", "replay:x.log"], "server"),
    (["--modem", "/dev/null", "--can", "replay:x.log", "--server", "a:b:c"], "server"),
    (["--modem", "/dev/null", "--can", "replay:x.log", "--server", "127.0.0.1", "--vehicle-id", "CAR",
      "--server-password", "pw123", "--owner", "not-a-number"], "owner"),
    (["--modem", "/dev/null", "--can", "replay:x.log", "--server", "127.0.0.1", "--vehicle-id", "CAR",
      "--server-password", "pw123", "--owner", "+447700900123", "--power-key", "bogus"], "power_key"),
    (["--modem", "sim900:/dev/ttyUSB9", "--can", "replay:x.log", "--server", "127.0.0.1", "--vehicle-id", "CAR",
      "--server-password", "pw123", "--owner", "+447700900123", "--profile", "demo-ev"], "modem"),
])
def test_tcu_run_names_the_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str], setting: str) -> None:
    rc = main(["run", "--state-dir", str(tmp_path / "s"), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"tcu run: {setting}:"), err
    assert "pw123" not in err


def test_tcu_run_config_file_and_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--print-example-config"]) == 0
    example = capsys.readouterr().out
    cfg = tmp_path / "tcu.toml"
    cfg.write_text(example.replace('"/var/lib/tcu"', json.dumps(str(tmp_path / "state")))
                   .replace('"/dev/serial0"', '"sim900:/dev/serial0"'))   # a missing port is waited for
    assert main(["run", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err.startswith("tcu run: modem: unknown modem dialect 'sim900'")
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config: file not found" in capsys.readouterr().err


def test_tcu_sim_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["sim", "--hours", "0.25", "--seed", "2", "--drain", "120", "--modem", "direct",
                 "--report", str(out), "--log-level", "ERROR"]) == 0
    r = json.loads(out.read_text())
    for key in ("seed", "sim_seconds", "wall_seconds", "can_frames", "server_messages", "alerts", "duplicates",
                "outages", "sms", "commands"):
        assert key in r
    assert set(r["alerts"]) >= {"raised", "via_server", "via_sms", "queued", "lost"}
    assert r["seed"] == 2 and r["sim_seconds"] == 0.25 * 3600 + 120


def test_tcu_sim_paced_by_the_real_clock(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    t0 = __import__("time").monotonic()
    assert main(["sim", "--hours", "0.05", "--drain", "60", "--speed", "800", "--quiet", "--modem", "direct",
                 "--report", str(out), "--log-level", "ERROR"]) == 0
    wall = __import__("time").monotonic() - t0
    r = json.loads(out.read_text())
    assert r["sim_seconds"] == 240.0
    assert 0.25 <= wall < 5.0        # 240 s at 800x is 0.3 s: paced, not run flat out
