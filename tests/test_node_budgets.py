"""Every request's cost is bounded before it is paid: stored digests for sync, a per-peer budget for every op."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import trio

from note_compute import records, urls
from note_compute.crypto import SigningKey
from note_compute.errors import RateLimited
from note_compute.node.runtime import Node, NodeConfig
from note_compute.node.storage import SYNC, StorageService, request_cost, sync_msg
from note_compute.ring.ids import PeerRef, node_id
from note_compute.store import Digest, RateLimiter, Store

NOW = 1_700_000_000
KEY = SigningKey(b"\x07" * 32)
PEER = b"\x42" * 32


class CountingStore(Store):
    """A store that counts reads of whole entries (``get``, ``entries``)."""

    whole_reads = 0

    def get(self, key: bytes | int) -> Any:
        self.whole_reads += 1
        return super().get(key)

    def entries(self, *a: Any, **kw: Any) -> Any:
        self.whole_reads += 1
        return super().entries(*a, **kw)


def test_sync_is_answered_from_stored_digests_without_reading_values(tmp_path: Path) -> None:
    """A sync naming large held entries with wrong hashes costs index lookups, not the entries' bytes."""
    store = CountingStore(tmp_path / "s.sqlite")
    held: list[Digest] = []
    for i in range(20):  # large values, records, absent keys
        value = bytes([i]) * 200_000
        store.put_value(value, now=NOW)
        held.append(Digest(hashlib.sha256(value).digest(), "value", 0, b"\x00" * 32))  # hash != key: not "a value"
        rec = records.sign_record(KEY, urls.make_url(KEY.authority, f"/r{i}"), seq=5, value=b"v" * 1000, created=NOW)
        store.put_record(rec.encode(), now=NOW)
        held.append(Digest(rec.address, "record", 9 if i % 2 else 1, b"\x01" * 32))
    absent = [Digest(bytes([i]) * 32, "record", 1, b"\x02" * 32) for i in range(1, 30)]
    service = StorageService(store, limiter=RateLimiter(rate=1e6, burst=1e6), wall=lambda: NOW)
    reply = trio.run(service.handle, PEER, sync_msg(b"\x00" * 32, b"\x00" * 32, held + absent))
    assert store.whole_reads == 0
    records_held = [d for d in held if d.kind == "record"]
    assert set(reply["want"]) == {d.key for d in absent} | {d.key for d in records_held if d.seq == 9}
    assert set(reply["newer"]) == {d.key for d in records_held if d.seq == 1}
    store.close()


def test_storage_requests_cost_by_size_before_any_work() -> None:
    assert request_cost({"op": "store.get", "key": b"k" * 32}) == 1
    assert request_cost({"op": "store.put", "data": b"x" * (1024 * 1024)}) == 17
    full = sync_msg(b"\x00" * 32, b"\x00" * 32, [Digest(bytes(32), "value", 0, bytes(32))] * 1024)
    assert request_cost(full) == 33
    assert request_cost({"op": SYNC, "digests": "junk"}) == 1


def test_a_big_sync_flood_is_rate_limited(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    service = StorageService(store, limiter=RateLimiter(rate=10, burst=100), clock=lambda: 0.0)
    full = sync_msg(
        b"\x00" * 32, b"\x00" * 32, [Digest(bytes([i % 256]) * 32, "value", 0, bytes(32)) for i in range(1024)]
    )

    async def flood() -> int:
        served = 0
        with pytest.raises(RateLimited):
            for _ in range(10):
                await service.handle(PEER, full)
                served += 1
        return served

    assert trio.run(flood) == 3  # 33 tokens each out of 100
    store.close()


class _FakeHost:
    def __init__(self, seed: bytes) -> None:
        self.public_key = SigningKey(seed).public_key
        self.peer_ref = PeerRef(node_id(self.public_key), "/ip4/127.0.0.1/tcp/1/p2p/x")

    def set_handler(self, handler: Any) -> None:
        self.handler = handler


def test_compute_ops_spend_a_per_peer_budget(tmp_path: Path) -> None:
    """Ops served by registered handlers (compute) no longer bypass the rate limiter."""
    seed = b"\x01" * 32
    store = Store(tmp_path / "s.sqlite")
    node = Node(NodeConfig(data_dir=tmp_path, compute_rate=1.0, compute_burst=5.0), _FakeHost(seed), store, seed)
    node.clock = lambda: 100.0
    ran: list[int] = []

    async def compute(sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        ran.append(sender.id)
        return {"ok": True}

    node.register_handler("compute.query", compute)
    hog = PeerRef(1, "/ip4/127.0.0.1/tcp/2/p2p/a")
    bystander = PeerRef(2, "/ip4/127.0.0.1/tcp/3/p2p/b")

    async def run() -> None:
        with pytest.raises(RateLimited):
            for _ in range(50):
                await node._handle(hog, {"op": "compute.query"})
        assert await node._handle(bystander, {"op": "compute.query"}) == {"ok": True}

    trio.run(run)
    assert ran.count(1) == 5 and ran.count(2) == 1
    store.close()


def test_ring_ops_have_their_own_bounded_budget(tmp_path: Path) -> None:
    seed = b"\x02" * 32
    store = Store(tmp_path / "s.sqlite")
    node = Node(NodeConfig(data_dir=tmp_path, rate=1.0, burst=1.0), _FakeHost(seed), store, seed)
    node.clock = lambda: 100.0  # a stopped clock: no refill, whatever the machine's speed
    peer = PeerRef(3, "/ip4/127.0.0.1/tcp/4/p2p/c")

    async def run() -> int:
        served = 0
        with pytest.raises(RateLimited):
            for _ in range(5000):
                await node._handle(peer, {"op": "ring.ping"})
                served += 1
        return served

    served = trio.run(run)
    # A storage-starved peer (rate 1/s) still gets the ring bucket's burst of answers, and no more.
    assert served == 2 * 500
    store.close()


def test_replication_pushes_are_not_charged_to_the_pusher(tmp_path: Path) -> None:
    """A ring member pushing a key we must hold used to spend its own per-peer quota here."""
    seed = b"\x03" * 32
    store = Store(tmp_path / "s.sqlite")
    node = Node(NodeConfig(data_dir=tmp_path), _FakeHost(seed), store, seed)
    neighbour, stranger = (5).to_bytes(32, "big"), (6).to_bytes(32, "big")
    node.core.must_hold = lambda key: True  # type: ignore[method-assign]
    node.core.table.peers = lambda: [PeerRef(5, "/p2p/n")]  # type: ignore[method-assign]
    assert node._is_replica_push(neighbour, bytes(32)) and not node._is_replica_push(stranger, bytes(32))

    async def put(sender: bytes, data: bytes) -> None:
        await node._handle(PeerRef(int.from_bytes(sender, "big"), "/p2p/x"),
                           {"op": "store.put", "kind": "value", "key": hashlib.sha256(data).digest(), "data": data})

    trio.run(put, neighbour, b"replicated")
    trio.run(put, stranger, b"a client's own")
    assert store.usage(neighbour) == (0, 0)
    assert store.usage(stranger) == (len(b"a client's own"), 1)
    node.core.must_hold = lambda key: False  # type: ignore[method-assign]
    trio.run(put, neighbour, b"outside our range")  # not ours to hold: the sender's own data
    assert store.usage(neighbour) == (len(b"outside our range"), 1)
    store.close()
