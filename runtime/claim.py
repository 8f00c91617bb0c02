"""Paths a running device owns (its pty link, its control socket), never taken from another process.

Why: a second `vmodem serve`/`vcar serve` given the same `--link` or `--control` used to replace the
first's, and on exit delete them, so the first instance — still running — became unreachable. Now:

* a path in use by a live process is refused with `PathInUse` (the CLIs exit 2 naming the path);
* a stale one (its process died, e.g. SIGKILL) is taken over, with a log line saying so;
* on exit only what this process created and still owns is removed.

Liveness of a path is a claim in Linux's abstract UNIX-socket namespace, one name per path: the kernel
drops it the moment its process dies, however it died, so no lock file is left behind and no PID can
be reused into a false "live". A control socket is also probed (does something answer there?), so a
process that took no claim is not run over either.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import stat

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  # s: a live control socket accepts at once; one that does not answer counts as live


class PathInUse(RuntimeError):
    """Another live process owns `path`; nothing was changed."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path} is in use: {why}")
        self.path = path
        self.why = why


def _canonical(path: str) -> str:
    """The path's directory resolved (so /tmp/x and /tmp/../tmp/x are one), the last part kept as is
    (it may itself be a symlink: the link, not its target, is what is claimed)."""
    absolute = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


class Claim:
    """This process's claim on a path: held until `release()` or the process's death."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        digest = hashlib.sha256(_canonical(path).encode()).hexdigest()[:40]
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.bind(f"\0tcu-sim-claim-{digest}")
        except OSError as exc:
            self._sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise PathInUse(path, f"another running process serves it as its {what}") from None
            raise

    def release(self) -> None:
        """Give the path up (idempotent)."""
        self._sock.close()


class LinkClaim:
    """A symlink this process makes (`--link` → its pty) and keeps pointing at its own target."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.target: str | None = None
        if os.path.lexists(path) and not os.path.islink(path):
            raise PathInUse(path, "it exists and is not a symlink (nothing a device made): remove it "
                                  "or choose another path")
        self._claim = Claim(path, "pty link")
        if os.path.islink(path):
            with contextlib.suppress(OSError):
                old = os.readlink(path)
                state = "still exists" if os.path.exists(path) else "is gone"
                log.warning("taking over stale link %s (it pointed to %s, which %s; the process that made it "
                            "has ended)", path, old, state)

    def point_to(self, target: str) -> None:
        """Make (or atomically replace) the link so it names `target`."""
        temporary = f"{self.path}.{os.getpid()}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, self.path)
        self.target = target

    def owned(self) -> bool:
        """Does the link still name our target (nobody replaced it)?"""
        try:
            return self.target is not None and os.readlink(self.path) == self.target
        except OSError:
            return False

    def release(self) -> None:
        """Remove the link if it is still ours; give up the claim either way."""
        if self.owned():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._claim.release()


class SocketClaim:
    """A listening UNIX socket bound at `path`, refused if something live is there already."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._claim = Claim(path, "control socket")
        try:
            self.sock = self._bind()
        except BaseException:
            self._claim.release()
            raise
        st = os.stat(path)
        self._identity = (st.st_dev, st.st_ino)

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.bind(self.path)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                self._take_over_stale()
                sock.bind(self.path)
            sock.listen(16)
        except BaseException:
            sock.close()
            raise
        return sock

    def _take_over_stale(self) -> None:
        """Something is at the path: remove it only if it is a socket nobody listens on."""
        st = os.lstat(self.path)
        if not stat.S_ISSOCK(st.st_mode):
            raise PathInUse(self.path, "it exists and is not a socket: remove it or choose another path")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(PROBE_TIMEOUT)
            try:
                probe.connect(self.path)
            except ConnectionRefusedError:
                pass  # a socket file whose process is gone
            except OSError as exc:
                raise PathInUse(self.path, f"cannot tell whether it is live ({exc})") from None
            else:
                raise PathInUse(self.path, "a control socket answers there: another instance is running")
        log.warning("taking over stale control socket %s (nothing listens there; its process has ended)",
                    self.path)
        os.unlink(self.path)

    def owned(self) -> bool:
        """Is the socket file at the path still the one we bound (not replaced by someone else's)?"""
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def release(self) -> None:
        """Close the socket; remove its file only if it is still ours."""
        self.sock.close()
        if self.owned():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._claim.release()
