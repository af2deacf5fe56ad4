"""Nodes that run compute convict fraud evidence before storing it (specs/compute.md 5.1): a proof
the accused signed itself but that proves no lie is refused, a genuine proof of a lie is stored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import wasmtime
from test_node_replication import _ring

from note_compute import encoding
from note_compute.client import Client
from note_compute.compute.client import ComputeClient
from note_compute.compute.evidence import encode_set, evidence_key
from note_compute.compute.node_source import attach_compute
from note_compute.compute.ring_evidence import RING_EVIDENCE
from note_compute.crypto import SigningKey
from note_compute.devnet import expected_replicas
from note_compute.errors import InvalidProof, NotFound
from note_compute.net import open_host
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import ALL_WAT, SUBSTRING_WAT, ComputeNetwork, signed_claim_proof

pytestmark = pytest.mark.slow

SITE = SigningKey(hashlib.sha256(b"convict-site").digest())


def _records() -> list[bytes]:
    tags = ["red", "blue", "green"]
    return [encoding.encode({"id": i, "tag": tags[i % 3]}) for i in range(60)]


async def _genuine_proof(sandbox: Sandbox, wasm: bytes):  # type: ignore[no-untyped-def]
    """A real lie: a ``hide_one`` peer of the in-memory compute network, caught by replica cross-check."""
    net = ComputeNetwork(6, sandbox, liars_first=True)
    purl = await net.publish_program(SITE, "sub", wasm, fuel=10**8)
    await net.publish_dataset(SITE, "things", _records(), ["id"], shard_records=20)
    for i, p in enumerate(net.peers):
        if i % 3:
            net.set_mode(p, "hide_one", alt_wasm=wasmtime.wat2wasm(ALL_WAT))
    res = await ComputeClient(net, sandbox, shuffle=False).query(
        purl, f"note://{SITE.authority}/datasets/things", "red", replicas=3)
    assert res.frauds
    fp = res.frauds[0]
    assert fp.kind == "shard"  # a whole-shard lie is convicted by re-running on the whole shard
    return fp, net.peer(fp.peer).key, net.blobs[fp.blob]


async def test_compute_nodes_convict_before_storing(tmp_path: Path) -> None:
    sandbox = Sandbox()
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    genuine, accused_key, shard_blob = await _genuine_proof(sandbox, wasm)
    accused = genuine.peer
    key = evidence_key(accused)
    async with _ring(tmp_path) as nodes:
        for n in nodes:
            attach_compute(n, sandbox=sandbox)
        by_id = {n.node_id: n for n in nodes}
        reps = [by_id[i] for i in expected_replicas(list(by_id), key)]
        async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as host:
            client = Client(host, [nodes[0].me], evidence=RING_EVIDENCE)
            # the accused signs receipts naming a program the nodes cannot fetch: refused, typed
            liar = SigningKey(hashlib.sha256(b"convict-accused").digest())
            lkey = evidence_key(hashlib.sha256(liar.public_key).digest())
            with pytest.raises(NotFound) as nf:
                await client._put("evidence", lkey, encode_set([signed_claim_proof(liar, 1).encode()]))
            assert nf.value.reason == "program-binary"
            # once the binary is in the ring (one chunk, at its SHA-256), proofs can be convicted
            await client.put_blob(wasm, "application/wasm")
            phash = hashlib.sha256(wasm).digest()
            bogus = [signed_claim_proof(liar, i, program=phash).encode() for i in range(3)]
            with pytest.raises(InvalidProof) as nf2:
                await client._put("evidence", lkey, encode_set(bogus))
            assert nf2.value.reason == "ineligible"  # no lie a sample could show without the whole shard
            assert all(n.store.get_evidence(lkey) == [] for n in nodes)
            # the genuine proof names the shard it re-runs on: without the shard in the ring, refused, typed
            with pytest.raises(NotFound) as nf4:
                await client.put_evidence(accused, genuine.encode())
            assert nf4.value.reason == "shard-blob"
            await client.put_blob(shard_blob)
            # the accused's own bogus proof beside the genuine one: the whole put is refused
            own = signed_claim_proof(accused_key, 9, program=phash).encode()
            with pytest.raises(InvalidProof) as nf3:
                await client._put("evidence", key, encode_set([own, genuine.encode()]))
            assert nf3.value.reason in ("not-fraud", "ineligible")
            assert all(n.store.get_evidence(key) == [] for n in nodes)
            # the genuine proof of a lie is accepted by every replica (they load the shard it names)
            assert await client.put_evidence(accused, genuine.encode()) == 3
            assert all(r.store.get_evidence(key) == [genuine.encode()] for r in reps)
            assert await client.get_evidence(accused) == [genuine.encode()]
            # and it cannot be crowded out afterwards: the accused's proofs still do not convict
            with pytest.raises(InvalidProof):
                await client.put_evidence(accused, own)
            assert all(r.store.get_evidence(key) == [genuine.encode()] for r in reps)
            # replica sync: a set planted past the checks on one node does not spread
            planted = nodes[0]
            planted.store.put_evidence(lkey, encode_set(bogus))
            await planted.replicator.sync_range(_whole(planted), reps[0].me if reps[0] is not planted else reps[1].me)
            assert all(n.store.get_evidence(lkey) == [] for n in nodes if n is not planted)


def _whole(node):  # type: ignore[no-untyped-def]
    from note_compute.ring import Range

    return Range(node.me.id, node.me.id)
