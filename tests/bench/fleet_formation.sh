#!/usr/bin/env bash
# Fleet formation under QEMU/TCG: 3 control VMs + 1 compute VM from the built images, each with
# only a NoCloud seed, on a LAN in a network namespace (tests/image/fleet.py, without its reboot
# part). Prints seconds from starting the last VM to every node reporting its cluster formed,
# and per VM how much of that was booting, discovery, Consul, ZooKeeper and the rest.
#   tests/bench/fleet_formation.sh [IMAGE_DIR]   (default: build/image-out, as the image tier builds it)
# Needs root. A benchmark, not a test: the machine is shared, the numbers are noisy.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
images=${1:-$here/build/image-out}
mibuild=${MIBUILD:-$here/build/builder/mibuild}
for r in control compute; do
  [ -e "$images/mi-$r.qcow2" ] || { echo "fleet_formation: $images/mi-$r.qcow2 missing (build: $mibuild build -r control -r compute -o $images)" >&2; exit 1; }
done
exec python3 "$here/tests/image/fleet.py" --mibuild "$mibuild" --images "$images" --no-reboot --deadline 3000
