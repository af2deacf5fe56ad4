"""CPU of idle nodes: a small local ring with no traffic, CPU time per node over a window.

Starts N node processes on 127.0.0.1 (a ``Devnet``), lets the ring settle, then reads each node's CPU time
(utime + stime from ``/proc/PID/stat``) at the start and end of a window.
CPU time, unlike wall-clock latency, is barely moved by other load on the
machine. Baseline in the same run: a Python process that only sleeps.

Usage: ``python benchmarks/bench_idle.py [--nodes 4] [--settle 15] [--window 30]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from note_compute.devnet.supervisor import Devnet


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--settle", type=float, default=15)
    ap.add_argument("--window", type=float, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = Devnet(Path(tmp), args.nodes)

        async def run() -> dict[int, float]:
            await net.start(timeout=600)
            try:
                sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**6)"])
                await trio.sleep(args.settle)
                pids = [n.proc.pid for n in net.nodes if n.proc is not None] + [sleeper.pid]
                start = {pid: _cpu_s(pid) for pid in pids}
                t0 = time.time()
                await trio.sleep(args.window)
                wall = time.time() - t0
                out = {pid: (_cpu_s(pid) - start[pid]) / wall * 100 for pid in pids}
                sleeper.kill()
                return out
            finally:
                await net.stop()

        share = trio.run(run)
    node_pids = list(share)[:-1]
    sleeper_pid = list(share)[-1]
    node_shares = [share[p] for p in node_pids]
    print(f"bench_idle {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}: "
          f"{args.nodes} idle nodes, {args.window:g} s window after {args.settle:g} s")
    print(f"CPU per idle node: median {statistics.median(node_shares):.2f}% of a core, "
          f"max {max(node_shares):.2f}% (each: {', '.join(f'{s:.2f}' for s in node_shares)})")
    print(f"baseline, a sleeping Python process: {share[sleeper_pid]:.2f}%")


if __name__ == "__main__":
    main()
