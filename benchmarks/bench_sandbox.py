"""Sandbox benchmarks, side by side in one run.

1. shop_search over 100,000 products: the wasm contract in the sandbox (fuel
   and epoch deadline on, fresh Store, input copied in and output out) vs the
   same predicate as a pure-Python loop over the same ABI input bytes
   (``note_compute.sandbox.reference``). Target: >= 10x.
2. Per-execution overhead for a 1 KB input (echo contract: fresh Store,
   instantiate, copy in, call, copy out). Target: <= 200 us median.
3. Loading a cached compiled module: from the in-memory cache, and from the
   on-disk artifact cache (``Module.deserialize`` of our own artifact).
   Target: <= 1 ms. Compiling from scratch is shown for context.

Usage: ``python benchmarks/bench_sandbox.py [--products N] [--out FILE.md]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from note_compute.encoding import encode  # noqa: E402
from note_compute.sandbox import Sandbox, pack_input, reference  # noqa: E402
from note_compute.sandbox.cache import ArtifactCache  # noqa: E402
from note_compute.sandbox.runtime import CONFIG_TAG  # noqa: E402

CONTRACTS = ROOT / "contracts"
WORDS = "red blue green wool cotton hat sock shoe boot scarf glove warm soft light heavy classic new".split()
CATEGORIES = ["hats", "socks", "shoes", "scarves", "gloves", "boots", "coats", "bags"]


def products(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(encode({
            "id": f"p{i:06d}",
            "name": " ".join(rng.choice(WORDS) for _ in range(3)).title(),
            "description": " ".join(rng.choice(WORDS) for _ in range(8)),
            "category": rng.choice(CATEGORIES),
            "price": rng.randrange(100, 50_000),
        }))
    return out


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as markdown here")
    opts = ap.parse_args()
    lines: list[str] = []

    def report(s: str) -> None:
        print(s, flush=True)
        lines.append(s)

    sandbox = Sandbox()
    shop = (CONTRACTS / "shop_search.wasm").read_bytes()
    echo = (CONTRACTS / "echo.wasm").read_bytes()

    # 1. shop_search vs pure Python over the same bytes
    recs = products(opts.products)
    args = encode({"text": "wool", "category": "hats", "min_price": 1000, "max_price": 30000,
                   "sort": "-price", "limit": 20})
    data = pack_input(args, recs)
    result = sandbox.run(shop, data, fuel=10**11, deadline_ms=60_000)
    expected = reference.shop_search(data)
    assert list(result.indices) == expected, "contract and reference disagree"
    wasm_t = timed(lambda: sandbox.run(shop, data, fuel=10**11, deadline_ms=60_000), 7)
    py_t = timed(lambda: reference.shop_search(data), 3)
    w, p = statistics.median(wasm_t), statistics.median(py_t)
    report(f"## shop_search, {opts.products:,} products ({len(data) / 1e6:.1f} MB of ABI input, "
           f"{len(result.indices)} results, fuel used {result.fuel_used:,})")
    report("")
    report("| implementation | median | ratio |")
    report("| --- | --- | --- |")
    report(f"| pure Python loop (cbor2 decode + predicate + sort) | {p * 1000:.1f} ms | 1.0x |")
    report(f"| wasm in the sandbox (fuel + epoch on, copy in/out) | {w * 1000:.1f} ms | {p / w:.1f}x faster |")
    report("")

    # 2. per-execution overhead, 1 KB input
    small = pack_input(encode({"pad": "x" * 1000}), [])
    sandbox.run(echo, small, fuel=10**7)
    per = timed(lambda: sandbox.run(echo, small, fuel=10**7), 5000)
    per.sort()
    report(f"## per-execution overhead, {len(small)}-byte input (echo: fresh Store, instantiate, "
           "copy in, call, copy out, validate)")
    report("")
    report("| statistic | time |")
    report("| --- | --- |")
    report(f"| median | {statistics.median(per) * 1e6:.0f} us |")
    report(f"| p90 | {per[int(len(per) * 0.9)] * 1e6:.0f} us |")
    report(f"| p99 | {per[int(len(per) * 0.99)] * 1e6:.0f} us |")
    report("")

    # 3. module loading
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cold = Sandbox(Path(tmp))
        cold.compile(shop)
        compile_s = time.perf_counter() - t
        cache = ArtifactCache(Path(tmp), CONFIG_TAG)
        import hashlib

        digest = hashlib.sha256(shop).digest()
        disk = timed(lambda: cache.load(cold.engine, digest), 50)
        mem = timed(lambda: cold.compile(shop), 2000)
        cold.close()
    report(f"## loading shop_search ({len(shop):,} bytes of wasm)")
    report("")
    report("| path | median |")
    report("| --- | --- |")
    report(f"| compile from scratch (new Sandbox + Cranelift), once | {compile_s * 1000:.1f} ms |")
    report(f"| on-disk artifact cache (read + sha256 check + deserialize) | {statistics.median(disk) * 1000:.3f} ms |")
    report(f"| in-memory cache (sha256 of the wasm + lookup) | {statistics.median(mem) * 1e6:.1f} us |")
    sandbox.close()

    if opts.out is not None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        header = [
            "# Sandbox benchmarks",
            "",
            f"Command: `.venv/bin/python benchmarks/bench_sandbox.py --out benchmarks/results/sandbox.md` "
            f"({stamp}, Python {sys.version.split()[0]}, 2-core machine shared with other jobs; "
            f"load average {os.getloadavg()[0]:.1f} at the end of the run).",
            "",
        ]
        opts.out.write_text("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    main()
