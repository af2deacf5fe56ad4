"""Shard prefetch (compute/prefetch.py): a node loads the shards it serves when a dataset manifest lands.

Unit tests drive a :class:`Prefetcher` over a fake node and an in-memory ring
(no sockets, no clock); one slow test runs it on real in-process libp2p nodes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from note_compute import encoding, records, urls
from note_compute.compute.dataset import build_dataset
from note_compute.compute.prefetch import Prefetcher, PrefetchLimits
from note_compute.compute.source import RingSource, manifest_from_record
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, InvalidSignature, NotFound, RemoteProtocolError
from note_compute.node.storage import StorageService
from note_compute.store import Store
from note_compute.wire.compute import OP_PREPARE, prepare_msg

SITE = SigningKey(hashlib.sha256(b"prefetch-site").digest())
HOSTILE = SigningKey(hashlib.sha256(b"prefetch-hostile").digest())


def _recs(n: int, tag: str = "") -> list[bytes]:
    return [encoding.encode({"id": i, "tag": tag, "pad": "x" * 40}) for i in range(n)]


class Ring:
    """The in-memory ring a fake node reads: signed records by URL, blobs by SHA-256."""

    def __init__(self) -> None:
        self.records: dict[str, records.Record] = {}
        self.blobs: dict[bytes, bytes] = {}
        self.fetched: list[bytes] = []
        self.gate: trio.Event | None = None  # when set, every blob fetch waits for it

    def publish(self, key: SigningKey, name: str, recs: list[bytes], *, seq: int = 1,
                shard_records: int = 10) -> records.Record:
        built = build_dataset(recs, name=name, sort_key=["id"], shard_records=shard_records,
                              blob_address=lambda d: hashlib.sha256(d).digest())
        for s in built.shards:
            self.blobs[s.info.blob] = s.blob
        if built.table_blob is not None:
            self.blobs[hashlib.sha256(built.table_blob).digest()] = built.table_blob
        url = urls.make_url(key.authority, f"/datasets/{name}")
        rec = records.sign_record(key, url, seq=seq, value=built.value, created=int(time.time()))
        self.records[url] = rec
        return rec

    async def get_record(self, url: str) -> records.Record:
        if url not in self.records:
            raise NotFound(url, reason="no-entry")
        return self.records[url]

    async def get_blob(self, address: bytes, *, max_size: int | None = None) -> bytes:
        data = self.blobs[address]
        if max_size is not None and len(data) > max_size:
            raise InvalidRecord("over the cap", reason="too-large")
        if self.gate is not None:
            await self.gate.wait()
        self.fetched.append(address)
        return data


class Peer:
    def __init__(self, n: int) -> None:
        self.id_bytes = bytes([n]) * 32


class Core:
    def __init__(self, held: set[bytes] | None, peers: list[Peer]) -> None:
        self.held = held  # None: every key
        self.peers = peers
        self.asked = 0
        self.first: set[bytes] = set()  # keys whose replica set starts with us

    def must_hold(self, key: bytes) -> bool:
        return self.held is None or key in self.held

    def replica_set(self, key: bytes) -> tuple[Peer, ...]:
        if key in self.first:
            return tuple(self.peers[:3])
        self.asked += 1
        i = 1 + key[0] % (len(self.peers) - 1)
        return tuple(self.peers[(i + j) % len(self.peers)] for j in range(3))


class FakeNode:
    def __init__(self, held: set[bytes] | None = None) -> None:
        self.me = Peer(0)
        self.core = Core(held, [self.me] + [Peer(i) for i in range(1, 6)])
        self.sent: list[tuple[bytes, dict[str, Any]]] = []

    async def lookup(self, key: bytes, timeout: float = 10.0) -> tuple[Peer, ...]:
        return self.core.replica_set(key)

    async def request(self, peer: Peer, msg: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        self.sent.append((peer.id_bytes, msg))
        return {"queued": True}


def _setup(limits: PrefetchLimits | None = None, held: set[bytes] | None = None):  # type: ignore[no-untyped-def]
    ring = Ring()
    node = FakeNode(held)
    source = RingSource(ring)
    return ring, node, source, Prefetcher(node, source, limits=limits)


async def _settle(pf: Prefetcher) -> None:
    await trio.testing.wait_all_tasks_blocked()
    await pf.idle.wait()


def _manifest(source: RingSource, ring: Ring, rec: records.Record):  # type: ignore[no-untyped-def]
    return manifest_from_record(rec)


async def test_landing_manifest_loads_the_shards_this_node_holds_without_a_query() -> None:
    ring, node, source, pf = _setup()
    rec = ring.publish(SITE, "cat", _recs(60))  # 6 shards
    blobs = [b for b in ring.blobs]
    node.core.held = {blobs[0], blobs[2], blobs[5]}
    node.core.first = {rec.address}  # the first replica of the record announces
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        pf.record_stored("record", rec.address, rec.encode())
        await _settle(pf)
        m = _manifest(source, ring, rec)
        held = [i for i, s in enumerate(m.shards) if s.blob in node.core.held]
        assert held == [0, 2, 5]
        assert [source.has_shard(m, i) for i in range(6)] == [i in held for i in range(6)]
        assert sorted(ring.fetched) == sorted(node.core.held) and pf.stats.loaded == 3
        # the first query reads the cache: no fetch
        before = len(ring.fetched)
        shard = await source.shard(m, 2)
        assert shard.records == _recs(60)[20:30] and len(ring.fetched) == before
        # the landing node told every other replica of every shard, once each, with the signed record
        told = {p for p, _ in node.sent}
        assert node.me.id_bytes not in told and len(told) == len(node.sent) >= 2
        assert all(msg == prepare_msg(rec.encode()) for _, msg in node.sent)
        # the same record stored again (replication) is not taken up twice
        pf.record_stored("record", rec.address, rec.encode())
        await _settle(pf)
        assert pf.stats.datasets == 1 and len(node.sent) == len(told)
        nursery.cancel_scope.cancel()


async def test_only_the_first_replica_announces_and_a_prepare_is_not_forwarded() -> None:
    ring, node, source, pf = _setup()
    rec = ring.publish(SITE, "cat", _recs(30))
    other = ring.publish(SITE, "other", _recs(30, "o"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        pf.record_stored("record", other.address, other.encode())  # we are not its first replica
        await _settle(pf)
        assert pf.stats.loaded == 3 and node.sent == []
        assert await pf.handle(node.me, prepare_msg(rec.encode())) == {"queued": True, "ready": False}
        await _settle(pf)
        assert pf.stats.loaded == 6 and node.sent == []
        # already taken up: not queued again, and (loaded) ready
        assert await pf.handle(node.me, prepare_msg(rec.encode())) == {"queued": False, "ready": True}
        nursery.cancel_scope.cancel()


async def test_prepare_with_wait_answers_once_the_shards_are_loaded() -> None:
    ring, node, source, pf = _setup()
    rec = ring.publish(SITE, "cat", _recs(30))
    ring.gate = trio.Event()
    replies: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)

        async def ask() -> None:
            replies.append(await pf.handle(node.me, prepare_msg(rec.encode(), wait=True)))

        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        assert replies == [] and pf.stats.loaded == 0  # held while the blobs cannot be fetched
        ring.gate.set()
        await _settle(pf)
        await trio.testing.wait_all_tasks_blocked()
        assert replies == [{"queued": True, "ready": True}] and pf.stats.loaded == 3
        nursery.cancel_scope.cancel()


async def test_bad_prepare_requests_are_typed_errors_and_queue_nothing() -> None:
    ring, node, source, pf = _setup()
    rec = ring.publish(SITE, "cat", _recs(30))
    plain = records.sign_record(SITE, urls.make_url(SITE.authority, "/notes/a"), seq=1, value=b"x",
                                created=int(time.time()))
    forged = bytearray(rec.encode())
    forged[-1] ^= 1
    cases: list[tuple[Any, type[Exception], str | None]] = [
        ("nope", RemoteProtocolError, None),
        ({"op": OP_PREPARE}, RemoteProtocolError, "bad-request"),
        ({"op": OP_PREPARE, "record": "text"}, RemoteProtocolError, "bad-request"),
        ({"op": OP_PREPARE, "record": rec.encode(), "extra": 1}, RemoteProtocolError, "bad-request"),
        ({"op": OP_PREPARE, "record": rec.encode(), "wait": 1}, RemoteProtocolError, "bad-request"),
        (prepare_msg(os.urandom(90 * 1024)), RemoteProtocolError, "bad-request"),
        (prepare_msg(b"\xa1garbage"), Exception, None),
        (prepare_msg(bytes(forged)), InvalidSignature, None),
        (prepare_msg(plain.encode()), InvalidRecord, "not-dataset"),
    ]
    for msg, exc_type, reason in cases:
        with pytest.raises(exc_type) as err:
            await pf.handle(node.me, msg)
        if reason is not None:
            assert getattr(err.value, "reason", None) == reason, (msg if isinstance(msg, str) else list(msg), err)
    assert pf.stats.queued == 0 and ring.fetched == []


async def test_hostile_manifest_is_bounded_per_dataset() -> None:
    ring, node, source, pf = _setup(PrefetchLimits(max_shards=4, announce_shards=8))
    rec = ring.publish(HOSTILE, "huge", _recs(1000), shard_records=5)  # 200 shards, every one "ours"
    node.core.first = {rec.address}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        pf.record_stored("record", rec.address, rec.encode())
        await _settle(pf)
        assert pf.stats.loaded == 4 and len(ring.fetched) == 4
        assert pf.stats.capped == 196
        m = _manifest(source, ring, rec)
        assert sum(source.has_shard(m, i) for i in range(len(m.shards))) == 4
        # announcing looked up the replica sets of announce_shards shards, not of all 200
        assert node.core.asked == 8 and 1 <= len(node.sent) <= 5
        nursery.cancel_scope.cancel()


async def test_bytes_caps_refuse_a_blob_before_fetching_it() -> None:
    ring, node, source, pf = _setup(PrefetchLimits(max_bytes=900, authority_bytes=10**9))
    rec = ring.publish(HOSTILE, "fat", [encoding.encode({"id": i, "pad": "y" * 300}) for i in range(9)],
                       shard_records=3)  # 3 shards of ~950 bytes
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        pf.record_stored("record", rec.address, rec.encode())
        await _settle(pf)
        assert pf.stats.loaded == 0 and ring.fetched == [] and pf.stats.capped >= 1
        nursery.cancel_scope.cancel()


async def test_authority_caps_bound_one_publisher_not_the_others() -> None:
    limits = PrefetchLimits(authority_datasets=3, authority_bytes=6000)
    ring, node, source, pf = _setup(limits)
    hostile = [ring.publish(HOSTILE, f"d{i}", _recs(20, f"h{i}")) for i in range(8)]
    honest = ring.publish(SITE, "cat", _recs(20))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        for rec in hostile:
            pf.record_stored("record", rec.address, rec.encode())
            await _settle(pf)
        assert pf.stats.datasets == 3  # the other 5 versions were not taken up
        hostile_bytes = pf.stats.bytes
        assert hostile_bytes <= 6000 + 2000  # the last shard may cross the line by at most one shard
        pf.record_stored("record", honest.address, honest.encode())
        await _settle(pf)
        m = _manifest(source, ring, honest)
        assert all(source.has_shard(m, i) for i in range(len(m.shards)))
        nursery.cancel_scope.cancel()


async def test_a_newer_seq_cancels_the_older_load() -> None:
    ring, node, source, pf = _setup()
    old = ring.publish(SITE, "cat", _recs(30), seq=1)
    ring.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pf.run)
        pf.record_stored("record", old.address, old.encode())
        await trio.testing.wait_all_tasks_blocked()  # the load of seq 1 waits on its first blob
        assert pf.stats.loaded == 0 and not pf.idle.is_set()
        new = ring.publish(SITE, "cat", _recs(30, "v2"), seq=2)
        pf.record_stored("record", new.address, new.encode())
        await trio.testing.wait_all_tasks_blocked()
        assert pf.stats.cancelled == 1
        ring.gate.set()
        await _settle(pf)
        m_new = _manifest(source, ring, new)
        assert all(source.has_shard(m_new, i) for i in range(3))
        assert pf.stats.loaded == 3  # the old version's shards were never loaded
        nursery.cancel_scope.cancel()


async def test_a_full_queue_drops_and_counts() -> None:
    ring, node, source, pf = _setup(PrefetchLimits(queue=2))
    recs = [ring.publish(SITE, f"d{i}", _recs(10, str(i))) for i in range(6)]
    for rec in recs:  # nothing runs yet: the queue fills
        pf.record_stored("record", rec.address, rec.encode())
    assert pf.stats.queued == 2 and pf.stats.dropped == 4


async def test_a_query_waits_for_the_load_in_flight_instead_of_fetching_again() -> None:
    ring = Ring()
    source = RingSource(ring)
    rec = ring.publish(SITE, "cat", _recs(10))
    m = await source.manifest(rec.url, rec.seq)
    ring.gate = trio.Event()
    got: list[Any] = []
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(lambda: _append(got, source.shard(m, 0)))
        await trio.testing.wait_all_tasks_blocked()
        ring.gate.set()
    assert len(ring.fetched) == 1 and len(got) == 3 and got[0] is got[1] is got[2]


async def test_a_cancelled_load_does_not_strand_a_waiting_query() -> None:
    ring = Ring()
    source = RingSource(ring)
    rec = ring.publish(SITE, "cat", _recs(10))
    m = await source.manifest(rec.url, rec.seq)
    ring.gate = trio.Event()
    got: list[Any] = []
    async with trio.open_nursery() as outer:
        with trio.CancelScope() as first:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: _append(got, source.shard(m, 0)))
                await trio.testing.wait_all_tasks_blocked()
                outer.start_soon(lambda: _append(got, source.shard(m, 0)))  # a query waiting on that load
                await trio.testing.wait_all_tasks_blocked()
                first.cancel()
        ring.gate.set()
    assert len(got) == 1 and got[0].records == _recs(10)


async def _append(out: list[Any], aw: Any) -> None:
    out.append(await aw)


def test_storage_hook_sees_new_entries_only_and_never_refuses_a_put(tmp_path: Path) -> None:
    svc = StorageService(Store.in_dir(tmp_path))
    seen: list[str] = []

    def hook(kind: str, key: bytes, data: bytes) -> None:
        seen.append(kind)
        raise RuntimeError("a bug in the hook")

    svc.on_stored = hook
    rec = records.sign_record(SITE, urls.make_url(SITE.authority, "/datasets/x"), seq=1, value=b"v",
                              created=int(time.time()))

    async def go() -> None:
        assert await svc.put("record", rec.address, rec.encode()) == "stored"
        assert await svc.put("record", rec.address, rec.encode()) == "unchanged"

    trio.run(go)
    assert seen == ["record"]
    assert svc.store.get(rec.address).data == rec.encode()


@pytest.mark.slow
async def test_real_nodes_hold_their_shards_once_the_manifest_lands(tmp_path: Path) -> None:
    from test_node_replication import _ring

    from note_compute.client import Client
    from note_compute.compute.node_source import attach_compute
    from note_compute.compute.publish import publish_dataset
    from note_compute.devnet import expected_replicas, wait_until
    from note_compute.net import open_host
    from note_compute.sandbox import Sandbox

    sandbox = Sandbox()
    async with _ring(tmp_path) as nodes:
        servers = [attach_compute(n, sandbox=sandbox) for n in nodes]
        async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as host:
            client = Client(host, [nodes[0].me])
            pub = await publish_dataset(client, SITE, _recs(120), name="cat", sort_key=["id"], shard_records=10)
            m = pub.built.manifest
            ids = [n.node_id for n in nodes]
            server_of = {n.node_id: s for n, s in zip(nodes, servers, strict=True)}
            holders = [[server_of[h] for h in expected_replicas(ids, sh.blob)] for sh in m.shards]

            async def ready() -> bool:  # every replica of every shard: checked and indexed
                return all(s.source.has_shard(m, i) for i, group in enumerate(holders) for s in group)

            await wait_until(ready, 60, 0.1, "every replica holding its checked shards")
            assert all(s.served == 0 for s in servers)  # no query was ever asked
            assert sum(s.prefetcher.stats.announced for s in servers) >= 1


async def test_publisher_waits_for_ready_replicas_and_shrugs_off_bad_replies() -> None:
    from note_compute.compute.publish import await_ready
    from note_compute.wire.compute import parse_prepare, parse_prepare_reply

    ring = Ring()
    rec = ring.publish(SITE, "cat", _recs(60))
    m = manifest_from_record(rec)
    peers = [Peer(i) for i in range(1, 6)]
    replies: dict[bytes, Any] = {
        peers[0].id_bytes: {"queued": True, "ready": True},
        peers[1].id_bytes: {"queued": True, "ready": "yes"},  # not a bool: bad-reply, not counted
        peers[2].id_bytes: {"error": {"code": "not-found", "message": "unknown op", "reason": "unknown-op"}},
        peers[3].id_bytes: {"queued": False, "ready": False},
        peers[4].id_bytes: {"queued": False, "ready": True, "later": 1},  # replies are open
    }

    class Client:
        async def replicas(self, key: bytes) -> list[Peer]:
            return peers[key[0] % 5:][:3]

        async def request(self, peer: Peer, msg: dict[str, Any], timeout: float = 5.0) -> Any:
            assert parse_prepare(msg) == (rec.encode(), True)
            return replies[peer.id_bytes]

    ready, asked = await await_ready(Client(), rec, m, 5.0)
    asked_ids = {p.id_bytes for b in m.shards for p in await Client().replicas(b.blob)}
    assert asked == len(asked_ids)
    assert ready == len(asked_ids & {peers[0].id_bytes, peers[4].id_bytes})
    with pytest.raises(RemoteProtocolError):
        parse_prepare_reply({"queued": 1, "ready": True})
    assert await await_ready(object(), rec, m, 5.0) == (0, 0)  # a client that cannot ask: a no-op
