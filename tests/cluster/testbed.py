# The cluster testbed: network namespaces that stand in for machines, one Linux bridge per
# datacenter, and probes of the real ZooKeeper and Consul running inside them. Used by the
# scenarios in scenarios.py (the `cluster` ctest tier) and by tests/bench/formation_time.sh
# and tests/bench/scale.sh (scale.py).
#
# Layout of one run (PID = the harness's pid, so parallel and leftover runs never collide):
#   namespace mictPID-sw        the "switch": bridge brN per datacenter N with gateway
#                               10.77.N.1/24, ip_forward on, so it also routes dcN <-> dcM (WAN)
#   namespace mictPID-NODE      one per node: lo up, eth0 10.77.N.X/24 on the dcN bridge
#                               (veth, or wire.py when the link has loss/delay), default route
#                               via the gateway, 224.0.0.0/4 routed to eth0 for the beacon
#   directory /tmp/mi-cluster-PID/NODE/   the node's state dir, cluster.yaml, secret, logs
# Nothing touches the host's interfaces: the 10.77.0.0/16 addresses exist only inside the
# namespaces. Everything is removed on exit, on failure and on SIGINT/SIGTERM; a run also
# removes what killed earlier runs left behind (namespaces `mict<dead pid>-*`).
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

PREFIX = "mict"
TMP_PREFIX = "/tmp/mi-cluster-"
CLONE_NEWNET = 0x40000000
HERE = os.path.dirname(os.path.abspath(__file__))
_libc = ctypes.CDLL(None, use_errno=True)
_t0 = time.monotonic()


class Failure(Exception):
    """A scenario assertion that did not hold; the message says what was expected and seen."""


def log(msg):
    print(f"[{time.monotonic() - _t0:7.1f}s] {msg}", flush=True)


