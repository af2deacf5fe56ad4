"""The shop demo's lying-peer round: on the demo's real local network vs on an in-memory network.

One run, one local network of N node processes (6, as ``make demo``), the
demo's shop (5,000 products, seed 12) published on it. Then, interleaved,
``--runs`` times each:

* **in-memory**: the round the demo ran before (``examples.shop.demo._liar`` on
  a ``DemoNet``-less network: an in-memory network of 8, 2 of the 3 replicas of
  the 'lamp' index shard hide a match, 400 products);
* **real**: ``examples.shop.liar.ring_liar_round`` - a lying node process joins
  the ring with an id that makes it a replica of that shard, is asked first,
  hides a match, is convicted and blocked, its proof kept by the ring; then
  it leaves (SIGTERM) and the ring is whole again.

Medians, the ratio real / in-memory within the run, and the real round's
phases (start: the process up; join: a stable ring with it, and it a replica;
search: the honest search, run while it starts, and the lying one; leave: it
gone). Wall clock on a shared machine: compare within the run.

Usage: .venv/bin/python benchmarks/bench_shop_liar.py [--nodes 6] [--products 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio


async def run(nodes: int, products: int, runs: int) -> dict[str, Any]:
    from examples.demo import embedded_network
    from examples.shop.catalog import generate
    from examples.shop.demo import _liar
    from examples.shop.liar import ring_liar_round
    from examples.shop.shop import publish_shop
    from note_compute.crypto import SigningKey
    from note_compute.sandbox import Sandbox

    key = SigningKey(hashlib.sha256(b"note-shop-demo/shop-12").digest())
    catalog = generate(products, seed=12)
    times: dict[str, list[float]] = {"in-memory": [], "real": []}
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-shop-liar-") as tmp, Sandbox() as sandbox:
        async with embedded_network(nodes, Path(tmp), lambda s: None) as net:
            await publish_shop(net.client, key, catalog, ready_timeout=60.0)
            for _ in range(runs):
                t0 = time.monotonic()
                assert await _liar(lambda s: None, object(), sandbox, key, catalog[:400]) >= 1
                times["in-memory"].append(time.monotonic() - t0)
                t0 = time.monotonic()
                r = await ring_liar_round(net, sandbox, key.authority)
                times["real"].append(time.monotonic() - t0)
                assert r["frauds"] and r["convicted"] and r["blocked"] and r["complete"], r
                phases.append(r["seconds"])
    med = {k: statistics.median(v) for k, v in times.items()}
    names = list(phases[0])
    return {"median": med, "ratio": med["real"] / med["in-memory"], "runs": times,
            "phases": {n: statistics.median(p[n] for p in phases) for n in names}}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--products", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    out = trio.run(run, args.nodes, args.products, args.runs)
    print(f"{args.nodes} nodes, {args.products} products, {args.runs} runs each")
    for k, v in out["median"].items():
        print(f"  {k}: median {v:.2f} s (runs {', '.join(f'{x:.2f}' for x in out['runs'][k])})")
    print(f"  real / in-memory: {out['ratio']:.1f}x")
    print("  real round's phases (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in out["phases"].items()))


if __name__ == "__main__":
    main()
