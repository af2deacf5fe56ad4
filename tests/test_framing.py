"""A lying publisher tries to get honest peers convicted (in-memory network, virtual clock).

The attacker chooses its own data and programs: a junk dataset out of order, mis-declared shard
bounds, a program that is not subset-stable. Honest peers must never be convicted (by a client, or
by a node storing evidence); a peer that signs a real lie still is.
"""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute.client import ComputeClient
from note_compute.compute.dataset import decode_shard
from note_compute.compute.fraud import (
    KIND_RANGE,
    KIND_SUBSET,
    Evidence,
    FraudProof,
    shard_proof,
    verify_fraud_proof,
)
from note_compute.compute.keys import normalize_bound
from note_compute.compute.protocol import QueryRequest
from note_compute.compute.registry import RingFraudRegistry
from note_compute.compute.server import LoadedShard, execute
from note_compute.compute.source import manifest_from_record
from note_compute.compute.verify import verify_answer
from note_compute.compute.wellformed import MALFORMED, PublisherFault, verify_publisher_fault
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof
from note_compute.merkle import MerkleTree
from note_compute.sandbox import Sandbox
from note_compute.testing.attackers import junk_manifest, publish_junk
from note_compute.testing.compute import ALL_WAT, ComputeNetwork

ATTACKER = SigningKey(hashlib.sha256(b"framing publisher").digest())

# Selects every record when it is given fewer than 3, none otherwise: a deterministic program
# that is not subset-stable (P(S) = {} on a shard, P({r}) = {r} on any one record of it).
SMALL_ONLY_WAT = ALL_WAT.replace(
    "(local.set $out (call $alloc",
    "(if (i32.ge_u (local.get $n) (i32.const 3)) (then (local.set $n (i32.const 0))))\n    (local.set $out (call $alloc"
)


def rec(i: int) -> bytes:
    return encoding.encode({"id": i, "name": f"item {i}"})


