"""Replication between real (in-process) libp2p nodes: strays move home, newer seqs spread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from note_compute import records, urls
from note_compute.crypto import SigningKey
from note_compute.devnet import expected_replicas, wait_until
from note_compute.node import Node, NodeConfig, open_node

pytestmark = pytest.mark.slow

N = 5


@asynccontextmanager
async def _ring(tmp_path: Path) -> AsyncIterator[list[Node]]:
    # Fast rounds, but the default request timeout: under a loaded CI machine a 1 s timeout made
    # nodes evict live neighbours, the ring flapped and the strays test missed its deadline.
    fast = {"stabilize_interval": 0.2, "replicate_interval": 0.5, "request_timeout": 2.0}
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_node(NodeConfig(tmp_path / "n0", **fast), leave_on_exit=False))
        nodes = [first]
        for i in range(1, N):
            cfg = NodeConfig(tmp_path / f"n{i}", bootstrap=[first.host.listen_addrs[0]], **fast)
            nodes.append(await stack.enter_async_context(open_node(cfg, leave_on_exit=False)))

        async def stable() -> bool:
            ids = sorted(n.me.id for n in nodes)
            for n in nodes:
                i = ids.index(n.me.id)
                held = n.core.held_range()
                if (n.core.successor is None or n.core.successor.id != ids[(i + 1) % N]
                        or held is None or held.start != ids[(i - 3) % N]):
                    return False
            return True

        await wait_until(stable, 60, 0.1, "a stable in-process ring")
        yield nodes


def _rec(key: SigningKey, path: str, seq: int = 1) -> records.Record:
    return records.sign_record(key, urls.make_url(key.authority, path), seq=seq, value=path.encode() + bytes([seq]),
                               created=int(time.time()))


async def test_strays_move_to_their_replicas_and_newer_seq_spreads(tmp_path: Path) -> None:
    async with _ring(tmp_path) as nodes:
        by_id = {n.node_id: n for n in nodes}
        ids = list(by_id)
        key = SigningKey.generate()
        recs = [_rec(key, f"/stray/{i}") for i in range(12)]
        # Each record is written only to a node outside its replica set (as if it had been
        # responsible before a join): replication must carry it home.
        for rec in recs:
            outsider = next(n for n in nodes if n.node_id not in expected_replicas(ids, rec.address))
            outsider.store.put_record(rec.encode())

        def placed(rs: list[records.Record]) -> bool:
            return all(by_id[i].store.has(r.address) for r in rs for i in expected_replicas(ids, r.address))

        async def home() -> bool:
            return placed(recs)

        # Waits end as soon as their condition holds; the limits are only for a hung test.
        await wait_until(home, 60, 0.1, "strays at their replicas")

        async def collected() -> bool:  # ... and leave the nodes outside their replica sets
            return not any(n.store.has(r.address) for r in recs for n in nodes
                           if n.node_id not in expected_replicas(ids, r.address))

        await wait_until(collected, 60, 0.1, "strays collected outside their replica sets")
        assert placed(recs)
        assert sum(n.replicator.collected for n in nodes) >= len(recs)

        # A newer seq written to one replica only reaches the other two (anti-entropy).
        newer = _rec(key, "/stray/0", seq=2)
        first = by_id[expected_replicas(ids, newer.address)[0]]
        first.store.put_record(newer.encode())

        async def spread() -> bool:
            return all(records.Record.decode(by_id[i].store.get(newer.address).data).seq == 2
                       for i in expected_replicas(ids, newer.address))

        await wait_until(spread, 60, 0.1, "the newer seq on every replica")
        assert nodes[0].replicator.pushed + sum(n.replicator.pushed for n in nodes[1:]) >= len(recs) * 3


async def test_lookup_through_the_node_finds_the_replica_set(tmp_path: Path) -> None:
    async with _ring(tmp_path) as nodes:
        ids = [n.node_id for n in nodes]
        key = SigningKey.generate()
        for i in range(5):
            addr = _rec(key, f"/k/{i}").address
            for n in nodes:
                got = [p.id_bytes for p in await n.lookup(addr)]
                assert got == expected_replicas(ids, addr)
