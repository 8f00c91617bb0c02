"""Logging under systemd: when stderr is the journal's stream (`$JOURNAL_STREAM` = its device:inode)
lines carry no timestamp of their own (the journal stamps them) and a `<N>` level prefix; anywhere
else (a terminal, StandardError=file:…, a `--log-file`) they keep the timestamp."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
from runtime import logsetup
logsetup.setup_logging("INFO", sys.argv[1] if len(sys.argv) > 1 else None)
logsetup.register_secret("hunter22")
logging.getLogger("tcu.demo").warning("modem port gone (password hunter22)")
logging.getLogger("tcu.demo").error("two\\nlines")
"""
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def _run(tmp_path: Path, journal: bool, *args: str) -> list[str]:
    err = tmp_path / "stderr"
    with open(err, "wb") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        env["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef"   # under systemd either way
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT, *args], stderr=f, env=env, check=True, timeout=30)
    return err.read_text().splitlines()


def test_journal_stream_gets_no_timestamp_and_a_level_prefix(tmp_path: Path) -> None:
    logfile = tmp_path / "also.log"
    lines = _run(tmp_path, True, str(logfile))
    assert lines == ["<4>WARNING tcu.demo: modem port gone (password ***)",
                     "<3>ERROR   tcu.demo: two", "<3>lines"]
    assert all(STAMP.match(line) for line in logfile.read_text().splitlines()[:2])   # the file keeps them


def test_elsewhere_lines_keep_their_timestamp(tmp_path: Path) -> None:
    lines = _run(tmp_path, False)
    assert STAMP.match(lines[0]) and lines[0].endswith("WARNING tcu.demo: modem port gone (password ***)")
    assert not lines[0].startswith("<")
