"""Evidence replicas that filled up in different orders converge, and a flood still cannot evict.

Before: admission was first seen with one cap (16 proofs, 4 per pair) for puts and for replica
sync alike, so three replicas fed the same puts in different orders kept different sets for good,
and a proof one replica held was lost when it went. Now a replica's set is merged with room for
the union of the r put-filled sets (``evidence.merge(..., replica=True)``): anti-entropy leaves
every replica holding the union, while a peer's put is still capped, so the accused flooding its
own key cannot push a held proof out (nothing held is evicted, replica sets included).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import encoding
from note_compute.compute.evidence import (
    FRAUD_EVIDENCE,
    MAX_HELD,
    MAX_PROOF_SIZE,
    MAX_PROOFS,
    PUT_BYTES,
    SET_BYTES,
    encode_set,
    evidence_key,
    merge,
    union,
)
from note_compute.compute.fraud import FraudProof
from note_compute.compute.protocol import QueryRequest, digest_of_claim, make_receipt
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof
from note_compute.node.storage import StorageService, put_msg
from note_compute.store import EVIDENCE, Store
from note_compute.testing.compute import signed_claim_proof

ACCUSED = SigningKey(hashlib.sha256(b"converge-accused").digest())
PID = hashlib.sha256(ACCUSED.public_key).digest()
KEY = evidence_key(PID)
GENUINE = signed_claim_proof(ACCUSED, 10_000).encode()
FLOOD = [signed_claim_proof(ACCUSED, i).encode() for i in range(MAX_PROOFS + 8)]  # the accused's own flood
REPORTER = b"\x07" * 32


def _big(n: int, size: int) -> bytes:
    """A proof of about ``size`` bytes (a large signed ``extra``) against ACCUSED."""
    args = encoding.encode(f"big {n}")
    req = QueryRequest(f"note://{ACCUSED.authority}/programs/p", bytes(32),
                       f"note://{ACCUSED.authority}/datasets/big{n}", 1, 0, args)
    extra = bytes([n % 251]) * size
    digests = [hashlib.sha256(b"r").digest()]
    receipt = make_receipt(ACCUSED, req, shard_root=bytes(32), count=8, sort_key=["id"],
                           result=digest_of_claim([0], digests, extra), fuel=1)
    return FraudProof("subset", receipt.encode(), args, [0], digests, extra).encode()


def _stores(tmp: Path, n: int = 3) -> list[Store]:
    return [Store(tmp / f"r{i}.sqlite", evidence=FRAUD_EVIDENCE) for i in range(n)]


def _anti_entropy(stores: list[Store], rnd: random.Random | None = None) -> int:
    """Pairwise replica syncs (each side merges the other's held set) until nothing changes; returns rounds."""
    for rounds in range(1, 10):
        changed = False
        pairs = [(a, b) for a in stores for b in stores if a is not b]
        if rnd is not None:
            rnd.shuffle(pairs)
        for a, b in pairs:
            held = b.get(KEY).data if b.get_evidence(KEY) else None
            if held is not None and a.put_evidence(KEY, held, replica=True) != "unchanged":
                changed = True
        if not changed:
            return rounds
    raise AssertionError("replicas never settled")


def test_replicas_fed_in_different_orders_converge_on_the_union(tmp_path: Path) -> None:
    stores = _stores(tmp_path)
    try:
        a, b, c = stores
        for p in FLOOD:  # replica a: the flood first, so the genuine proof finds the set full
            a.put_evidence(KEY, encode_set([p]), peer=REPORTER)
        assert a.put_evidence(KEY, encode_set([GENUINE]), peer=REPORTER) == "unchanged"
        b.put_evidence(KEY, encode_set([GENUINE]), peer=REPORTER)  # replica b: the genuine proof first
        for p in reversed(FLOOD):
            b.put_evidence(KEY, encode_set([p]), peer=REPORTER)
        for p in FLOOD[5:]:  # replica c: part of the flood in another order, never the genuine proof
            c.put_evidence(KEY, encode_set([p]), peer=REPORTER)
        before = [set(s.get_evidence(KEY)) for s in stores]
        assert len({frozenset(x) for x in before}) == 3 and GENUINE not in before[0] | before[2]
        _anti_entropy(stores)
        after = [s.get_evidence(KEY) for s in stores]
        assert after[0] == after[1] == after[2] == union(*before)  # the union, on every replica
        assert GENUINE in after[0] and len(after[0]) <= MAX_HELD
        # b goes away: the genuine proof it admitted is not lost with it
        b.close()
        assert GENUINE in a.get_evidence(KEY) and GENUINE in c.get_evidence(KEY)
    finally:
        for s in stores:
            s.close()


@settings(max_examples=12, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_put_orders_converge(rnd: random.Random) -> None:
    """Whatever puts each replica saw, in whatever order, and whatever order replicas sync in:
    every replica ends with the union of what the three admitted (the store's rule, pure)."""
    held: list[list[bytes]] = [[], [], []]
    for k in range(3):
        for p in rnd.sample(FLOOD + [GENUINE], rnd.randrange(1, len(FLOOD) + 2)):
            held[k] = merge(held[k], [p])  # a peer's put
        assert len(held[k]) <= MAX_PROOFS
    admitted = union(*held)
    for _ in range(4):
        pairs = [(a, b) for a in range(3) for b in range(3) if a != b]
        rnd.shuffle(pairs)
        for a, b in pairs:
            held[a] = merge(held[a], held[b], replica=True)  # anti-entropy
    assert held[0] == held[1] == held[2] == admitted


def test_flooding_its_own_key_evicts_nothing(tmp_path: Path) -> None:
    """The accused puts a flood and pushes a replica-sized set of its own lies: the genuine proof stays."""
    more = [signed_claim_proof(ACCUSED, 500 + i).encode() for i in range(MAX_HELD + 4)]
    (s,) = _stores(tmp_path, 1)
    with s:
        s.put_evidence(KEY, encode_set([GENUINE]), peer=REPORTER)
        for p in FLOOD:
            s.put_evidence(KEY, encode_set([p]), peer=PID)
        assert len(s.get_evidence(KEY)) == MAX_PROOFS and GENUINE in s.get_evidence(KEY)
        s.put_evidence(KEY, encode_set(more[:MAX_HELD]), replica=True)  # as if it were a replica
        held = s.get_evidence(KEY)
        assert GENUINE in held and len(held) == MAX_HELD
        assert set(s.get_evidence(KEY)) >= set(held)
        assert s.put_evidence(KEY, encode_set(more[MAX_HELD:]), replica=True) == "unchanged"  # full


def test_big_proofs_fit_three_replicas_in_one_entry(tmp_path: Path) -> None:
    """A put admits at most a third of an entry's bytes, so the union of three replicas always fits."""
    big = [_big(i, MAX_PROOF_SIZE - 600) for i in range(24)]
    assert all(MAX_PROOF_SIZE - 1000 < len(p) <= MAX_PROOF_SIZE for p in big)
    stores = _stores(tmp_path)
    try:
        for k, s in enumerate(stores):
            for p in big[k * 8:(k + 1) * 8]:
                s.put_evidence(KEY, encode_set([p]), peer=REPORTER)
            assert len(encoding.encode(s.get_evidence(KEY))) <= PUT_BYTES
        before = [set(s.get_evidence(KEY)) for s in stores]
        _anti_entropy(stores)
        after = [s.get_evidence(KEY) for s in stores]
        assert after[0] == after[1] == after[2] == union(*before)
        assert len(encoding.encode(after[0])) <= SET_BYTES
    finally:
        for s in stores:
            s.close()


async def test_a_replica_pull_keeps_the_proofs_that_convict(tmp_path: Path) -> None:
    """A compute node pulling a replica's set that mixes a genuine proof with one that does not convict
    admits the genuine one (before, the whole set was refused and the genuine proof never arrived)."""
    bogus = FLOOD[0]

    async def verifier(key: bytes, proofs: list[bytes]) -> None:
        if bogus in proofs:
            raise InvalidProof("does not convict", reason="not-fraud")

    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        svc = StorageService(store)
        svc.evidence_verifier = verifier
        mixed = encode_set([bogus, GENUINE])
        with pytest.raises(InvalidProof):  # a peer's put: one proof that does not convict refuses all
            await svc.put(EVIDENCE, KEY, mixed, peer=REPORTER)
        assert store.get_evidence(KEY) == []
        assert await svc.put(EVIDENCE, KEY, mixed, replica=True) == "stored"
        assert store.get_evidence(KEY) == [GENUINE]
        assert await svc.put(EVIDENCE, KEY, encode_set([bogus]), replica=True) == "unchanged"


async def test_a_push_from_a_ring_member_gets_only_a_puts_room(tmp_path: Path) -> None:
    """Any ring member may push (the accused included): only this node's own pulls get the replica room."""
    flood = [signed_claim_proof(ACCUSED, 900 + i).encode() for i in range(MAX_HELD)]
    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        svc = StorageService(store)
        svc.replica_push = lambda sender, key: True  # a known ring node pushing a key we hold
        await svc.handle(PID, put_msg(EVIDENCE, KEY, encode_set(flood)))
        assert len(store.get_evidence(KEY)) == MAX_PROOFS
        assert await svc.put(EVIDENCE, KEY, encode_set(flood), replica=True) == "merged"  # our own pull
        assert len(store.get_evidence(KEY)) == MAX_HELD
