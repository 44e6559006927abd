#!/usr/bin/env bash
# Benchmark (not a test, not in ctest): one cold build of the all-in-one package set into a
# bootable disk image with `mibuild` and with Debian's mkosi (v14), side by side on this machine.
# Prints wall times, image sizes and the ratios. Both download every package from Debian's mirror
# (nothing cached), so network time is part of both numbers.
#
#   bash tests/bench/build_vs_mkosi.sh [BUILD_DIR]      (as root; takes ~10-20 minutes)
#
# mkosi gets the same packages (base + control + compute roles of spec.yaml, and the kernel,
# systemd-boot, sshd that mibuild always installs), Consul from bullseye through the same apt
# source + pin (a skeleton tree), a read-only compressed root (gpt_squashfs, mkosi's closest to
# our erofs) and a qcow2 output. It makes a unified kernel image with dracut; mibuild uses
# systemd-boot + the Debian initramfs. The two images are not byte-for-byte the same product:
# the comparison is of the tool's cost for the same package set.
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

echo "== mkosi $(mkosi --version | awk '{print $2}') (cold: no package cache)"
skel=$work/mkosi-skeleton
mkdir -p "$skel/etc/apt/sources.list.d" "$skel/etc/apt/preferences.d"
echo "deb $mirror bullseye main" >"$skel/etc/apt/sources.list.d/bullseye.list"
printf 'Package: *\nPin: release n=bullseye\nPin-Priority: -1\n\nPackage: consul\nPin: release n=bullseye\nPin-Priority: 990\n' \
  >"$skel/etc/apt/preferences.d/mi-pins"
pkgargs=()
for p in "${packages[@]}"; do pkgargs+=(-p "$p"); done
t0=$(now)
(cd "$work" && mkosi -d debian -r bookworm -m "$mirror" -t gpt_squashfs --bootable --with-docs --qcow2 \
  --hostname mi-all-in-one --skeleton-tree "$skel" --var-size 1G --esp-size 256M "${pkgargs[@]}" \
  -o "$work/mkosi-out/image.qcow2" --force build) >"$work/mkosi.log" 2>&1 || { tail -40 "$work/mkosi.log"; exit 1; }
t1=$(now)
mk_time=$(secs "$t0" "$t1")
mk_img=$(ls "$work"/mkosi-out/image.qcow2* | head -n 1)
mk_qcow=$(stat -c %s "$mk_img")
mk_virt=$(qemu-img info --output=json "$mk_img" | jq '."virtual-size"')

mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
printf '%-28s %14s %14s %10s\n' "" "mibuild" "mkosi" "mibuild/mkosi"
printf '%-28s %13ss %13ss %10s\n' "cold build wall time" "$mi_time" "$mk_time" "$(ratio "$mi_time" "$mk_time")"
printf '%-28s %14s %14s %10s\n' "qcow2 file size" "$(mib "$mi_qcow")" "$(mib "$mk_qcow")" "$(ratio "$mi_qcow" "$mk_qcow")"
printf '%-28s %14s %14s %10s\n' "virtual disk size" "$(mib "$mi_virt")" "$(mib "$mk_virt")" "$(ratio "$mi_virt" "$mk_virt")"