async def test_junk_dataset_convicts_nobody(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net = ComputeNetwork(6, sandbox)
    purl = await net.publish_program(ATTACKER, "all", wasmtime.wat2wasm(ALL_WAT))
    # shard 0 out of order, shard 1 with keys outside its declared bounds
    junk = junk_manifest(ATTACKER, "junk", [[rec(0), rec(5), rec(2), rec(3)], [rec(10), rec(11), rec(40)]],
                         [([0], [5]), ([10], [12])], ["id"])
    durl = await publish_junk(net, junk)
    client = ComputeClient(net, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(net))
    for kw in ({}, {"audit": 1.0}, {"range": [[2], [4]]}, {"range": [[0], None]}, {"replicas": 3}):
        res = await client.query(purl, durl, None, **kw)  # type: ignore[arg-type]
        v = res.verification
        assert not v.ok and not res.frauds and not v.fraud
        assert any(MALFORMED in f for f in v.failures), v.failures
        assert not res.records
        # the refusing peers handed over the publisher's fault: verified, reported, anyone can re-check it
        assert v.publisher_faults and any("malformed by its publisher" in e for e in v.errors)
        for f in v.publisher_faults:
            assert verify_publisher_fault(PublisherFault.decode(bytes.fromhex(f["proof"]))) == f["defect"]
        assert {f["defect"] for f in v.publisher_faults} <= {"order", "bounds"}
    assert not client.blocked
    assert [await net.get_evidence(p.node_id) for p in net.peers] == [[]] * len(net.peers)


def _unchecked(records: list[bytes], fields: list[str]) -> LoadedShard:
    """What a peer that skips the load check holds (keys read without checking the order)."""
    from note_compute.compute.dataset import fast_key_of_record

    return LoadedShard(0, MerkleTree(records).root, records, MerkleTree(records),
                       [fast_key_of_record(r, fields) for r in records])


def test_two_windows_in_a_malformed_shard_convict_nobody(sandbox: Sandbox) -> None:
    """Range [2, 3) has two windows that both verify in keys [0, 2, 5, 1, 2, 5]: neither convicts."""
    recs = [encoding.encode({"id": k, "n": j}) for j, k in enumerate([0, 2, 5, 1, 2, 5])]
    junk = junk_manifest(ATTACKER, "two", [recs], [([0], [5])], ["id"])
    manifest = manifest_from_record(junk.record)
    wasm = wasmtime.wat2wasm(ALL_WAT)
    from note_compute.compute.server import ProgramCode

    program = ProgramCode("note://x/programs/all", hashlib.sha256(wasm).digest(), wasm, 10**8)
    peer = SigningKey(hashlib.sha256(b"careless peer").digest())
    shard = _unchecked(recs, ["id"])
    req = QueryRequest(program.url, program.hash, junk.url, manifest.seq, 0, encoding.encode(None), [[2], [3]])
    reply = execute(peer, sandbox, req, program, manifest, shard)  # signs over the malformed shard anyway
    ans = verify_answer(req, reply, manifest)
    lo, hi = normalize_bound([2], ["id"], upper=False), normalize_bound([3], ["id"], upper=True)
    windows = []
    for start in (1, 4):  # build both windows' proofs by hand
        from note_compute.merkle import KeyRangeProof

        tree = MerkleTree(recs)
        carried = list(range(start - 1, min(start + 2, len(recs))))
        bp = tree.batch_proof(carried)
        windows.append(KeyRangeProof(len(recs), start, start + 1, tuple(recs[i] for i in carried), bp.hashes))
    from note_compute.compute.dataset import fast_key_of_record
    from note_compute.merkle import verify_key_range

    for w in windows:  # both windows verify as key-range proofs ...
        verify_key_range(manifest.shards[0].root, 6, lo, hi, w, lambda leaf: fast_key_of_record(leaf, ["id"]))
    other = next(w for w in windows if w.start != ans.range_start)
    fp = shard_proof(ans.claim.fraud(KIND_RANGE, range_proof=other.encode()), manifest.shards[0].blob)
    with pytest.raises(InvalidProof) as err:  # ... but the shard is not well formed: nobody is convicted
        verify_fraud_proof(fp, sandbox, wasm, shard=recs)
    assert err.value.reason == MALFORMED


async def test_non_subset_stable_program_frames_nobody(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net = ComputeNetwork(6, sandbox)
    wasm = wasmtime.wat2wasm(SMALL_ONLY_WAT)
    purl = await net.publish_program(ATTACKER, "small", wasm)
    built = await net.publish_dataset(ATTACKER, "d", [rec(i) for i in range(40)], ["id"], shard_records=10)
    durl = f"note://{ATTACKER.authority}/datasets/d"
    manifest = await ComputeClient(net, sandbox).source.latest_manifest(durl)
    args = encoding.encode(None)
    for peer in net.peers:  # every honest peer signs P(shard) = {} for shard 0
        req = QueryRequest(purl, hashlib.sha256(wasm).digest(), durl, manifest.seq, 0, args)
        ans = verify_answer(req, await net.request(peer, req.to_msg()), manifest)
        assert ans.indices == []
        shard = built.shards[0]
        sample = [3]
        ev = Evidence(sample, [shard.records[3]], MerkleTree(shard.records).batch_proof(sample).encode())
        framing = ans.claim.fraud(KIND_SUBSET, evidence=[ev])   # P({r}) = {r}: "hidden match"
        with pytest.raises(InvalidProof) as err:
            verify_fraud_proof(framing, sandbox, wasm)
        assert err.value.reason == "ineligible"
        with pytest.raises(InvalidProof) as err2:  # re-run on the whole shard: the honest answer stands
            verify_fraud_proof(shard_proof(framing, shard.info.blob), sandbox, wasm,
                               shard=decode_shard(net.blobs[shard.info.blob]))
        assert err2.value.reason == "not-fraud"
        await net.put_evidence(peer.node_id, framing.encode())  # passes the cheap store check ...
    client = ComputeClient(net, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(net))
    res = await client.query(purl, durl, None, audit=1.0)
    assert res.verification.ok and not client.blocked  # ... and convicts nobody
    assert res.records == []


async def test_a_real_lie_on_the_attackers_program_still_convicts(sandbox: Sandbox, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    """Eligibility is not immunity: a peer that hides records the non-subset-stable program selects
    (range query: it sees 2 records, selects both) is convicted by exact re-execution."""
    net = ComputeNetwork(6, sandbox, liars_first=True)
    wasm = wasmtime.wat2wasm(SMALL_ONLY_WAT)
    purl = await net.publish_program(ATTACKER, "small", wasm)
    await net.publish_dataset(ATTACKER, "d", [rec(i) for i in range(40)], ["id"], shard_records=10)
    durl = f"note://{ATTACKER.authority}/datasets/d"
    liars = set()
    for i, p in enumerate(net.peers):
        if i % 2 == 0:
            net.set_mode(p, "hide_one")
            liars.add(p.node_id)
    client = ComputeClient(net, sandbox, timeout=2.0, shuffle=False)
    res = await client.query(purl, durl, None, range=[[3], [5]])
    assert res.verification.ok
    assert [encoding.decode(r)["id"] for r in res.records] == [3, 4]
    accused = {fp.peer for fp in res.frauds}
    assert accused and accused <= liars
    for fp in res.frauds:
        assert isinstance(fp, FraudProof) and fp.blob
