"""The shop demo's lying peer on the demo's own local network.

:func:`ring_liar_round`: a lying node process
(:func:`note_compute.testing.lying_node.lying_node`: libp2p, real sockets, its
own store) joins the running network with a node id chosen so that the ring
makes it one of the replicas of the word-index shard holding ``lamp`` (an
attacker picks its own id: :func:`~note_compute.testing.lying_node.grind_seed`).
It answers that shard's range queries leaving one match out and signs the
smaller output (``hide_one``). A buyer's client that asks it first
(:class:`~note_compute.testing.lying_node.AskFirst`, ``shuffle=False``) checks
the signed answer against the shard's proven range, convicts it with a fraud
proof, blocks it and gets the complete answer from an honest replica; the
proof goes to the ring (stored under the liar's id only after the nodes
re-check it). The liar then leaves; the round waits for the ring to be whole again.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

__all__ = ["ring_liar_round"]

WORD = "lamp"


async def ring_liar_round(net: Any, sandbox: Any, authority: str, say: Callable[[str], None] = lambda s: None, *,
                          timeout: float = 60.0) -> dict[str, Any]:
    """The round on ``net`` (a ``DemoNet``: ``client``, ``devnet``); raises AssertionError when it does not hold.

    Returns ``frauds`` (proofs found), ``convicted`` (every proof names the liar), ``blocked``, ``stored``
    (proofs the ring keeps against the liar), ``complete`` (the answer equals the honest one) and ``liar``
    (its id, hex), ``pid`` and ``exit`` (its process, stopped by then, and its exit code).
    """
    from note_compute.compute.client import ComputeClient
    from note_compute.compute.registry import RingFraudRegistry
    from note_compute.devnet import collect_status, devnet_peers, ring_is_stable, wait_stable, wait_until
    from note_compute.testing.lying_node import AskFirst, grind_seed, lying_node

    from .search import parse_query
    from .shop import Shop

    client, devnet = net.client, net.devnet
    t = [time.monotonic()]
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        t.append(time.monotonic())
        seconds[name] = round(t[-1] - t[-2], 2)

    q = parse_query(WORD, limit=50)
    honest_cc = ComputeClient(client, sandbox, timeout=20.0)
    shop = await Shop(client, sandbox, authority).info()
    idx = await honest_cc.latest_manifest(shop.index)
    target = next(s for s in idx.shards if s.lo[0] <= WORD <= s.hi[0])
    peers = devnet_peers(devnet)
    # a fresh identity each round (the ring keeps the proofs against an earlier one, and clients check them first)
    seed = grind_seed([p.id_bytes for p in peers], target.blob, label=os.urandom(16))
    lap("grinding")
    out: dict[str, Any] = {}
    honest: list[Any] = []
    searched = trio.Event()
    with tempfile.TemporaryDirectory(prefix="shop-liar-", dir=getattr(net, "home", None)) as tmp:  # the demo's home
        async with trio.open_nursery() as nursery:
            async def honest_search() -> None:  # while the lying node starts (honest until this is done)
                honest.append(await Shop(client, sandbox, authority, compute=honest_cc).search(q))
                searched.set()

            nursery.start_soon(honest_search)
            async with lying_node(devnet.bootstrap, Path(tmp) / "liar", seed=seed, timeout=timeout) as liar:
                lid = liar.node_id
                lap("start")

                async def joined() -> bool:
                    ring = [*peers, liar.peer]
                    statuses = await collect_status(client, ring, timeout=2.0)
                    return len(statuses) == len(ring) and ring_is_stable(statuses, 3)

                async def replica() -> bool:
                    return lid in {p.id_bytes for p in await client.replicas(target.blob)}

                await wait_until(joined, timeout, what="a stable ring with the lying node")
                await wait_until(replica, timeout, what="the lying node among the replicas of the shard")
                lap("join")
                await searched.wait()
                liar.lie("hide_one")
                say(f"  a lying node {lid.hex()[:12]} (its own process, real libp2p connections) joined the ring "
                    f"with an id it chose to be a replica of the index shard of '{WORD}'; it hides a match and "
                    "signs it")
                cc = ComputeClient(AskFirst(client, {lid}), sandbox, shuffle=False, timeout=20.0,
                                   fraud_registry=RingFraudRegistry(client))
                res = await Shop(client, sandbox, authority, compute=cc).search(q)
                proofs = res.summary.fraud
                lap("search")
                out = {"frauds": len(proofs), "liar": lid.hex(), "pid": liar.proc.pid, "blocked": lid in cc.blocked,
                       "convicted": bool(proofs) and {f.get("peer") for f in proofs} == {lid.hex()},
                       "lies": sorted({f["lie"] for f in proofs}),
                       "complete": [p["id"] for p in res.products] == [p["id"] for p in honest[0].products]
                       and res.total == honest[0].total,
                       "stored": len(await client.get_evidence(lid))}
                proc = liar.proc
                lap("evidence")
    out["exit"] = proc.returncode  # 0: it left the ring gracefully on SIGTERM
    lap("leave")
    await wait_stable(devnet, client, timeout)  # the ring whole again without it, for what runs next
    lap("ring whole again")
    out["seconds"] = seconds
    return out
