#!/usr/bin/env bash
# Idempotent set-up: installs every Debian package the project builds with, tests with and
# benchmarks with. Debian bookworm only, plus bullseye enabled for the `consul` package alone
# (Consul 1.8.7, a static binary that runs on bookworm).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs Debian packages)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

mirror=${MI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
src=/etc/apt/sources.list.d/mi-bullseye-consul.sources
want="Types: deb
URIs: $mirror
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
pin=/etc/apt/preferences.d/mi-bullseye-consul
want_pin="Package: *
Pin: release n=bullseye
Pin-Priority: -1

Package: consul
Pin: release n=bullseye
Pin-Priority: 500"
changed=0
if [ "$(cat "$src" 2>/dev/null)" != "$want" ]; then printf '%s\n' "$want" >"$src"; changed=1; fi
if [ "$(cat "$pin" 2>/dev/null)" != "$want_pin" ]; then printf '%s\n' "$want_pin" >"$pin"; changed=1; fi

stamp=/var/lib/apt/periodic/mi-update-stamp
if [ "$changed" = 1 ] || [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720)" ]; then
  # Foreign repositories configured on a machine may be unreachable; Debian's mirror is what counts.
  apt-get update -o Acquire::Retries=3 || true
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi

pkgs=(
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  libarchive-dev libguestfs-dev libyaml-cpp-dev libssl-dev libcli11-dev catch2 nlohmann-json3-dev
  libcurl4-openssl-dev libsystemd-dev zlib1g-dev libzstd-dev openssh-client
  mmdebstrap erofs-utils squashfs-tools dosfstools mtools fdisk cryptsetup-bin xorriso
  systemd-boot-efi ovmf seabios qemu-system-x86 qemu-utils libarchive-tools grub-common
  attr acl libcap2-bin
  ipxe-qemu
  guestfish linux-image-amd64
  zookeeper consul iproute2 dnsutils curl jq python3 dnsmasq-base
  mkosi libxml2-utils vagrant sudo openssl
)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
