#!/usr/bin/env bash
# Build the tcu-sim Raspberry Pi SD-card image (`make pi-image`; docs/pi-image.md says what is in it).
#
#   sudo pi/build-image.sh [--check]        # --check: only say what this machine lacks
#
# Debian bookworm arm64 for Pi 3/4/5 and Zero 2 W, from Debian's packages only (pi/packages.txt),
# made by mmdebstrap (cross-built through qemu-user binfmt on a non-arm64 machine) plus tcu-sim's own
# wheel and the few pure-Python wheels Debian lacks (pi/pypi-wheels.txt, pinned by hash). The image
# is put together without loop devices or mounts: the FAT boot partition by mtools, the ext4 root by
# `mkfs.ext4 -d`, the MBR by sfdisk.
#
# Settings (environment): OUT (default build/tcu-sim-pi-arm64.img), PYTHON (the Python with tcu-sim
# installed, default .venv/bin/python), APT_CACHE (downloaded .debs kept for the next build on this
# machine, default build/apt-cache; nothing else is kept), MIRROR, SECURITY_MIRROR, BOOT_MB (256).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
OUT=${OUT:-$repo/build/tcu-sim-pi-arm64.img}
PYTHON=${PYTHON:-$repo/.venv/bin/python}
APT_CACHE=${APT_CACHE:-$repo/build/apt-cache}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BOOT_MB=${BOOT_MB:-256}
SUITE=bookworm
AARCH64_MAGIC=7f454c460201010000000000000000000200b700   # ELF, 64-bit, little endian, EM_AARCH64

say() { printf 'pi-image: %s\n' "$*" >&2; }

# An enabled binfmt_misc entry for arm64 ELF files (qemu-user's), so the chroot's programs run.
arm64_binfmt() {
    local f
    for f in /proc/sys/fs/binfmt_misc/*; do
        [ -f "$f" ] && grep -qx enabled "$f" 2>/dev/null && grep -q "^magic $AARCH64_MAGIC" "$f" && return 0
    done
    return 1
}

# What this machine lacks, one line each with the way to get it; nothing when it has everything.
missing() {
    [ "$(id -u)" -eq 0 ] || echo "root: mmdebstrap builds the root file system as root and chroots into it: run it with sudo"
    local tool pkg
    for tool in mmdebstrap:mmdebstrap mkfs.vfat:dosfstools mcopy:mtools mkfs.ext4:e2fsprogs sfdisk:fdisk; do
        pkg=${tool#*:}; tool=${tool%%:*}
        command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null 2>&1 \
            || echo "$tool: apt-get install $pkg"
    done
    if [ "$(uname -m)" != aarch64 ]; then
        if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
            echo "binfmt_misc: not mounted, so arm64 programs cannot run here: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"
        elif ! arm64_binfmt; then
            echo "binfmt: no enabled handler for arm64 programs: apt-get install qemu-user-static binfmt-support, then update-binfmts --enable qemu-aarch64"
        fi
    fi
    "$PYTHON" -c 'import tcu.cli' 2>/dev/null || echo "tcu-sim: $PYTHON cannot import tcu: run 'make pi-image' (it makes .venv) or set PYTHON"
    "$PYTHON" -m pip --version >/dev/null 2>&1 || echo "pip: $PYTHON has no pip (it builds the tcu-sim wheel)"
    local dir free
    dir=$(dirname "$OUT"); mkdir -p "$dir" 2>/dev/null || true
    free=$(df -Pm "$dir" 2>/dev/null | awk 'NR==2 {print $4}')
    [ -z "$free" ] || [ "$free" -ge 4096 ] || echo "disk: $free MB free under $dir; the build needs about 4 GB (the root file system twice, then the image)"
}

preflight() {
    local lacks
    lacks=$(missing)
    if [ -n "$lacks" ]; then
        say "cannot build the image on this machine:"
        printf '%s\n' "$lacks" | sed 's/^/  - /' >&2
        exit 2
    fi
}

# The wheels the image installs: tcu-sim's own, built from a clean copy of the work tree (so that
# setuptools' build/ and egg-info stay out of the checkout), and the pinned ones Debian lacks.
wheels() {
    local dest=$1 src=$work/src
    mkdir -p "$src" "$dest"
    tar -C "$repo" --exclude=./.venv --exclude=./build --exclude=./.git --exclude='*.egg-info' \
        --exclude=__pycache__ -cf - . | tar -C "$src" -xf -
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$dest" "$src"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r "$here/pypi-wheels.txt" -d "$dest"
}

# The initramfs is made once, at the end of the customize hook (under qemu one mkinitramfs takes
# minutes; the kernel's postinst and the package triggers would make it twice): until then
# update-initramfs is diverted to /bin/true.
rootfs() {
    local root=$1 pkgs
    pkgs=$(sed 's/#.*//' "$here/packages.txt" | xargs | tr ' ' ',')
    mkdir -p "$APT_CACHE"
    mmdebstrap --mode=root --architectures=arm64 --variant=apt --components="main non-free-firmware" \
        --aptopt='APT::Install-Recommends "false"' --include="$pkgs" \
        --skip=essential/unlink \
        --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add --divert /usr/sbin/update-initramfs.tcu-build /usr/sbin/update-initramfs' \
        --essential-hook='ln -s /bin/true "$1/usr/sbin/update-initramfs"' \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in '$APT_CACHE' /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives '$APT_CACHE'" \
        "$SUITE" "$root" \
        "deb $MIRROR $SUITE main non-free-firmware" \
        "deb $MIRROR $SUITE-updates main non-free-firmware" \
        "deb $SECURITY_MIRROR $SUITE-security main non-free-firmware"
}

