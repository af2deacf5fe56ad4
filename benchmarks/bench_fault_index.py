#!/usr/bin/env python3
"""Costs of issue 9's self-proving hints and publisher-fault index, as ratios against baselines from the same run.

    python benchmarks/bench_fault_index.py [--shards 100] [--runs 15]

1. A node checking one item for the publisher-fault index (``fault_index.check_fault``: the signed
   manifest, the records' batch proof against the shard root, the defect, the key) vs the cheap
   check it runs on a fraud proof for the peer index (``evidence.check_proof``).
2. A client checking a newer-seq hint (``hints.check_hint``: decode, signature, URL, seq, manifest
   parse) vs verifying the same signed record alone (``records.decode_verified``).
3. A store merging a replica's full set (48 proofs, ``replica=True``) vs a put of one proof
   into a full set (16, refused: nothing evicted).

Medians of ``--runs`` runs; prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from note_compute import encoding, records  # noqa: E402
from note_compute.compute.dataset import build_dataset  # noqa: E402
from note_compute.compute.evidence import (  # noqa: E402
    FRAUD_EVIDENCE,
    MAX_HELD,
    MAX_PROOFS,
    check_proof,
    encode_set,
    evidence_key,  # noqa: E402
)
from note_compute.compute.fault_index import check_fault, fault_key  # noqa: E402
from note_compute.compute.hints import check_hint  # noqa: E402
from note_compute.compute.server import load_shard  # noqa: E402
from note_compute.compute.source import manifest_from_record  # noqa: E402
from note_compute.compute.wellformed import MalformedDataset  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.store import Store  # noqa: E402
from note_compute.testing.attackers import junk_manifest  # noqa: E402
from note_compute.testing.compute import signed_claim_proof  # noqa: E402

KEY = SigningKey(hashlib.sha256(b"bench fault index").digest())


def median_ms(fn: Any, runs: int) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def rec(i: int) -> bytes:
    return encoding.encode({"id": i, "name": f"product {i}"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    n = a.shards
    shards = [[rec(10 * s + i) for i in range(10)] for s in range(n)]
    shards[0] = [shards[0][1], shards[0][0], *shards[0][2:]]  # shard 0 out of order
    bounds = [([10 * s], [10 * s + 9]) for s in range(n)]
    junk = junk_manifest(KEY, "bench", shards, bounds, ["id"], seq=2)
    try:
        load_shard(manifest_from_record(junk.record), 0, junk.blobs[0])
        raise SystemExit("shard 0 should be malformed")
    except MalformedDataset as exc:
        assert exc.fault is not None
        fault = exc.fault.encode()
    fkey = fault_key(junk.url)
    proof = signed_claim_proof(KEY, 1).encode()
    pkey = evidence_key(hashlib.sha256(KEY.public_key).digest())
    rows = []
    t_fault = median_ms(lambda: check_fault(fault, fkey), a.runs)
    t_proof = median_ms(lambda: check_proof(proof, pkey), a.runs)
    rows.append((f"a node checks an indexed publisher fault ({n}-shard inline manifest, {len(fault):,} B)",
                 t_fault, f"the cheap check of a fraud proof ({len(proof):,} B)", t_proof))
    built = build_dataset([rec(i) for i in range(10 * n)], name="bench", sort_key=["id"], shard_records=10)
    cur = records.sign_record(KEY, f"note://{KEY.authority}/datasets/bench", seq=1, value=built.value, created=1)
    new = records.sign_record(KEY, f"note://{KEY.authority}/datasets/bench", seq=2, value=built.value, created=2)
    current = manifest_from_record(cur)
    hint = new.encode()
    t_hint = median_ms(lambda: check_hint(hint, current), a.runs)
    t_rec = median_ms(lambda: records.decode_verified(hint), a.runs)
    rows.append((f"a client checks a newer-seq hint ({len(hint):,} B record, {n} shards)", t_hint,
                 "verifying the signed record alone", t_rec))
    many = [signed_claim_proof(KEY, 100 + i).encode() for i in range(MAX_HELD)]
    with tempfile.TemporaryDirectory() as d:
        stores = [Store(Path(d) / f"s{i}.sqlite", evidence=FRAUD_EVIDENCE) for i in range(a.runs)]
        full = Store(Path(d) / "full.sqlite", evidence=FRAUD_EVIDENCE)
        for p in many[:MAX_PROOFS]:
            full.put_evidence(pkey, encode_set([p]), peer=b"\x01" * 32)
        it = iter(stores)
        t_rep = median_ms(lambda: next(it).put_evidence(pkey, encode_set(many), replica=True), a.runs)
        t_put = median_ms(lambda: full.put_evidence(pkey, encode_set([many[-1]]), peer=b"\x01" * 32), a.runs)
        for s in [*stores, full]:
            s.close()
    rows.append((f"a store merges a replica's full set ({MAX_HELD} proofs, replica room)", t_rep,
                 f"a one-proof put into a full set ({MAX_PROOFS}, refused)", t_put))
    print("| step | median | baseline in the same run | ratio |")
    print("| --- | --- | --- | --- |")
    for what, t, base, tb in rows:
        print(f"| {what} | {t:.2f} ms | {base}: {tb:.2f} ms | {t / tb:.1f}x |")


if __name__ == "__main__":
    main()
