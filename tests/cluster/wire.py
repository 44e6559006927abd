#!/usr/bin/env python3
# A faulty L2 wire between a node namespace and its datacenter bridge: the cluster testbed's
# stand-in for `tc qdisc ... netem loss N% delay Mms`, which it uses when the kernel has no
# sch_netem (CONFIG_NET_SCH_NETEM unset on the test machines). Started by testbed.py inside
# the switch namespace; it creates two TAP devices there, `<side>` (attached to the bridge)
# and `<node>` (moved by testbed.py into the node's namespace and renamed eth0), and copies
# Ethernet frames between them. Frames the node SENDS are dropped with probability LOSS and
# delayed by DELAY ms, exactly what netem on the node's own interface would do (egress only).
# SIGUSR1 lifts the fault (loss 0, delay 0), SIGTERM ends the wire.
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    bridge_side, node_side, loss, delay_ms, ready_file = sys.argv[1:6]
    state = {"loss": float(loss) / 100.0, "delay": float(delay_ms) / 1000.0, "run": True}
    br = open_tap(bridge_side)
    nd = open_tap(node_side)
    signal.signal(signal.SIGUSR1, lambda *_: state.update(loss=0.0, delay=0.0))
    signal.signal(signal.SIGTERM, lambda *_: state.update(run=False))
    with open(ready_file, "w") as f:  # tells testbed.py both devices exist
        f.write(str(os.getpid()))
    rng = random.Random()
    pending = []  # (due time, seq, frame): node -> bridge frames held back by the delay
    seq = 0
    counts = {"sent": 0, "dropped": 0, "received": 0}
    while state["run"]:
        timeout = None
        if pending:
            timeout = max(0.0, pending[0][0] - time.monotonic())
        try:
            readable, _, _ = select.select([br, nd], [], [], timeout)
        except InterruptedError:
            continue
        for fd in readable:
            while True:
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:  # the device went away with its namespace
                    state["run"] = False
                    break
                if fd == br:  # towards the node: untouched (netem shapes egress only)
                    counts["received"] += 1
                    try:
                        os.write(nd, frame)
                    except OSError:
                        pass
                    continue
                if rng.random() < state["loss"]:
                    counts["dropped"] += 1
                    continue
                seq += 1
                heapq.heappush(pending, (time.monotonic() + state["delay"], seq, frame))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, frame = heapq.heappop(pending)
            counts["sent"] += 1
            try:
                os.write(br, frame)
            except OSError:
                pass
    print(f"wire {node_side}: {counts}", flush=True)


if __name__ == "__main__":
    main()
