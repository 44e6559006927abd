#!/usr/bin/env python3
"""Image tier: a datacenter of VMs forms its cluster by itself, as its users meet it.

From the project's own built images (one build, a copy-on-write overlay per VM), boots 3
control VMs and 1 compute VM under QEMU/TCG on a LAN of their own, each given nothing but the
same NoCloud seed (`mibuild seed`, carrying the fleet secret), and asserts from their serial
consoles (the `mi-cluster:` lines of mi-cluster-status) that:
  * every VM reports `formed`, with one Consul leader (a control node) seen by all;
  * Consul has 3 servers and 1 client, 4 alive members;
  * ZooKeeper has one leader and two followers, and the three control nodes wrote the same
    servers into zoo.cfg;
  * the four machine-ids and node names are all different;
  * Consul (everywhere) and ZooKeeper (on the control nodes only) ran from the units
    mi-firstboot generated and first started after it wrote their configuration (from
    systemd's journal in each VM);
  * zookeeper.service.consul resolves on the compute node (through dnsmasq) to the ensemble;
  * a fifth VM on the same LAN booted with no seed waits for the fleet secret, says so on its
    console, and never joins (the fleet stays at 4 members);
then powers one control VM off and boots it again: same machine-id, Consul node-id and myid,
and its ZooKeeper is leader or follower again.

The LAN: a network namespace (`mifleet<PID>`) holding a bridge with 10.78.0.1/24, one TAP
device per VM on it, and dnsmasq serving DHCP there. QEMU runs inside that namespace, so
nothing touches the host's own network; the addresses exist only inside it.

Exit: 0 passed, 1 failed, 77 skipped (not root or a tool missing, and CI is not set; under CI
a missing tool or privilege is a failure).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_t0 = time.monotonic()
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.monotonic() - _t0:7.1f}s] {msg}", flush=True)


def sh(argv, check=True, timeout=120, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise Failure(f"{' '.join(argv)} -> exit {r.returncode}: {r.stderr.strip()}")
    return r


def skip_or_fail(why):
    if os.environ.get("CI"):
        print(f"FAIL: {why} (CI is set: a missing tool or privilege is a failure)", flush=True)
        sys.exit(1)
    print(f"SKIP: {why}", flush=True)
    sys.exit(77)


class Console:
    """A VM's serial console file, read as it grows; remembers when each line was first seen."""

    def __init__(self, path):
        self.path = path
        self.lines = []  # (seconds since start of the harness, line)
        self._pos = 0
        self._partial = ""

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
                self._pos += len(data)
        except FileNotFoundError:
            return
        text = self._partial + data.decode("utf-8", "replace")
        parts = text.split("\n")
        self._partial = parts.pop()
        now = time.monotonic() - _t0
        for p in parts:
            self.lines.append((now, p.rstrip("\r")))

    def cluster_lines(self):
        out = []
        for t, l in self.lines:
            i = l.find("mi-cluster: ")
            if i >= 0:
                out.append((t, l[i + len("mi-cluster: "):].strip()))
        return out

    def cluster(self):
        """key -> value of the last report (the lines after the last `firstboot=` status)."""
        kv = {}
        for _, l in self.cluster_lines():
            if "=" in l:
                k, v = l.split("=", 1)
                kv[k] = v
        return kv

    def formed(self):
        return any(l == "formed" for _, l in self.cluster_lines())

    def failed(self):
        for _, l in self.cluster_lines():
            if l.startswith("firstboot=failed"):
                return l
        return None

    def first(self, pattern):
        rx = re.compile(pattern)
        for t, l in self.lines:
            if rx.search(l):
                return t
        return None


