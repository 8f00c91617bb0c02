"""runtime.claim: what is refused, what is taken over, what is removed at exit (in one process; the
cross-process cases are in test_serve_paths.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from runtime.claim import LinkClaim, PathInUse, SocketClaim


def test_a_file_that_is_no_symlink_or_no_socket_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes"
    path.write_text("mine")
    with pytest.raises(PathInUse, match="not a symlink"):
        LinkClaim(str(path))
    with pytest.raises(PathInUse, match="not a socket"):
        SocketClaim(str(path))
    assert path.read_text() == "mine"


def test_a_socket_someone_listens_on_is_refused_even_without_a_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "ctl")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:  # a process that took no claim
        other.bind(path)
        other.listen(1)
        with pytest.raises(PathInUse, match="answers there"):
            SocketClaim(path)
        assert os.path.exists(path)


def test_the_same_path_twice_is_refused_until_released(tmp_path: Path) -> None:
    link = str(tmp_path / "dev")
    first = LinkClaim(link)
    first.point_to("/dev/null")
    with pytest.raises(PathInUse, match="pty link"):
        LinkClaim(str(tmp_path / "." / "dev"))  # the same path spelled differently
    first.release()
    assert not os.path.lexists(link)
    LinkClaim(link).release()


def test_at_exit_only_what_is_still_ours_is_removed(tmp_path: Path) -> None:
    link, ctl = str(tmp_path / "dev"), str(tmp_path / "ctl")
    claim = LinkClaim(link)
    claim.point_to("/dev/null")
    os.unlink(link)
    os.symlink("/dev/zero", link)         # someone else's link now
    claim.release()
    assert os.readlink(link) == "/dev/zero"

    server = SocketClaim(ctl)
    os.unlink(ctl)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(ctl)                   # someone else's socket file now
        server.release()
        assert os.path.exists(ctl)
