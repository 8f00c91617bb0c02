#!/usr/bin/env bash
# pi/build-image.sh, after mmdebstrap: turn the Debian root file system ($1) into the tcu-sim image's.
# Runs on the build machine; programs inside the image run through `chroot` (under qemu-user on a
# non-arm64 machine). $2: the directory of wheels to install; PYTHON: the build
# machine's Python with tcu-sim (its `tcu service install --root` writes the service's files).
set -euo pipefail
root=$1
wheels=$2
pi=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
in_image() { chroot "$root" "$@"; }

# 1. The image's own files: the boot-partition config and first-boot services, udev rules, fstab,
#    hostname, the CAN HAT device-tree hook (pi/rootfs mirrors the root file system).
cp -R --no-preserve=ownership "$pi/rootfs/." "$root/"
install -D -m 0644 "$pi/first-boot/tcu.toml" "$root/usr/share/tcu-sim/tcu.toml.template"

# 2. tcu-sim: a venv on top of Debian's Python packages (--system-site-packages), our wheel and the
#    pinned ones Debian lacks, all --no-deps: every other dependency is a Debian package.
in_image python3 -m venv --system-site-packages --without-pip /opt/tcu-sim
mkdir -p "$root/tmp/tcu-wheels"
cp "$wheels"/*.whl "$root/tmp/tcu-wheels/"
mapfile -t whls < <(cd "$root/tmp/tcu-wheels" && ls ./*.whl)
in_image /opt/tcu-sim/bin/python -m pip install --quiet --no-index --no-deps --no-cache-dir \
    --disable-pip-version-check "${whls[@]/#.//tmp/tcu-wheels}"
rm -rf "$root/tmp/tcu-wheels"
ln -sf /opt/tcu-sim/bin/tcu "$root/usr/local/bin/tcu"

# 3. The service, as on any Pi: `tcu service install --root` writes the unit, udev rules, sysusers
#    entry and the default CAN .network; the config comes from the boot partition at each boot
#    (tcu-boot-config.service runs `tcu service install --config /boot/firmware/tcu.toml`).
"$PYTHON" -m tcu.cli service install --root "$root" --exec /opt/tcu-sim/bin/tcu
in_image systemd-sysusers
in_image systemctl enable --quiet systemd-networkd.service tcu-boot-config.service tcu-first-boot.service
# Nothing in the image needs the LAN to be up (the unit's data link is the modem, and tcu.service is
# not ordered after network-online.target); anything that asks for network-online would wait up to
# 2 minutes at every boot of a car without an Ethernet cable (can0 and eth0 never "online").
in_image systemctl mask --quiet systemd-networkd-wait-online.service

# 4. Logins: root has no password and logs in on the HDMI console only (the header UART belongs to
#    the modem, so no serial console); SSH takes keys only (Debian's PermitRootLogin
#    prohibit-password). sysconf.txt on the boot partition sets a password or a key. SSH host keys
#    are made on each Pi's first boot, never shipped in the image.
in_image passwd --quiet --delete root
rm -f "$root"/etc/ssh/ssh_host_*

# 5. Boot partition: the initramfs, then raspi-firmware's hook writes config.txt and cmdline.txt from
#    these settings and copies kernel, initrd and device trees; then ours (z60) adds the CAN HAT.
cat >> "$root/etc/default/raspi-firmware" <<'EOF'

# tcu-sim image: boot by label (the image is flashed to cards of any name), the console on HDMI only:
# the header UART is the modem's.
ROOTPART="LABEL=RASPIROOT"
CONSOLES="tty0"
EOF
install -m 0644 "$pi/config.txt" "$root/etc/default/raspi-firmware-custom"
rm "$root/usr/sbin/update-initramfs"          # build-image.sh diverted it until now: make it once
in_image dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
in_image update-initramfs -c -k all           # its post-update hooks: raspi-firmware's z50, then ours
install -m 0644 "$pi/first-boot/tcu.toml" "$pi/first-boot/sysconf.txt" "$root/boot/firmware/"

# 6. Nothing of the build machine or of this build's apt run stays in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/tmp/* "$root"/root/.cache
