"""Client-side pieces: audit sampling, publishing, manifest resolution, sources."""

from __future__ import annotations

import hashlib
import random

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute.audit import chunks, detection_probability, sample_indices
from note_compute.compute.client import ComputeClient, peer_id_of
from note_compute.compute.protocol import MAX_SAMPLE
from note_compute.compute.publish import dataset_url, publish_dataset
from note_compute.compute.source import RingSource, manifest_from_record
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, NotFound, RemoteProtocolError
from note_compute.records import sign_record
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

SITE = SigningKey(hashlib.sha256(b"client-site").digest())


def test_sample_indices() -> None:
    rng = random.Random(1)
    assert sample_indices(100, 0.0, rng) == []
    assert sample_indices(100, 1.0, rng, exclude={3, 4}) == [i for i in range(100) if i not in (3, 4)]
    s = sample_indices(10_000, 0.1, random.Random(2))
    assert s == sorted(s) and 800 < len(s) < 1200
    assert s == sample_indices(10_000, 0.1, random.Random(2))
    assert len(sample_indices(100_000, 1.0, rng)) == 100_000  # never capped (the detection formula holds)
    big = sample_indices(50_000, 0.5, random.Random(3))
    assert 24_000 < len(big) < 26_000
    parts = chunks(big)
    assert [i for p in parts for i in p] == big and all(0 < len(p) <= MAX_SAMPLE for p in parts)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            sample_indices(10, bad, rng)


def test_detection_formula() -> None:
    assert detection_probability(0.1, 0) == 0.0
    assert detection_probability(1.0, 1) == 1.0
    assert detection_probability(0.5, 2) == pytest.approx(0.75)


def test_peer_id_of() -> None:
    class Ref:
        id = 5

    assert peer_id_of(Ref()) == (5).to_bytes(32, "big")
    assert peer_id_of(object()) is None


async def test_publish_and_republish(sandbox) -> None:
    net = ComputeNetwork(4, sandbox)
    recs = [encoding.encode({"id": f"x{i:04d}", "v": i}) for i in range(400)]
    first = await publish_dataset(net, SITE, recs, name="d", sort_key=["id"], shard_bytes=2000, now_ms=1000)
    assert first.previous is None and first.uploaded == len(first.built.shards) >= 4
    assert first.record.seq == 1000 and first.record.url == dataset_url(SITE.authority, "d")
    changed = list(recs)
    changed[200] = encoding.encode({"id": "x0200", "v": -1})
    second = await publish_dataset(net, SITE, changed, name="d", sort_key=["id"], shard_bytes=2000, now_ms=500)
    assert second.previous is not None and second.previous.seq == 1000
    assert second.record.seq == 1001 and second.uploaded == 1
    src = RingSource(net)
    m = await src.latest_manifest(second.record.url)
    assert m.seq == 1001 and m.root == second.built.manifest.root
    shard = await src.shard(m, 0)
    assert shard.records == second.built.shards[0].records
    assert await src.shard(m, 0) is shard  # cached
    with pytest.raises(RemoteProtocolError) as err:
        await src.manifest(second.record.url, 1000)
    assert err.value.reason == "seq-mismatch"
    with pytest.raises(NotFound):
        await src.shard(m, 99)


async def test_big_manifest_through_a_table_blob(sandbox) -> None:
    net = ComputeNetwork(4, sandbox)
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    purl = await net.publish_program(SITE, "sub", wasm)
    recs = [encoding.encode({"id": i, "t": "ab" if i % 50 == 0 else "cd"}) for i in range(3000)]
    pub = await publish_dataset(net, SITE, recs, name="many", sort_key=["id"], shard_records=4, now_ms=1)
    assert pub.built.table_blob is not None and len(pub.built.manifest.shards) == 750
    res = await ComputeClient(net, sandbox).query(purl, pub.record.url, "ab", range=[[100], [400]])
    assert [encoding.decode(r)["id"] for r in res.records] == list(range(100, 400, 50))
    assert res.verification.ok and res.verification.shards == 75 + 2  # plus one guard shard each side


