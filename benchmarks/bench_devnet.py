"""Real-node figures for the Note ring (issue 3, "must hold").

1. 16-node devnet, one warm client: median ``get`` of a 1 KB record (target
   <= 20 ms) and median ``put`` acknowledged by r = 3 replicas (target
   <= 40 ms). Baseline in the same run: a bare ``ring.ping`` round trip to
   one node (the transport's floor); figures are also printed as ratios to it.
2. Churn, 24-node devnet: 300 records, then a third of the nodes (8) killed
   one at a time with SIGKILL, a stabilization period between kills (until
   the ring is correct again, then 3 s for replication); finally every
   record is fetched. Target: 0 lost.

Usage: ``python benchmarks/bench_devnet.py [--quick]`` (``--quick``: 8 and
12 nodes, fewer samples; for a smoke run).
"""

from __future__ import annotations

import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from note_compute import records, urls  # noqa: E402
from note_compute.client import open_client  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.devnet import (  # noqa: E402
    DEVNET_NODE_ARGS,
    Devnet,  # noqa: E402
    devnet_peers,
    expected_replicas,
    holders,
    wait_stable,
)
from note_compute.errors import NoteError  # noqa: E402
from note_compute.ring import messages as ring_msgs  # noqa: E402

QUICK = "--quick" in sys.argv


def _rec(key: SigningKey, path: str, seq: int = 1) -> records.Record:
    return records.sign_record(key, urls.make_url(key.authority, path), seq=seq, value=os.urandom(1024),
                               created=int(time.time()))


def _ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


async def latency(base: Path, n: int, samples: int) -> dict[str, float]:
    net = Devnet(base / f"lat{n}", n, node_args=DEVNET_NODE_ARGS)
    try:
        await net.start(timeout=120)
        async with open_client(net.bootstrap) as client:
            await wait_stable(net, client, timeout=90)
            key = SigningKey.generate()
            recs = [_rec(key, f"/bench/{i}") for i in range(samples)]
            # Warm-up: connections to every node, routing knowledge in the client.
            for p in devnet_peers(net):
                await client.request(p, ring_msgs.ping(None), 2.0)
            for r in recs[:20]:
                await client.put_record(r)
                await client.get_record(r.url)
            peer = devnet_peers(net)[0]
            ping, put, get = [], [], []
            for _ in range(samples):
                t = time.perf_counter()
                await client.request(peer, ring_msgs.ping(None), 2.0)
                ping.append(time.perf_counter() - t)
            for r in recs:
                t = time.perf_counter()
                acks = await client.put_record(r)
                put.append(time.perf_counter() - t)
                assert acks == 3, (acks, client.last_errors)
            for r in recs:
                t = time.perf_counter()
                got = await client.get_record(r.url)
                get.append(time.perf_counter() - t)
                assert got == r
            hops = []
            for r in recs[:50]:
                await client.get_record(r.url)
                hops.append(client.last_hops)
        return {"nodes": n, "samples": samples, "ping_ms": _ms(ping), "get_ms": _ms(get), "put_ms": _ms(put),
                "get_p90_ms": sorted(get)[int(0.9 * len(get))] * 1000,
                "put_p90_ms": sorted(put)[int(0.9 * len(put))] * 1000, "hops": statistics.mean(hops)}
    finally:
        with trio.CancelScope(shield=True):
            await net.stop()


async def churn(base: Path, n: int, n_records: int, settle: float) -> dict[str, float]:
    net = Devnet(base / f"churn{n}", n, node_args=DEVNET_NODE_ARGS)
    try:
        t0 = time.monotonic()
        await net.start(timeout=180)
        async with open_client(net.bootstrap) as client:
            await wait_stable(net, client, timeout=120)
            start_s = time.monotonic() - t0
            key = SigningKey.generate()
            recs = [_rec(key, f"/churn/{i}") for i in range(n_records)]
            for r in recs:
                await client.put_record(r)
            kills = n // 3
            stab_times = []
            for k in range(kills):
                live = [x for x in net.nodes if x.alive]
                victim = live[(k * 7) % len(live)]
                net.kill(victim.index, signal.SIGKILL)
                t = time.monotonic()
                await wait_stable(net, client, timeout=60)
                stab_times.append(time.monotonic() - t)
                await trio.sleep(settle)
            lost = 0
            for r in recs:
                try:
                    if await client.get_record(r.url) != r:
                        lost += 1
                except NoteError:
                    lost += 1
            peers = devnet_peers(net)
            ids = [p.id_bytes for p in peers]
            under = 0
            for r in recs:
                if not set(expected_replicas(ids, r.address)) <= await holders(client, peers, r.address):
                    under += 1
        return {"nodes": n, "records": n_records, "killed": kills, "lost": lost, "under_replicated": under,
                "start_s": start_s, "stabilize_s": statistics.mean(stab_times), "settle_s": settle}
    finally:
        with trio.CancelScope(shield=True):
            await net.stop()


async def main() -> None:
    import libp2p  # noqa: F401 - importing it resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="bench-devnet-") as tmp:
        base = Path(tmp)
        lat = await latency(base, 8 if QUICK else 16, 50 if QUICK else 200)
        print(f"devnet {lat['nodes']} nodes, {lat['samples']} samples, warm client:")
        print(f"  ring.ping round trip (baseline) median {lat['ping_ms']:.2f} ms")
        print(f"  get 1 KB record   median {lat['get_ms']:.2f} ms (p90 {lat['get_p90_ms']:.2f}) "
              f"= {lat['get_ms'] / lat['ping_ms']:.1f}x ping; target <= 20 ms; mean lookup hops {lat['hops']:.2f}")
        print(f"  put r=3 acked     median {lat['put_ms']:.2f} ms (p90 {lat['put_p90_ms']:.2f}) "
              f"= {lat['put_ms'] / lat['ping_ms']:.1f}x ping; target <= 40 ms")
        ch = await churn(base, 12 if QUICK else 24, 100 if QUICK else 300, 3.0)
        print(f"churn: {ch['nodes']} nodes, {ch['records']} records, {ch['killed']} killed one at a time (SIGKILL), "
              f"mean time to a correct ring {ch['stabilize_s']:.1f} s + {ch['settle_s']:.0f} s settle per kill")
        print(f"  lost records: {ch['lost']} (target 0); under-replicated at the end: {ch['under_replicated']}; "
              f"start-up of {ch['nodes']} processes to a stable ring: {ch['start_s']:.1f} s")


if __name__ == "__main__":
    trio.run(main)
