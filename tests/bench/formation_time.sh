#!/bin/sh
# Benchmark (not a ctest): seconds from starting the last of N control nodes to a formed
# cluster (one ZooKeeper leader + N-1 followers, one Consul leader with N Raft peers), for
# N = 3, 5, 7, each in its own network-namespace testbed (tests/cluster/testbed.py), and
# how much of it is Consul's own time, ZooKeeper's own time and mi-firstboot's (the rest:
# discovery, agreement through Consul KV, writing configs, starting services).
#   tests/bench/formation_time.sh [path/to/mi-firstboot] [N...]      (needs root)
#   RUNS=3 tests/bench/formation_time.sh ...     repeats each size (one line per run)
# The nodes are started back to back, so "last start" is within a second of the first.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/firstboot/mi-firstboot}
[ $# -gt 0 ] && shift
sizes=${*:-3 5 7}
status=0
for n in $sizes; do
for _run in $(seq "${RUNS:-1}"); do
  out=$(mktemp /tmp/mi-bench-XXXXXX.log)
  if python3 "$here/../cluster/scenarios.py" --binary "$bin" --controls "$n" bench >"$out" 2>&1; then
    grep '^controls=' "$out"
  else
    echo "controls=$n FAILED:"; tail -n 20 "$out"; status=1
  fi
  rm -f "$out"
done
done
exit $status
