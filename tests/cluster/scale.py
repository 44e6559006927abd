#!/usr/bin/env python3
# Benchmark (not a ctest), run by tests/bench/scale.sh: how the time for compute nodes to
# join grows with their number. For each N: a testbed (testbed.py) with 3 control nodes and
# N compute nodes, each in its own network namespace, running the real mi-firstboot, the
# real Consul (servers on the controls, a client on each compute node) and the real
# ZooKeeper (controls only), as the cluster tier does.
#
#   scale.py [--binary B] [--start after|together] [--method beacon|static] [--runs R] N...
#
# --start after (default): the 3 control nodes are started and formed first (every step
#   done; they keep answering beacons, --serve-beacon -1, as the image's unit does), then
#   the N compute nodes are started together, back to back, as a fleet of compute machines
#   booting at once. The clock starts when the last compute node has been started.
# --start together: the 3 control nodes and the N compute nodes are started back to back
#   (controls first); the clock starts at the last start. Then the time includes the
#   control cluster's own formation.
#
# A compute node counts as joined when it is an alive member (Status 1) in every control
# node's /v1/agent/members AND its mi-firstboot run has ended with exit 0 and its
# state.json holds the committed ensemble with every step done. The harness samples every
# 0.1 s (the sampling period of the measurement; every wait has a deadline) and prints one
# line per run; scale.sh makes the table.
import argparse
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402  the cluster tier's Firstboot driver, reused (not copied)
import testbed  # noqa: E402
from testbed import Failure, Testbed, log  # noqa: E402

FORM_TIMEOUT = scenarios.FORM_TIMEOUT
SAMPLE_S = 0.1
STEPS = ("identity", "discover", "consul", "zookeeper", "writers", "register")


