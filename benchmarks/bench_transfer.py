"""Bulk transfer through the libp2p transport: bulk mplex frames against py-libp2p's stock 4 KiB frames.

Two hosts in this process (requester and server both on this CPU, so the
CPU time counts both ends' work), the server answering every request with
one blob chunk (256 KiB by default). For each configuration, interleaved
over ROUNDS: wall time and process CPU time per chunk, and throughput.
CPU time per chunk is the figure to compare on a loaded machine (wall time
includes waiting for other processes); the ratio is stock / bulk from the
same run.

Usage: ``python benchmarks/bench_transfer.py [--n 60] [--size 262144] [--rounds 5] [--parallel 1]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from note_compute.net import _p2p, open_host
from note_compute.ring.ids import PeerRef


def _stock(base: type) -> type:
    return base


async def one_run(bulk: bool, n: int, size: int, parallel: int) -> tuple[float, float]:
    """(wall s, cpu s) for ``n`` chunk-sized replies."""
    blob = os.urandom(size)

    async def serve(sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        return {"data": blob}

    saved = _p2p.bulk_mplex
    if not bulk:
        _p2p.bulk_mplex = _stock  # type: ignore[assignment]
    try:
        async with open_host(os.urandom(32), handler=serve) as server, open_host(os.urandom(32)) as client:
            await client.request(server.peer_ref, {"warm": 1}, 10)

            async def worker(k: int) -> None:
                for _ in range(k):
                    reply = await client.request(server.peer_ref, {"get": 1}, 60)
                    assert len(reply["data"]) == size

            t0, c0 = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for _ in range(parallel):
                    nursery.start_soon(worker, n // parallel)
            return time.perf_counter() - t0, time.process_time() - c0
    finally:
        _p2p.bulk_mplex = saved  # type: ignore[assignment]


async def main(n: int, size: int, rounds: int, parallel: int) -> None:
    out: dict[str, list[tuple[float, float]]] = {"bulk": [], "stock": []}
    for r in range(rounds):
        for name in (("bulk", "stock") if r % 2 else ("stock", "bulk")):
            out[name].append(await one_run(name == "bulk", n, size, parallel))
    count = n // parallel * parallel
    print(f"{count} replies of {size} bytes, {parallel} in flight, medians of {rounds} interleaved rounds")
    med: dict[str, tuple[float, float]] = {}
    for name, runs in out.items():
        wall = statistics.median(w for w, _ in runs) / count
        cpu = statistics.median(c for _, c in runs) / count
        med[name] = (wall, cpu)
        print(f"{name:6} wall {wall * 1000:7.2f} ms/chunk ({size / wall / 1e6:6.1f} MB/s)   "
              f"cpu {cpu * 1000:7.2f} ms/chunk ({size / cpu / 1e6:6.1f} MB/s of CPU)")
    print(f"stock / bulk: cpu {med['stock'][1] / med['bulk'][1]:.1f}x, wall {med['stock'][0] / med['bulk'][0]:.1f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--size", type=int, default=256 * 1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=1)
    a = ap.parse_args()
    trio.run(main, a.n, a.size, a.rounds, a.parallel)
