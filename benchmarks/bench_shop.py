"""Shop benchmark: proven-complete text search (word index) vs audited predicate search vs downloading the catalog.

One run, one local network of N node processes (r = 3), one catalog of P
products (``examples.shop.catalog.generate``, seed 12) published with its word
index. For each text query, side by side, on the same catalog:

* **index**: ``Shop.search`` - the planned proven-complete search: the index
  and catalog versions resolved once, the rarest words' index ranges first,
  the other words checked per candidate with one-key proofs when few remain,
  products of the first page (10) fetched with proofs;
* **index v1**: ``Shop.search_index(plan=False)``,
  the first version - every word's whole range and every product its own
  freshly resolved query; the ratio index / v1 is the change, measured in
  the same run;
* **audited**: ``Shop.search_audited`` - ``shop_find`` over every catalog
  shard, the returned records proven, the selection audited at rate 0.05;
* **download**: every catalog shard fetched (hash and Merkle root checked)
  and searched locally with the reference (measured once; the same for
  every query).

Bytes received are the peers' answers (compute replies, or shard blobs for the
download; for the planned search, also what range fetches started at once and
then not needed had received when cancelled); manifests and program binaries are fetched once per client and
not counted. Every query is run once to warm the nodes (shards loaded,
programs compiled), then ``--runs`` times per way, the ways interleaved; the
table shows medians. Times are wall clock on a loaded shared machine: compare
the ratios within the run. Also measured: publishing time and, after one
price change, how many shards a republish uploads.

Usage: .venv/bin/python benchmarks/bench_shop.py [--nodes 16] [--products 100000] [--runs 3]
Writes benchmarks/results/shop.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [("lantern", {}), ("red lamp", {}), ("éclair", {}), ("steel", {"category": "tools", "in_stock": True}),
           ("waterproof tent", {"max_price": 20000}), ("éclair red", {}), ("lantern made", {"in_stock": True})]


OUT = [ROOT / "benchmarks" / "results" / "shop.md"]


def flush(out: list[str]) -> None:
    """Write what is measured so far (a long run that fails late keeps its figures)."""
    OUT[0].write_text("\n".join(out) + "\n")


async def retry(fn: Any, tries: int = 3) -> Any:
    from examples.shop.search import ShopError

    for i in range(tries):
        try:
            return await fn()
        except ShopError:
            if i == tries - 1:
                raise
    return None


def median(xs: list[float]) -> float:
    ys = sorted(xs)
    return ys[len(ys) // 2] if len(ys) % 2 else (ys[len(ys) // 2 - 1] + ys[len(ys) // 2]) / 2


async def bench(nodes: int, products: int, runs: int, out: list[str]) -> None:
    import hashlib

    from examples.demo import embedded_network
    from examples.shop.catalog import generate
    from examples.shop.search import parse_query, reference_search
    from examples.shop.shop import Shop, publish_shop, update_products
    from note_compute.compute.client import ComputeClient
    from note_compute.crypto import SigningKey
    from note_compute.sandbox import Sandbox

    def say(m: str) -> None:
        print(m, flush=True)

    key = SigningKey(hashlib.sha256(b"bench-shop").digest())
    catalog = generate(products)
    with tempfile.TemporaryDirectory(prefix="bench-shop-") as tmp:
        async with embedded_network(nodes, Path(tmp), say) as net:
            t = time.perf_counter()
            pub = await publish_shop(net.client, key, catalog, progress=say, ready_timeout=120.0)
            t_pub = time.perf_counter() - t
            cat_bytes = sum(s.info.size for s in pub.catalog.built.shards)
            idx_bytes = sum(s.info.size for s in pub.index.built.shards)
            out.append(f"- network: {nodes} node processes on 127.0.0.1, r = 3; catalog {products} products, "
                       f"{len(pub.catalog.built.shards)} shards, {cat_bytes / 1e6:.1f} MB; word index "
                       f"{pub.index_records} records, {len(pub.index.built.shards)} shards, {idx_bytes / 1e6:.1f} MB; "
                       f"published in {t_pub:.0f} s (replicas waited for)")
            flush(out)
            with Sandbox() as sandbox:
                # a generous per-peer timeout: the first queries compile the programs on every node
                shop = Shop(net.client, sandbox, key.authority,
                            compute=ComputeClient(net.client, sandbox, timeout=30.0, parallel=16))
                info = await shop.info()
                t = time.perf_counter()
                everything, dl_bytes = await shop.download_catalog()
                dl_s = time.perf_counter() - t
                out.append("")
                out.append(f"Medians of {runs} runs per way after one warm-up run (KiB received / ms):")
                out.append("")
                out.append("| query | matches | index (planned) | index v1 | audited | download "
                           "| planned / v1 time | planned / audited time | planned bytes / download "
                           "| audited bytes / download | candidates read from the catalog | same first page |")
                out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
                ways = {"planned": lambda q: shop.search_index(q), "v1": lambda q: shop.search_index(q, plan=False),
                        "audited": lambda q: shop.search_audited(q)}
                for text, kw in QUERIES:
                    q = parse_query(text, categories=info.categories, limit=10, **kw)
                    first: dict[str, Any] = {}
                    for name, fn in ways.items():  # warm-up: every shard this query touches, on every way
                        first[name] = await retry(lambda fn=fn, q=q: fn(q))
                    times: dict[str, list[float]] = {name: [] for name in ways}
                    for _ in range(runs):
                        for name, fn in ways.items():
                            t = time.perf_counter()
                            first[name] = await retry(lambda fn=fn, q=q: fn(q))  # bytes: the last run's
                            times[name].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    local, _ = reference_search(everything, q)
                    tl = dl_s + time.perf_counter() - t
                    ids = {name: [p["id"] for p in r.products] for name, r in first.items()}
                    same = ids["planned"] == ids["v1"] == ids["audited"] == [p["id"] for p in local]
                    m = {name: median(ts) for name, ts in times.items()}
                    b = {name: r.summary.bytes_received + r.summary.unused_bytes for name, r in first.items()}
                    cells = " | ".join(f"{b[n] / 1024:.0f} / {m[n] * 1000:.0f}" for n in ways)
                    out.append(f"| {text!r} {kw or ''} | {first['planned'].total} | {cells} | "
                               f"{dl_bytes / 1024:.0f} / {tl * 1000:.0f} | {m['planned'] / m['v1']:.2f} | "
                               f"{m['planned'] / m['audited']:.2f} | {b['planned'] / dl_bytes:.4f} | "
                               f"{b['audited'] / dl_bytes:.4f} | {first['planned'].summary.point_checks} | {same} |")
                    say(out[-1])
                    flush(out)
            changed = [dict(p) for p in catalog]
            changed[len(changed) // 2]["price"] += 100
            t = time.perf_counter()
            cat, idx = await update_products(net.client, key, changed)
            out.append("")
            out.append(f"- one price change republished in {time.perf_counter() - t:.0f} s: catalog {cat.uploaded} of "
                       f"{len(cat.built.shards)} shards uploaded, word index {idx.uploaded} of "
                       f"{len(idx.built.shards)}; manifest seq {cat.previous.seq if cat.previous else 0} -> "
                       f"{cat.record.seq}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3, help="measured runs per query and way (after one warm-up)")
    ap.add_argument("--out", type=Path, default=OUT[0], help="where the table goes")
    args = ap.parse_args()
    OUT[0] = args.out
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    out = [f"# Shop: proven text search vs audited search vs download ({datetime.date.today()})", "",
           f"Command: `.venv/bin/python benchmarks/bench_shop.py --nodes {args.nodes} --products {args.products} "
           f"--runs {args.runs}`",
           ""]
    trio.run(bench, args.nodes, args.products, args.runs, out)
    flush(out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
