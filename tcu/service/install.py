"""`tcu service install|uninstall`: plan the files (pure), then apply the plan under a root directory.

Idempotent: a file already there with the same text is left alone (reported `unchanged`), so running
install twice changes nothing the second time. `--root DIR` stages everything into DIR (tests,
packaging, an image builder); the system commands (sysusers, daemon-reload, udev reload) run only
for the real root `/`, and `--dry-run` prints the plan without touching anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from tcu.service import files

SERVICE_PATH = "etc/systemd/system/tcu.service"
WANTS_LINK = "etc/systemd/system/multi-user.target.wants/tcu.service"
SYSUSERS_PATH = "etc/sysusers.d/tcu.conf"
UDEV_PATH = "etc/udev/rules.d/99-tcu-modem.rules"
CONFIG_PATH = "etc/tcu/tcu.toml"
DEFAULT_WATCHDOG_S = 60
DEFAULT_TIMEOUT_START_S = 180


class ServiceError(Exception):
    """The config cannot be read or names something the service cannot set up: the message says what."""


@dataclass(frozen=True)
class FileSpec:
    path: str            # relative to the root
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class Plan:
    files: tuple[FileSpec, ...]
    link: tuple[str, str]              # (link path relative to root, absolute target)
    commands: tuple[tuple[str, ...], ...]   # run only when root is "/"


def network_path(iface: str) -> str:
    return f"etc/systemd/network/80-tcu-{iface}.network"


def can_settings(config: dict[str, object]) -> tuple[str, int] | None:
    """(interface, bitrate) of a `socketcan:IFACE[?bitrate=N]` bus; None for other buses (no .network)."""
    spec = str(config.get("can") or "socketcan:can0")
    kind, _, rest = spec.partition(":")
    if kind != "socketcan":
        return None
    iface, _, query = rest.partition("?")
    if not iface or not iface.replace("-", "").replace("_", "").isalnum():
        raise ServiceError(f"can: cannot bring up interface {iface!r} with systemd-networkd")
    opts = dict(parse_qsl(query))
    try:
        bitrate = int(opts.get("bitrate", "500000"))
    except ValueError:
        raise ServiceError(f"can: bitrate must be a number, got {opts['bitrate']!r}") from None
    if not 10_000 <= bitrate <= 1_000_000:
        raise ServiceError(f"can: bitrate {bitrate} is outside 10000..1000000")
    return iface, bitrate


def read_config(path: str | None) -> tuple[dict[str, object], str | None]:
    """The config's raw table and text (passwords stay unread: only `can` is used here)."""
    if path is None:
        return {}, None
    try:
        text = Path(path).read_text()
        return tomllib.loads(text), text
    except FileNotFoundError:
        raise ServiceError(f"config: file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ServiceError(f"config: {path}: {e}") from None


def make_plan(config_path: str | None, exec_path: str, watchdog_s: int = DEFAULT_WATCHDOG_S) -> Plan:
    config, config_text = read_config(config_path)
    exec_start = f"{exec_path} run --config %d/tcu.toml --state-dir /var/lib/tcu"   # %d: LoadCredential's dir
    out = [
        FileSpec(SERVICE_PATH, files.SERVICE.format(exec_start=exec_start, watchdog=f"{watchdog_s}s",
                                                    timeout_start=f"{DEFAULT_TIMEOUT_START_S}s", user=files.USER)),
        FileSpec(SYSUSERS_PATH, files.SYSUSERS.format(user=files.USER)),
        FileSpec(UDEV_PATH, files.UDEV_RULES.format()),
    ]
    can = can_settings(config)
    if can is not None:
        out.append(FileSpec(network_path(can[0]), files.CAN_NETWORK.format(iface=can[0], bitrate=can[1])))
    if config_text is not None:   # it holds passwords: root's only (the unit gets it by LoadCredential=)
        out.append(FileSpec(CONFIG_PATH, config_text, 0o600))
    commands = (("systemd-sysusers",), ("systemctl", "daemon-reload"),
                ("udevadm", "control", "--reload-rules"), ("udevadm", "trigger", "--subsystem-match=tty"),
                ("systemctl", "enable", "systemd-networkd.service"),
                ("networkctl", "reload"))
    return Plan(tuple(out), (WANTS_LINK, "/" + SERVICE_PATH), commands)


def _write(root: Path, spec: FileSpec, dry_run: bool) -> str:
    target = root / spec.path
    try:
        if target.read_text() == spec.text and (target.stat().st_mode & 0o777) == spec.mode:
            return f"unchanged {target}"
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    if not dry_run:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tcu-new")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, spec.mode)
        with os.fdopen(fd, "w") as f:
            f.write(spec.text)
        os.chmod(tmp, spec.mode)
        os.replace(tmp, target)
    return f"write {target} ({spec.mode:o})"


def _link(root: Path, link: str, target: str, dry_run: bool) -> str:
    path = root / link
    if path.is_symlink() and os.readlink(path) == target:
        return f"unchanged {path}"
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(target)
    return f"link {path} -> {target}"


def _run(cmd: tuple[str, ...], dry_run: bool) -> str:
    if dry_run:
        return "run " + " ".join(cmd)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return f"skip {' '.join(cmd)} (not installed)"
    except subprocess.TimeoutExpired:
        return f"FAILED {' '.join(cmd)} (no answer in 60 s)"
    status = "ran" if r.returncode == 0 else f"FAILED (exit {r.returncode}: {r.stderr.strip()[:200]})"
    return f"{status} {' '.join(cmd)}"


def install(plan: Plan, root: Path, dry_run: bool = False) -> list[str]:
    lines = [_write(root, spec, dry_run) for spec in plan.files]
    lines.append(_link(root, plan.link[0], plan.link[1], dry_run))
    if root.resolve() == Path("/"):
        lines += [_run(cmd, dry_run) for cmd in plan.commands]
    return lines


def uninstall(root: Path, dry_run: bool = False) -> list[str]:
    """Remove what install wrote, except /etc/tcu/tcu.toml and /var/lib/tcu (the owner's config and
    the unit's queued alerts are not ours to delete). Idempotent."""
    lines: list[str] = []
    real = root.resolve() == Path("/")
    if real:
        lines.append(_run(("systemctl", "disable", "--now", files.UNIT_NAME), dry_run))
    paths = [WANTS_LINK, SERVICE_PATH, SYSUSERS_PATH, UDEV_PATH]
    net_dir = root / "etc/systemd/network"
    if net_dir.is_dir():
        paths += [str(p.relative_to(root)) for p in sorted(net_dir.glob("80-tcu-*.network"))]
    for rel in paths:
        p = root / rel
        if p.is_symlink() or p.exists():
            if not dry_run:
                p.unlink()
            lines.append(f"remove {p}")
    if real:
        lines += [_run(("systemctl", "daemon-reload"), dry_run), _run(("udevadm", "control", "--reload-rules"), dry_run)]
    return lines


def default_exec() -> str:
    """The `tcu` next to this Python (the venv's or the system's), which systemd will start."""
    return str(Path(sys.executable).parent / "tcu")
