"""Client CPU per verified shard reply, measured on recorded replies (no network, no peers running).

The setup is bench_compute's verified search, in one process: the same seeded 100,000-product
catalogue (``--products``), the same shop_search program and rare-word query, published on the
in-memory compute network (:mod:`note_compute.testing.compute`, ``--nodes`` peers, r = 3). One
query's replies are recorded once (the batched first round, one ``compute.batch`` reply per peer,
decoded from canonical CBOR as the transport hands them over); then they are replayed, ``--reps``
rounds, each round timing (process CPU time, so other processes on a shared machine count less):

* the baseline: raw Ed25519 verifies (libsodium's ``crypto_sign_open``) of a receipt-sized message,
  the one cost per reply no shortcut may remove;
* ``verify_answer`` alone on every shard reply (reply shape, receipt, result digest, proofs);
* a fresh :class:`~note_compute.compute.session.QuerySession` fed the recorded replies: ``start`` plus
  every ``on_result``, exactly what ``ComputeClient`` counts as ``verify_seconds`` (the client
  verification share in bench_compute), joint re-run of the program included; the peers are
  :class:`~note_compute.ring.PeerRef` objects, as the ring client hands them over.

Figures are CPU microseconds per shard reply and their ratio to the baseline of the same round (median
over rounds): compare the ratios across runs and machines. The same for the sort-key range search
(``range=[[20000], [20200]]`` on price, guard shards included).

Usage: python benchmarks/bench_verify.py [--products 100000] [--nodes 16] [--reps 20]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_compute import RARE, make_catalog  # noqa: E402

from note_compute import domains, encoding  # noqa: E402
from note_compute.crypto import SigningKey, ed25519_verify  # noqa: E402

_KEY = SigningKey(hashlib.sha256(b"bench-verify-baseline").digest())
_MSG = bytes(400)  # about a receipt body
_SIG = _KEY.sign(domains.SIG_RECEIPT, _MSG)


def baseline(n: int) -> float:
    """CPU seconds for ``n`` raw Ed25519 verifies (libsodium's crypto_sign_open) of a receipt-sized message."""
    msg, pub = domains.SIG_RECEIPT + _MSG, _KEY.public_key
    t = time.process_time()
    for _ in range(n):
        ed25519_verify(pub, msg, _SIG)
    return time.process_time() - t


async def record(net: Any, manifest: Any, program: Any, args: bytes, rng_range: list[Any] | None) -> Any:
    """Run one session against the in-memory peers; return the (tag, reply) feed and the candidates."""
    from note_compute.compute.session import Ask, QuerySession

    s = QuerySession(manifest, program, args, executor=net.sandbox, rng=random.Random(1), range=rng_range)
    candidates = {i: await net.replicas(manifest.shards[i].blob) for i in s.shard_ids}
    feed: list[tuple[int, Any]] = []
    todo = list(s.start(candidates))
    while todo:
        a = todo.pop(0)
        assert isinstance(a, Ask), a
        reply = await net.request(a.peer, a.msg)
        feed.append((a.tag, reply))
        todo += s.on_result(a.tag, reply)
    assert s.done
    res = s.result()
    assert res.verification.ok, res.verification.errors
    return candidates, feed, res


def as_peer_refs(candidates: dict[int, list[Any]]) -> dict[int, list[Any]]:
    """The candidates as the ring client hands them over (:class:`~note_compute.ring.PeerRef`, same ids)."""
    from note_compute.ring import PeerRef

    refs: dict[bytes, Any] = {}
    return {i: [refs.setdefault(p.node_id, PeerRef(int.from_bytes(p.node_id, "big"), f"/mem/{p.node_id.hex()}"))
                for p in peers] for i, peers in candidates.items()}


def replay(net: Any, manifest: Any, program: Any, args: bytes, rng_range: list[Any] | None,
           candidates: Any, feed: list[tuple[int, Any]]) -> float:
    """CPU seconds of one replay of the recorded query (start + every on_result: the client's verify time)."""
    from note_compute.compute.session import QuerySession

    s = QuerySession(manifest, program, args, executor=net.sandbox, rng=random.Random(1), range=rng_range)
    t = time.process_time()
    s.start(candidates)
    for tag, reply in feed:
        s.on_result(tag, reply)
    took = time.process_time() - t
    assert s.done and s.result().verification.ok
    return took


def shard_replies(manifest: Any, program: Any, args: bytes, rng_range: list[Any] | None, feed: Any,
                  shard_ids: list[int]) -> list[tuple[Any, Any, bytes]]:
    """(request, reply, peer id) for every shard reply in the feed (batch replies unpacked)."""
    from note_compute.compute.protocol import QueryRequest

    out = []
    for _, reply in feed:
        for r in reply.get("replies", [reply]):
            rc = encoding.decode(r["receipt"])
            i = rc["body"]["shard"]
            req = QueryRequest(program.url, program.hash, manifest.url, manifest.seq, i, args, rng_range, False)
            out.append((req, r, rc["body"]["peer"]))
    assert sorted(q.shard for q, _, _ in out) == sorted(shard_ids)
    return out


def time_verify(manifest: Any, items: list[tuple[Any, Any, bytes]]) -> float:
    """CPU seconds of :func:`verify_answer` over every recorded shard reply."""
    from note_compute.compute.verify import verify_answer

    t = time.process_time()
    for req, r, pid in items:
        verify_answer(req, r, manifest, peer_id=pid)
    return time.process_time() - t


def measure(net: Any, manifest: Any, program: Any, args: bytes, rng_range: list[Any] | None, candidates: Any,
            feed: list[tuple[int, Any]], items: list[Any], reps: int) -> dict[str, float]:
    """Interleaved rounds (baseline, verify_answer, session replay); per-reply medians and median ratios."""
    n = len(items)
    base, va, ses, rva, rses = [], [], [], [], []
    for _ in range(reps):
        b = baseline(max(n, 100)) / max(n, 100)
        v = time_verify(manifest, items) / n
        r = replay(net, manifest, program, args, rng_range, candidates, feed) / n
        base.append(b)
        va.append(v)
        ses.append(r)
        rva.append(v / b)
        rses.append(r / b)
    med = statistics.median
    return {"base": med(base), "va": med(va), "session": med(ses), "va_ratio": med(rva), "session_ratio": med(rses)}


async def main(args: argparse.Namespace) -> None:
    import wasmtime  # noqa: F401  (the sandbox needs it)

    from note_compute.compute.server import ProgramCode
    from note_compute.compute.source import RingSource
    from note_compute.sandbox import Sandbox
    from note_compute.testing.compute import ComputeNetwork

    sandbox = Sandbox()
    t0 = time.perf_counter()
    catalog = make_catalog(args.products)
    net = ComputeNetwork(args.nodes, sandbox)
    site = SigningKey(hashlib.sha256(b"bench-compute-site").digest())
    wasm = (ROOT / "contracts" / "shop_search.wasm").read_bytes()
    purl = await net.publish_program(site, "shop_search", wasm, fuel=10**10)
    await net.publish_dataset(site, "catalog", catalog, ["price", "id"])
    src = RingSource(net)
    manifest = await src.latest_manifest(f"note://{site.authority}/datasets/catalog")
    rec = await net.get_record(purl)
    from note_compute import programs

    prog = programs.parse_program(rec)
    program: ProgramCode = await src.program(rec.url, prog.wasm)
    print(f"setup: {args.products:,} products, {len(manifest.shards)} shards, {args.nodes} in-memory peers "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)

    rows = []
    for name, qargs, rng_range in (("verified search, all shards", {"text": RARE, "sort": "price"}, None),
                                   ("sort-key range search", {"sort": "price"}, [[20_000], [20_200]])):
        a = encoding.encode(qargs)
        candidates, feed, res = await record(net, manifest, program, a, rng_range)
        items = shard_replies(manifest, program, a, rng_range, feed, sorted(candidates))
        candidates = as_peer_refs(candidates)  # replayed with the ring client's peer references
        m = measure(net, manifest, program, a, rng_range, candidates, feed, items, args.reps)
        rows.append((name, len(items), len(feed), res.verification.records_proven, m))
    print("\nClient CPU (process time) per shard reply; ratios against one raw Ed25519 verify measured in the "
          "same rounds (median over rounds).\n")
    print("| query | shard replies | peer replies | records proven | Ed25519 verify | verify_answer | "
          "client verify CPU (session) | per query |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, n, peers, proven, m in rows:
        print(f"| {name} | {n} | {peers} | {proven} | {m['base'] * 1e6:.0f} us | "
              f"{m['va'] * 1e6:.0f} us ({m['va_ratio']:.2f}x) | {m['session'] * 1e6:.0f} us "
              f"({m['session_ratio']:.2f}x) | {m['session'] * n * 1e3:.1f} ms ({m['session_ratio'] * n:.0f}x) |")

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--products", type=int, default=100_000)
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--reps", type=int, default=20)
    trio.run(main, p.parse_args())
