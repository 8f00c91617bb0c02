"""A second `vmodem serve`/`vcar serve` never takes over another's pty link or control socket (issue 13).

Real processes started as the README starts them. Before the fix the second instance replaced the
first's link and socket and deleted both on exit, so the first — still running — was unreachable.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import serial

BIN = Path(sys.executable).parent
START_LIMIT = 60.0  # s; only a bound for a broken start, never a measured time


@dataclass
class Device:
    """One `serve` process and what it printed (read by a thread, so waits have a bound)."""

    kind: str
    link: str
    control: str
    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def wait_started(self) -> None:
        ready = "vmodem: ready" if self.kind == "vmodem" else "vcar: profile"
        while True:
            try:
                line = self.lines.get(timeout=START_LIMIT)
            except queue.Empty:
                pytest.fail(f"{self.kind} serve printed no start line")
            if line.startswith(ready):
                return

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def command(kind: str, link: str, control: str) -> list[str]:
    if kind == "vmodem":
        return [str(BIN / "vmodem"), "serve", "--link", link, "--control", control, "--timing", "instant"]
    return [str(BIN / "vcar"), "serve", "--link", link, "--control", control, "--rate", "0.05"]


def start(kind: str, link: str, control: str) -> Device:
    proc = subprocess.Popen(command(kind, link, control), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    device = Device(kind, link, control, proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            device.lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    device.wait_started()
    return device


def answers(device: Device) -> None:
    """The device is reachable through both its paths: the control socket and the pty link."""
    status = subprocess.run([str(BIN / device.kind), "status", "--control", device.control],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    question, answer = (b"AT\r", b"OK") if device.kind == "vmodem" else (b"V\r", b"V1013\r")
    with serial.Serial(device.link, 115200, timeout=10) as port:
        port.write(question)
        got = port.read_until(answer)  # returns as soon as the answer is in (the timeout only bounds it)
        assert answer in got, f"no answer on {device.link} (got {got!r})"


KINDS = ["vmodem", "vcar"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_instance_is_refused_and_the_first_keeps_working(kind: str, tmp_path: Path) -> None:
    link, control = str(tmp_path / "dev"), str(tmp_path / "dev.ctl")
    first = start(kind, link, control)
    try:
        pty = os.readlink(link)
        for other_link, other_control, named in ((link, str(tmp_path / "b.ctl"), link),
                                                  (str(tmp_path / "b"), control, control)):
            second = subprocess.run(command(kind, other_link, other_control), capture_output=True, text=True,
                                    timeout=60)
            assert second.returncode == 2, second.stderr
            assert f"{named} is in use" in second.stderr
            assert "Traceback" not in second.stderr
            for path in (other_link, other_control):  # the refused one left nothing of its own behind
                assert path in (link, control) or not os.path.lexists(path)
        assert os.readlink(link) == pty        # the first's link still names the first's pty
        answers(first)
    finally:
        first.stop()
    assert not os.path.lexists(link) and not os.path.lexists(control)  # the first cleans up after itself


@pytest.mark.parametrize("kind", KINDS)
def test_paths_left_by_a_killed_instance_are_taken_over(kind: str, tmp_path: Path) -> None:
    link, control = str(tmp_path / "dev"), str(tmp_path / "dev.ctl")
    killed = start(kind, link, control)
    killed.stop(signal.SIGKILL)
    assert os.path.islink(link) and os.path.exists(control)  # stale: a dangling link, a dead socket
    second = start(kind, link, control)
    try:
        answers(second)
    finally:
        err = second.stop()
    assert "taking over stale link" in err and "taking over stale control socket" in err
