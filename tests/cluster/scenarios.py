#!/usr/bin/env python3
# The cluster tier's scenarios (registered in ctest by CMakeLists.txt, label `cluster`): real
# mi-firstboot binaries, each in its own network namespace of testbed.py, forming a cluster
# with the real ZooKeeper (Debian bookworm) and the real Consul 1.8.7, then checked from the
# outside through ZooKeeper's `srvr`, Consul's HTTP API and DNS, and `mi-firstboot status`.
#
#   scenarios.py [--binary build/firstboot/mi-firstboot] SCENARIO
#     substrate  no mi-firstboot: Consul and ZooKeeper started by hand in the namespaces (is
#                the environment able to run the tier at all: netns, JVM memory, loss, delay)
#     formation  dc1: 3 control + 1 compute, beacon discovery; dc2: 1 control, static
#                discovery, WAN-joined to dc1
#     faults     dc1 under 20% loss + 100 ms delay, one control started 20 s late, two killed
#                and restarted during formation, one node with the wrong secret (x1), one
#                with another control_count (y1)
#     digest     the configuration check before Consul (--method static|beacon): a misconfigured
#                node starting first, a second after, last, and 2 good + 2 bad of expected 3
#     replay     a captured beacon replayed from another address while its node is down, and
#                across a restart of the receiving node
#     cleanup    runs `formation` forced to fail, interrupted by SIGTERM, and SIGKILLed (then
#                the next run's stale cleanup), and checks that nothing was left behind
#     bench      (tests/bench/formation_time.sh) formation time of --controls N
# Exit 0 = passed, 1 = an assertion failed (the message says which), 77 = cannot run here.
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed  # noqa: E402
from testbed import Failure, Testbed, consul_json, log, wait_for, zk_srvr  # noqa: E402

# Deadlines are generous (2 cores shared by several JVMs); waits end as soon as the condition
# holds, so they cost nothing when things are fast.
FORM_TIMEOUT = float(os.environ.get("MI_CLUSTER_FORM_TIMEOUT", "360"))
CLUSTER = "mi-test"
DEFAULT_SECRET = "s3cret-for-tests-0123456789abcdef"