async def test_manifest_record_checks(sandbox) -> None:
    net = ComputeNetwork(4, sandbox)
    pub = await publish_dataset(net, SITE, [encoding.encode({"id": 1})], name="d", sort_key=["id"], now_ms=1)
    wrong = sign_record(SITE, f"note://{SITE.authority}/other/d", seq=1, value=pub.built.value, created=1)
    with pytest.raises(InvalidRecord) as err:
        manifest_from_record(wrong)
    assert err.value.reason == "not-dataset"
    empty = sign_record(SITE, f"note://{SITE.authority}/datasets/e", seq=1, refs=[bytes(32)], created=1)
    with pytest.raises(InvalidRecord):
        manifest_from_record(empty)
    junk = sign_record(SITE, f"note://{SITE.authority}/datasets/j", seq=1, value=b"\xa0", created=1)
    with pytest.raises(InvalidRecord):
        manifest_from_record(junk)


async def test_query_refuses_bad_parameters(sandbox) -> None:
    net = ComputeNetwork(4, sandbox)
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    purl = await net.publish_program(SITE, "sub", wasm)
    pub = await publish_dataset(net, SITE, [encoding.encode({"id": 1})], name="d", sort_key=["id"], now_ms=1)
    c = ComputeClient(net, sandbox)
    with pytest.raises(ValueError):
        await c.query(purl, pub.record.url, "a", audit=2.0)
    with pytest.raises(ValueError):
        await c.query(purl, pub.record.url, "a", replicas=0)
    with pytest.raises(InvalidRecord):
        await c.query(purl, pub.record.url, "a", range=[[[1]], None])
    with pytest.raises(NotFound):
        await c.query(purl, f"note://{SITE.authority}/datasets/missing", "a")
    with pytest.raises(InvalidRecord):  # a dataset URL is not a program
        await c.query(pub.record.url, pub.record.url, "a")
    res = await c.query(purl, pub.record.url, "a", range=[[5], [1]])
    assert res.records == [] and res.verification.shards == 0


async def test_memory_network_verifies_records_and_uses_the_ring_rule(sandbox) -> None:
    """The in-memory peers live on the simulated ring (its replica rule) and verify records as nodes do."""
    from dataclasses import replace

    from note_compute.errors import InvalidSignature, StaleRecord
    from note_compute.ring.plan import replica_set

    net = ComputeNetwork(12, sandbox)
    good = sign_record(SITE, f"note://{SITE.authority}/datasets/d", seq=5, value=b"\xa0", created=1)
    await net.put_record(good)
    forged = replace(good, signature=bytes(reversed(good.signature)))  # same URL, not the authority's signature
    with pytest.raises(InvalidSignature):
        await net.put_record(forged)
    with pytest.raises(StaleRecord):
        await net.put_record(sign_record(SITE, good.url, seq=4, value=b"\xa0", created=1))
    net.records[good.url].append(forged)  # planted behind the store's back: refused when read
    with pytest.raises(InvalidSignature):
        await net.get_record(good.url)
    key = hashlib.sha256(b"some shard").digest()
    got = [p.node_id for p in await net.replicas(key)]
    ids = sorted(int.from_bytes(p.node_id, "big") for p in net.peers)
    k = int.from_bytes(key, "big")
    start = next((i for i, x in enumerate(ids) if x >= k), 0)
    assert got == [ids[(start + j) % len(ids)].to_bytes(32, "big") for j in range(3)]  # successor and next two
    node = net.ring.nodes[ids[start]]
    t = node.core.table
    assert [p.id for p in replica_set(k, node.core.me, t.predecessors, t.successors, 5)] == [
        int.from_bytes(p.node_id, "big") for p in await net.replicas(key, count=5)]
    assert net.lookups == 2
