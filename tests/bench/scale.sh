#!/bin/sh
# Benchmark (not a ctest): does the join of compute nodes scale? 3 control nodes + N compute
# nodes, each node in its own network namespace (tests/cluster/testbed.py, as the cluster
# tier), with the real mi-firstboot, the real Consul (servers on the controls, a client on
# each compute node: no JVM, so 50 fit in memory) and the real ZooKeeper (controls only).
#
# Start order: the 3 control nodes are started and formed first (every step done; they go
# on answering beacons with --serve-beacon -1, as the image's unit does); then all N
# compute nodes are started together, back to back, as a fleet of compute machines booting
# at once. (START=together starts controls and compute nodes back to back instead; the time
# then includes the control cluster's own formation.)
#
# Measured, for each N: seconds from the last compute node's start until every compute node
# is an alive member (Status 1) in every control node's /v1/agent/members AND its
# mi-firstboot run has ended (exit 0) with the committed ensemble in its state.json and every
# step done; then the ratio of the largest N's time to the smallest N's (target: under
# 1.3x). Conditions are sampled every 0.1 s, each with a deadline (MI_CLUSTER_FORM_TIMEOUT,
# 360 s). Every namespace and process is removed at the end, on failure and on SIGINT.
#
#   tests/bench/scale.sh [path/to/mi-firstboot] [N...]      (root; default N: 1 50)
#   RUNS=3 METHOD=static START=together tests/bench/scale.sh ...
#
# The table's phase columns are median/max over the compute nodes, seconds after the last
# start: discover (its configuration check done), consul up (its Consul process started),
# leader seen (the consul step done), ensemble (the zookeeper step: digest + ensemble read),
# run done (the run ended), member (alive on every control); fb cpu and consul cpu are the
# mean CPU seconds of one node's mi-firstboot run and of its Consul client.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/firstboot/mi-firstboot}
[ $# -gt 0 ] && shift
sizes=${*:-1 50}
out=$(mktemp /tmp/mi-bench-scale-XXXXXX.log)
trap 'rm -f "$out"' EXIT
# The harness cleans up on SIGINT/SIGTERM itself (testbed.py); the shell only waits for it
# (a trap that is not '' leaves the child's SIGINT at its default).
trap ':' INT TERM
python3 "$here/../cluster/scale.py" --binary "$bin" --runs "${RUNS:-1}" --method "${METHOD:-beacon}" \
  --start "${START:-after}" $sizes >"$out" 2>&1
rc=$?
trap - INT TERM
if [ $rc -eq 0 ]; then
  sed -n '/^=== scale/,$p' "$out"
else
  echo "scale bench FAILED (exit $rc):"
  tail -n 30 "$out"
fi
exit $rc
