"""Every fraud proof a client builds fits the evidence index (60 KiB), whatever the audit chunk it came from.

The attackers here give the client its largest proofs: a shard of 6,000 records (the sample and the
evidence fetches come in chunks of 4,096 records, the largest ``compute.records`` request), a peer that
returns every record with one forged (its claim lists 6,000 indices, ~210 KB), a peer that signs a wrong
``extra`` under a full audit (the evidence is the whole shard), a range answer over the whole shard.
Each proof published must be at most ``evidence.MAX_PROOF_SIZE``, pass the nodes' checks, and convict
when a third party re-checks it with the shard it names.
"""

from __future__ import annotations

import hashlib
import random

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute import evidence
from note_compute.compute.client import ComputeClient
from note_compute.compute.compact import CLAIMLESS_OVERHEAD, candidates, compact, single_record
from note_compute.compute.dataset import decode_shard
from note_compute.compute.fraud import KIND_SUBSET, Evidence, FraudProof, verify_fraud_proof, without_claim
from note_compute.compute.protocol import MAX_SAMPLE, Receipt, digest_of_claim, make_receipt
from note_compute.compute.protocol import QueryRequest as Req
from note_compute.compute.registry import RingFraudRegistry
from note_compute.compute.verify import run_program
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof
from note_compute.merkle import BatchProof, MerkleTree, verify_batch
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

SITE = SigningKey(hashlib.sha256(b"size-site").digest())
N = 6_000  # more than one 4,096-record chunk


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return wasmtime.wat2wasm(SUBSTRING_WAT)


def big_records() -> list[bytes]:
    return [encoding.encode({"id": i, "pad": "p" * 24, "t": "hit" if i % 500 == 0 else "x"}) for i in range(N)]


async def big_world(sandbox, wasm):  # type: ignore[no-untyped-def]
    net = ComputeNetwork(4, sandbox, liars_first=True)
    purl = await net.publish_program(SITE, "sub", wasm, fuel=10**9)
    await net.publish_dataset(SITE, "big", big_records(), ["id"], shard_records=N)
    return net, purl, f"note://{SITE.authority}/datasets/big"


def check_published(net: ComputeNetwork, sandbox, wasm: bytes, res) -> None:  # type: ignore[no-untyped-def]
    assert res.frauds
    for fp in res.frauds:
        data = fp.encode()
        assert len(data) <= evidence.MAX_PROOF_SIZE, f"{fp.kind} proof of {len(data)} bytes"
        evidence.validate_entry(evidence.evidence_key(fp.peer), evidence.encode_set([data]))  # nodes store it
        shard = decode_shard(net.blobs[fp.blob]) if fp.blob else None
        verify_fraud_proof(FraudProof.decode(data), sandbox, wasm, shard=shard)  # a third party convicts
    convicted = {fp.peer for fp in res.frauds}
    assert all(net.peer(pid).mode != "honest" for pid in convicted)


@pytest.mark.parametrize("mode,needle,audit,ranged", [
    ("forge", "x", 0.0, False),     # every record returned, one forged: evidence fetched in 4,096-record chunks
    ("extra", "hit", 1.0, False),   # a wrong extra under a full audit: the evidence is the whole shard
    ("hide_one", "hit", 1.0, False),  # a hidden match found in a 4,096-record sample chunk
    ("extra", "x", 0.0, True),      # a range over the whole shard, ~6,000 claimed indices
])
async def test_proofs_from_the_largest_chunks_fit_the_evidence_cap(sandbox, wasm, mode, needle, audit, ranged,
                                                                   autojump_clock) -> None:
    net, purl, durl = await big_world(sandbox, wasm)
    for i, p in enumerate(net.peers):
        if i < 2:
            net.set_mode(p, mode)
    client = ComputeClient(net, sandbox, shuffle=False, rng=random.Random(3))
    res = await client.query(purl, durl, needle, audit=audit, range=[None, None] if ranged else None)
    v = res.verification
    assert v.ok, v.errors
    want = [r for r in big_records() if needle.encode() in r]
    assert res.records == want
    assert all(p.node_id in {fp.peer for fp in res.frauds} for p in net.peers if p.signed_lies)
    check_published(net, sandbox, wasm, res)
    # stored in the ring, a fresh client that trusts no reporter convicts on it (fetching the program by hash
    # and the shard by the proof's blob) and skips the peer
    fp = res.frauds[0]
    await net.put_evidence(fp.peer, fp.encode())
    fresh = ComputeClient(net, sandbox, fraud_registry=RingFraudRegistry(net))
    assert await fresh._is_accused(fp.peer) and fp.peer in fresh.blocked