def sh(argv, check=True, capture=True, timeout=60):
    r = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failure(f"{' '.join(argv)} -> exit {r.returncode}: {(r.stderr or '').strip()}")
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def list_namespaces():
    out = sh(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ns_pids(ns):
    out = sh(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split()]


def kill_namespace_processes(ns, sig=signal.SIGKILL):
    """Signals every process in namespace NS: what a power cut does to a machine."""
    for _ in range(50):
        pids = ns_pids(ns)
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        if sig != signal.SIGKILL:
            return
        time.sleep(0.1)  # cleanup, not synchronisation: re-list until the namespace is empty


def delete_namespace(ns):
    kill_namespace_processes(ns)
    sh(["ip", "netns", "del", ns], check=False)


def stale_cleanup():
    """Removes namespaces and temp dirs of earlier runs whose harness process is gone."""
    for ns in list_namespaces():
        if not ns.startswith(PREFIX):
            continue
        owner = ns[len(PREFIX):].split("-")[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            log(f"stale cleanup: namespace {ns}")
            delete_namespace(ns)
    for d in os.listdir("/tmp"):
        full = "/tmp/" + d
        if full.startswith(TMP_PREFIX):
            owner = full[len(TMP_PREFIX):].split("-")[0]
            if owner.isdigit() and not _pid_alive(int(owner)):
                shutil.rmtree(full, ignore_errors=True)


def socket_in(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A socket that lives in namespace NS (setns on this thread, create, switch back)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        try:
            return socket.socket(family, kind)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


def tcp_exchange(ns, port, request, addr="127.0.0.1", timeout=5.0):
    """Sends REQUEST to ADDR:PORT inside NS and returns everything the peer answers."""
    s = socket_in(ns)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


def zk_srvr(ns, port=2181):
    """ZooKeeper's `srvr` four-letter word as a dict ('Mode': leader|follower|standalone, ...)."""
    text = tcp_exchange(ns, port, b"srvr").decode(errors="replace")
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def http_get(ns, path, port=8500, addr="127.0.0.1"):
    """(status, body) of GET PATH on ADDR:PORT inside NS."""
    raw = tcp_exchange(ns, port, f"GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n".encode(), addr)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode(errors="replace")


def consul_json(ns, path):
    status, body = http_get(ns, path)
    if status != 200:
        raise Failure(f"consul {path} in {ns}: HTTP {status}: {body.strip()[:200]}")
    return json.loads(body)


def wait_for(what, probe, timeout, interval=1.0):
    """Polls PROBE until it returns something truthy and returns that; raises Failure naming
    WHAT and the last value or error when TIMEOUT seconds pass first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = probe()
            if v:
                return v
            last = v
        except (OSError, ValueError, KeyError, IndexError, Failure, subprocess.SubprocessError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.0f}s waiting for {what}; last: {last}")
        time.sleep(interval)  # polling interval of a condition wait, with the deadline above


class Node:
    def __init__(self, bed, name, dc, host):
        self.bed, self.name, self.dc, self.host = bed, name, dc, host
        self.ns = f"{bed.prefix}-{name}"
        self.address = f"10.77.{dc}.{host}"
        self.dir = os.path.join(bed.root, name)
        self.wire = None
        os.makedirs(self.dir, mode=0o700)

    def path(self, *p):
        return os.path.join(self.dir, *p)


class Testbed:
    def __init__(self, name):
        self.name = name
        self.prefix = f"{PREFIX}{os.getpid()}"
        self.root = f"{TMP_PREFIX}{os.getpid()}-{name}"
        self.switch = f"{self.prefix}-sw"
        self.nodes = {}
        self.dcs = set()
        self.namespaces = []
        self.procs = []  # (Popen, log file)
        self.failed = False
        self.on_failure = []  # callables run before anything is stopped (snapshots for the logs)

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self):
        stale_cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        os.makedirs(self.root, mode=0o700)
        self._add_ns(self.switch)
        sh(["ip", "netns", "exec", self.switch, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        return self

    def _on_signal(self, signum, _frame):
        raise SystemExit(f"interrupted by signal {signum}")

    def __exit__(self, exc_type, exc, tb):
        self.failed = exc_type is not None
        if self.failed:
            for fn in self.on_failure:
                try:
                    fn()
                except Exception as e:  # a snapshot must not hide the real failure
                    log(f"on_failure snapshot: {type(e).__name__}: {e}")
            if os.environ.get("MI_CLUSTER_PAUSE_ON_FAILURE") == "1":
                # For a person at a terminal: look around the live testbed, then clean up.
                log(f"paused with the testbed up: namespaces {self.namespaces}, files {self.root}; "
                    "press Enter to clean up")
                try:
                    sys.stdin.readline()
                except (KeyboardInterrupt, SystemExit):
                    pass
        self.cleanup()
        return False

    def cleanup(self):
        # A second Ctrl-C, a SIGTERM or the scenario's deadline alarm must not cut it short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)
        # Stop what the harness started, then everything else in each namespace (the
        # services that mi-firstboot started), then the namespaces themselves.
        for p, _ in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in reversed(self.namespaces):
            delete_namespace(ns)
        for p, f in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            f.close()
        if self.failed:
            self._keep_logs()
        shutil.rmtree(self.root, ignore_errors=True)
        left = [ns for ns in list_namespaces() if ns.startswith(self.prefix + "-")]
        if left:
            log(f"cleanup: namespaces still present: {left}")

    def _keep_logs(self):
        # Logs, status output and generated configuration are copied where docs/testing.md
        # says to look; secret files and service data (raft, serf, ZooKeeper snapshots) are
        # not, and a gossip `encrypt` key inside a Consul config is redacted.
        dest_root = os.environ.get("MI_CLUSTER_LOGS", os.path.join(os.getcwd(), "cluster-logs"))
        dest = os.path.join(dest_root, f"{self.name}-{os.getpid()}")
        keep = (".log", ".json", ".cfg", ".yaml", ".hcl", ".txt", ".conf", "myid")
        for dirpath, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in ("raft", "serf", "version-2", "data")]
            for fn in files:
                src = os.path.join(dirpath, fn)
                if "secret" in fn or not fn.endswith(keep) or os.path.getsize(src) > 20 << 20:
                    continue
                with open(src, errors="replace") as f:
                    text = re.sub(r'("?encrypt"?\s*[:=]\s*)"[^"]*"', r'\1"<redacted>"', f.read())
                out = os.path.join(dest, os.path.relpath(src, self.root))
                os.makedirs(os.path.dirname(out), mode=0o700, exist_ok=True)
                with open(out, "w") as f:
                    f.write(text)
        log(f"{'FAILED: ' if self.failed else ''}logs, status and configs kept in {dest}")

    # --- topology ----------------------------------------------------------------------
    def _add_ns(self, ns):
        sh(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_dc(self, dc):
        if dc in self.dcs:
            return
        br = f"br{dc}"
        sw = self.switch
        sh(["ip", "-n", sw, "link", "add", br, "type", "bridge"])
        # Snooping off: the beacon's multicast must reach every port without an IGMP querier.
        sh(["ip", "-n", sw, "link", "set", br, "type", "bridge", "mcast_snooping", "0"])
        sh(["ip", "-n", sw, "addr", "add", f"10.77.{dc}.1/24", "dev", br])
        sh(["ip", "-n", sw, "link", "set", br, "up"])
        self.dcs.add(dc)

    def add_node(self, name, dc, host, loss=0, delay_ms=0):
        """A machine: namespace + eth0 on datacenter DC's bridge, address 10.77.DC.HOST.
        With LOSS (percent) or DELAY_MS the node's outgoing frames suffer them (netem)."""
        self.add_dc(dc)
        n = Node(self, name, dc, host)
        self._add_ns(n.ns)
        sw, side = self.switch, f"p{name}"[:15]
        if (loss or delay_ms) and not netem_available():
            # No sch_netem in this kernel: a userspace wire with the same egress semantics.
            ready = n.path("wire.ready")
            tmp_if = f"t{os.getpid() % 100000}{name}"[:15]
            self.spawn(sw, [sys.executable, os.path.join(HERE, "wire.py"), side, tmp_if,
                            str(loss), str(delay_ms), ready], n.path("wire.log"))
            wait_for(f"wire of {name}", lambda: os.path.exists(ready), 30, 0.05)
            sh(["ip", "-n", sw, "link", "set", tmp_if, "netns", n.ns])
            sh(["ip", "-n", n.ns, "link", "set", tmp_if, "name", "eth0"])
            n.wire = self.procs[-1][0]
        else:
            sh(["ip", "-n", sw, "link", "add", side, "type", "veth", "peer", "name", "eth0",
                "netns", n.ns])
            if loss or delay_ms:
                sh(["ip", "-n", n.ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                    "loss", f"{loss}%", "delay", f"{delay_ms}ms"])
        sh(["ip", "-n", sw, "link", "set", side, "master", f"br{dc}", "up"])
        sh(["ip", "-n", n.ns, "addr", "add", f"{n.address}/24", "dev", "eth0"])
        sh(["ip", "-n", n.ns, "link", "set", "eth0", "up"])
        sh(["ip", "-n", n.ns, "route", "add", "default", "via", f"10.77.{dc}.1"])
        sh(["ip", "-n", n.ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])
        self.nodes[name] = n
        return n

    def static_neighbours(self, dc):
        """Permanent ARP entries between every two nodes of datacenter DC's LAN (and its
        gateway), instead of ARP. For LANs of dozens of nodes (the scale bench): the kernel
        has ONE neighbour table for all namespaces (gc_thresh3 = 1024 entries by default), so
        50+ "machines" that all talk to each other on one host overflow it ("neighbor table
        overflow!" in dmesg, then "connect: no route to host"), which real machines, each
        with its own table, never do. Permanent entries are exempt from that limit (and from
        its garbage collection). Call after every node of DC is added; nothing on the host
        changes."""
        def mac(ns, dev):
            info = json.loads(sh(["ip", "-n", ns, "-j", "link", "show", dev]).stdout)
            return info[0]["address"]
        hosts = [(n.ns, n.address) for n in self.nodes.values() if n.dc == dc]
        macs = {addr: mac(ns, "eth0") for ns, addr in hosts}
        macs[f"10.77.{dc}.1"] = mac(self.switch, f"br{dc}")
        for ns, own in hosts:
            batch = "".join(f"neigh replace {addr} lladdr {m} nud permanent dev eth0\n"
                            for addr, m in macs.items() if addr != own)
            r = subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, capture_output=True, text=True,
                               timeout=60)
            if r.returncode != 0:
                raise Failure(f"static neighbours in {ns}: {r.stderr.strip()[:300]}")

    def lift_faults(self, node):
        """Ends NODE's loss and delay (the fault lasted 'during formation')."""
        if node.wire is not None:
            node.wire.send_signal(signal.SIGUSR1)
        else:
            sh(["ip", "-n", node.ns, "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)

    # --- processes ---------------------------------------------------------------------
    def spawn(self, ns, argv, logfile, env=None):
        """Starts ARGV inside NS in its own process group, stdout+stderr to LOGFILE."""
        f = open(logfile, "ab")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             env=env if env is not None else os.environ.copy())
        self.procs.append((p, f))
        return p

    def crash(self, node):
        """Power cut: SIGKILL mi-firstboot and everything it started in NODE's namespace
        (the wire, if any, lives in the switch namespace and survives, like a cable)."""
        kill_namespace_processes(node.ns)
        for p, _ in self.procs:
            if p is not node.wire:
                p.poll()  # reap what was killed
        wait_for(f"{node.name}'s processes to be gone", lambda: not ns_pids(node.ns), 30, 0.2)

    def run_in(self, node, argv, check=True, timeout=60):
        return sh(["ip", "netns", "exec", node.ns] + argv, check=check, timeout=timeout)


_netem = None


def netem_available():
    """True when this kernel has sch_netem (probed once in a scratch namespace)."""
    global _netem
    if _netem is None:
        ns = f"{PREFIX}{os.getpid()}-probe"
        sh(["ip", "netns", "add", ns])
        try:
            r = sh(["ip", "-n", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                    "1ms"], check=False)
            _netem = r.returncode == 0
        finally:
            sh(["ip", "netns", "del", ns], check=False)
        if not _netem:
            log("kernel has no sch_netem (tc: 'Specified qdisc kind is unknown'); using wire.py")
    return _netem
