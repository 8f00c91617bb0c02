"""`make pi-image` builds the Raspberry Pi SD-card image; this test builds it once and inspects it as a
Pi would use it: the partition table, the boot partition (firmware, kernel, initrd, the device trees
of the Pi 3 / 4 / Zero 2 W with the CAN HAT in them, config.txt, cmdline.txt, tcu.toml), the root
file system (the enabled unit, its boot-partition config, the logins), and — in the image's own root
under qemu-user — `tcu --version`, `tcu sim --hours 1` and the boot-time config step.

The build takes longer than the rest of the suite can spare (see docs/pi-image.md for the measured
time), so it runs only with TCU_PI_IMAGE=1, and needs root, loop devices (to mount the image's
partitions), mmdebstrap and, off arm64, a qemu-user binfmt handler; without them it is skipped with
the reason. The image is built into pytest's temporary directory and deleted after the tests.
TCU_PI_IMAGE=path/to/image.img inspects that image instead of building one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "pi"
VENV_BIN = Path(sys.executable).parent
BUILD_TIMEOUT_S = 3600
PI_DTBS = ("bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb",
           "bcm2837-rpi-zero-2-w.dtb", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb")

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 600)


def lacks() -> list[str]:
    """Why this machine cannot run the test, empty when it can."""
    if os.environ.get("TCU_PI_IMAGE", "") == "":
        return ["the image build takes about 14 minutes (docs/pi-image.md): set TCU_PI_IMAGE=1 to run it"]
    r = subprocess.run(["bash", str(PI / "build-image.sh"), "--check"], capture_output=True, text=True,
                       env={**os.environ, "PYTHON": sys.executable}, timeout=60)
    out = [line.removeprefix("pi-image: lacks ") for line in r.stdout.splitlines()] if r.returncode else []
    if not Path("/dev/loop-control").exists():
        out.append("loop devices: none (/dev/loop-control): the test mounts the image's partitions (modprobe loop)")
    for tool, pkg in (("fdtget", "device-tree-compiler"), ("sfdisk", "fdisk"), ("make", "make")):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            out.append(f"{tool}: apt-get install {pkg}")
    return out


def sh(*cmd: str, timeout: float = 120, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if check:
        assert r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reasons = lacks()
    if reasons:
        pytest.skip("Pi image not built: " + "; ".join(reasons))
    given = os.environ["TCU_PI_IMAGE"]
    if given != "1":                 # a path: inspect that image (to work on this test), build nothing
        yield Path(given).resolve()
        return
    out = tmp_path_factory.mktemp("pi-image") / "tcu-sim-pi-arm64.img"
    try:
        r = subprocess.run(["make", "-C", str(REPO), "pi-image", f"PI_IMAGE={out}", f"VENV={VENV_BIN.parent}"],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        assert r.returncode == 0, f"make pi-image failed:\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}"
        yield out
    finally:
        out.unlink(missing_ok=True)  # 1.6 GB: pytest keeps its last temporary directories


def partitions(img: Path) -> list[dict[str, object]]:
    table = json.loads(sh("sfdisk", "--json", str(img)).stdout)["partitiontable"]
    assert table["label"] == "dos"                       # the Pi's boot ROM reads MBR only
    return list(table["partitions"])


@pytest.fixture(scope="module")
def mounted(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(boot, root): the boot partition's files copied out with mtools (no vfat driver needed on
    this machine) and the root partition mounted read-only through a loop device."""
    base = tmp_path_factory.mktemp("pi-mnt")
    boot, root = base / "boot", base / "root"
    boot_part, root_part = partitions(image)
    boot.mkdir()
    root.mkdir()
    sh("mcopy", "-s", "-n", "-i", f"{image}@@{int(str(boot_part['start'])) * 512}", "::/", str(boot),
       env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    start, size = int(str(root_part["start"])) * 512, int(str(root_part["size"])) * 512
    sh("mount", "-o", f"ro,loop,offset={start},sizelimit={size}", str(image), str(root))
    try:
        yield boot, root
    finally:
        subprocess.run(["umount", str(root)], check=False)


@pytest.fixture(scope="module")
def chroot(mounted: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A writable view of the image's root (overlayfs on tmpfs: the image stays as built) with /proc
    and /dev mounted and the boot partition's config files copied in, for running the image's
    programs under qemu-user."""
    boot, root = mounted
    base = tmp_path_factory.mktemp("pi-chroot")
    upper_fs, view = base / "upper", base / "view"
    upper_fs.mkdir()
    view.mkdir()
    mounts: list[Path] = []
    try:
        sh("mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(upper_fs))
        mounts.append(upper_fs)
        (upper_fs / "upper").mkdir()
        (upper_fs / "work").mkdir()
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={root},upperdir={upper_fs / 'upper'},workdir={upper_fs / 'work'}", str(view))
        mounts.append(view)
        for dst, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--rbind", "/dev"]), ("tmp", ["-t", "tmpfs", "tmpfs"])):
            sh("mount", *args, str(view / dst))
            mounts.append(view / dst)
            if dst == "dev":     # unmounting it later must not take the host's /dev/pts along
                sh("mount", "--make-rslave", str(view / dst))
        for name in ("tcu.toml", "sysconf.txt"):
            shutil.copyfile(boot / name, view / "boot/firmware" / name)
        yield view
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-R", str(m)], check=False)


def in_image(view: Path, *cmd: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    return sh("chroot", str(view), *cmd, timeout=timeout, check=check, env=env)


def test_partition_table_fat_boot_then_ext4_root(image: Path) -> None:
    boot, root = partitions(image)
    assert boot["type"] == "c" and boot.get("bootable") is True         # FAT32 (LBA)
    assert root["type"] == "83"
    with image.open("rb") as f:
        f.seek(int(str(boot["start"])) * 512)
        sector = f.read(512)
        assert sector[82:90] == b"FAT32   " and sector[71:82] == b"RASPIFIRM  "
        f.seek(int(str(root["start"])) * 512 + 1024)
        superblock = f.read(1024)
        assert superblock[56:58] == b"\x53\xef"                      # ext2/3/4 magic
        assert superblock[120:129] == b"RASPIROOT"
        assert int.from_bytes(superblock[96:100], "little") & 0x40   # INCOMPAT_EXTENTS: ext4


def test_boot_partition_firmware_kernel_and_device_trees(mounted: tuple[Path, Path]) -> None:
    boot, _ = mounted
    names = {p.name for p in boot.iterdir()}
    for fw in ("bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"):   # Pi 3 / Pi 4 firmware
        assert fw in names, fw
    kernels = [n for n in names if n.startswith("vmlinuz-")]
    initrds = [n for n in names if n.startswith("initrd.img-")]
    assert len(kernels) == 1 and len(initrds) == 1, names
    for dtb in PI_DTBS:
        assert dtb in names, dtb
        # the CAN HAT compiled in (Debian's device trees take no Raspberry Pi overlays)
        assert sh("fdtget", str(boot / dtb), "/soc/spi@7e204000/can@0", "compatible").stdout.strip() == "microchip,mcp2515"
        assert sh("fdtget", str(boot / dtb), "/soc/spi@7e204000", "status").stdout.strip() == "okay"
        assert sh("fdtget", str(boot / dtb), "/tcu-can0-osc", "clock-frequency").stdout.strip() == "16000000"
        assert sh("fdtget", str(boot / dtb), "/soc/spi@7e204000/can@0", "interrupts").stdout.split()[0] == "25"

    config = (boot / "config.txt").read_text()
    for line in ("arm_64bit=1", "enable_uart=1", "upstream_kernel=1", f"kernel={kernels[0]}", f"initramfs {initrds[0]}",
                 "# Inserted by /etc/default/raspi-firmware-custom", "/etc/default/tcu-can-hat"):
        assert line in config, line
    assert "PiCAN2" in config and "SIM7600" in config        # which HATs, said where a user looks
    cmdline = (boot / "cmdline.txt").read_text().split()
    assert "root=LABEL=RASPIROOT" in cmdline and "console=tty0" in cmdline
    assert not [arg for arg in cmdline if arg.startswith("console=tty") and arg != "console=tty0"], cmdline  # UART: the modem's


def test_boot_partition_holds_the_config_templates(mounted: tuple[Path, Path]) -> None:
    boot, root = mounted
    assert (boot / "tcu.toml").read_text() == (PI / "first-boot/tcu.toml").read_text()
    assert (boot / "sysconf.txt").read_text() == (PI / "first-boot/sysconf.txt").read_text()
    assert (root / "usr/share/tcu-sim/tcu.toml.template").read_text() == (PI / "first-boot/tcu.toml").read_text()
    assert "LABEL=RASPIFIRM  /boot/firmware  vfat  rw,noatime,umask=0077" in (root / "etc/fstab").read_text()


def test_root_has_the_service_enabled_reading_the_boot_partition(mounted: tuple[Path, Path]) -> None:
    _, root = mounted
    etc = root / "etc/systemd/system"
    wants = etc / "multi-user.target.wants/tcu.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/tcu.service"
    unit = (etc / "tcu.service").read_text()
    assert "ExecStart=/opt/tcu-sim/bin/tcu run --config %d/tcu.toml --state-dir /var/lib/tcu" in unit
    assert "LoadCredential=tcu.toml:/etc/tcu/tcu.toml" in unit
    dropin = (etc / "tcu.service.d/10-boot-partition.conf").read_text()
    assert "Requires=tcu-boot-config.service" in dropin and "After=tcu-boot-config.service" in dropin
    assert (etc / "multi-user.target.wants/tcu-boot-config.service").is_symlink()
    assert (etc / "sysinit.target.wants/tcu-first-boot.service").is_symlink()
    assert (etc / "multi-user.target.wants/systemd-networkd.service").is_symlink()
    assert os.readlink(etc / "systemd-networkd-wait-online.service") == "/dev/null"   # no 2-minute wait for a LAN
    assert (root / "etc/udev/rules.d/99-tcu-modem.rules").exists()
    assert (root / "etc/udev/rules.d/60-tcu-image-serial0.rules").exists()   # sorts before it
    assert os.readlink(root / "usr/local/bin/tcu") == "/opt/tcu-sim/bin/tcu"
    assert (root / "etc/kernel/postinst.d/z60-tcu-can-hat").exists()

    passwd = (root / "etc/passwd").read_text()
    assert any(line.startswith("tcu:") for line in passwd.splitlines())
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in (root / "etc/group").read_text().splitlines()}
    assert "tcu" in groups["dialout"] and "tcu" in groups["gpio"]
    shadow = {line.split(":")[0]: line.split(":")[1] for line in (root / "etc/shadow").read_text().splitlines()}
    assert shadow["root"] == ""                     # console login until sysconf.txt sets a password
    assert not list((root / "etc/ssh").glob("ssh_host_*")), "an image must not ship SSH host keys"


def test_tcu_version_and_a_simulated_hour_run_inside_the_image(chroot: Path) -> None:
    version = sh(str(VENV_BIN / "tcu"), "--version").stdout.strip()
    assert in_image(chroot, "tcu", "--version").stdout.strip() == version
    r = in_image(chroot, "tcu", "sim", "--hours", "1", "--quiet", "--state-dir", "/tmp/sim-state",
                 "--report", "/tmp/report.json", timeout=900)
    report = json.loads((chroot / "tmp/report.json").read_text())
    assert report["sim_seconds"] >= 3600, r.stdout
    assert report["can_frames"] > 1000 and report["server_messages"] > 0
    assert report["alerts"]["lost"] == 0


def test_boot_config_refuses_the_template_then_applies_an_edited_config(chroot: Path) -> None:
    r = in_image(chroot, "/usr/local/sbin/tcu-boot-config", check=False)
    assert r.returncode == 1
    assert "is still the image's template" in r.stderr
    assert not (chroot / "etc/tcu/tcu.toml").exists()

    # the owner edits tcu.toml on the boot partition (here: the overlay's copy, the image stays as built)
    edited = (PI / "first-boot/tcu.toml").read_text().replace("bitrate=500000", "bitrate=250000")
    (chroot / "boot/firmware/tcu.toml").write_text(edited)
    r = in_image(chroot, "/usr/local/sbin/tcu-boot-config")
    assert "applied /boot/firmware/tcu.toml" in r.stdout
    installed = chroot / "etc/tcu/tcu.toml"
    assert installed.read_text() == edited and installed.stat().st_mode & 0o777 == 0o600
    network = (chroot / "etc/systemd/network/80-tcu-can0.network").read_text()
    assert "Name=can0" in network and "BitRate=250000" in network