# --- mi-firstboot as the tests drive it ---------------------------------------------------
class Firstboot:
    """How the harness starts and queries the real binary (docs/firstboot-steps.md)."""

    def __init__(self, binary):
        self.binary = binary

    def snapshot_on_failure(self, bed):
        """A failed run keeps each node's last `status --json` (status.json) with its logs."""
        def snap():
            for n in bed.nodes.values():
                if os.path.exists(n.path("cluster.yaml")):
                    try:
                        self.status(bed, n)
                    except (Failure, ValueError, subprocess.SubprocessError):
                        pass
        bed.on_failure.append(snap)

    def write_node_files(self, node, role, dc, control_count, discovery, peers=(), wan_join=(),
                         secret=None, node_name=None):
        """The node's baked-in defaults (cluster.yaml, schema of firstboot/config_sources.h)
        and its secret file, mode 0600 (never on a command line)."""
        secret = secret or DEFAULT_SECRET
        secret_file = node.path("secret")
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        lines = [
            f"role: {role}",
            f"node: {node_name or node.name}",
            f"secret_file: {secret_file}",
            f"state_dir: {node.path('state')}",
            "cluster:",
            f"  name: {CLUSTER}",
            f"  datacenter: dc{dc}",
            f"  control_count: {control_count}",
            "  discovery:",
            f"    method: {discovery}",
        ]
        if peers:
            lines.append("    peers: [" + ", ".join(peers) + "]")
        if wan_join:
            lines.append("  wan_join: [" + ", ".join(wan_join) + "]")
        with open(node.path("cluster.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, bed, node, extra=()):
        log(f"start mi-firstboot on {node.name} ({node.address}){' ' + ' '.join(extra) if extra else ''}")
        env = dict(os.environ)
        return bed.spawn(node.ns, self.run_argv(node) + list(extra), node.path("firstboot.log"), env=env)

    def run_argv(self, node):
        # Only the baked-in defaults: no kernel command line, seed device or cloud metadata
        # (the host's would leak in). --timeout ends a node that can never finish (x1).
        return [self.binary, "run", "--runner", "process", "--state-dir", node.path("state"),
                "--config-file", node.path("cluster.yaml"), "--cmdline-file", "", "--metadata-url", "",
                "--no-seed-search", "--timeout", str(int(FORM_TIMEOUT * 2))]

    def step(self, bed, node, name):
        """(status, detail) of step NAME in the node's `status --json`."""
        for st in self.status(bed, node).get("steps", []):
            if st.get("name") == name:
                return st.get("status"), st.get("detail", "")
        return None, ""

    def status(self, bed, node):
        r = bed.run_in(node, [self.binary, "status", "--json", "--state-dir", node.path("state")],
                       check=False, timeout=30)
        with open(node.path("status.json"), "w") as f:  # kept with the logs when a run fails
            f.write(r.stdout)
        if r.returncode != 0 and not r.stdout.strip():
            raise Failure(f"status on {node.name}: exit {r.returncode}: {r.stderr.strip()[:300]}")
        return json.loads(r.stdout)

    @staticmethod
    def find(node, name):
        """Generated files, where firstboot/state.h's Layout puts them."""
        rel = {"zoo.cfg": "etc/zookeeper/zoo.cfg", "myid": "zookeeper/myid"}[name]
        path = os.path.join(node.path("state"), rel)
        if not os.path.exists(path):
            raise Failure(f"{node.name}: no {path}")
        return path

    def zoo_servers(self, node):
        """The `server.N=...` lines of the node's generated zoo.cfg (which must list them
        sorted by myid, DESIGN.md)."""
        with open(self.find(node, "zoo.cfg")) as f:
            lines = [line.strip() for line in f if line.startswith("server.")]
        key = lambda line: int(line.split("=", 1)[0].split(".", 1)[1])  # noqa: E731
        if lines != sorted(lines, key=key):
            raise Failure(f"{node.name}: zoo.cfg servers not sorted by myid: {lines}")
        return lines

    def myid(self, node):
        with open(self.find(node, "myid")) as f:
            return int(f.read().strip())


# firstboot/agreement.h: ensemble_key(); JSON {"version":1,"decided_by":..,"servers":[{myid,name,address}]}
ENSEMBLE_KEY = f"mi/{CLUSTER}/zookeeper/ensemble"


def ensemble_from_kv(node):
    """The committed ensemble as Consul KV holds it, read through NODE's agent."""
    status, body = testbed.http_get(node.ns, f"/v1/kv/{ENSEMBLE_KEY}?raw")
    if status != 200:
        raise Failure(f"KV {ENSEMBLE_KEY} via {node.name}: HTTP {status}")
    return body


# --- checks shared by the scenarios -------------------------------------------------------
def zk_modes(nodes):
    return {n.name: zk_srvr(n.ns).get("Mode") for n in nodes}


def wait_zk_quorum(nodes, timeout):
    def formed():
        modes = zk_modes(nodes)
        vals = sorted(str(m) for m in modes.values())
        want = ["standalone"] if len(nodes) == 1 else ["follower"] * (len(nodes) - 1) + ["leader"]
        return modes if vals == sorted(want) else None
    modes = wait_for(f"ZooKeeper quorum on {[n.name for n in nodes]}", formed, timeout)
    log(f"ZooKeeper modes: {modes}")
    return modes


def wait_consul_leader(nodes, timeout):
    want = sorted(f"{n.address}:8300" for n in nodes)

    def formed():
        leaders = {n.name: consul_json(n.ns, "/v1/status/leader") for n in nodes}
        if len(set(leaders.values())) != 1 or not next(iter(leaders.values())):
            return None
        peers = sorted(consul_json(nodes[0].ns, "/v1/status/peers"))
        return (leaders, peers) if peers == want else None
    leaders, peers = wait_for(f"one Consul leader with peers {want}", formed, timeout)
    log(f"Consul leader {next(iter(leaders.values()))}, peers {peers}")


def members(node, wan=False):
    return consul_json(node.ns, "/v1/agent/members" + ("?wan=1" if wan else ""))


def check_one_ensemble(fb, controls):
    """Same KV value seen through every control, same zoo.cfg server lines, myids matching."""
    # Each read goes to the Consul leader; under loss one may time out, so retry reads.
    values = {n.name: wait_for(f"KV {ENSEMBLE_KEY} read through {n.name}", lambda n=n: ensemble_from_kv(n), 60)
              for n in controls}
    if len(set(values.values())) != 1:
        raise Failure(f"ensemble KV differs between nodes: {values}")
    ensemble = next(iter(values.values()))
    log(f"ensemble in KV {ENSEMBLE_KEY}: {ensemble.strip()}")
    lines = {n.name: fb.zoo_servers(n) for n in controls}
    first = next(iter(lines.values()))
    if any(v != first for v in lines.values()):
        raise Failure(f"zoo.cfg server lines differ: {lines}")
    if len(first) != len(controls):
        raise Failure(f"zoo.cfg has {len(first)} servers, expected {len(controls)}: {first}")
    # server.N=ADDRESS:2888:3888... : each node's myid is the N of its own address, and the
    # KV ensemble names the same (N, address) pairs.
    by_addr = {}
    for line in first:
        m = re.match(r"server\.(\d+)=([^:]+):", line)
        if not m:
            raise Failure(f"unexpected zoo.cfg line {line!r}")
        by_addr[m.group(2)] = int(m.group(1))
    for n in controls:
        if by_addr.get(n.address) != fb.myid(n):
            raise Failure(f"{n.name}: myid {fb.myid(n)} but zoo.cfg gives {n.address} "
                          f"id {by_addr.get(n.address)}")
        if n.address not in ensemble:
            raise Failure(f"{n.name} ({n.address}) not in the KV ensemble {ensemble!r}")
    check_kv_matches_zoo(ensemble, by_addr)
    return ensemble


def check_kv_matches_zoo(ensemble, by_addr):
    """The KV value is JSON; every (myid, address) pair it holds must be zoo.cfg's."""
    try:
        doc = json.loads(ensemble)
    except ValueError:
        raise Failure(f"KV ensemble is not JSON: {ensemble!r}")
    pairs = set()

    def walk(x):
        if isinstance(x, dict):
            ids = [x[k] for k in ("myid", "id") if k in x]
            addrs = [x[k] for k in ("address", "addr", "host") if k in x]
            if ids and addrs:
                pairs.add((int(ids[0]), str(addrs[0])))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    want = {(i, a) for a, i in by_addr.items()}
    if pairs != want:
        raise Failure(f"KV ensemble (myid, address) pairs {sorted(pairs)} != zoo.cfg {sorted(want)}")


def check_secrets_kept(bed, nodes, secret=DEFAULT_SECRET):
    """The cluster secret and the gossip key derived from it appear in no log, no state or
    status file, no process's command line or environment, and the files that must hold
    key material are not world-readable (coding-guidelines.md: secrets)."""
    for n in nodes:
        conf = n.path("state", "etc", "consul.d", "consul.json")
        with open(conf) as f:
            gossip = json.load(f).get("encrypt", "")
        if not gossip:
            raise Failure(f"{n.name}: no gossip encrypt key in {conf}")
        if os.stat(conf).st_mode & 0o007:
            raise Failure(f"{n.name}: {conf} is world-accessible (mode {oct(os.stat(conf).st_mode)})")
        kept = n.path("state", "firstboot", "secret")  # the node keeps the secret of its first boot
        if not os.path.exists(kept) or os.stat(kept).st_mode & 0o077:
            raise Failure(f"{n.name}: {kept} missing or accessible to others than its owner")
        needles = {"secret": secret.encode(), "gossip key": gossip.encode()}
        for dirpath, dirs, files in os.walk(n.dir):
            dirs[:] = [d for d in dirs if d not in ("raft", "serf", "version-2")]  # service data
            for fn in files:
                path = os.path.join(dirpath, fn)
                if path in (n.path("secret"), kept, conf) or os.path.getsize(path) > 50 << 20:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                for what, needle in needles.items():
                    if needle in data:
                        raise Failure(f"{n.name}: the {what} appears in {path}")
        for pid in testbed.ns_pids(n.ns):
            for part in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{pid}/{part}", "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                for what, needle in needles.items():
                    if needle in data:
                        raise Failure(f"{n.name}: the {what} is in the {part} of pid {pid}")
    log("secret and gossip key: in no log, state, status, command line or environment")


def dig(bed, node, name, qtype="A"):
    r = bed.run_in(node, ["dig", "+short", "+time=2", "+tries=1", "@127.0.0.1", "-p", "8600", name, qtype],
                   check=False)
    return sorted(r.stdout.split())


# --- scenarios ----------------------------------------------------------------------------
def scenario_substrate(args):
    """Consul servers and a ZooKeeper ensemble started by hand: the environment check."""
    with Testbed("substrate") as bed:
        nodes = [bed.add_node(f"c{i}", 1, 10 + i, loss=20, delay_ms=100) for i in (1, 2, 3)]
        for i, n in enumerate(nodes, 1):
            os.makedirs(n.path("zk"))
            with open(n.path("zk", "myid"), "w") as f:
                f.write(f"{i}\n")
            cfg = ["tickTime=2000", "initLimit=10", "syncLimit=5", f"dataDir={n.path('zk')}",
                   "clientPort=2181", "admin.enableServer=false", "4lw.commands.whitelist=srvr,mntr,ruok"]
            cfg += [f"server.{j}={m.address}:2888:3888" for j, m in enumerate(nodes, 1)]
            with open(n.path("zoo.cfg"), "w") as f:
                f.write("\n".join(cfg) + "\n")
            bed.spawn(n.ns, ["java", "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
                             "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
                             "org.apache.zookeeper.server.quorum.QuorumPeerMain", n.path("zoo.cfg")],
                      n.path("zk.log"))
            argv = ["consul", "agent", "-server", "-bootstrap-expect", "3", "-bind", n.address, "-client",
                    "127.0.0.1", "-data-dir", n.path("consul"), "-node", n.name, "-datacenter", "dc1"]
            for m in nodes:
                if m is not n:
                    argv += ["-retry-join", m.address]
            bed.spawn(n.ns, argv, n.path("consul.log"))
        wait_zk_quorum(nodes, 180)
        wait_consul_leader(nodes, 180)
        answer = wait_for("consul.service.consul over Consul DNS",
                          lambda: (lambda a: a if a == sorted(n.address for n in nodes) else None)(
                              dig(bed, nodes[0], "consul.service.consul")), 60)
        log(f"consul.service.consul -> {answer}")
        maybe_force_fail(bed)


def runs_service_named(ns, *comms):
    """Is a process whose name (/proc/PID/comm) is one of COMMS running in namespace NS?"""
    for pid in testbed.ns_pids(ns):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() in comms:
                    return True
        except OSError:
            pass
    return False


def runs_service(ns):
    """Is a Consul or ZooKeeper (java) process running in namespace NS?"""
    return runs_service_named(ns, "consul", "java")


def maybe_force_fail(bed):
    """MI_CLUSTER_FORCE_FAIL=1: fail on purpose once services run (the cleanup scenario)."""
    if os.environ.get("MI_CLUSTER_FORCE_FAIL") == "1":
        wait_for("a Consul or ZooKeeper process in some node namespace",
                 lambda: any(runs_service(n.ns) for n in bed.nodes.values()), 300, 0.5)
        log("MI_CLUSTER_FORCE_FAIL=1: failing on purpose with services running")
        raise Failure("forced failure (MI_CLUSTER_FORCE_FAIL=1)")


def scenario_formation(args):
    fb = Firstboot(args.binary)
    with Testbed("formation") as bed:
        fb.snapshot_on_failure(bed)
        controls = [bed.add_node(f"c{i}", 1, 10 + i) for i in (1, 2, 3)]
        compute = bed.add_node("w1", 1, 21)
        dc2 = bed.add_node("d2c1", 2, 11)
        for n in controls:
            fb.write_node_files(n, "control", 1, 3, "beacon")
        fb.write_node_files(compute, "compute", 1, 3, "beacon")
        fb.write_node_files(dc2, "control", 2, 1, "static", peers=[dc2.address],
                            wan_join=[n.address for n in controls])
        for n in controls + [compute, dc2]:
            fb.start(bed, n)
        maybe_force_fail(bed)

        # dc1: one ZooKeeper leader + two followers, one Consul leader with 3 Raft peers.
        wait_zk_quorum(controls, FORM_TIMEOUT)
        wait_consul_leader(controls, FORM_TIMEOUT)
        wait_for("the ensemble committed in Consul KV", lambda: ensemble_from_kv(controls[0]), FORM_TIMEOUT)
        check_one_ensemble(fb, controls)
        # The compute node is an alive Consul member (client) on every control node.
        for n in controls:
            wait_for(f"w1 alive in {n.name}'s /v1/agent/members",
                     lambda n=n: any(m["Name"] == "w1" and m["Status"] == 1 for m in members(n)), FORM_TIMEOUT)
        want = sorted(n.address for n in controls)
        got = wait_for("zookeeper.service.consul answered by Consul DNS with the control addresses",
                       lambda: (lambda a: a if a == want else None)(dig(bed, compute, "zookeeper.service.consul")),
                       FORM_TIMEOUT)
        log(f"zookeeper.service.consul (asked on w1) -> {got}")
        # A compute node runs no ZooKeeper and is in no ensemble.
        if runs_service_named(compute.ns, "java") or os.path.exists(compute.path("state", "zookeeper", "myid")):
            raise Failure("the compute node w1 runs ZooKeeper or has a myid")
        # dc2: its own single-server Consul and standalone ZooKeeper, its own one-server
        # ensemble in its own datacenter's KV, WAN-joined to dc1.
        wait_zk_quorum([dc2], FORM_TIMEOUT)
        wait_consul_leader([dc2], FORM_TIMEOUT)
        wait_for("dc2's ensemble committed in its KV", lambda: ensemble_from_kv(dc2), FORM_TIMEOUT)
        check_one_ensemble(fb, [dc2])
        for n in (controls[0], dc2):
            wait_for(f"dc1 and dc2 in {n.name}'s /v1/catalog/datacenters",
                     lambda n=n: sorted(consul_json(n.ns, "/v1/catalog/datacenters")) == ["dc1", "dc2"],
                     FORM_TIMEOUT)
        # mi-firstboot itself says it is done on every node.
        for n in controls + [compute, dc2]:
            wait_for(f"{n.name}: mi-firstboot status reports done", lambda n=n: status_done(fb, bed, n), FORM_TIMEOUT)
        check_secrets_kept(bed, controls + [compute, dc2])
        # Running again on a node that is done changes nothing (every later boot does this).
        state_file = controls[0].path("state", "firstboot", "state.json")
        with open(state_file, "rb") as f:
            before = f.read()
        r = bed.run_in(controls[0], fb.run_argv(controls[0]), check=False, timeout=120)
        with open(state_file, "rb") as f:
            after = f.read()
        if r.returncode != 0 or before != after:
            raise Failure(f"second run on c1: exit {r.returncode}, state.json "
                          f"{'unchanged' if before == after else 'changed'}: {r.stderr.strip()[-300:]}")
        log("second run on c1: exit 0, state.json byte-identical")
        log("formation: all checks passed")


def status_done(fb, bed, node):
    """Every step of firstboot/state.h (identity .. register) is `done`."""
    st = fb.status(bed, node)
    steps = st.get("steps") or []
    return st if st.get("complete") is True and steps and all(s.get("status") == "done" for s in steps) else None


def scenario_faults(args):
    fb = Firstboot(args.binary)
    with Testbed("faults") as bed:
        fb.snapshot_on_failure(bed)
        controls = [bed.add_node(f"c{i}", 1, 10 + i, loss=20, delay_ms=100) for i in (1, 2, 3)]
        intruder = bed.add_node("x1", 1, 31, loss=20, delay_ms=100)
        misfit = bed.add_node("y1", 1, 32, loss=20, delay_ms=100)
        for n in controls:
            fb.write_node_files(n, "control", 1, 3, "beacon")
        # Same cluster name, same everything, but another secret: must never be let in.
        fb.write_node_files(intruder, "control", 1, 3, "beacon", secret="not-the-cluster-secret-0000000000")
        # The right secret but another expected control count (another config digest): the
        # way Consul splits its brain; must be reported by name and never join.
        fb.write_node_files(misfit, "control", 1, 5, "beacon")
        outsiders = (intruder, misfit)
        c1, c2, c3 = controls
        t0 = time.monotonic()
        for n in (c1, c2, intruder, misfit):
            fb.start(bed, n)
        # The late node is the fault under test: c3 starts when 20 s have passed since the
        # others were started (a deliberate delay of an event, not a synchronisation sleep).
        time.sleep(max(0.0, t0 + 20 - time.monotonic()))
        fb.start(bed, c3)
        # c2 is killed during formation: as soon as it runs a service of its own (Consul
        # comes first; discovery cannot finish before c3 is up), then started again.
        wait_for("c2 running a service", lambda: runs_service(c2.ns), FORM_TIMEOUT, 0.2)
        before = fb.status(bed, c2)
        steps = {s["name"]: s["status"] for s in before.get("steps", [])}
        log(f"SIGKILL c2's mi-firstboot and every process it started (power cut); its steps: {steps}")
        bed.crash(c2)
        fb.start(bed, c2)
        # c1 is killed later in formation: once its ZooKeeper runs, i.e. after it committed the
        # ensemble (whether or not the quorum has formed yet); it must come back with the same.
        wait_for("c1 running ZooKeeper", lambda: runs_service_named(c1.ns, "java"), FORM_TIMEOUT, 0.2)
        c1_before = fb.status(bed, c1)
        steps = {s["name"]: s["status"] for s in c1_before.get("steps", [])}
        log(f"SIGKILL c1 and everything it started, after its ensemble commit; its steps: {steps}")
        bed.crash(c1)
        fb.start(bed, c1)

        wait_zk_quorum(controls, FORM_TIMEOUT)
        wait_consul_leader(controls, FORM_TIMEOUT)
        wait_for("the ensemble committed in Consul KV", lambda: ensemble_from_kv(c1), FORM_TIMEOUT)
        for n in controls:
            wait_for(f"{n.name}: mi-firstboot status reports done", lambda n=n: status_done(fb, bed, n), FORM_TIMEOUT)
        check_one_ensemble(fb, controls)
        # c2 resumed with the identity it made before the crash (never a second one).
        after = fb.status(bed, c2)
        if after["node"].get("node_id") != before["node"].get("node_id"):
            raise Failure(f"c2's node id changed across the crash: {before['node']} -> {after['node']}")
        zk_before = c1_before.get("zookeeper", {})
        zk_after = fb.status(bed, c1).get("zookeeper", {})
        if (zk_before.get("myid"), zk_before.get("ensemble")) != (zk_after.get("myid"), zk_after.get("ensemble")):
            raise Failure(f"c1's ensemble or myid changed across its crash: {zk_before} -> {zk_after}")
        # Under 20% loss gossip may briefly suspect a node, so this is a wait, not a snapshot.
        for n in controls:
            wait_for(f"c2 exactly one alive member on {n.name} after its restart",
                     lambda n=n: [(m["Name"], m["Status"]) for m in members(n) if m["Name"] == "c2"] == [("c2", 1)],
                     FORM_TIMEOUT)
        # The outsiders are members nowhere (LAN or WAN, on any node) and not done.
        for n in controls:
            names = [m["Name"] for m in members(n)] + [m["Name"] for m in members(n, wan=True)]
            for o in outsiders:
                if any(x == o.name or x.startswith(o.name + ".") for x in names):
                    raise Failure(f"{o.name} is a Consul member on {n.name}: {names}")
        for o in outsiders:
            try:
                own = [m["Name"] for m in members(o)]
            except OSError:
                own = []  # its Consul never started: the best outcome
            if any(x in own for x in ("c1", "c2", "c3")):
                raise Failure(f"{o.name}'s own agent has cluster members: {own}")
            if status_done(fb, bed, o):
                raise Failure(f"{o.name} says it is done")
        log("x1 (wrong secret) and y1 (other control_count) are members nowhere and not done")
        # Last, so that every check above has run when these fail; both are reported together.
        problems = []
        reported = {n.name: reports_intruder(fb.status(bed, n)) for n in controls}
        if not any(reported.values()):
            problems.append("no control node's `status --json` reports the wrong-secret node x1 (no beacon "
                            "other_cluster count > 0, no mention of x1 or 10.77.1.31)")
        else:
            log(f"wrong-secret node x1 reported: { {k: v[:1] for k, v in reported.items()} }")
        named = {n.name: reports_intruder(fb.status(bed, n), "y1", misfit.address, counters=())
                 for n in controls}
        if not any(named.values()):
            problems.append("no control node's `status --json` names y1 (10.77.1.32), whose config "
                            "digest differs (control_count 5)")
        else:
            log(f"config-mismatched node y1 named by {[k for k, v in named.items() if v]}: {next(v for v in named.values() if v)[0]}")
        # x1 itself says what it waits on (DESIGN.md: "2 of 3 control nodes seen: ...").
        discover = [s for s in fb.status(bed, intruder).get("steps", []) if s.get("name") == "discover"]
        if not discover or "of 3 control nodes agree" not in discover[0].get("detail", ""):
            problems.append(f"x1's status does not say what its discover step waits on: {discover}")
        else:
            log(f"x1's own status: discover {discover[0]['status']}: {discover[0]['detail']}")
        if problems:
            raise Failure("; ".join(problems))
        log("faults: all checks passed")


def reports_intruder(st, name="x1", address="10.77.1.31", counters=("other_cluster", "bad_mac")):
    """Does this `status --json` report the outsider? A wrong-secret node's beacons cannot be
    authenticated, so it can be reported as a count of beacons from another cluster (beacon.h
    BeaconCounters::other_cluster > 0 under a key of that name; not config_mismatch, which
    y1 causes) or by its source address/name; with counters=() only a mention counts."""
    found = []

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            if key in counters and x > 0:
                found.append(f"{key}={x}")
        elif isinstance(x, str):
            if re.search(rf"(?<![\w.]){re.escape(address)}(?![\w.])|(?<![\w.-]){re.escape(name)}(?![\w.-])", x):
                found.append(x[:160])
    walk(st)
    return found


def scenario_digest(args):
    """The configuration check before Consul (docs/firstboot.md, "One configuration"), under
    --method static or beacon: four cases side by side, each on a LAN (datacenter) of its own,
    with 3 good nodes (control_count 3) and a misconfigured one (static: control_count 1, the
    issue's case; beacon: control_count 5) that starts
      dc1  first (the good nodes start once it waits),   dc2  a second after the good nodes,
      dc3  last (once the good nodes are done),
    and dc4: 2 good + 2 misconfigured of expected 3. Every node lists (static) all nodes of
    its case. Good nodes run with --serve-beacon -1, as images do, so that a node starting
    after them still hears the majority.
    Expected: in dc1-dc3 the good nodes form their cluster (one Consul leader with exactly
    their 3 addresses as Raft peers, one ZooKeeper ensemble of exactly them, all done) and
    the misconfigured node stops before Consul (its mi-firstboot exits 1, its status names it
    and the majority's digest, no Consul or ZooKeeper runs in it, it is no Consul member of
    the good nodes). In dc4 no digest has a majority (2 of 4 listed, static; 2 of 3 and a tie,
    beacon): all four wait, each status says "configuration digests disagree: 2 nodes X (...),
    2 nodes Y (...)", and none starts Consul."""
    fb = Firstboot(args.binary)
    method = args.method
    bad_count = 1 if method == "static" else 5
    with Testbed(f"digest-{method}") as bed:
        fb.snapshot_on_failure(bed)
        cases = {}
        for dc in (1, 2, 3, 4):
            good = [bed.add_node(f"g{dc}n{i}", dc, 10 + i) for i in ((1, 2, 3) if dc < 4 else (1, 2))]
            bad = [bed.add_node(f"y{dc}n{j}", dc, 30 + j) for j in ((1,) if dc < 4 else (1, 2))]
            peers = [n.address for n in good + bad] if method == "static" else ()
            for n in good:
                fb.write_node_files(n, "control", dc, 3, method, peers=peers)
            for n in bad:
                fb.write_node_files(n, "control", dc, bad_count, method, peers=peers)
            cases[dc] = (good, bad)
        serve = ("--serve-beacon", "-1")
        procs = {}

        def waiting_on_check(n):
            st, detail = fb.step(bed, n, "discover")
            return st == "waiting" and "agree" in detail and detail

        # dc4 all at once; dc1's misconfigured node first, waiting before any good node starts.
        for n in cases[4][0] + cases[4][1]:
            procs[n.name] = fb.start(bed, n, serve if n in cases[4][0] else ())
        y1 = cases[1][1][0]
        procs[y1.name] = fb.start(bed, y1)
        log(f"{y1.name} waits: " + wait_for(f"{y1.name} waiting on the configuration check",
                                            lambda: waiting_on_check(y1), FORM_TIMEOUT, 0.2))
        for dc in (1, 2, 3):
            for n in cases[dc][0]:
                procs[n.name] = fb.start(bed, n, serve)
        # dc2's misconfigured node one second after its good nodes: that delay is the case.
        t_good = time.monotonic()
        time.sleep(max(0.0, t_good + 1 - time.monotonic()))
        y2 = cases[2][1][0]
        procs[y2.name] = fb.start(bed, y2)
        # dc3's starts once its good nodes are done.
        for n in cases[3][0]:
            wait_for(f"{n.name}: mi-firstboot status reports done", lambda n=n: status_done(fb, bed, n), FORM_TIMEOUT)
        y3 = cases[3][1][0]
        procs[y3.name] = fb.start(bed, y3)

        for dc in (1, 2, 3):
            good, (bad,) = cases[dc]
            wait_zk_quorum(good, FORM_TIMEOUT)
            wait_consul_leader(good, FORM_TIMEOUT)  # exactly the good nodes as Raft peers
            wait_for(f"dc{dc}: the ensemble in Consul KV", lambda g=good: ensemble_from_kv(g[0]), FORM_TIMEOUT)
            ensemble = check_one_ensemble(fb, good)  # exactly the good nodes, myids matching
            if bad.address in ensemble:
                raise Failure(f"{bad.name} ({bad.address}) is in dc{dc}'s ensemble {ensemble}")
            for n in good:
                wait_for(f"{n.name}: mi-firstboot status reports done", lambda n=n: status_done(fb, bed, n),
                         FORM_TIMEOUT)
            # The odd one out stops before Consul, naming itself and the majority's digest.
            (rc,) = wait_for(f"{bad.name}'s mi-firstboot to exit",
                             lambda b=bad: (procs[b.name].poll(),) if procs[b.name].poll() is not None else None,
                             FORM_TIMEOUT, 0.2)
            st, detail = fb.step(bed, bad, "discover")
            want = f"this node {bad.name} ({bad.address}) has cluster configuration digest"
            if rc != 1 or st != "failed" or want not in detail or "has digest" not in detail:
                raise Failure(f"{bad.name}: exit {rc}, discover {st}: {detail!r}; want exit 1, failed, {want!r}")
            log(f"dc{dc}: {bad.name} stopped: {detail[:200]}")
            if runs_service(bad.ns) or os.path.exists(bad.path("state", "etc", "consul.d", "consul.json")):
                raise Failure(f"{bad.name} runs Consul or ZooKeeper, or wrote a Consul config")
            for n in good:
                names = [m["Name"] for m in members(n)]
                if bad.name in names or sorted(names) != sorted(g.name for g in good):
                    raise Failure(f"{n.name}'s Consul members are {names}, want exactly {[g.name for g in good]}")
            log(f"dc{dc}: good nodes formed without {bad.name}; it is no member, peer or ensemble server")

        # dc4: a tie, reported by all four and waited on; nobody starts Consul.
        good, bad = cases[4]
        for n in good + bad:
            detail = wait_for(f"{n.name}: status reports the digests disagree",
                              lambda n=n: (lambda d: d if "configuration digests disagree: 2 nodes" in d else None)(
                                  fb.step(bed, n, "discover")[1]), FORM_TIMEOUT, 0.5)
            log(f"dc4 {n.name}: {detail[:200]}")
        for n in good + bad:
            if runs_service(n.ns) or procs[n.name].poll() is not None or status_done(fb, bed, n):
                raise Failure(f"dc4 {n.name}: started a service, exited or says done; a tie must be waited on")
        log(f"digest ({method}): all checks passed")


BEACON_GROUP, BEACON_PORT = "239.255.77.77", 7946  # NodeConfig::beacon_group's default


def beacon_socket(node, bind_addr, port=0):
    """A UDP socket in NODE's namespace bound to BIND_ADDR:PORT, multicast on its eth0."""
    s = testbed.socket_in(node.ns, socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind_addr, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(node.address))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return s


def capture_beacon(spy, sender, timeout=30):
    """A genuine beacon datagram of SENDER, as SPY (a node on the same LAN) hears it."""
    s = beacon_socket(spy, "", BEACON_PORT)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(BEACON_GROUP) + socket.inet_aton(spy.address))
    s.settimeout(1.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data, (src, _) = s.recvfrom(2048)
            except socket.timeout:
                continue
            if src == sender.address and data[:4] == b"MIBC":
                log(f"{spy.name} captured a {len(data)}-byte beacon of {sender.name} ({src})")
                return data
    finally:
        s.close()
    raise Failure(f"{spy.name} heard no beacon of {sender.name} in {timeout}s")


def replay_beacon(spy, from_addr, data):
    s = beacon_socket(spy, from_addr)
    try:
        s.sendto(data, (BEACON_GROUP, BEACON_PORT))
    finally:
        s.close()


def counters(fb, bed, node):
    return (fb.status(bed, node).get("discovery") or {}).get("counters") or {}


def scenario_replay(args):
    """Beacon replay, beacon discovery, no service ever starts (so it is quick):
    dc1: c2 (control_count 3) beacons and a spy m1 on the LAN captures one of its beacons;
         c2 goes down (power cut); c1 (control_count 3) starts, and m1 sends the captured
         beacon again, from its own address, within the time window, several times. Were it
         believed, c1 would see 2 of 3 nodes agree and start Consul with c2 in retry_join.
         Expected: c1 counts it wrong_source, still sees only itself, writes no Consul config.
    dc2: r1 and s1 (control_count 5, so that neither goes past the configuration check) hear
         each other; a spy m2 captures a beacon of s1; s1 goes down; r1 is restarted (power
         cut, then mi-firstboot again); m2 takes over s1's address and sends the captured
         beacon from it. Expected: r1's replay state survived its restart (state dir): it
         counts the beacon replayed and sees only itself (1 of 5), not s1.
    dc3: t1 and t2 both named "twin" (control_count 5): each counts two nodes and reports
         "one name, several nodes: twin at 10.77.3.11 and 10.77.3.12" in its status."""
    fb = Firstboot(args.binary)
    with Testbed("replay") as bed:
        fb.snapshot_on_failure(bed)
        c1, c2, m1 = bed.add_node("c1", 1, 11), bed.add_node("c2", 1, 12), bed.add_node("m1", 1, 40)
        r1, s1, m2 = bed.add_node("r1", 2, 11), bed.add_node("s1", 2, 12), bed.add_node("m2", 2, 40)
        for n in (c1, c2):
            fb.write_node_files(n, "control", 1, 3, "beacon")
        for n in (r1, s1):
            fb.write_node_files(n, "control", 2, 5, "beacon")

        # dc1: replayed from another address while its node is down.
        fb.start(bed, c2)
        captured = capture_beacon(m1, c2)
        bed.crash(c2)
        log("c2 is down; starting c1")
        fb.start(bed, c1)
        wait_for("c1 waiting on the configuration check", lambda: "agree" in fb.step(bed, c1, "discover")[1],
                 FORM_TIMEOUT, 0.2)

        def replayed_refused():
            replay_beacon(m1, m1.address, captured)
            return counters(fb, bed, c1).get("wrong_source", 0) > 0
        wait_for("c1 to count the replayed beacon wrong_source", replayed_refused, 20, 0.3)
        st, detail = fb.step(bed, c1, "discover")
        want = "1 of 3 control nodes agree on the cluster configuration (need 2): c1 10.77.1.11"
        # The detail may go on with the kinds of beacons dropped ("; dropping beacons: wrong_source").
        main, _, dropped = detail.partition("; dropping beacons: ")
        if st != "waiting" or not main.endswith(want) or (dropped and "wrong_source" not in dropped):
            raise Failure(f"c1 after the replay: discover {st}: {detail!r}; want waiting, ...{want!r}")
        if os.path.exists(c1.path("state", "etc", "consul.d", "consul.json")) or runs_service(c1.ns):
            raise Failure("c1 wrote a Consul config or started a service: the replayed beacon was believed")
        log(f"c1: {counters(fb, bed, c1)}; discover still: {detail}")

        # dc2: a replay across a restart of the receiving node.
        fb.start(bed, r1)
        fb.start(bed, s1)
        wait_for("r1 and s1 to hear each other (2 of 5 agree)",
                 lambda: "2 of 5 control nodes agree" in fb.step(bed, r1, "discover")[1], FORM_TIMEOUT, 0.2)
        captured = capture_beacon(m2, s1)
        bed.crash(s1)
        bed.crash(r1)
        log("s1 and r1 are down; restarting r1")
        fb.start(bed, r1)
        wait_for("r1 waiting alone (1 of 5 agree)",
                 lambda: "1 of 5 control nodes agree" in fb.step(bed, r1, "discover")[1], FORM_TIMEOUT, 0.2)
        bed.run_in(m2, ["ip", "addr", "add", f"{s1.address}/24", "dev", "eth0"])
        log(f"m2 took over s1's address {s1.address}")

        def replay_counted():
            replay_beacon(m2, s1.address, captured)
            return counters(fb, bed, r1).get("replayed", 0) > 0
        wait_for("r1 to count the beacon replayed", replay_counted, 20, 0.3)
        st, detail = fb.step(bed, r1, "discover")
        if "1 of 5 control nodes agree" not in detail or "s1" in detail:
            raise Failure(f"r1 after the replay across its restart: discover {st}: {detail!r}")
        log(f"r1: {counters(fb, bed, r1)}; discover still: {detail}")

        # dc3: two nodes that show one name ("twin") at two addresses: two nodes (2 of 5
        # agree), reported by name and both addresses on each, never merged.
        t1, t2 = bed.add_node("t1", 3, 11), bed.add_node("t2", 3, 12)
        for n in (t1, t2):
            fb.write_node_files(n, "control", 3, 5, "beacon", node_name="twin")
            fb.start(bed, n)
        for n in (t1, t2):
            detail = wait_for(f"{n.name} reporting the name conflict",
                              lambda n=n: (lambda d: d if "one name, several nodes" in d else None)(
                                  fb.step(bed, n, "discover")[1]), FORM_TIMEOUT, 0.2)
            want = ("2 of 5 control nodes agree on the cluster configuration (need 3): twin 10.77.3.11, "
                    "twin 10.77.3.12", "one name, several nodes: twin at 10.77.3.11 and 10.77.3.12")
            if not all(w in detail for w in want):
                raise Failure(f"{n.name}: discover {detail!r}; want both of {want}")
            log(f"{n.name}: {detail[-130:]}")
        log("replay: all checks passed")


def scenario_cleanup(args):
    """The harness leaves nothing behind when a scenario fails or is interrupted."""
    me = os.path.abspath(__file__)
    target = args.cleanup_target
    if target == "formation" and not os.access(args.binary, os.X_OK):
        log(f"no mi-firstboot at {args.binary}: breaking the substrate scenario instead")
        target = "substrate"
    base = [sys.executable, me, "--binary", args.binary, target]
    scratch_logs = tempfile.mkdtemp(prefix="mi-cluster-cleanup-logs-")  # expected failures' logs
    try:
        cleanup_runs(base, scratch_logs)
    finally:
        shutil.rmtree(scratch_logs, ignore_errors=True)


def cleanup_runs(base, scratch_logs):
    for how in ("forced failure", "SIGTERM", "SIGKILL"):
        env = dict(os.environ, MI_CLUSTER_LOGS=scratch_logs)
        if how == "forced failure":
            env["MI_CLUSTER_FORCE_FAIL"] = "1"
        child = subprocess.Popen(base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        prefix = f"{testbed.PREFIX}{child.pid}-"
        if how != "forced failure":
            wait_for("the child run to have services in its namespaces",
                     lambda: any(runs_service(ns) for ns in testbed.list_namespaces() if ns.startswith(prefix)),
                     FORM_TIMEOUT, 0.5)
            log(f"{how} to the harness (pid {child.pid})")
            child.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        out, _ = child.communicate(timeout=FORM_TIMEOUT)
        sys.stdout.write("".join("    | " + line + "\n" for line in out.splitlines()))
        if child.returncode == 0:
            raise Failure(f"{how}: the child run passed; it was meant to fail")
        expected = {"forced failure": "failing on purpose with services running",
                    "SIGTERM": "interrupted by signal", "SIGKILL": ""}[how]
        if expected not in out:
            raise Failure(f"{how}: the child failed for another reason (see its output above)")
        if how == "SIGKILL":
            # A harness killed outright cannot clean up; the next run's stale cleanup must.
            if not [ns for ns in testbed.list_namespaces() if ns.startswith(prefix)]:
                raise Failure("SIGKILL: the killed run left no namespaces, nothing to test")
            log("SIGKILL: leftovers present as expected; running the stale cleanup of the next run")
            testbed.stale_cleanup()
        left_ns = [ns for ns in testbed.list_namespaces() if ns.startswith(prefix)]
        left_procs = processes_mentioning(f"{testbed.TMP_PREFIX}{child.pid}-")
        left_dirs = glob.glob(f"{testbed.TMP_PREFIX}{child.pid}-*")
        if left_ns or left_procs or left_dirs:
            raise Failure(f"{how}: left behind namespaces {left_ns}, processes {left_procs}, dirs {left_dirs}")
        log(f"{how}: no namespace, process or temp dir of run {child.pid} remains")


def processes_mentioning(text):
    """PIDs whose command line contains TEXT (every process of a run names its temp dir)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append((int(pid), cmd[:120]))
    return found


def proc_start_boottime(pid):
    """A process's start in CLOCK_BOOTTIME seconds (field 22 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def service_starts(node):
    """{"consul": t, "java": t}: when the node's Consul and ZooKeeper processes started."""
    out = {}
    for pid in testbed.ns_pids(node.ns):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if comm in ("consul", "java"):
                out[comm] = proc_start_boottime(pid)
        except OSError:
            pass
    return out


def scenario_bench(args):
    """Formation time of N control nodes (beacon discovery), split into Consul's own time
    (its processes' start to a leader with N peers), ZooKeeper's own time (its JVMs' start to
    one leader + N-1 followers) and the rest, which is mi-firstboot's. Prints one line."""
    fb = Firstboot(args.binary)
    n_controls = args.controls
    now = lambda: time.clock_gettime(time.CLOCK_BOOTTIME)  # noqa: E731  same clock as /proc stat
    with Testbed(f"bench{n_controls}") as bed:
        fb.snapshot_on_failure(bed)
        controls = [bed.add_node(f"c{i}", 1, 10 + i) for i in range(1, n_controls + 1)]
        for n in controls:
            fb.write_node_files(n, "control", 1, n_controls, "beacon")
        for n in controls:
            fb.start(bed, n)
        t_last = now()
        starts = {n.name: {} for n in controls}
        t_consul = t_zk = None
        want_peers = sorted(f"{n.address}:8300" for n in controls)
        want_modes = sorted(["follower"] * (n_controls - 1) + ["leader"]) if n_controls > 1 else ["standalone"]
        deadline = time.monotonic() + FORM_TIMEOUT
        while t_consul is None or t_zk is None:
            if time.monotonic() > deadline:
                raise Failure(f"bench: no formed cluster of {n_controls} after {FORM_TIMEOUT:.0f}s")
            for n in controls:
                for k, v in service_starts(n).items():
                    starts[n.name].setdefault(k, v)
            try:
                if t_consul is None and consul_json(controls[0].ns, "/v1/status/leader") and \
                        sorted(consul_json(controls[0].ns, "/v1/status/peers")) == want_peers:
                    t_consul = now()
                if t_zk is None and sorted(str(m) for m in zk_modes(controls).values()) == want_modes:
                    t_zk = now()
            except (OSError, ValueError, Failure):
                pass
            time.sleep(0.2)  # sampling period of the measurement
        consul_start = max(s.get("consul", t_last) for s in starts.values())
        zk_start = max(s.get("java", t_last) for s in starts.values())
        total = max(t_consul, t_zk) - t_last
        consul_own = t_consul - consul_start
        zk_own = t_zk - zk_start
        print(f"controls={n_controls} total={total:.1f}s consul_own={consul_own:.1f}s "
              f"zookeeper_own={zk_own:.1f}s ours={total - consul_own - zk_own:.1f}s "
              f"(last start->consul processes up {consul_start - t_last:.1f}s, consul leader->"
              f"zookeeper JVMs up {zk_start - t_consul:.1f}s)", flush=True)


def main():
    default_bin = os.path.join(os.environ.get("MI_BINARY_DIR", "build"), "firstboot", "mi-firstboot")
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--binary", default=default_bin)
    p.add_argument("--cleanup-target", default="formation", help="scenario the cleanup test breaks")
    p.add_argument("--controls", type=int, default=3, help="bench: number of control nodes")
    p.add_argument("--method", choices=["static", "beacon"], default="static", help="digest: discovery method")
    p.add_argument("--deadline", type=int, default=0,
                   help="fail (and clean up, keeping logs) after this many seconds; below ctest's TIMEOUT, "
                        "which would kill the harness before it can keep the logs")
    p.add_argument("scenario", choices=["substrate", "formation", "faults", "digest", "replay", "cleanup", "bench"])
    args = p.parse_args()
    if os.geteuid() != 0:
        print("cluster tests need root (ip netns); skipped")
        return 77
    args.binary = os.path.abspath(args.binary)
    if args.scenario in ("formation", "faults", "digest", "replay", "bench") and not os.access(args.binary, os.X_OK):
        print(f"mi-firstboot not built at {args.binary}")
        return 1
    if args.deadline > 0:
        def on_alarm(_signum, _frame):
            raise Failure(f"the whole scenario's deadline of {args.deadline}s passed")
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(args.deadline)
    try:
        {"substrate": scenario_substrate, "formation": scenario_formation, "faults": scenario_faults,
         "digest": scenario_digest, "replay": scenario_replay, "cleanup": scenario_cleanup,
         "bench": scenario_bench}[args.scenario](args)
    except Failure as e:
        log(f"FAIL: {e}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
