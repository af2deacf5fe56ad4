#!/usr/bin/env python3
"""Fraud proof sizes: what a client publishes (``compute/compact.py``) vs the proof it found, per attacker.

    python benchmarks/bench_proof_size.py [--records 6000] [--pad 24]

One shard of ``--records`` records (each ~``pad + 16`` bytes) on the in-memory network, 4 peers, the
first two lying; each row is one query against one kind of liar. "found" is the proof the session first
verified (an evidence chunk of up to 4,096 records, the whole shard inline after a full audit, a key-range
proof over the whole range, a claim of every index), "published" the form it keeps and publishes; both
convict. The evidence index stores at most 60 KiB (61,440 bytes) per proof. Sizes are deterministic
(bytes, not time), so the machine's load does not matter; the ratio is published / found.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402
import wasmtime  # noqa: E402

from note_compute import encoding  # noqa: E402
from note_compute.compute import compact as compact_mod  # noqa: E402
from note_compute.compute import session_fetch  # noqa: E402
from note_compute.compute.client import ComputeClient  # noqa: E402
from note_compute.compute.evidence import MAX_PROOF_SIZE  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.sandbox import Sandbox  # noqa: E402
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork  # noqa: E402

SITE = SigningKey(hashlib.sha256(b"bench-proof-size").digest())
SCENARIOS = [  # (label, liar mode, needle, audit, ranged)
    ("every record returned, one forged (evidence fetched in 4,096-record chunks)", "forge", "x", 0.0, False),
    ("wrong extra, full audit (evidence = the whole shard)", "extra", "hit", 1.0, False),
    ("hidden match found by a 4,096-record sample chunk", "hide_one", "hit", 1.0, False),
    ("wrong extra, range over the whole shard (every index claimed)", "extra", "x", 0.0, True),
]


async def run(records: int, pad: int) -> list[tuple[str, int, int]]:
    sandbox = Sandbox()
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    recs = [encoding.encode({"id": i, "pad": "p" * pad, "t": "hit" if i % 500 == 0 else "x"})
            for i in range(records)]
    found: list[int] = []
    real = compact_mod.compact

    def spy(fp, blob, **kw):  # type: ignore[no-untyped-def]
        found.append(len(fp.encode()))
        return real(fp, blob, **kw)

    session_fetch.compact = spy  # type: ignore[assignment]  # benchmark-only instrumentation
    rows = []
    for label, mode, needle, audit, ranged in SCENARIOS:
        net = ComputeNetwork(4, sandbox, liars_first=True)
        purl = await net.publish_program(SITE, "sub", wasm, fuel=10**10)
        await net.publish_dataset(SITE, "big", recs, ["id"], shard_records=records)
        durl = f"note://{SITE.authority}/datasets/big"
        for i, p in enumerate(net.peers):
            if i < 2:
                net.set_mode(p, mode)
        found.clear()
        res = await ComputeClient(net, sandbox, shuffle=False, rng=random.Random(3)).query(
            purl, durl, needle, audit=audit, range=[None, None] if ranged else None)
        assert res.verification.ok and res.frauds, (label, res.verification.errors)
        rows.append((label, max(found), max(len(fp.encode()) for fp in res.frauds)))
    session_fetch.compact = real  # type: ignore[assignment]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=6000)
    ap.add_argument("--pad", type=int, default=24)
    a = ap.parse_args()
    rows = trio.run(run, a.records, a.pad)
    print(f"one shard of {a.records:,} records; cap {MAX_PROOF_SIZE:,} bytes\n")
    print("| attacker | proof found (bytes) | proof published (bytes) | published / found | fits the cap |")
    print("| --- | --- | --- | --- | --- |")
    for label, big, small in rows:
        print(f"| {label} | {big:,} | {small:,} | {small / big:.4f} | {'yes' if small <= MAX_PROOF_SIZE else 'NO'} |")


if __name__ == "__main__":
    main()
