"""A liar tries to crowd genuine evidence against itself out of the ring (in-memory network, virtual clock).

The liar signs real, convicting lies about throwaway datasets and ground their proof hashes small
(the old index kept the 16 smallest hashes and dropped the genuine proof). Now nothing held is
evicted, and any valid proof convicts for every client, whatever program it ran.
"""

from __future__ import annotations

import hashlib

import wasmtime

from note_compute import encoding
from note_compute.compute.accuse import MAX_CHECKS
from note_compute.compute.client import ComputeClient
from note_compute.compute.dataset import encode_shard
from note_compute.compute.evidence import MAX_PROOFS
from note_compute.compute.fraud import verify_fraud_proof
from note_compute.compute.registry import RingFraudRegistry
from note_compute.crypto import SigningKey
from note_compute.sandbox import Sandbox
from note_compute.testing.attackers import crowding_lies
from note_compute.testing.compute import (
    ALL_WAT,
    SUBSTRING_WAT,
    ComputeNetwork,
    signed_claim_proof,
)

SITE = SigningKey(hashlib.sha256(b"crowd-site").digest())
OTHER_SITE = SigningKey(hashlib.sha256(b"crowd-other-site").digest())
TAGS = ["red", "blue", "green"]


def records(n: int = 160) -> list[bytes]:
    return [encoding.encode({"id": i, "tag": TAGS[i % 3]}) for i in range(n)]


async def _world(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    net = ComputeNetwork(8, sandbox, liars_first=True, seed=5)
    sub, allw = wasmtime.wat2wasm(SUBSTRING_WAT), wasmtime.wat2wasm(ALL_WAT)
    purl = await net.publish_program(SITE, "sub", sub)
    await net.publish_dataset(SITE, "things", records(), ["id"], shard_records=10)
    qurl = await net.publish_program(OTHER_SITE, "all", allw)
    await net.publish_dataset(OTHER_SITE, "other", records(), ["id"], shard_records=10)
    liar = net.peers[3]
    throwaway = [encoding.encode({"id": i}) for i in range(3)]
    blob = await net.put_blob(encode_shard(throwaway))
    await net.put_blob(allw)  # the program binary, fetchable by its hash
    return net, purl, qurl, liar, throwaway, blob, allw


async def _catch(net, purl, liar):  # type: ignore[no-untyped-def]
    """A client that consults no evidence first asks the liar, catches it and publishes the proof."""
    net.set_mode(liar, "hide_one")
    a = ComputeClient(net, net.sandbox, shuffle=False)
    res = await a.query(purl, f"note://{SITE.authority}/datasets/things", "red", range=[[0], None])
    genuine = [fp for fp in res.frauds if fp.peer == liar.node_id]
    assert genuine and res.verification.ok
    await RingFraudRegistry(net).publish(genuine[0])
    net.set_mode(liar, "honest")  # it behaves again: only the evidence can keep clients away
    return genuine[0]


async def test_small_hash_lies_cannot_evict_a_genuine_proof(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net, purl, _qurl, liar, throwaway, blob, allw = await _world(sandbox)
    genuine = await _catch(net, purl, liar)
    assert genuine.encode() in await net.get_evidence(liar.node_id)
    lies = crowding_lies(liar.key, allw, throwaway, blob, MAX_PROOFS + 4, below=genuine.address)
    assert len(lies) == MAX_PROOFS + 4 and all(fp.address < genuine.address for fp in lies)
    for fp in lies[:3]:  # real lies: each convicts the liar
        assert verify_fraud_proof(fp, sandbox, allw, shard=throwaway) == "hidden-match"
    for fp in lies:
        await net.put_evidence(liar.node_id, fp.encode())
    held = await net.get_evidence(liar.node_id)
    # the old rule (the 16 smallest hashes) would have dropped the genuine proof ...
    everything = sorted([genuine.encode()] + [fp.encode() for fp in lies], key=lambda p: hashlib.sha256(p).digest())
    assert genuine.encode() not in everything[:MAX_PROOFS]
    # ... first-seen keeps it
    assert genuine.encode() in held and len(held) == MAX_PROOFS


async def test_any_valid_proof_convicts_for_every_client(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    """The liar fills its evidence set first: the genuine proof finds no slot, yet a client that never
    ran the liar's program (another site's program and dataset) skips the liar on the stored lies."""
    net, purl, qurl, liar, throwaway, blob, allw = await _world(sandbox)
    for fp in crowding_lies(liar.key, allw, throwaway, blob, MAX_PROOFS):
        await net.put_evidence(liar.node_id, fp.encode())
    genuine = await _catch(net, purl, liar)
    assert genuine.encode() not in await net.get_evidence(liar.node_id)  # full: no slot for it
    before = liar.calls
    c = ComputeClient(net, sandbox, fraud_registry=RingFraudRegistry(net))  # fresh: never resolved "sub"
    res = await c.query(qurl, f"note://{OTHER_SITE.authority}/datasets/other", None, audit=0.5)
    assert res.verification.ok and len(res.records) == 160
    assert liar.node_id in c.blocked and liar.calls == before
    assert {fp.peer for fp in res.frauds} == set()  # nobody honest accused
    assert c.accusations.checked <= MAX_CHECKS


async def test_rechecking_is_bounded_against_bogus_evidence(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    """Proofs that pass a store's cheap check but convict of nothing (a store without compute keeps them):
    a client checks at most MAX_CHECKS per lookup, each at most once, and never blocks the peer on them."""
    net, _purl, qurl, liar, _throwaway, _blob, allw = await _world(sandbox)
    phash = hashlib.sha256(allw).digest()
    for i in range(MAX_PROOFS):
        await net.put_evidence(liar.node_id, signed_claim_proof(liar.key, i, program=phash).encode())
    c = ComputeClient(net, sandbox, fraud_registry=RingFraudRegistry(net))
    found = await RingFraudRegistry(net).lookup(liar.node_id)
    assert len(found) == MAX_PROOFS
    assert await c.accusations.first_conviction(liar.node_id, found) is None
    assert c.accusations.checked <= MAX_CHECKS
    for _ in range(MAX_PROOFS // MAX_CHECKS - 1):
        assert await c.accusations.first_conviction(liar.node_id, found) is None
    assert len(c.accusations.refuted) == MAX_PROOFS  # each checked once, remembered
    checked = c.accusations.checked
    assert await c.accusations.first_conviction(liar.node_id, found) is None
    assert c.accusations.checked == checked  # nothing checked twice
    res = await c.query(qurl, f"note://{OTHER_SITE.authority}/datasets/other", None)
    assert res.verification.ok and liar.node_id not in c.blocked
