"""The Raspberry Pi image's own scripts, on this machine and in seconds (the image itself:
test_image.py): sysconf.txt from the boot partition (root password, SSH key, hostname), the CAN HAT
device-tree script's refusals, and the builder naming what a machine lacks."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

import pytest

PI = Path(__file__).resolve().parents[2] / "pi"


def first_boot() -> ModuleType:
    loader = SourceFileLoader("tcu_first_boot", str(PI / "rootfs/usr/local/sbin/tcu-first-boot"))
    spec = spec_from_loader("tcu_first_boot", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "boot/firmware").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("tcu\n")
    (tmp_path / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\ttcu\n")
    return tmp_path


def test_sysconf_sets_key_and_hostname_and_blanks_the_password(root: Path) -> None:
    sysconf = root / "boot/firmware/sysconf.txt"
    sysconf.write_text("# a comment stays\r\nroot_pw=s3cret pass\r\nroot_authorized_key=ssh-ed25519 AAAAkey me@laptop\r\n"
                       "hostname=car-7\r\n")
    log = first_boot().apply_sysconf(root, run=False)
    assert sysconf.read_bytes().decode() == ("# a comment stays\r\nroot_pw=\r\nroot_authorized_key=ssh-ed25519 AAAAkey me@laptop\r\n"
                                   "hostname=car-7\r\n")
    auth = root / "root/.ssh/authorized_keys"
    assert auth.read_text() == "ssh-ed25519 AAAAkey me@laptop\n"
    assert auth.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/hostname").read_text() == "car-7\n"
    assert (root / "etc/hosts").read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tcar-7\n"
    assert "sysconf.txt: root_pw blanked in the file" in log
    assert not any("s3cret" in line for line in log)

    again = first_boot().apply_sysconf(root, run=False)          # every boot: nothing new to do
    assert again == []
    assert auth.read_text().count("AAAAkey") == 1


def test_sysconf_reports_what_it_cannot_use_and_applies_the_rest(root: Path) -> None:
    (root / "boot/firmware/sysconf.txt").write_text("hostname=Not_Valid!\nwifi_ssid=home\nnonsense\n"
                                                    "root_authorized_key=ssh-rsa AAAAB me\n")
    log = first_boot().apply_sysconf(root, run=False)
    assert any("hostname 'Not_Valid!' is not a valid host name" in line for line in log)
    assert any("line 2: not one of root_pw, root_authorized_key, hostname=VALUE" in line for line in log)
    assert any("line 3:" in line for line in log)
    assert (root / "etc/hostname").read_text() == "tcu\n"
    assert (root / "root/.ssh/authorized_keys").read_text() == "ssh-rsa AAAAB me\n"


def test_no_sysconf_is_nothing_to_do(root: Path) -> None:
    assert first_boot().apply_sysconf(root, run=False) == []


def test_shipped_sysconf_template_sets_nothing() -> None:
    settings, problems = first_boot().read_sysconf((PI / "first-boot/sysconf.txt").read_text())
    assert settings == {} and problems == []


@pytest.mark.parametrize(("setting", "message"), [
    ("CAN_HAT_OSCILLATOR=16MHz", "CAN_HAT_OSCILLATOR must be a number of Hz, got '16MHz'"),
    ("CAN_HAT_INTERRUPT=40", "CAN_HAT_INTERRUPT: the header has GPIO 0-27, got 40"),
])
def test_can_hat_script_refuses_bad_settings(tmp_path: Path, setting: str, message: str) -> None:
    script = (PI / "rootfs/usr/local/sbin/tcu-can-hat-dtb").read_text()
    defaults = tmp_path / "tcu-can-hat"
    defaults.write_text(setting + "\n")
    patched = tmp_path / "tcu-can-hat-dtb"
    patched.write_text(script.replace("/etc/default/tcu-can-hat", str(defaults)))
    r = subprocess.run(["sh", str(patched)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "TCU_DTB_SOURCE": str(tmp_path), "TCU_BOOT_FIRMWARE": str(tmp_path)})
    assert r.returncode == 1
    assert message in r.stderr


def test_builder_names_what_the_machine_lacks(tmp_path: Path) -> None:
    """A PATH without mmdebstrap and mtools, and a Python without tcu: each named with its remedy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "uname", "grep", "df", "awk", "dirname", "mkdir", "sed", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    r = subprocess.run(["bash", str(PI / "build-image.sh"), "--check"], capture_output=True, text=True, timeout=30,
                       env={"PATH": str(bin_dir), "PYTHON": str(tmp_path / "no-python"),
                            "OUT": str(tmp_path / "out.img")})
    assert r.returncode == 2
    assert "pi-image: lacks mmdebstrap: apt-get install mmdebstrap" in r.stdout
    assert "pi-image: lacks mcopy: apt-get install mtools" in r.stdout
    assert "cannot import tcu" in r.stdout


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to drop to nobody")
def test_builder_says_it_needs_root(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "bash", str(PI / "build-image.sh"), "--check"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "OUT": str(tmp_path / "out.img")}, cwd=tmp_path)
    assert r.returncode == 2
    assert "pi-image: lacks root: mmdebstrap builds the root file system as root and chroots into it: run it with sudo" \
        in r.stdout
