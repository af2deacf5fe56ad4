"""CPU of idle nodes: a small local ring with no traffic, CPU time per node over a window.

Starts N nodes (``python -m note_compute.node``) on 127.0.0.1, the first one
the others' bootstrap, lets the ring settle, then reads each node's CPU time
(utime + stime from ``/proc/PID/stat``) at the start and end of a window.
CPU time, unlike wall-clock latency, is barely moved by other load on the
machine. Baseline in the same run: a Python process that only sleeps.

Usage: ``python benchmarks/bench_idle.py [--nodes 4] [--settle 15] [--window 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_addr(d: Path, timeout: float = 180) -> str:
    end = time.time() + timeout
    while time.time() < end:
        try:
            return str(json.loads((d / "node.json").read_text())["addrs"][0])
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.2)
    raise RuntimeError(f"node in {d} did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--settle", type=float, default=15)
    ap.add_argument("--window", type=float, default=30)
    args = ap.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            boot = None
            for i in range(args.nodes):
                d = Path(tmp) / f"n{i}"
                cmd = [sys.executable, "-m", "note_compute.node", "--data-dir", str(d),
                       "--listen", "/ip4/127.0.0.1/tcp/0"] + (["--bootstrap", boot] if boot else [])
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                addr = _wait_addr(d)
                boot = boot or addr
            sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**6)"])
            time.sleep(args.settle)
            pids = [p.pid for p in procs] + [sleeper.pid]
            start = {pid: _cpu_s(pid) for pid in pids}
            t0 = time.time()
            time.sleep(args.window)
            wall = time.time() - t0
            share = {pid: (_cpu_s(pid) - start[pid]) / wall * 100 for pid in pids}
            sleeper.kill()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
    node_shares = [share[p.pid] for p in procs]
    print(f"bench_idle {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}: "
          f"{args.nodes} idle nodes, {args.window:g} s window after {args.settle:g} s")
    print(f"CPU per idle node: median {statistics.median(node_shares):.2f}% of a core, "
          f"max {max(node_shares):.2f}% (each: {', '.join(f'{s:.2f}' for s in node_shares)})")
    print(f"baseline, a sleeping Python process: {share[sleeper.pid]:.2f}%")


if __name__ == "__main__":
    main()
