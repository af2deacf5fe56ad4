"""Cold start after publishing: the first query after ``publish_dataset`` returns vs a warm query, same run.

A devnet of N node processes (r = 3). Each round publishes a new seeded
product catalogue under a new dataset name, then at once (the moment
``publish_dataset`` returns) runs one verified all-shard search with a fresh
``ComputeClient`` (the cold query), then ``--warm`` more searches, each with a
fresh ``ComputeClient`` too (so both sides pay the same client-side work:
manifest, program, replica lookups) and takes their median (the warm query).
The ratio cold / warm is the figure; both are wall time on a shared machine.

Nodes prefetch (``note_compute.compute.prefetch``) when the manifest lands;
``--no-wait`` is the default: nothing waits for the prefetch to finish.

Usage: ``python benchmarks/bench_coldstart.py [--nodes 16] [--products 20000] [--rounds 3] [--warm 5]``
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_compute import RARE, make_catalog  # noqa: E402

from note_compute.crypto import SigningKey  # noqa: E402


async def run(args: argparse.Namespace) -> list[str]:
    from note_compute.cli.program import publish_program
    from note_compute.client import open_client
    from note_compute.compute.client import ComputeClient
    from note_compute.compute.publish import publish_dataset
    from note_compute.devnet import DEVNET_NODE_ARGS, Devnet, wait_stable
    from note_compute.sandbox import Sandbox

    sandbox = Sandbox()
    shop = (ROOT / "contracts" / "shop_search.wasm").read_bytes()
    site = SigningKey(hashlib.sha256(b"bench-coldstart-site").digest())
    rows: list[tuple[str, int, float, float, float, bool]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-", ignore_cleanup_errors=True) as tmp:
        net = Devnet(Path(tmp), args.nodes, node_args=DEVNET_NODE_ARGS + (["-v"] if args.node_logs else []))
        try:
            await net.start(timeout=300)
            async with open_client(net.bootstrap, timeout=5.0) as client:
                await wait_stable(net, client, 300)
                prog, _ = await publish_program(client, site, "shop_search", shop, fuel=10**10,
                                                now_ms=int(time.time() * 1000))
                for rnd in range(args.rounds * 2):
                    wait = rnd % 2 == 1  # alternate: publish returns at once / once the replicas are ready
                    catalog = make_catalog(args.products, seed=1000 + rnd)
                    want_n = sum(RARE.encode() in r for r in catalog)
                    rare = {"text": RARE, "sort": "price"}
                    t = time.perf_counter()
                    pub = await publish_dataset(client, site, catalog, name=f"cold{rnd}-{os.getpid()}",
                                                sort_key=["price", "id"], parallel=2,
                                                ready_timeout=30.0 if wait else 0.0)
                    publish_s = time.perf_counter() - t
                    w_pub = time.time()  # publish_dataset has returned
                    if args.delay:
                        await trio.sleep(args.delay)
                    t = time.perf_counter()
                    res = await ComputeClient(client, sandbox, timeout=30.0).query(prog.url, pub.record.url, rare)
                    cold = time.perf_counter() - t
                    ok = res.verification.ok and len(res.records) == want_n
                    warm = []
                    for _ in range(args.warm):
                        t = time.perf_counter()
                        res = await ComputeClient(client, sandbox, timeout=30.0).query(prog.url, pub.record.url, rare)
                        warm.append(time.perf_counter() - t)
                        ok = ok and res.verification.ok and len(res.records) == want_n
                    rows.append(("ready_timeout=30" if wait else "no wait", len(pub.built.manifest.shards),
                                 publish_s, cold, statistics.median(warm), ok))
                    print(f"round {rnd}: {rows[-1]}", flush=True)
                    if args.node_logs:
                        for log in sorted(Path(tmp).glob("*/node.log")):
                            for line in log.read_text(errors="replace").splitlines():
                                if "prefetch:" in line and pub.record.url in line:
                                    print(f"  {log.parent.name}: {line[11:23]} {line.rsplit(':', 1)[1]}", flush=True)
                        print(f"  (publish returned at {time.strftime('%H:%M:%S', time.localtime(w_pub))}"
                              f".{int(w_pub * 1000) % 1000:03d})", flush=True)
        finally:
            with trio.CancelScope(shield=True):
                await net.stop()
    load = os.getloadavg()[0]
    out = [f"Command: `python benchmarks/bench_coldstart.py --nodes {args.nodes} --products {args.products} "
           f"--rounds {args.rounds} --warm {args.warm}`  ",
           f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average at the end {load:.1f}; "
           f"{args.nodes} node processes on 127.0.0.1.", "",
           "| round | publish_dataset | shards | publish took | first query after publish returns | "
           "warm query (median) | ratio | verified and correct |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, (mode, shards, publish_s, cold, warm_s, ok) in enumerate(rows):
        out.append(f"| {i} | {mode} | {shards} | {publish_s:.1f} s | {cold * 1000:.0f} ms | {warm_s * 1000:.0f} ms | "
                   f"{cold / warm_s:.2f} | {'yes' if ok else 'NO'} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--products", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--delay", type=float, default=0.0,
                    help="wait this long after publishing before the first query (diagnosis; the figure uses 0)")
    ap.add_argument("--node-logs", action="store_true", help="run nodes with -v and print their prefetch lines")
    args = ap.parse_args()
    for line in trio.run(run, args):
        print(line)


if __name__ == "__main__":
    main()
