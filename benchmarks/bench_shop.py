"""Shop benchmark: proven-complete text search (word index) vs audited predicate search vs downloading the catalog.

One run, one local network of N node processes (r = 3), one catalog of P
products (``examples.shop.catalog.generate``, seed 12) published with its word
index. For each text query, side by side, on the same catalog:

* **index**: ``Shop.search`` - every query word a proven-complete range of
  the word index, products of the first page (10) fetched with proofs;
* **audited**: ``Shop.search_audited`` - ``shop_find`` over every catalog
  shard, the returned records proven, the selection audited at rate 0.05;
* **download**: every catalog shard fetched (hash and Merkle root checked)
  and searched locally with the reference (measured once; the same for
  every query).

Bytes received are the peers' answers (compute replies, or shard blobs for the
download); manifests and program binaries are fetched once per client and
not counted. Times are wall clock on a loaded shared machine: compare the
ratios within the run. Also measured: publishing time and, after one price
change, how many shards a republish uploads.

Usage: .venv/bin/python benchmarks/bench_shop.py [--nodes 16] [--products 100000]
Writes benchmarks/results/shop.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [("lantern", {}), ("red lamp", {}), ("éclair", {}), ("steel", {"category": "tools", "in_stock": True}),
           ("waterproof tent", {"max_price": 20000})]


async def bench(nodes: int, products: int, out: list[str]) -> None:
    import hashlib

    from examples.demo import embedded_network
    from examples.shop.catalog import generate
    from examples.shop.search import parse_query, reference_search
    from examples.shop.shop import Shop, publish_shop, update_products
    from note_compute.crypto import SigningKey
    from note_compute.sandbox import Sandbox

    def say(m: str) -> None:
        print(m, flush=True)

    key = SigningKey(hashlib.sha256(b"bench-shop").digest())
    catalog = generate(products)
    with tempfile.TemporaryDirectory(prefix="bench-shop-") as tmp:
        async with embedded_network(nodes, Path(tmp), say) as net:
            t = time.perf_counter()
            pub = await publish_shop(net.client, key, catalog, progress=say)
            t_pub = time.perf_counter() - t
            cat_bytes = sum(s.info.size for s in pub.catalog.built.shards)
            idx_bytes = sum(s.info.size for s in pub.index.built.shards)
            out.append(f"- network: {nodes} node processes on 127.0.0.1, r = 3; catalog {products} products, "
                       f"{len(pub.catalog.built.shards)} shards, {cat_bytes / 1e6:.1f} MB; word index "
                       f"{pub.index_records} records, {len(pub.index.built.shards)} shards, {idx_bytes / 1e6:.1f} MB; "
                       f"published in {t_pub:.0f} s")
            with Sandbox() as sandbox:
                shop = Shop(net.client, sandbox, key.authority)
                info = await shop.info()
                await shop.search(parse_query("lamp", limit=1))  # warm: manifests, programs
                await shop.search_audited(parse_query("lamp", limit=1))
                t = time.perf_counter()
                everything, dl_bytes = await shop.download_catalog()
                dl_s = time.perf_counter() - t
                out.append("")
                out.append("| query | matches | index: KiB / ms | audited: KiB / ms | download: KiB / ms "
                           "| index bytes vs download | audited bytes vs download | same first page |")
                out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
                for text, kw in QUERIES:
                    q = parse_query(text, categories=info.categories, limit=10, **kw)
                    t = time.perf_counter()
                    ri = await shop.search(q)
                    ti = time.perf_counter() - t
                    t = time.perf_counter()
                    ra = await shop.search_audited(q)
                    ta = time.perf_counter() - t
                    t = time.perf_counter()
                    local, _ = reference_search(everything, q)
                    tl = dl_s + time.perf_counter() - t
                    same = [p["id"] for p in ri.products] == [p["id"] for p in ra.products] == [p["id"] for p in local]
                    bi, ba = ri.summary.bytes_received, ra.summary.bytes_received
                    out.append(f"| {text!r} {kw or ''} | {ri.total} | {bi / 1024:.0f} / {ti * 1000:.0f} | "
                               f"{ba / 1024:.0f} / {ta * 1000:.0f} | {dl_bytes / 1024:.0f} / {tl * 1000:.0f} | "
                               f"{bi / dl_bytes:.4f} | {ba / dl_bytes:.4f} | {same} |")
                    say(out[-1])
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
    args = ap.parse_args()
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    out = [f"# Shop: proven text search vs audited search vs download ({datetime.date.today()})", "",
           f"Command: `.venv/bin/python benchmarks/bench_shop.py --nodes {args.nodes} --products {args.products}`",
           ""]
    trio.run(bench, args.nodes, args.products, out)
    text = "\n".join(out) + "\n"
    (ROOT / "benchmarks" / "results" / "shop.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