class VM:
    def __init__(self, fleet, name, role, index, seed=True):
        self.fleet, self.name, self.role, self.index, self.seed = fleet, name, role, index, seed
        self.disk = os.path.join(fleet.work, f"{name}.qcow2")
        self.tap = f"tap{index}"
        self.mac = f"52:54:00:78:00:{index:02x}"
        self.proc = None
        self.boots = 0
        self.console = None
        self.started_at = None
        self.stop_when = None  # a console pattern: once seen, this VM is powered off (frees the CPU)

    def create_disk(self, base):
        sh(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, self.disk])

    def start(self):
        self.boots += 1
        path = os.path.join(self.fleet.work, f"{self.name}.console.{self.boots}.log")
        self.console = Console(path)
        mon = os.path.join(self.fleet.work, f"{self.name}.monitor")
        argv = ["ip", "netns", "exec", self.fleet.ns, "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35",
                "-m", str(self.fleet.memory_mb), "-smp", "1", "-name", self.name,
                "-drive", f"if=virtio,format=qcow2,file={self.disk}"]
        if self.seed:
            argv += ["-drive", f"if=virtio,format=raw,readonly=on,file={self.fleet.seed}"]
        argv += [
                "-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={self.mac}",
                "-display", "none", "-serial", f"file:{path}",
                "-monitor", f"unix:{mon},server=on,wait=off", "-no-reboot"]
        self.monitor = mon
        log_path = os.path.join(self.fleet.work, f"{self.name}.qemu.{self.boots}.log")
        self.proc = subprocess.Popen(argv, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.started_at = time.monotonic() - _t0
        log(f"{self.name} ({self.role}) started, boot {self.boots}, console {path}")

    def powerdown(self, deadline):
        """ACPI power button, as an operator's `virsh shutdown`; waits for QEMU to exit."""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.monitor)
        s.sendall(b"system_powerdown\n")
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                s.close()
                return
            time.sleep(1)  # polling QEMU's exit, with a deadline
        s.close()
        raise Failure(f"{self.name} did not power off within {deadline} s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Fleet:
    def __init__(self, args):
        self.args = args
        self.ns = f"mifleet{os.getpid()}"
        self.work = tempfile.mkdtemp(prefix="mi-fleet-", dir="/var/tmp")
        self.memory_mb = args.memory
        self.seed = os.path.join(self.work, "seed.iso")
        self.dnsmasq = None
        self.vms = []
        self.extra = []

    # ---- the LAN
    def up(self, n):
        self.cleanup_stale()
        sh(["ip", "netns", "add", self.ns])
        x = ["ip", "netns", "exec", self.ns]
        sh(x + ["ip", "link", "set", "lo", "up"])
        # No multicast snooping: the beacon's group reaches every port, as on a plain switch.
        sh(x + ["ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        sh(x + ["ip", "addr", "add", "10.78.0.1/24", "dev", "br0"])
        sh(x + ["ip", "link", "set", "br0", "up"])
        for i in range(1, n + 1):
            sh(x + ["ip", "tuntap", "add", f"tap{i}", "mode", "tap"])
            sh(x + ["ip", "link", "set", f"tap{i}", "master", "br0", "up"])
        leases = os.path.join(self.work, "dnsmasq.leases")
        self.dnsmasq = subprocess.Popen(
            x + ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                 "--port=0", "--interface=br0", "--bind-interfaces", "--except-interface=lo",
                 "--dhcp-range=10.78.0.100,10.78.0.199,255.255.255.0,12h",
                 "--dhcp-option=option:router,10.78.0.1", f"--dhcp-leasefile={leases}",
                 "--log-dhcp", f"--log-facility={os.path.join(self.work, 'dnsmasq.log')}",
                 f"--pid-file={os.path.join(self.work, 'dnsmasq.pid')}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        log(f"LAN up: namespace {self.ns}, bridge 10.78.0.1/24, {n} TAP devices, DHCP by dnsmasq")

    def cleanup_stale(self):
        out = sh(["ip", "netns", "list"], check=False).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            m = re.fullmatch(r"mifleet(\d+)", name)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                sh(["ip", "netns", "pids", name], check=False)
                for pid in sh(["ip", "netns", "pids", name], check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                sh(["ip", "netns", "del", name], check=False)

    def down(self, keep):
        for vm in self.vms + self.extra:
            vm.kill()
        if self.dnsmasq and self.dnsmasq.poll() is None:
            os.killpg(self.dnsmasq.pid, signal.SIGKILL)
            self.dnsmasq.wait()
        for pid in sh(["ip", "netns", "pids", self.ns], check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh(["ip", "netns", "del", self.ns], check=False)
        if keep:
            dest = self.args.logs
            if dest:
                os.makedirs(dest, exist_ok=True)
                for f in os.listdir(self.work):
                    if f.endswith(".log"):
                        shutil.copy(os.path.join(self.work, f), dest)
                log(f"logs kept in {dest}")
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- waiting
    def wait_converged(self, vms, key, deadline_s):
        """The set of the latest values of `key` on the consoles, once they agree or when the
        deadline passes (then the disagreeing set, for the message)."""
        end = time.monotonic() + deadline_s
        while True:
            for vm in vms:
                vm.console.poll()
            values = {vm.console.cluster().get(key) for vm in vms}
            if len(values) == 1 or time.monotonic() > end:
                return values
            time.sleep(2)  # polling the consoles, with a deadline

    def wait_formed(self, vms, deadline_s, what):
        end = time.monotonic() + deadline_s
        last = {}
        while True:
            for vm in self.extra:
                if vm.proc and vm.proc.poll() is None and vm.stop_when:
                    vm.console.poll()
                    if vm.console.first(vm.stop_when) is not None:
                        log(f"{vm.name}: seen what it was booted for; powering it off")
                        vm.kill()
            pending = []
            for vm in vms:
                vm.console.poll()
                if vm.proc.poll() is not None:
                    raise Failure(f"{vm.name}: QEMU exited ({vm.proc.returncode}) before the cluster formed")
                # A failed run is not the end (systemd restarts mi-firstboot, which resumes):
                # it is logged below and the deadline decides.
                if not vm.console.formed():
                    pending.append(vm)
                cl = vm.console.cluster_lines()
                if cl and last.get(vm.name) != cl[-1][1]:
                    last[vm.name] = cl[-1][1]
                    log(f"{vm.name}: {cl[-1][1]}")
            if not pending:
                return
            if time.monotonic() > end:
                raise Failure(f"{what}: not formed within {deadline_s} s: " +
                              ", ".join(f"{vm.name} (last: {last.get(vm.name, 'no mi-cluster line')})"
                                        for vm in pending))
            time.sleep(2)  # polling the consoles, with a deadline


def print_breakdown(vms, last_start):
    """Where the time went, per VM, from the consoles (mi-cluster-status polls every 3 s, so
    each figure is good to about 3 s): booting until first boot starts, discovery, Consul
    (until the zookeeper step), ZooKeeper and the rest (until `formed`)."""
    print("\nformation breakdown (seconds; from each VM's start, and from the last start):", flush=True)
    print(f"{'vm':4} {'boot':>6} {'discover':>9} {'consul':>7} {'zookeeper':>10} {'rest':>6} {'formed':>7} {'after last':>11}")
    for vm in vms:
        c = vm.console
        t = [vm.started_at,
             c.first(r"mi-cluster: firstboot="),
             c.first(r"mi-cluster: firstboot=.*\b(consul|zookeeper|writers|register)\b") ,
             c.first(r"mi-cluster: firstboot=.*\b(zookeeper|writers|register)\b"),
             c.first(r"mi-cluster: firstboot=.*\b(writers|register|done)\b"),
             c.first(r"mi-cluster: formed")]
        # A phase too short to be seen between two polls takes the next one's start.
        for i in range(len(t) - 2, 0, -1):
            if t[i] is None:
                t[i] = t[i + 1]
        d = [(t[i + 1] - t[i]) if t[i] is not None and t[i + 1] is not None else float("nan") for i in range(5)]
        print(f"{vm.name:4} {d[0]:6.0f} {d[1]:9.0f} {d[2]:7.0f} {d[3]:10.0f} {d[4]:6.0f} "
              f"{t[5] - t[0]:7.0f} {t[5] - last_start:11.0f}", flush=True)
    print(flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)
    log(f"ok: {msg}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mibuild", required=True)
    ap.add_argument("--images", required=True, help="directory with mi-control.qcow2 and mi-compute.qcow2")
    ap.add_argument("--name", default="mi", help="the spec's name (images are NAME-ROLE.qcow2)")
    ap.add_argument("--memory", type=int, default=1536)
    ap.add_argument("--deadline", type=int, default=2400, help="seconds for the whole run")
    ap.add_argument("--no-reboot", action="store_true", help="skip the reboot part (benchmark)")
    ap.add_argument("--logs", default=os.environ.get("MI_FLEET_LOGS", ""))
    args = ap.parse_args()

    if os.geteuid() != 0:
        skip_or_fail("needs root (network namespaces, TAP devices)")
    for tool in ["qemu-system-x86_64", "qemu-img", "ip", "dnsmasq"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            skip_or_fail(f"{tool} not installed (scripts/setup.sh installs it)")
    images = {r: os.path.join(args.images, f"{args.name}-{r}.qcow2") for r in ("control", "compute")}
    for r, p in images.items():
        if not os.path.exists(p):
            print(f"FAIL: {p} does not exist (the image_build test makes it)", flush=True)
            return 1

    start = time.monotonic()
    fleet = Fleet(args)
    ok = False
    try:
        # One seed for the whole fleet: each node names itself from its machine-id.
        secret = os.path.join(fleet.work, "fleet.secret")
        sh([args.mibuild, "seed", "--secret-file", secret, "--new-secret", "-o", fleet.seed])
        roles = [("c1", "control"), ("c2", "control"), ("c3", "control"), ("w1", "compute")]
        fleet.up(len(roles) + 1)
        for i, (name, role) in enumerate(roles, 1):
            vm = VM(fleet, name, role, i)
            vm.create_disk(images[role])
            fleet.vms.append(vm)
        # A fifth VM on the same LAN, booted from the control image with no seed: without the
        # fleet secret it must wait, say why, and never join (the fleet stays at 4 members).
        stray = VM(fleet, "x1", "control", len(roles) + 1, seed=False)
        stray.create_disk(images["control"])
        stray.stop_when = r"mi-cluster: firstboot=waiting: identity: no cluster secret"
        fleet.extra.append(stray)
        for vm in fleet.vms + [stray]:
            vm.start()
        last_start = fleet.vms[-1].started_at
        remaining = args.deadline - (time.monotonic() - start) - 60
        fleet.wait_formed(fleet.vms, remaining, "the fleet")
        formed_at = max(vm.console.first(r"mi-cluster: formed") for vm in fleet.vms)
        log(f"fleet formed {formed_at - last_start:.0f} s after the last VM started")
        print_breakdown(fleet.vms, last_start)

        cl = {vm.name: vm.console.cluster() for vm in fleet.vms}
        for n, kv in cl.items():
            log(f"{n}: " + " ".join(f"{k}={v}" for k, v in sorted(kv.items()) if not k.startswith("firstboot")))
        controls = [vm for vm in fleet.vms if vm.role == "control"]
        compute = [vm for vm in fleet.vms if vm.role == "compute"][0]
        addrs = {vm.name: cl[vm.name].get("address") for vm in fleet.vms}
        check(all(a and a.startswith("10.78.0.") for a in addrs.values()),
              f"every VM has a DHCP address on the fleet LAN: {addrs}")
        # Each node reports the leader as it changes (elections under TCG's slow clocks are
        # normal): the latest reports must converge on one leader.
        leaders = fleet.wait_converged(fleet.vms, "consul-leader", 180)
        check(len(leaders) == 1, f"one Consul leader seen by all four: {leaders}")
        leader = leaders.pop()
        cl = {vm.name: vm.console.cluster() for vm in fleet.vms}
        check(leader in {addrs[vm.name] for vm in controls}, f"the Consul leader {leader} is a control node")
        check(all(cl[n].get("consul-members") == "4" for n in cl),
              "4 alive Consul members on every node: " + str({n: cl[n].get("consul-members") for n in cl}))
        check(all(cl[n].get("consul-servers") == "3" for n in cl),
              "3 Consul servers (and so 1 client) on every node: " + str({n: cl[n].get("consul-servers") for n in cl}))
        modes = sorted(cl[vm.name].get("zookeeper-mode", "") for vm in controls)
        check(modes == ["follower", "follower", "leader"], f"one ZooKeeper leader and two followers: {modes}")
        ens = {cl[vm.name].get("zookeeper-servers") for vm in controls}
        check(len(ens) == 1 and None not in ens, f"the same zoo.cfg servers on the three control nodes: {ens}")
        ens_addrs = sorted(s.split("@", 1)[1].rsplit(":", 2)[0] if "@" in s else s
                           for s in ens.pop().split(","))
        check(ens_addrs == sorted(addrs[vm.name] for vm in controls),
              f"the ensemble is the three control nodes: {ens_addrs}")
        mids = [cl[n].get("machine-id") for n in cl]
        check(len(set(mids)) == 4 and None not in mids and "none" not in mids, f"four different machine-ids: {mids}")
        names = [cl[n].get("node") for n in cl]
        check(len(set(names)) == 4 and None not in names, f"four different node names: {names}")
        check(all(cl[vm.name].get("node", "").startswith(vm.role + "-") for vm in fleet.vms),
              f"nodes named <role>-<machine-id> by default: {names}")
        # What each boot did (systemd's journal in the VM): Consul everywhere and ZooKeeper on the
        # ensemble ran from mi-firstboot's units and first started after their configuration.
        starts = {n: (cl[n].get("consul-start", ""), cl[n].get("zookeeper-start", "")) for n in cl}
        check(all(c.startswith("after-config (") for c, _ in starts.values()),
              f"Consul started from mi-firstboot's configuration on every node: {starts}")
        check(all(starts[vm.name][1].startswith("after-config (") for vm in controls)
              and starts[compute.name][1] == "not-started",
              f"ZooKeeper started after its configuration on the control nodes, not on the compute node: {starts}")
        dns = sorted((cl[compute.name].get("zookeeper-dns") or "").split(","))
        check(dns == ens_addrs, f"zookeeper.service.consul resolves on the compute node to the ensemble: {dns}")
        if stray.proc.poll() is None:
            stray.console.poll()
        waits = [l for _, l in stray.console.cluster_lines() if l.startswith("firstboot=waiting: identity: no cluster secret")]
        check(bool(waits) and not stray.console.formed(),
              f"the VM without a seed waits for the fleet secret and says so: {waits[:1]}")
        stray.kill()

        if not args.no_reboot:
            vm = controls[1]
            before = {k: cl[vm.name].get(k) for k in ("machine-id", "consul-node-id", "zookeeper-myid", "node")}
            log(f"rebooting {vm.name} (power off, power on): {before}")
            vm.powerdown(300)
            vm.start()
            remaining = args.deadline - (time.monotonic() - start) - 30
            fleet.wait_formed([vm], remaining, f"{vm.name} after its reboot")
            after_kv = vm.console.cluster()
            after = {k: after_kv.get(k) for k in before}
            check(after == before, f"{vm.name} kept its identity across the reboot: {after}")
            check(after_kv.get("zookeeper-mode") in ("leader", "follower"),
                  f"{vm.name}'s ZooKeeper is in the ensemble again: {after_kv.get('zookeeper-mode')}")
            check(after_kv.get("consul-leader") not in (None, "none"),
                  f"the cluster has a Consul leader after the reboot: {after_kv.get('consul-leader')}")
        ok = True
        log("PASS")
        return 0
    except Failure as e:
        log(f"FAIL: {e}")
        return 1
    finally:
        fleet.down(keep=not ok)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
