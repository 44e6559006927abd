#!/usr/bin/env bash
# Benchmark (not a test, not in ctest): one cold build of the all-in-one package set into a
# bootable disk image with `mibuild` and with Debian's mkosi (v14), side by side on this machine.
# Prints wall times, image sizes and the ratios. Both download every package from Debian's mirror
# (nothing cached), so network time is part of both numbers.
#
#   bash tests/bench/build_vs_mkosi.sh [BUILD_DIR]      (as root; takes ~10-20 minutes)
#
# mkosi gets the same packages (base + control + compute roles of spec.yaml, and the kernel,
# systemd-boot, sshd, GRUB i386-pc that mibuild always installs) and Consul from bullseye through
# the same apt source + pin (a skeleton tree).
#
# Output: MKOSI_FORMAT=disk asks mkosi for what mibuild makes (gpt_squashfs, bootable, qcow2).
# mkosi 14 builds disks through loop devices and mounts; on these machines that fails (the host
# kernel has no vfat for the ESP, and detaching loop partitions fails with ENXIO), so the default,
# MKOSI_FORMAT=directory, times mkosi's root tree alone: debootstrap + apt, no partitions, no
# file systems, no disk. That is a lower bound of mkosi's cost, against mibuild's whole pipeline
# (root tree + erofs + ext4 + ESP + GPT + qcow2).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
mibuild=$build/builder/mibuild
[ -x "$mibuild" ] || { echo "no $mibuild: build the project first (make build)" >&2; exit 1; }
mirror=${MI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/mi-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

packages=(linux-image-amd64 initramfs-tools systemd systemd-sysv systemd-resolved systemd-boot-efi udev dbus
          openssh-server ca-certificates iproute2 sudo less curl openjdk-17-jre-headless zookeeper consul
          dnsmasq docker.io)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "== mibuild (cold: empty work dir)"
t0=$(now)
"$mibuild" build "$here/spec.yaml" -r all-in-one -f qcow2 -o "$work/mibuild-out" --work-dir "$work/mibuild-work" \
  >"$work/mibuild.log" 2>&1 || { tail -30 "$work/mibuild.log"; exit 1; }
t1=$(now)
mi_time=$(secs "$t0" "$t1")
mi_qcow=$(stat -c %s "$work/mibuild-out/mi-all-in-one.qcow2")
mi_virt=$(qemu-img info --output=json "$work/mibuild-out/mi-all-in-one.qcow2" | jq '."virtual-size"')
rm -rf "$work/mibuild-work"
echo "   mibuild: ${mi_time}s, qcow2 $mi_qcow bytes"

echo "== mkosi $(mkosi --version | awk '{print $2}') (cold: no package cache)"
skel=$work/mkosi-skeleton
mkdir -p "$skel/etc/apt/sources.list.d" "$skel/etc/apt/preferences.d"
echo "deb $mirror bullseye main" >"$skel/etc/apt/sources.list.d/bullseye.list"
printf 'Package: *\nPin: release n=bullseye\nPin-Priority: -1\n\nPackage: consul\nPin: release n=bullseye\nPin-Priority: 990\n' \
  >"$skel/etc/apt/preferences.d/mi-pins"
mkdir -p "$work/mkosi-out"
pkgargs=()
for p in "${packages[@]}" grub-pc-bin; do pkgargs+=(-p "$p"); done
mkformat=${MKOSI_FORMAT:-directory}
if [ "$mkformat" = disk ]; then
  fmtargs=(-t gpt_squashfs --bootable --qcow2 --var-size 1G --esp-size 256M -o "$work/mkosi-out/image.qcow2")
else
  fmtargs=(-t directory -o "$work/mkosi-out/root")
fi
t0=$(now)
(cd "$work" && mkosi -d debian -r bookworm -m "$mirror" --with-docs --hostname mi-all-in-one \
  --skeleton-tree "$skel" "${pkgargs[@]}" "${fmtargs[@]}" --force build) >"$work/mkosi.log" 2>&1 ||
  { tail -40 "$work/mkosi.log"; exit 1; }
t1=$(now)
mk_time=$(secs "$t0" "$t1")
echo "   mkosi ($mkformat): ${mk_time}s"
if [ "$mkformat" = disk ]; then
  mk_img=$(ls "$work"/mkosi-out/image.qcow2* | head -n 1)
  mk_qcow=$(stat -c %s "$mk_img")
  mk_virt=$(qemu-img info --output=json "$mk_img" | jq '."virtual-size"')
else
  # No disk: the tree's size uncompressed stands in for both (mibuild's root is lz4hc erofs).
  mk_qcow=$(du -sb "$work/mkosi-out/root" | cut -f1)
  mk_virt=$mk_qcow
  echo "   (mkosi made a directory tree, no disk: sizes below are the tree's, uncompressed)"
fi

mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
printf '%-28s %14s %14s %10s\n' "" "mibuild" "mkosi" "mibuild/mkosi"
printf '%-28s %13ss %13ss %10s\n' "cold build wall time" "$mi_time" "$mk_time" "$(ratio "$mi_time" "$mk_time")"
printf '%-28s %14s %14s %10s\n' "qcow2 file size" "$(mib "$mi_qcow")" "$(mib "$mk_qcow")" "$(ratio "$mi_qcow" "$mk_qcow")"
printf '%-28s %14s %14s %10s\n' "virtual disk size" "$(mib "$mi_virt")" "$(mib "$mk_virt")" "$(ratio "$mi_virt" "$mk_virt")"
