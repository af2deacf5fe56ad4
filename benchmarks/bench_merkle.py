#!/usr/bin/env python3
"""Merkle benchmarks: tree build, inclusion, range, batch and key-range proofs.

    python benchmarks/bench_merkle.py            # print the figures
    python benchmarks/bench_merkle.py --write    # also write benchmarks/results/merkle.md

Targets (issue 2): build of 1,000,000 leaves <= 1.5 s; verify a range proof of
100 consecutive leaves out of 1,000,000 <= 2 ms (size reported in bytes).
The build is shown next to a baseline measured in the same run: plain
hashlib SHA-256 of the same 1,000,000 leaves, so the ratio is the tree's
overhead over hashing the data once. Leaves are 64-byte records.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from note_compute.merkle import (  # noqa: E402
    BatchProof,
    InclusionProof,
    KeyRangeProof,
    MerkleTree,
    verify_batch,
    verify_inclusion,
    verify_key_range,
)

N = 1_000_000
RESULTS = Path(__file__).resolve().parent / "results" / "merkle.md"


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def per_call(fn, min_time: float = 0.3) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call, best of 3 batches each lasting about ``min_time``."""
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time / 3:
        fn()
        count += 1
    return best_of(3, lambda: [fn() for _ in range(count)]) / count


def main(argv: list[str]) -> int:
    load_before = os.getloadavg()[0]
    leaves = [i.to_bytes(8, "big") * 8 for i in range(N)]
    rows: list[tuple[str, str, str]] = []

    def timed(fn):  # type: ignore[no-untyped-def]
        """(best wall seconds, best CPU seconds) of 3 runs; CPU time is less hurt by other jobs."""
        wall = cpu = float("inf")
        for _ in range(3):
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
            del out  # free outside the timed region
        return wall, cpu

    base, base_cpu = timed(lambda: [sha256(d).digest() for d in leaves])
    build, build_cpu = timed(lambda: MerkleTree(leaves))
    tree = MerkleTree(leaves)
    rows.append(("build, 1,000,000 leaves", f"{build:.3f} s", f"CPU {build_cpu:.3f} s; target <= 1.5 s"))
    rows.append(
        ("baseline: SHA-256 of the same leaves", f"{base:.3f} s",
         f"CPU {base_cpu:.3f} s; build / baseline = {build / base:.2f}x (CPU {build_cpu / base_cpu:.2f}x)")
    )

    rng = random.Random(7)
    root, n = tree.root, tree.size

    idx = [rng.randrange(n) for _ in range(200)]
    proofs = {i: tree.inclusion_proof(i) for i in idx}
    it = iter(idx * 10_000)

    def one_inclusion() -> None:
        i = next(it)
        verify_inclusion(root, n, i, leaves[i], proofs[i])

    inc = per_call(one_inclusion)
    inc_bytes = len(proofs[idx[0]].encode())
    assert InclusionProof.decode(proofs[idx[0]].encode()) == proofs[idx[0]]
    rows.append(("inclusion verify (1 of 1,000,000)", f"{inc * 1e6:.1f} us", f"{inc_bytes} B"))

    start = 500_000
    rp = tree.range_proof(start, start + 100)
    given = {i: leaves[i] for i in range(start, start + 100)}
    rng_t = per_call(lambda: verify_batch(root, n, given, rp))
    rp_bytes = len(rp.encode())
    assert BatchProof.decode(rp.encode()) == rp
    rows.append(
        ("range proof, 100 consecutive of 1,000,000: verify", f"{rng_t * 1e3:.3f} ms",
         f"{rp_bytes} B ({len(rp.hashes)} hashes); target <= 2 ms")
    )

    keys = range(N)  # leaf i has sort key i (the leaves are in key order)
    key_of = lambda d: int.from_bytes(d[:8], "big")  # noqa: E731
    kp = tree.key_range_proof(keys, start, start + 100)
    kr_t = per_call(lambda: verify_key_range(root, n, start, start + 100, kp, key_of))
    kp_bytes = len(kp.encode())
    assert KeyRangeProof.decode(kp.encode()) == kp
    rows.append(
        ("key-range proof, keys in [lo, lo+100) of 1,000,000: verify", f"{kr_t * 1e3:.3f} ms",
         f"{kp_bytes} B incl. 102 leaves of 64 B ({len(kp.hashes)} hashes)")
    )

    bidx = sorted(rng.sample(range(n), 100))
    bp = tree.batch_proof(bidx)
    bgiven = {i: leaves[i] for i in bidx}
    b_t = per_call(lambda: verify_batch(root, n, bgiven, bp))
    b_bytes = len(bp.encode())
    sep = [tree.inclusion_proof(i) for i in bidx]
    sep_bytes = sum(len(p.encode()) for p in sep)
    sep_t = per_call(lambda: [verify_inclusion(root, n, i, leaves[i], p) for i, p in zip(bidx, sep, strict=False)])
    rows.append(
        ("batch proof, 100 random of 1,000,000: verify", f"{b_t * 1e3:.3f} ms",
         f"{b_bytes} B ({len(bp.hashes)} hashes)")
    )
    rows.append(
        ("100 separate inclusion proofs, same leaves: verify", f"{sep_t * 1e3:.3f} ms",
         f"{sep_bytes} B; batch is {b_bytes / sep_bytes:.0%} of it")
    )

    load = f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    print(load)

    if "--write" in argv:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "# Merkle benchmarks",
            "",
            f"Command: `.venv/bin/python benchmarks/bench_merkle.py --write` ({now}, "
            f"Python {platform.python_version()}, {platform.machine()}, machine shared with other jobs).",
            "Leaves are 64-byte records; one run, best of 3 repetitions per figure; "
            f"{load} (wall times grow with the load; CPU times are the steadier figure).",
            "",
            "| measurement | value | notes |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {name} | {value} | {note} |" for name, value, note in rows]
        RESULTS.write_text("\n".join(lines) + "\n")
        print(f"wrote {RESULTS.relative_to(RESULTS.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