def read_state(node):
    """The node's state.json (written by atomic rename, so a read sees a whole file), or None."""
    try:
        with open(node.path("state", "firstboot", "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps_done(st):
    done = {s.get("name") for s in (st or {}).get("steps", []) if s.get("status") == "done"}
    return done


def controls_formed(controls):
    """Every control node's steps all done (their runs go on answering beacons)."""
    for n in controls:
        st = read_state(n)
        if not st or steps_done(st) != set(STEPS) or not st["zookeeper"]["ensemble"]:
            return None
    return True


def alive_members(control):
    return {m["Name"] for m in testbed.consul_json(control.ns, "/v1/agent/members") if m.get("Status") == 1}


def consul_pid_start(node):
    """CLOCK_BOOTTIME start of the node's Consul process, or None: from the pid file the
    process runner writes (cheap enough to read every sample, unlike `ip netns pids`)."""
    try:
        with open(node.path("state", "run", "consul.pid")) as f:
            return scenarios.proc_start_boottime(int(f.read().strip()))
    except (OSError, ValueError):
        return None


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_s():
    """CPU seconds the whole machine has spent busy (all cores; /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def namespace_cpu_s(nodes):
    """{pid: CPU seconds} of every process in the nodes' namespaces."""
    out = {}
    for n in nodes:
        for pid in testbed.ns_pids(n.ns):
            try:
                out[pid] = proc_cpu_s(pid)
            except OSError:
                pass
    return out


def run_one(args, n_compute, run_no):
    fb = scenarios.Firstboot(args.binary)
    now = lambda: time.clock_gettime(time.CLOCK_BOOTTIME)  # noqa: E731  same clock as /proc stat
    with Testbed(f"scale{n_compute}-{run_no}") as bed:
        fb.snapshot_on_failure(bed)
        controls = [bed.add_node(f"c{i}", 1, 10 + i) for i in (1, 2, 3)]
        computes = [bed.add_node(f"w{i}", 1, 20 + i) for i in range(1, n_compute + 1)]
        peers = [n.address for n in controls] if args.method == "static" else ()
        for n in controls:
            fb.write_node_files(n, "control", 1, 3, args.method, peers=peers)
        for n in computes:
            fb.write_node_files(n, "compute", 1, 3, args.method, peers=peers)
        bed.static_neighbours(1)  # 53 machines on one host would overflow its one ARP table
        log(f"N={n_compute}: {len(controls)} control + {len(computes)} compute namespaces ready")

        for n in controls:
            fb.start(bed, n, ["--serve-beacon", "-1"])
        if args.start == "after":
            testbed.wait_for("the 3 control nodes formed (every step done)", lambda: controls_formed(controls),
                             FORM_TIMEOUT, SAMPLE_S)
            log("control nodes formed; starting the compute nodes together")
        controls_cpu0 = namespace_cpu_s(controls)
        busy0 = machine_busy_s()
        t_first = now()
        procs = {}
        for n in computes:
            procs[n.name] = bed.spawn(n.ns, fb.run_argv(n), n.path("firstboot.log"))
        t0 = now()  # the last node's start
        log(f"N={n_compute}: {len(computes)} compute nodes started within {t0 - t_first:.2f}s")

        # Per compute node: when each condition was first seen (seconds after t0).
        seen = {n.name: {} for n in computes}
        exit_cpu = {}
        deadline = time.monotonic() + FORM_TIMEOUT

        def mark(name, key, t):
            seen[name].setdefault(key, t - t0)

        while True:
            t = now()
            # Consul membership, as every control node sees it.
            try:
                alive = None
                for c in controls:
                    a = alive_members(c)
                    alive = a if alive is None else alive & a
            except (OSError, ValueError, Failure):
                alive = set()
            for n in computes:
                s = seen[n.name]
                if n.name in alive:
                    mark(n.name, "member", t)
                if "done" in s:
                    continue
                st = read_state(n)
                for step in steps_done(st):
                    mark(n.name, step, t)
                if "consul_proc" not in s:
                    started = consul_pid_start(n)
                    if started is not None:
                        s["consul_proc"] = started - t0
                p = procs[n.name]
                # The run's CPU time before it is reaped (ip netns exec execs mi-firstboot).
                if p.poll() is None:
                    try:
                        exit_cpu[n.name] = proc_cpu_s(p.pid)
                    except OSError:
                        pass
                    continue
                if p.returncode != 0:
                    raise Failure(f"{n.name}: mi-firstboot exited {p.returncode}; see {n.path('firstboot.log')}")
                st = read_state(n)  # the last save may have come after the read above
                for step in steps_done(st):
                    mark(n.name, step, t)
                if steps_done(st) != set(STEPS) or not st["zookeeper"]["ensemble"]:
                    raise Failure(f"{n.name}: run ended but state.json is not complete: {steps_done(st)}")
                mark(n.name, "done", t)
            if all("member" in s and "done" in s for s in seen.values()):
                break
            if time.monotonic() > deadline:
                missing = sorted(k for k, s in seen.items() if "member" not in s or "done" not in s)
                raise Failure(f"N={n_compute}: after {FORM_TIMEOUT:.0f}s not joined: {missing[:10]}"
                              f"{' ...' if len(missing) > 10 else ''}")
            time.sleep(max(0.0, SAMPLE_S - (now() - t)))  # sampling period of the measurement

        busy = machine_busy_s() - busy0
        elapsed = now() - t_first
        controls_cpu = sum(v - controls_cpu0.get(pid, 0.0) for pid, v in namespace_cpu_s(controls).items())
        joined = {k: max(s["member"], s["done"]) for k, s in seen.items()}
        consul_rss = []
        consul_cpu = []
        for n in computes:
            for pid in testbed.ns_pids(n.ns):
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "consul":
                            consul_rss.append(proc_rss_mb(pid))
                            consul_cpu.append(proc_cpu_s(pid))
                except OSError:
                    pass

        def phase(key):
            vals = [s[key] for s in seen.values() if key in s]
            return (statistics.median(vals), max(vals)) if vals else (float("nan"), float("nan"))
        ph = {k: phase(k) for k in ("discover", "consul_proc", "consul", "zookeeper", "done", "member")}
        total = max(joined.values())
        result = {
            "n": n_compute, "total": total, "median": statistics.median(joined.values()),
            "spread": t0 - t_first, "phases": ph,
            "fb_cpu": statistics.mean(exit_cpu.values()) if exit_cpu else float("nan"),
            "consul_cpu": statistics.mean(consul_cpu) if consul_cpu else float("nan"),
            "consul_rss": statistics.mean(consul_rss) if consul_rss else float("nan"),
            "load": os.getloadavg()[0],
        }
        # Where the CPU went from the first compute start to the end: the testbed's own
        # processes (every compute node's mi-firstboot and Consul, the control nodes' growth)
        # and the whole machine's (other users included), in cores busy on average. The
        # testbed's CPU seconds over the machine's core count is the least time 2 shared
        # cores can do the join in, however little anyone waits.
        ours = sum(exit_cpu.values()) + sum(consul_cpu) + controls_cpu
        result.update({"testbed_cpu": ours, "cpu_floor": ours / (os.cpu_count() or 1),
                       "testbed_cores": ours / elapsed, "machine_cores": busy / elapsed})
        # One machine-readable line per run (scale.sh tabulates these).
        print("RESULT " + json.dumps(result), flush=True)
        log(f"N={n_compute}: last compute node joined {total:.2f}s after the last start")
        if args.keep_logs:
            bed._keep_logs()  # the logs a failed run keeps (MI_CLUSTER_LOGS), for a look at the timing
        return result


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--binary", default=os.path.join("build", "firstboot", "mi-firstboot"))
    p.add_argument("--start", choices=["after", "together"], default="after")
    p.add_argument("--method", choices=["beacon", "static"], default="beacon")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--keep-logs", action="store_true",
                   help="keep each run's logs and configs as a failed run does (MI_CLUSTER_LOGS, ./cluster-logs)")
    p.add_argument("sizes", type=int, nargs="*", default=[1, 50])
    args = p.parse_args()
    if os.geteuid() != 0:
        print("the scale bench needs root (ip netns)")
        return 77
    args.binary = os.path.abspath(args.binary)
    if not os.access(args.binary, os.X_OK):
        print(f"mi-firstboot not built at {args.binary}")
        return 1
    if any(n < 1 or n > 230 for n in args.sizes):
        print("sizes must be 1..230 (compute nodes are 10.77.1.21 ..)")
        return 2
    results = []
    try:
        for n in args.sizes:
            for r in range(args.runs):
                results.append(run_one(args, n, r + 1))
    except Failure as e:
        log(f"FAIL: {e}")
        return 1
    print_table(args, results)
    return 0


def print_table(args, results):
    print(f"=== scale: 3 control + N compute, discovery {args.method}, compute nodes started "
          f"{'after the controls formed' if args.start == 'after' else 'together with the controls'}; "
          "seconds after the last start (median / max over the compute nodes)")
    head = ("N", "joined max", "joined med", "discover", "consul up", "leader seen", "ensemble",
            "run done", "member", "starts", "fb cpu", "consul cpu", "consul MB", "testbed cpu", "cpu floor",
            "cores ours", "cores all")
    print(" ".join(f"{h:>11}" for h in head))
    for r in results:
        ph = r["phases"]
        cells = [str(r["n"]), f"{r['total']:.2f}", f"{r['median']:.2f}"]
        cells += [f"{ph[k][0]:.1f}/{ph[k][1]:.1f}" for k in ("discover", "consul_proc", "consul", "zookeeper",
                                                           "done", "member")]
        cells += [f"{r['spread']:.2f}", f"{r['fb_cpu']:.2f}", f"{r['consul_cpu']:.2f}", f"{r['consul_rss']:.0f}",
                  f"{r['testbed_cpu']:.1f}", f"{r['cpu_floor']:.2f}", f"{r['testbed_cores']:.2f}",
                  f"{r['machine_cores']:.2f}"]
        print(" ".join(f"{c:>11}" for c in cells))
    by_n = {}
    for r in results:
        by_n.setdefault(r["n"], []).append(r["total"])
    ns = sorted(by_n)
    if len(ns) >= 2:
        base = statistics.median(by_n[ns[0]])
        for n in ns[1:]:
            t = statistics.median(by_n[n])
            print(f"ratio N={n} / N={ns[0]}: {t:.2f}s / {base:.2f}s = {t / base:.2f}x (target: under 1.3x)")


if __name__ == "__main__":
    sys.exit(main())
