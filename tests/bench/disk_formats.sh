#!/usr/bin/env bash
# Benchmark (not a test, not in ctest): our disk format writers against `qemu-img convert` on the
# same assembled disk, in one run. For each format (qcow2, qcow2 with zlib and with zstd
# compressed clusters, vmdk streamOptimized, vhd fixed) it converts the same raw disk with
# `mibuild convert` and with `qemu-img convert`, checks both with `qemu-img compare` against the
# raw, and prints wall time, file size and allocated size of each and the ratios ours/qemu-img
# (below 1: ours is faster / smaller).
#
#   bash tests/bench/disk_formats.sh [IMAGE] [BUILD_DIR]    (IMAGE: a raw or qcow2 role image;
#       default: build/image-out/mi-all-in-one.qcow2, as the image tier builds it)
#   RUNS=3 bash tests/bench/disk_formats.sh ...              (the median of RUNS runs each)
#   FORMATS="vhd qcow2" bash tests/bench/disk_formats.sh ... (only these rows)
#
# The input is converted to a sparse raw first (not timed), so both read the same file from the
# page cache. qemu-img runs with its defaults (8 coroutines, in-order writes) and is followed by
# `sync -f` of its output (mibuild fsyncs its outputs before renaming them into place); each
# side may use every core for compression. Times on these shared machines are noisy: compare ratios, run
# more than once.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
image=${1:-$here/build/image-out/mi-all-in-one.qcow2}
build=${2:-$here/build}
mibuild=$build/builder/mibuild
runs=${RUNS:-1}
[ -x "$mibuild" ] || { echo "no $mibuild: build the project first (make build)" >&2; exit 1; }
[ -f "$image" ] || { echo "no $image: build an image first (make demo, or ctest -R image_build)" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "qemu-img missing (apt-get install qemu-utils)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/mi-bench-formats.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764000000}

raw=$work/disk.raw
qemu-img convert -O raw "$image" "$raw"
cat "$raw" >/dev/null  # into the page cache for both sides
echo "input: $image -> $(du -h --apparent-size "$raw" | cut -f1) raw ($(du -h "$raw" | cut -f1) allocated), $(nproc) cores"

now() { date +%s.%N; }
# The median of the wall times of running "$@" $runs times.
timed() {
  local t=() i
  for ((i = 0; i < runs; i++)); do
    local a b
    a=$(now)
    "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    b=$(now)
    t+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }')")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# qemu-img convert, then its output flushed to disk: mibuild fsyncs what it writes before the
# rename that makes it appear, qemu-img does not; timing both to the same durability.
qemu_durable() {
  local out=$1
  shift
  qemu-img convert -f raw "$@" "$raw" "$out" && sync -f "$out"
}

printf '\n%-12s %9s %9s %6s | %11s %11s %6s | %11s %11s\n' format "ours s" "qemu s" ratio "ours size" "qemu size" ratio \
  "ours alloc" "qemu alloc"
row() {  # name qemu-format ours-args... -- qemu-args...
  local name=$1 qfmt=$2
  [ -z "${FORMATS:-}" ] || [[ " $FORMATS " == *" $name "* ]] || return 0
  shift 2
  local ours=() qemu=()
  while [ "$1" != -- ]; do ours+=("$1"); shift; done
  shift
  qemu=("$@")
  local o=$work/ours.$name q=$work/qemu.$name
  local to tq
  to=$(timed "$mibuild" convert "$raw" -o "$o" "${ours[@]}")
  tq=$(timed qemu_durable "$q" "${qemu[@]}")
  for f in "$o" "$q"; do  # (role disks are whole MiB, so a VHD's size is the raw's)
    qemu-img compare -q -f raw -F "$qfmt" "$raw" "$f" || { echo "$f differs from the raw disk" >&2; exit 1; }
  done
  local so sq ao aq
  so=$(stat -c %s "$o"); sq=$(stat -c %s "$q")
  ao=$(du -B1 "$o" | cut -f1); aq=$(du -B1 "$q" | cut -f1)
  printf '%-12s %9.2f %9.2f %6.2f | %11d %11d %6.2f | %11d %11d\n' "$name" "$to" "$tq" \
    "$(awk -v a="$to" -v b="$tq" 'BEGIN { print a / b }')" "$so" "$sq" \
    "$(awk -v a="$so" -v b="$sq" 'BEGIN { print a / b }')" "$ao" "$aq"
  rm -f "$o" "$q"
}

row qcow2 qcow2 -f qcow2 -- -O qcow2 -o compat=1.1
row qcow2-zlib qcow2 -f qcow2 --compress zlib -- -O qcow2 -c -o compat=1.1,compression_type=zlib
row qcow2-zstd qcow2 -f qcow2 --compress zstd -- -O qcow2 -c -o compat=1.1,compression_type=zstd
row vmdk vmdk -f vmdk -- -O vmdk -o subformat=streamOptimized
row vhd vpc -f vhd -- -O vpc -o subformat=fixed,force_size=on
echo
echo "ratio = ours / qemu-img: below 1 is faster (time) or smaller (size)."