def test_single_record_is_cut_from_a_4096_record_batch() -> None:
    recs = big_records()
    tree = MerkleTree(recs)
    chunk = list(range(1000, 1000 + MAX_SAMPLE))
    ev = Evidence(chunk, [recs[i] for i in chunk], tree.batch_proof(chunk).encode())
    assert len(ev.proof) + sum(map(len, ev.records)) > evidence.MAX_PROOF_SIZE  # the chunk alone is too big
    for i in (1000, 1001, 3000, 1000 + MAX_SAMPLE - 1):
        one = single_record(ev, len(recs), i)
        assert one.indices == [i] and BatchProof.decode(one.proof) == tree.batch_proof([i])
        verify_batch(tree.root, len(recs), {i: recs[i]}, BatchProof.decode(one.proof))
    with pytest.raises(InvalidProof):
        single_record(ev, len(recs), 999)  # not carried


def test_forged_record_proof_keeps_one_record_and_claimless_size_is_bounded(sandbox, wasm) -> None:
    recs = big_records()
    tree = MerkleTree(recs)
    peer = SigningKey(hashlib.sha256(b"size-liar").digest())
    args = encoding.encode("x")
    forged = encoding.encode({"forged": True})
    indices = [5, 7, 9]
    digests = [hashlib.sha256(recs[5]).digest(), hashlib.sha256(forged).digest(), hashlib.sha256(recs[9]).digest()]
    req = Req("note://a/p", hashlib.sha256(wasm).digest(), "note://a/datasets/big", 1, 0, args)
    receipt = make_receipt(peer, req, shard_root=tree.root, count=N, sort_key=["id"],
                           result=digest_of_claim(indices, digests, b""), fuel=1)
    chunk = list(range(0, MAX_SAMPLE))
    ev = Evidence(chunk, [recs[i] for i in chunk], tree.batch_proof(chunk).encode())
    fp = FraudProof(KIND_SUBSET, receipt.encode(), args, indices, digests, b"", [ev])
    assert len(fp.encode()) > evidence.MAX_PROOF_SIZE
    assert verify_fraud_proof(fp, sandbox, wasm) == "forged-record"
    small = compact(fp, b"\x11" * 32)
    assert small.kind == KIND_SUBSET and [e.indices for e in small.evidence] == [[7]]
    assert len(small.encode()) < 2_000 and verify_fraud_proof(small, sandbox, wasm) == "forged-record"
    # the last resort, whatever the claim and evidence: receipt + args + a bounded overhead
    last = candidates(fp, b"\x11" * 32)[-1]
    assert last == without_claim(last) and not last.indices and not last.evidence
    assert len(last.encode()) <= len(fp.receipt) + len(args) + CLAIMLESS_OVERHEAD
    assert verify_fraud_proof(last, sandbox, wasm, shard=recs) == "output-not-reproduced"
    # a claim left out never convicts an honest receipt: the signed digest is the re-run's
    honest_req = Req("note://a/p", hashlib.sha256(wasm).digest(), "note://a/datasets/big", 1, 0, encoding.encode("hit"))
    rel, extra = run_program(sandbox, wasm, encoding.encode("hit"), recs, 10**9)
    honest = make_receipt(peer, honest_req, shard_root=tree.root, count=N, sort_key=["id"],
                          result=digest_of_claim(rel, [hashlib.sha256(recs[i]).digest() for i in rel], extra), fuel=1)
    bare = without_claim(FraudProof("shard", honest.encode(), encoding.encode("hit"), [], [], b"", [], b"",
                                    b"\x11" * 32))
    with pytest.raises(InvalidProof) as err:
        verify_fraud_proof(bare, sandbox, wasm, shard=recs)
    assert err.value.reason == "not-fraud"
    assert Receipt.decode(bare.receipt).peer == hashlib.sha256(peer.public_key).digest()


def test_only_reexecution_proofs_naming_a_blob_may_leave_their_claim_out() -> None:
    """The nodes' cheap check: a claim-less ``subset`` proof, or a ``range`` proof naming no blob, is refused."""
    peer = SigningKey(hashlib.sha256(b"size-claimless").digest())
    args = encoding.encode("x")
    req = Req("note://a/p", b"\x01" * 32, "note://a/datasets/big", 1, 0, args, [[1], [5]])
    receipt = make_receipt(peer, req, shard_root=b"\x02" * 32, count=9, sort_key=["id"],
                           result=digest_of_claim([1], [b"\x03" * 32], b""), fuel=1)
    key = evidence.evidence_key(hashlib.sha256(peer.public_key).digest())
    ok = FraudProof("range", receipt.encode(), args, [], [], b"", [], b"", b"\x04" * 32)
    evidence.check_proof(ok.encode(), key)
    for bad in (FraudProof(KIND_SUBSET, receipt.encode(), args, [], [], b""),
                FraudProof("range", receipt.encode(), args, [], [], b"")):
        with pytest.raises(InvalidProof) as err:
            evidence.check_proof(bad.encode(), key)
        assert err.value.reason == "claim-mismatch"
