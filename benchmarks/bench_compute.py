"""Verifiable compute benchmark: verified search vs the naive download-everything baseline.

Part A (in-process, in-memory compute network): detection probability of
hidden predicate-only matches against the audit rate, next to the formula
1 - (1 - p)^m, and the extra bytes the audit costs.

Part B (a real devnet of N node processes, r = 3): a deterministic (seeded)
100,000-product catalogue (~25 MB, >= 64 shards), published with
``publish_dataset``; then, side by side:
  * naive: fetch the manifest and every shard blob, verify every shard root,
    run shop_search locally over all records;
  * verified search over all shards (ComputeClient.query, predicate query);
  * a sort-key range search (price range);
  * bytes received for a query with <= 100 matches, as a share of the catalogue;
  * client verification time as a share of the query's total.

Usage: .venv/bin/python benchmarks/bench_compute.py [--nodes 16] [--products 100000] [--runs 15] [--skip-devnet]
Writes benchmarks/results/compute.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from note_compute import encoding  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402

WORDS = ("lamp chair desk mug sofa rug shelf clock table stool bench vase frame mirror basket pillow blanket "
         "towel kettle teapot bowl plate spoon knife fork glass bottle jar candle light fan heater cooler "
         "speaker radio camera phone tablet laptop monitor keyboard mouse cable charger battery drill hammer "
         "saw wrench screwdriver ladder bucket broom mop brush sponge soap shampoo comb razor wallet bag "
         "backpack suitcase umbrella hat scarf glove sock shoe boot sandal jacket coat shirt dress skirt").split()
ADJ = "red blue green black white small large vintage modern classic rustic sleek compact deluxe basic".split()
RARE = "zephyrine"  # appears in a few dozen products: the "<= 100 matches" query


def make_catalog(n: int, seed: int = 2026) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        name = f"{rng.choice(ADJ)} {rng.choice(WORDS)} {rng.choice(WORDS)}"
        desc_words = [rng.choice(WORDS + ADJ) for _ in range(rng.randrange(24, 36))]
        if rng.random() < 0.0006:
            desc_words.insert(rng.randrange(len(desc_words)), RARE)
        out.append(encoding.encode({
            "id": f"p{i:06d}", "name": name, "description": " ".join(desc_words),
            "category": rng.choice(["home", "office", "garden", "kitchen", "outdoor", "clothing", "tools"]),
            "price": rng.randrange(100, 100_000),
        }))
    return out


class VerifyCPU:
    """Client CPU (this thread's CPU time) spent inside the query session, the span ``ComputeClient`` times as
    ``verify_seconds`` (``start`` and every ``on_result`` / ``on_error``), accumulated across queries.

    ``verify_seconds`` is wall-clock time: on a machine where the node processes compete for the same cores,
    it also counts the time the client was runnable but not running. The CPU figure is the client's own work.
    """

    def __init__(self) -> None:
        from note_compute.compute.session import QuerySession

        self.seconds = 0.0
        for name in ("start", "on_result", "on_error"):
            setattr(QuerySession, name, self._timed(getattr(QuerySession, name)))

    def _timed(self, fn):  # type: ignore[no-untyped-def]
        def timed(*a, **k):  # type: ignore[no-untyped-def]
            t = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.thread_time() - t
        return timed


def baseline_ed25519_us(n: int = 2000) -> float:
    """CPU microseconds of one raw Ed25519 verify (libsodium) of a receipt-sized message: the baseline."""
    from note_compute import domains
    from note_compute.crypto import ed25519_verify

    key = SigningKey(hashlib.sha256(b"bench-compute-baseline").digest())
    msg = bytes(400)
    sig, signed = key.sign(domains.SIG_RECEIPT, msg), domains.SIG_RECEIPT + msg
    t = time.thread_time()
    for _ in range(n):
        ed25519_verify(key.public_key, signed, sig)
    return (time.thread_time() - t) / n * 1e6


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# -- Part A -------------------------------------------------------------------------


async def audit_experiment(sandbox, trials: int, *, size: int = 1000, rates=(0.01, 0.05, 0.1, 0.2, 0.5),
                           hidden=(1, 3)) -> list[str]:
    import wasmtime

    from note_compute.compute.audit import detection_probability
    from note_compute.compute.client import ComputeClient
    from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    site = SigningKey(hashlib.sha256(b"bench-audit").digest())
    recs = [encoding.encode({"id": i, "tag": "hit" if i % 25 == 0 else "miss", "pad": "x" * 60})
            for i in range(size)]
    rows = []
    for m in hidden:
        net = ComputeNetwork(3, sandbox, liars_first=True)
        purl = await net.publish_program(site, "sub", wasm, fuel=10**10)
        await net.publish_dataset(site, "d", recs, ["id"], shard_records=size)
        durl = f"note://{site.authority}/datasets/d"
        net.set_mode(net.peers[0], "hide_one")
        net.peers[0].hide = m
        base = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, "hit")
        base_bytes = base.verification.bytes_received
        base_t = statistics.median([(await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, "hit"))
                                    .verification.total_seconds for _ in range(5)])
        for p in rates:
            caught = 0
            extra, sampled, secs = [], [], []
            rng = random.Random(int(p * 1000) + m)
            for _ in range(trials):
                c = ComputeClient(net, sandbox, shuffle=False, rng=rng)
                res = await c.query(purl, durl, "hit", audit=p)
                caught += bool(res.frauds)
                extra.append(res.verification.bytes_received - base_bytes)
                sampled.append(res.verification.audited_records)
                secs.append(res.verification.total_seconds)
            want = p * (size - (size // 25 - m))
            rows.append(f"| {size:,} | {p} | {m} | {caught} / {trials} | {caught / trials:.3f} | "
                        f"{detection_probability(p, m):.3f} | {statistics.mean(sampled):,.0f} (p x rest = {want:,.0f}) | "
                        f"{statistics.mean(extra):,.0f} | {statistics.median(secs) / base_t:.2f} |")
    return rows


AUDIT_HEADER = ["| shard records | audit rate p | hidden m | detected / trials | measured | formula 1-(1-p)^m | "
                "records sampled (mean) | extra bytes per query | time vs no audit |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


# -- Part B -------------------------------------------------------------------------


async def devnet_bench(sandbox, n_nodes: int, n_products: int, runs: int, keep: str | None = None) -> list[str]:
    from note_compute.cli.program import publish_program
    from note_compute.client import open_client
    from note_compute.compute.client import ComputeClient
    from note_compute.compute.dataset import decode_shard
    from note_compute.compute.publish import publish_dataset
    from note_compute.compute.source import RingSource
    from note_compute.compute.verify import run_program
    from note_compute.devnet import DEVNET_NODE_ARGS, Devnet, wait_stable

    shop = (ROOT / "contracts" / "shop_search.wasm").read_bytes()
    site = SigningKey(hashlib.sha256(b"bench-compute-site").digest())
    t0 = time.perf_counter()
    catalog = make_catalog(n_products)
    catalog_bytes = sum(len(r) for r in catalog)
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-compute-", ignore_cleanup_errors=True) as tmp:
        if keep:
            tmp = keep
            Path(tmp).mkdir(parents=True, exist_ok=True)
        net = Devnet(Path(tmp), n_nodes, node_args=DEVNET_NODE_ARGS)
        try:
            await net.start(timeout=120)
            async with open_client(net.bootstrap, timeout=5.0) as client:
                await wait_stable(net, client, 120)
                t_up = time.perf_counter()
                prog, _ = await publish_program(client, site, "shop_search", shop, fuel=10**10,
                                                now_ms=int(time.time() * 1000))
                pub = await publish_dataset(client, site, catalog, name="catalog", sort_key=["price", "id"],
                                            parallel=2)
                publish_s = time.perf_counter() - t_up
                m = pub.built.manifest
                durl = pub.record.url
                lines.append(f"- devnet: {n_nodes} node processes, r = 3; catalogue {n_products:,} products, "
                             f"{catalog_bytes / 1e6:.1f} MB of canonical CBOR records, {len(m.shards)} shards "
                             f"(~{catalog_bytes / len(m.shards) / 1024:.0f} KiB each); publish {publish_s:.1f} s")

                cc = ComputeClient(client, sandbox, timeout=10.0)
                rare = {"text": RARE, "sort": "price"}
                want_n = sum(RARE.encode() in r for r in catalog)
                # cold: the first query after publishing (peers fetch, check and index their shards)
                cold = (await cc.query(prog.url, durl, rare)).verification.total_seconds
                # warm-up: ask every replica of every shard once (gently: 4 requests at a time), so each
                # replica has fetched, checked and indexed its shards
                warm = ComputeClient(client, sandbox, timeout=30.0, parallel=4)
                await warm.query(prog.url, durl, rare, replicas=3)
                await cc.query(prog.url, durl, rare)

                def measure(results):  # type: ignore[no-untyped-def]
                    tot = [r.verification.total_seconds for r in results]
                    share = [r.verification.verify_seconds / r.verification.total_seconds for r in results]
                    byts = [r.verification.bytes_received for r in results]
                    return tot, share, byts

                cpu = VerifyCPU()
                cpu_q: dict[str, list[tuple[float, int, float, float]]] = {"all": [], "range": []}

                async def timed_query(kind: str, *a, **k):  # type: ignore[no-untyped-def]
                    before = cpu.seconds
                    res = await cc.query(*a, **k)
                    v = res.verification
                    cpu_q[kind].append((cpu.seconds - before, v.shards, v.verify_seconds, v.total_seconds))
                    return res

                allq = []
                for _ in range(runs):
                    res = await timed_query("all", prog.url, durl, rare)
                    assert res.verification.ok and len(res.records) == want_n, res.verification.errors
                    allq.append(res)
                tot, share, byts = measure(allq)

                rq = []
                for i in range(runs):
                    lo = 20_000 + 1000 * i
                    res = await timed_query("range", prog.url, durl, {"sort": "price"}, range=[[lo], [lo + 200]])
                    assert res.verification.ok, res.verification.errors
                    rq.append(res)
                rtot, rshare, rbytes = measure(rq)
                base_us = statistics.median([baseline_ed25519_us() for _ in range(5)])

                def cpu_row(kind: str, label: str) -> str:
                    rows = cpu_q[kind]
                    per_reply = statistics.median([c / n for c, n, _, _ in rows]) * 1e6
                    wall_reply = statistics.median([w / n for _, n, w, _ in rows]) * 1e6
                    cpu_share = statistics.median([c / t for c, _, _, t in rows])
                    return (f"| {label} | {rows[0][1]} | {per_reply:.0f} us ({per_reply / base_us:.1f}x) | "
                            f"{wall_reply:.0f} us | {cpu_share:.1%} | "
                            f"{statistics.median([w / t for _, _, w, t in rows]):.1%} |")

                aq = []
                for _ in range(max(3, runs // 3)):
                    res = await cc.query(prog.url, durl, rare, audit=0.01)
                    assert res.verification.ok and len(res.records) == want_n
                    aq.append(res)
                atot, ashare, abytes = measure(aq)
                dq = []  # the CLI's default for predicate queries (cli/query.py DEFAULT_AUDIT)
                for _ in range(max(3, runs // 3)):
                    res = await cc.query(prog.url, durl, rare, audit=0.05)
                    assert res.verification.ok and len(res.records) == want_n
                    dq.append(res)
                dtot, dshare, dbytes = measure(dq)

                # naive last (its bulk transfer is the heaviest load on the nodes): download everything,
                # verify every shard root, search locally
                naive_t, naive_bytes, naive_err = [], 0, ""
                try:
                    for _ in range(max(3, runs // 5)):
                        t = time.perf_counter()
                        src = RingSource(client)
                        man = await src.latest_manifest(durl)
                        blobs: list[bytes] = [b""] * len(man.shards)

                        limiter = trio.CapacityLimiter(8)

                        # awaited inside this iteration's nursery, so the loop variables are current
                        async def fetch(i: int) -> None:
                            async with limiter:  # noqa: B023
                                blobs[i] = await client.get_blob(man.shards[i].blob)  # noqa: B023

                        async with trio.open_nursery() as nursery:
                            for i in range(len(man.shards)):
                                nursery.start_soon(fetch, i)
                        allrecs = []
                        for i, b in enumerate(blobs):
                            allrecs.extend(decode_shard(b, root=man.shards[i].root, count=man.shards[i].count))
                        rel, _ = run_program(sandbox, shop, encoding.encode(rare), allrecs, 10**10)
                        naive_t.append(time.perf_counter() - t)
                        naive_bytes = sum(len(b) for b in blobs)
                        assert len(rel) == want_n
                except Exception as exc:  # the transport under bulk load; say so rather than invent a number
                    naive_err = f"{type(exc).__name__}: {str(exc)[:200]}"
                if not naive_t:
                    naive_t = [float("nan")]
                nmed = statistics.median(naive_t)
                resolve = statistics.median([r.verification.resolve_seconds for r in allq])
                lines += [
                    "",
                    "| measurement | median | p90 | target | ratio vs naive |",
                    "| --- | --- | --- | --- | --- |",
                    f"| naive: download all {len(m.shards)} shards, verify roots, search locally | "
                    f"{nmed * 1000:.0f} ms | {pct(naive_t, 0.9) * 1000:.0f} ms | (baseline) | 1.00 |"
                    + (f" (naive run failed: {naive_err})" if naive_err else ""),
                    f"| first query after publishing (cold peers), all shards | {cold * 1000:.0f} ms | - | - | "
                    f"{cold / nmed:.3f} |",
                    f"| verified search, all {len(m.shards)} shards, {want_n} matches, no audit | "
                    f"{statistics.median(tot) * 1000:.0f} ms | {pct(tot, 0.9) * 1000:.0f} ms | <= 400 ms | "
                    f"{statistics.median(tot) / nmed:.3f} |",
                    f"| verified search, all shards, audit rate 0.01 | {statistics.median(atot) * 1000:.0f} ms | "
                    f"{pct(atot, 0.9) * 1000:.0f} ms | - | {statistics.median(atot) / nmed:.3f} |",
                    f"| verified search, all shards, audit rate 0.05 (CLI default) | "
                    f"{statistics.median(dtot) * 1000:.0f} ms | {pct(dtot, 0.9) * 1000:.0f} ms | - | "
                    f"{statistics.median(dtot) / nmed:.3f} |",
                    f"| sort-key range search (price range of 200 cents, ~{statistics.median([r.verification.records_proven for r in rq]):.0f} records proven) | "
                    f"{statistics.median(rtot) * 1000:.0f} ms | {pct(rtot, 0.9) * 1000:.0f} ms | <= 100 ms | "
                    f"{statistics.median(rtot) / nmed:.3f} |",
                    "",
                    "| bytes received | bytes | share of catalogue | target |",
                    "| --- | --- | --- | --- |",
                    f"| naive (all shard blobs) | {naive_bytes:,} | {naive_bytes / catalog_bytes:.1%} | - |",
                    f"| verified search, {want_n} matches, no audit | {statistics.median(byts):,.0f} | "
                    f"{statistics.median(byts) / catalog_bytes:.2%} | <= 2% |",
                    f"| verified search, audit rate 0.01 | {statistics.median(abytes):,.0f} | "
                    f"{statistics.median(abytes) / catalog_bytes:.2%} | - |",
                    f"| verified search, audit rate 0.05 (CLI default) | {statistics.median(dbytes):,.0f} | "
                    f"{statistics.median(dbytes) / catalog_bytes:.2%} | - |",
                    f"| range search | {statistics.median(rbytes):,.0f} | {statistics.median(rbytes) / catalog_bytes:.3%} | - |",
                    "",
                    "| client verification time / total | median | target |",
                    "| --- | --- | --- |",
                    f"| verified search, all shards | {statistics.median(share):.1%} | <= 20% |",
                    f"| verified search, audit 0.01 | {statistics.median(ashare):.1%} | - |",
                    f"| range search | {statistics.median(rshare):.1%} | <= 20% |",
                    "",
                    f"Client verification per shard reply (baseline: one raw Ed25519 verify, {base_us:.0f} us CPU, "
                    "same run; CPU = the client thread's own CPU time in the session, wall = `verify_seconds`, "
                    "which also counts time runnable while the nodes held the cores):",
                    "",
                    "| query | shard replies | client CPU per reply (x Ed25519) | wall per reply | CPU share of "
                    "total | wall share of total |",
                    "| --- | --- | --- | --- | --- | --- |",
                    cpu_row("all", "verified search, all shards, no audit"),
                    cpu_row("range", "range search"),
                    "",
                    f"Of the all-shard search's median, {resolve * 1000:.0f} ms is resolving the freshest manifest "
                    "(Client.get_record over the replicas, program record cached).",
                    f"Per-run totals, all-shard search (ms): {', '.join(f'{x * 1000:.0f}' for x in tot)}.",
                ]
        finally:
            with trio.CancelScope(shield=True):
                await net.stop()
    lines.append(f"\n(Part B wall time {time.perf_counter() - t0:.0f} s.)")
    return lines


async def main(args: argparse.Namespace) -> None:
    from note_compute.sandbox import Sandbox

    sandbox = Sandbox()
    out = ["# Verifiable compute benchmark", "",
           f"Command: `.venv/bin/python benchmarks/bench_compute.py --nodes {args.nodes} --products {args.products} "
           f"--runs {args.runs}{' --skip-devnet' if args.skip_devnet else ''}`  ",
           f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; 2-core machine shared with "
           "other jobs, all nodes and the client on 127.0.0.1.", ""]
    if args.skip_audit:
        args.big_shard = 0
    print("part A: audit detection ...", flush=True)
    out += ["## A. Hidden predicate-only matches: detection vs audit rate (in-process, in-memory network)", "",
            "One shard of 1,000 records (40 matches), then one of 20,000 (800 matches); the peer hides m of them "
            "and signs; the client samples every other index with probability p (no cap; requests of at most "
            "4,096 indices) from another replica and re-runs the program. "
            f"{args.trials} trials per row.", ""]
    out += AUDIT_HEADER + (await audit_experiment(sandbox, args.trials) if not args.skip_audit else [])
    if args.big_shard:
        out += await audit_experiment(sandbox, max(20, args.trials // 4), size=args.big_shard,
                                      rates=(0.01, 0.05, 0.2, 0.5), hidden=(3,))
    out += ["", "(Last rows: one shard of "
            f"{args.big_shard:,} records, {max(20, args.trials // 4)} trials a row: the sample is never capped, "
            "so the formula holds on a shard of any size. `time vs no audit` is the query's total time against "
            "the same query with no audit, same network, same run.)" if args.big_shard else "", ""]
    if not args.skip_devnet:
        print("part B: devnet ...", flush=True)
        out += ["## B. Real devnet: verified search vs naive download", ""]
        out += await devnet_bench(sandbox, args.nodes, args.products, args.runs, args.keep_dir)
    text = "\n".join(out) + "\n"
    print(text)
    if not args.no_write:
        (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "benchmarks" / "results" / "compute.md").write_text(text)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--products", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--skip-devnet", action="store_true")
    p.add_argument("--skip-audit", action="store_true", help="Skip part A (run it as a separate process).")
    p.add_argument("--big-shard", type=int, default=20_000, help="Also measure detection on one shard this big (0: skip).")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--keep-dir", default=None, help="Put the devnet's data (and node logs) here and keep it.")
    trio.run(main, p.parse_args())