# Boot partition (FAT32, label RASPIFIRM) and root (ext4, label RASPIROOT) as files, then the disk
# image: MBR (the Pi's boot ROM reads only MBR), 4 MiB in, boot then root.
assemble() {
    local root=$1 img=$2 boot_img=$work/boot.vfat root_img=$work/root.ext4 used_mb root_mb
    mkdir -p "$work/bootfs"
    find "$root/boot/firmware" -mindepth 1 -maxdepth 1 -exec mv -t "$work/bootfs" {} +
    rm -f "$boot_img"
    mkfs.vfat -F 32 -n RASPIFIRM -C "$boot_img" $((BOOT_MB * 1024)) >/dev/null
    MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -i "$boot_img" "$work/bootfs"/* ::/
    used_mb=$(du -sm --apparent-size "$root" | cut -f1)
    root_mb=$(( used_mb * 13 / 10 + 300 ))      # room for the first boot; it grows to the card then
    mkfs.ext4 -q -F -L RASPIROOT -E root_owner=0:0 -d "$root" "$root_img" "${root_mb}M"
    rm -f "$img"
    truncate -s $(( (4 + BOOT_MB + root_mb) * 1024 * 1024 )) "$img"
    sfdisk --quiet "$img" <<EOF
label: dos
start=4MiB, size=${BOOT_MB}MiB, type=c, bootable
start=$(( 4 + BOOT_MB ))MiB, type=83
EOF
    dd if="$boot_img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
    dd if="$root_img" of="$img" bs=1M seek=$(( 4 + BOOT_MB )) conv=notrunc,sparse status=none
}

# pi/hooks/customize.sh on the finished root file system, with /proc and /dev for its chroot.
customize() {
    local root=$1
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"
    PYTHON=$PYTHON "$here/hooks/customize.sh" "$root" "$work/wheels"
    umount_all "$root"
}

umount_all() {
    local root=$1
    if mountpoint -q "$root/dev"; then umount -R "$root/dev"; fi
    if mountpoint -q "$root/proc"; then umount "$root/proc"; fi
}

# The temporary root file system goes, also after a failure (KEEP_WORK=1 keeps it to look into).
cleanup() {
    [ -n "${work:-}" ] && [ -d "$work" ] || return 0
    umount_all "$work/rootfs" 2>/dev/null || true
    if [ "${KEEP_WORK:-}" = 1 ]; then say "kept $work"; else rm -rf --one-file-system "$work"; fi
}

main() {
    if [ "${1:-}" = --check ]; then
        local lacks; lacks=$(missing)
        [ -z "$lacks" ] && { echo "pi-image: this machine can build the image"; exit 0; }
        printf '%s\n' "$lacks" | sed 's/^/pi-image: lacks /'; exit 2
    fi
    preflight
    local start=$SECONDS
    mkdir -p "$(dirname "$OUT")"
    work=$(mktemp -d "$(dirname "$OUT")/pi-work.XXXXXX")
    trap cleanup EXIT
    say "wheels (tcu-sim + $(grep -c '^[a-z]' "$here/pypi-wheels.txt") from pi/pypi-wheels.txt)"
    wheels "$work/wheels"
    say "root file system: Debian $SUITE arm64 by mmdebstrap (minutes; under qemu on a non-arm64 machine)"
    rootfs "$work/rootfs"
    say "tcu-sim, its service and the boot partition (the initramfs: minutes under qemu)"
    customize "$work/rootfs"
    say "disk image"
    assemble "$work/rootfs" "$work/image"
    mv "$work/image" "$OUT"
    say "$OUT: $(du -h --apparent-size "$OUT" | cut -f1) in $(( SECONDS - start )) s. Flash it: docs/pi-image.md"
}

main "$@"
