"""Fraud evidence on real (in-process) libp2p nodes: replicas converge on the union, clients
store and read it under the accused peer's id."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from test_node_client import Liar
from test_node_replication import _ring

from note_compute.client import Client
from note_compute.compute.evidence import MAX_PROOFS, encode_set, evidence_key, merge
from note_compute.compute.evidence import union as union_of
from note_compute.compute.fault_index import fault_key
from note_compute.compute.ring_evidence import RING_EVIDENCE
from note_compute.compute.wellformed import PublisherFault
from note_compute.crypto import SigningKey
from note_compute.devnet import expected_replicas, wait_until
from note_compute.errors import InvalidProof, InvalidRecord, InvalidSignature
from note_compute.net import open_host
from note_compute.testing.compute import signed_claim_proof

pytestmark = pytest.mark.slow

ACCUSED = SigningKey(hashlib.sha256(b"node-evidence-accused").digest())
PID = hashlib.sha256(ACCUSED.public_key).digest()
KEY = evidence_key(PID)
PROOFS = [signed_claim_proof(ACCUSED, i).encode() for i in range(MAX_PROOFS + 2)]


async def test_replicas_converge_on_the_union_and_clients_use_it(tmp_path: Path) -> None:
    async with _ring(tmp_path) as nodes:
        by_id = {n.node_id: n for n in nodes}
        reps = [by_id[i] for i in expected_replicas(list(by_id), KEY)]
        # Two replicas hold different sets of the same size; the third holds nothing.
        reps[0].store.put_evidence(KEY, encode_set(PROOFS[:8]))
        reps[1].store.put_evidence(KEY, encode_set(PROOFS[8:16]))
        union = merge(PROOFS[:16])

        async def converged() -> bool:
            return all(r.store.get_evidence(KEY) == union for r in reps)

        await wait_until(converged, 20, 0.1, "every replica holding the union")

        async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as host:
            client = Client(host, [nodes[0].me], evidence=RING_EVIDENCE)
            # another reporter adds a proof: the sets are full, and nothing held is evicted for it
            assert await client.put_evidence(PID, PROOFS[16]) == 3
            want = union
            assert await client.get_evidence(PID) == want
            assert all(r.store.get_evidence(KEY) == want for r in reps)
            # a proof against someone else is refused before it is sent, and by the nodes
            other = signed_claim_proof(SigningKey.generate(), 1).encode()
            with pytest.raises(InvalidProof):
                await client.put_evidence(PID, other)
            with pytest.raises(InvalidProof):
                await client._put("evidence", KEY, encode_set([other]))
            assert await client.get_evidence(PID) == want
            assert await client.get_evidence(bytes(32)) == []
            # publisher faults indexed under their dataset (compute.md 5.3): checked in full by the nodes
            fault = _publisher_fault()
            furl = PublisherFault.decode(fault).url
            assert await client.get_publisher_faults(furl) == []
            assert await client.put_publisher_fault(fault) == 3
            assert await client.get_publisher_faults(furl) == [fault]
            with pytest.raises(InvalidProof):  # filed under another dataset: every node refuses it
                await client._put("evidence", fault_key(furl + "x"), encode_set([fault]))

        # Two replicas filled up from puts with different proofs (each to the put cap): anti-entropy
        # leaves all three holding the union (before, each kept its own 16 for good).
        other = SigningKey(hashlib.sha256(b"node-evidence-accused-2").digest())
        key2 = evidence_key(hashlib.sha256(other.public_key).digest())
        reps2 = [by_id[i] for i in expected_replicas(list(by_id), key2)]
        mine = [[signed_claim_proof(other, 100 * k + i).encode() for i in range(MAX_PROOFS)] for k in (1, 2)]
        for rep, proofs in zip(reps2, mine, strict=False):
            for p in proofs:
                rep.store.put_evidence(key2, encode_set([p]), peer=b"\x09" * 32)
        assert reps2[0].store.get_evidence(key2) != reps2[1].store.get_evidence(key2)
        both = union_of(*mine)

        async def united() -> bool:
            return all(r.store.get_evidence(key2) == both for r in reps2)

        await wait_until(united, 30, 0.1, "every replica holding the union of two full sets")


def _publisher_fault() -> bytes:
    from note_compute import encoding
    from note_compute.compute.server import load_shard
    from note_compute.compute.source import manifest_from_record
    from note_compute.compute.wellformed import MalformedDataset
    from note_compute.testing.attackers import junk_manifest

    recs = [encoding.encode({"id": i}) for i in (0, 5, 2)]
    j = junk_manifest(ACCUSED, "junk", [recs], [([0], [5])], ["id"])
    with pytest.raises(MalformedDataset) as e:
        load_shard(manifest_from_record(j.record), 0, j.blobs[0])
    assert e.value.fault is not None
    return e.value.fault.encode()


async def test_client_checks_the_evidence_a_replica_returns() -> None:
    """A lying replica cannot make the client accept evidence the nodes would refuse."""
    from dataclasses import replace

    from note_compute.compute.protocol import Receipt

    liar = Liar()
    async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"], handler=liar.handle) as lh, \
            open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as ch:
        liar.me = lh.peer_ref
        client = Client(ch, [lh.peer_ref], evidence=RING_EVIDENCE)
        assert await client.get_evidence(PID) == []  # nothing held: no evidence
        fp = signed_claim_proof(ACCUSED, 3)
        r = Receipt.decode(fp.receipt)
        forged = replace(fp, receipt=Receipt(r.body, bytes(64)).encode()).encode()
        cases = [
            (("evidence", encode_set([forged])), InvalidSignature),
            (("evidence", encode_set([signed_claim_proof(SigningKey.generate(), 1).encode()])), InvalidProof),
            (("evidence", b"\x80"), InvalidRecord),
            (("value", PROOFS[0]), InvalidRecord),
        ]
        for answer, exc in cases:
            liar.table[KEY] = answer
            with pytest.raises(exc):
                await client.get_evidence(PID)
        liar.table[KEY] = ("evidence", encode_set(PROOFS[:3]))
        assert await client.get_evidence(PID) == merge(PROOFS[:3])
