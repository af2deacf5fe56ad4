"""Publisher faults indexed in the ring under the dataset (compute/fault_index.py; in-memory ring, virtual clock).

Before: a malformed shard yielded a publisher-fault proof that only the client that met it knew of;
nothing was stored where other clients look, so each had to find it again (and could not when the
peers holding the shard did not answer). Now a client that verifies a fault indexes it at
SHA-256(PUBLISHER_FAULTS || dataset URL) (an evidence entry: first seen, never evicted, capped), every
node checks it in full before storing it, and clients consult the index and re-check each proof.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute.client import ComputeClient
from note_compute.compute.evidence import FRAUD_EVIDENCE, MAX_PROOFS, encode_set, evidence_key
from note_compute.compute.fault_index import MAX_INDEXED_FAULT, check_fault, fault_key, faults_for
from note_compute.compute.registry import RingFraudRegistry
from note_compute.compute.server import load_shard
from note_compute.compute.source import manifest_from_record
from note_compute.compute.wellformed import MalformedDataset, PublisherFault, verify_publisher_fault
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidEncoding, InvalidProof, InvalidSignature, NoteError
from note_compute.merkle import MerkleTree
from note_compute.sandbox import Sandbox
from note_compute.store import Store
from note_compute.testing.attackers import junk_manifest, publish_junk
from note_compute.testing.compute import ALL_WAT, ComputeNetwork, signed_claim_proof

PUBLISHER = SigningKey(hashlib.sha256(b"fault-index publisher").digest())


def rec(i: int) -> bytes:
    return encoding.encode({"id": i, "name": f"item {i}"})


def junk(seq: int = 1, name: str = "junk"):  # type: ignore[no-untyped-def]
    """Shard 0 out of order; shards 1..3 well formed."""
    shards = [[rec(0), rec(5), rec(2), rec(3)], [rec(10), rec(11)], [rec(20), rec(21)], [rec(30), rec(31)]]
    bounds = [([0], [5]), ([10], [11]), ([20], [21]), ([30], [31])]
    return junk_manifest(PUBLISHER, name, shards, bounds, ["id"], seq=seq)


def fault_of(j, shard: int = 0) -> bytes:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedDataset) as e:
        load_shard(manifest_from_record(j.record), shard, j.blobs[shard])
    assert e.value.fault is not None
    return e.value.fault.encode()


async def test_a_fault_one_client_found_is_reported_to_the_next(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net = ComputeNetwork(6, sandbox)
    purl = await net.publish_program(PUBLISHER, "all", wasmtime.wat2wasm(ALL_WAT))
    durl = await publish_junk(net, junk())
    a = ComputeClient(net, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(net))
    res = await a.query(purl, durl, None, range=[[0], [4]])
    assert res.verification.publisher_faults and not res.frauds
    indexed = await net.get_publisher_faults(durl)
    assert len(indexed) == 1 and verify_publisher_fault(PublisherFault.decode(indexed[0])) == "order"
    for p in net.peers:  # now no peer answers at all: nobody can hand the next client the fault
        net.set_mode(p, "refuse")
    without = await ComputeClient(net, sandbox, timeout=2.0).query(purl, durl, None, range=[[0], [4]])
    assert not without.verification.ok and not without.verification.publisher_faults  # the old situation
    b = ComputeClient(net, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(net))
    res = await b.query(purl, durl, None, range=[[0], [4]])
    v = res.verification
    assert not v.ok and v.verdict == "failed" and not res.frauds and not b.blocked
    assert [(f["shard"], f["defect"], f["source"]) for f in v.publisher_faults] == [("0", "order", "ring index")]
    assert "malformed by its publisher" in v.summary
    assert await net.get_publisher_faults(durl) == indexed  # the index's own entries are not re-published


async def test_a_fault_on_a_shard_the_query_does_not_use_is_noted_not_fatal(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net = ComputeNetwork(6, sandbox)
    purl = await net.publish_program(PUBLISHER, "all", wasmtime.wat2wasm(ALL_WAT))
    j = junk()
    durl = await publish_junk(net, j)
    await net.put_publisher_fault(fault_of(j))
    c = ComputeClient(net, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(net))
    res = await c.query(purl, durl, None, range=[[30], [32]])  # shard 3, guard shard 2: not shard 0
    v = res.verification
    assert v.ok and v.verdict == "verified-complete" and res.records == [rec(30), rec(31)], v.summary
    assert v.publisher_faults[0]["shard"] == "0"
    assert any("publisher fault indexed for shard 0" in c for c in v.checked)


def test_nodes_check_an_indexed_fault_in_full(tmp_path) -> None:  # type: ignore[no-untyped-def]
    j = junk()
    good = fault_of(j)
    key = fault_key(j.url)
    f = PublisherFault.decode(good)
    tampered_manifest = bytearray(f.manifest)
    tampered_manifest[-5] ^= 1
    other = junk(name="other")
    well_formed_shard = PublisherFault(f.manifest, b"", 1, "order", [0, 1], [rec(10), rec(11)],
                                       MerkleTree([rec(10), rec(11)]).batch_proof([0, 1]).encode())
    cases: list[tuple[bytes, bytes, type[NoteError], str | None]] = [
        (good, fault_key(other.url), InvalidProof, "wrong-dataset"),  # stored under another dataset
        (well_formed_shard.encode(), key, InvalidProof, "not-fault"),  # the records show no defect
        (replace(f, manifest=bytes(tampered_manifest)).encode(), key, NoteError, None),  # not the publisher's
        (replace(f, records=[rec(0), rec(9)]).encode(), key, InvalidProof, "not-fault"),  # not the shard's records
        (replace(f, table=bytes(MAX_INDEXED_FAULT)).encode(), key, InvalidProof, "proof-too-large"),
        (b"\xa1dtypeopublisher-fault", key, InvalidProof, "malformed"),
    ]
    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        for item, k, exc, reason in cases:
            with pytest.raises(exc) as e:
                store.put_evidence(k, encode_set([item]), peer=b"\x05" * 32)
            if reason is not None:
                assert e.value.reason == reason, e.value
            assert store.get_evidence(k) == []
        # a fraud proof against a peer cannot ride along in a dataset's fault entry, nor a fault in a peer's
        liar = SigningKey(hashlib.sha256(b"some peer").digest())
        with pytest.raises(InvalidProof):
            store.put_evidence(key, encode_set([good, signed_claim_proof(liar, 1).encode()]))
        with pytest.raises(InvalidProof):
            store.put_evidence(evidence_key(hashlib.sha256(liar.public_key).digest()), encode_set([good]))
        assert store.put_evidence(key, encode_set([good]), peer=b"\x05" * 32) == "stored"
        assert store.get_evidence(key) == [good]
    with pytest.raises((InvalidProof, InvalidEncoding, InvalidSignature)):
        check_fault(replace(f, manifest=bytes(tampered_manifest)).encode(), key)


def test_the_publisher_cannot_flood_a_held_fault_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It signs malformed versions on purpose to fill its own dataset's key: a held fault stays; each
    a reader keeps only the faults of the version it uses."""
    first = junk(seq=100)
    held_fault = fault_of(first)
    flood = [fault_of(junk(seq=s)) for s in range(1, MAX_PROOFS + 3)]
    key = fault_key(first.url)
    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        store.put_evidence(key, encode_set([held_fault]), peer=b"\x06" * 32)
        for item in flood:
            store.put_evidence(key, encode_set([item]), peer=PUBLISHER.public_key)
        held = store.get_evidence(key)
        assert held_fault in held and len(held) == MAX_PROOFS
        for_100 = faults_for(held, manifest_from_record(first.record))
        assert [(f.shard, d) for f, d in for_100] == [(0, "order")]
        assert faults_for(held, manifest_from_record(junk(seq=101).record)) == []  # no version 101 fault held
