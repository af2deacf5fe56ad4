#!/usr/bin/env python3
"""Costs of issue 9's data-and-evidence checks, each as a ratio against a baseline from the same run.

    python benchmarks/bench_evidence.py [--records 2000] [--runs 7]

1. A peer loading a shard: decode + Merkle root (the old load) vs the same plus the well-formedness
   check (strict canonical decode of every record, order, bounds: ``wellformed.check_shard``).
2. Convicting a whole-shard lie: the old ``subset`` check on a sample (no longer eligible for
   program-dependent lies) vs the ``shard`` proof (re-run on the whole shard, order re-checked),
   both excluding the shard fetch.
3. Checking one stored proof the way a client acting on someone else's evidence does
   (``AccusationChecker.check``: program and shard from memory) vs the bare verification.

Medians of ``--runs`` runs; prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402
import wasmtime  # noqa: E402

from note_compute import encoding  # noqa: E402
from note_compute.compute.accuse import AccusationChecker  # noqa: E402
from note_compute.compute.dataset import build_dataset, decode_shard  # noqa: E402
from note_compute.compute.fraud import KIND_SUBSET, Evidence, FraudProof, shard_proof, verify_fraud_proof  # noqa: E402
from note_compute.compute.protocol import QueryRequest, make_receipt, result_digest  # noqa: E402
from note_compute.compute.wellformed import check_shard  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.merkle import MerkleTree  # noqa: E402
from note_compute.sandbox import Sandbox  # noqa: E402
from note_compute.testing.compute import SUBSTRING_WAT  # noqa: E402


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    recs = [encoding.encode({"id": i, "name": f"product {i} {'lamp' if i % 7 == 0 else 'mug'}", "price": i * 3})
            for i in range(a.records)]
    built = build_dataset(recs, name="bench", sort_key=["id"], shard_records=a.records)
    shard, manifest = built.shards[0], built.manifest
    blob = shard.blob

    def old_load() -> None:
        MerkleTree(decode_shard(blob, count=shard.info.count))

    def new_load() -> None:
        records = decode_shard(blob, count=shard.info.count)
        check_shard(manifest, 0, records, MerkleTree(records))

    t_old, t_new = median_ms(old_load, a.runs), median_ms(new_load, a.runs)

    sandbox = Sandbox()
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    key = SigningKey(hashlib.sha256(b"bench peer").digest())
    args = encoding.encode("lamp")
    truth = [i for i, r in enumerate(shard.records) if b"lamp" in r]
    claimed = truth[1:]  # a hidden match
    req = QueryRequest("note://x/programs/p", hashlib.sha256(wasm).digest(), "note://x/datasets/d", 1, 0, args)
    claimed_recs = [shard.records[i] for i in claimed]
    receipt = make_receipt(key, req, shard_root=shard.info.root, count=shard.info.count, sort_key=["id"],
                           result=result_digest(claimed, claimed_recs, b""), fuel=1)
    tree = MerkleTree(shard.records)
    sample = sorted(set(claimed) | {truth[0]} | set(range(0, a.records, 50)))
    ev = [Evidence(sample, [shard.records[i] for i in sample], tree.batch_proof(sample).encode())]
    from note_compute.compute.protocol import record_digests

    sub = FraudProof(KIND_SUBSET, receipt.encode(), args, claimed, record_digests(claimed_recs), b"", ev)
    full = shard_proof(sub, shard.info.blob)

    def old_subset() -> None:  # what the old rule ran: P(sample) (the new rule refuses it: ineligible)
        pool = {i: shard.records[i] for i in sample}
        order = sorted(pool)
        sandbox.run(wasm, __import__("note_compute.sandbox.abi", fromlist=["pack_input"]).pack_input(
            args, [pool[i] for i in order]), fuel=10**9)

    def new_shard() -> None:
        assert verify_fraud_proof(full, sandbox, wasm, fuel=10**9, shard=shard.records) == "hidden-match"

    t_sub, t_shard = median_ms(old_subset, a.runs), median_ms(new_shard, a.runs)

    checker = AccusationChecker(sandbox, get_value=None, get_blob=None,
                                programs=lambda: {hashlib.sha256(wasm).digest(): (wasm, 10**9)})

    async def fetch(address: bytes) -> bytes:
        return blob

    checker.get_blob = fetch

    def accuse() -> None:
        assert trio.run(checker.check, full) == "hidden-match"

    t_acc = median_ms(accuse, a.runs)
    n = a.records
    print(f"records per shard: {n} ({len(blob)} bytes); medians of {a.runs} runs")
    print("| step | new | baseline (same run) | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| peer loads a shard (decode, root{', order, bounds'}) | {t_new:.1f} ms | old load (decode, root) "
          f"{t_old:.1f} ms | {t_new / t_old:.2f}x |")
    print(f"| convict a hidden match: `shard` proof (whole shard, order re-checked) | {t_shard:.1f} ms | "
          f"old `subset` re-run on a {len(sample)}-record sample {t_sub:.1f} ms | {t_shard / t_sub:.2f}x |")
    print(f"| a client checks a stored proof (`AccusationChecker`, shard load included) | {t_acc:.1f} ms | "
          f"bare `verify_fraud_proof` {t_shard:.1f} ms | {t_acc / t_shard:.2f}x |")


if __name__ == "__main__":
    main()
