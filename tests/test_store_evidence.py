"""The store's third entry kind, ``evidence``: fraud proofs under the accused peer's id.

Every proof is checked cheaply (decodes, accuses the peer of the key with a
receipt that peer signed, claim consistent with the receipt); puts merge
(union, sorted by proof hash, capped) so every order of arrival gives the same
set; a bad proof refuses the whole put and nothing is written.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import encoding
from note_compute.compute.evidence import (
    FRAUD_EVIDENCE,
    MAX_HELD,
    MAX_PAIR_HELD,
    MAX_PER_PAIR,
    MAX_PROOF_SIZE,
    MAX_PROOFS,
    check_proof,
    decode_set,
    encode_set,
    evidence_key,
    merge,
    pair_of,
    union,
    validate_entry,
)
from note_compute.compute.protocol import Receipt
from note_compute.crypto import SigningKey
from note_compute.errors import (
    InvalidEncoding,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    QuotaExceeded,
)
from note_compute.node.storage import StorageService, put_msg, sync_msg
from note_compute.store import EVIDENCE, Digest, Store, StoreLimits
from note_compute.store.schema import SCHEMA_VERSION
from note_compute.testing.compute import signed_claim_proof

ACCUSED = SigningKey(hashlib.sha256(b"evidence-accused").digest())
OTHER = SigningKey(hashlib.sha256(b"evidence-other").digest())
PID = hashlib.sha256(ACCUSED.public_key).digest()
KEY = evidence_key(PID)
PROOFS = [signed_claim_proof(ACCUSED, i).encode() for i in range(MAX_PROOFS + 6)]
SMALLEST = sorted(PROOFS, key=lambda p: hashlib.sha256(p).digest())


def test_valid_evidence_is_stored_and_read_back(store: Store) -> None:
    assert store.put_evidence(KEY, encode_set([PROOFS[0]]), peer=b"\x01" * 32) == "stored"
    assert store.get_evidence(KEY) == [PROOFS[0]]
    e = store.get(KEY)
    assert e.kind == EVIDENCE and e.hash == hashlib.sha256(e.data).digest() and e.owner == b"\x01" * 32
    assert store.digests(KEY, KEY) == [Digest(KEY, EVIDENCE, 0, e.hash)]
    assert store.put("evidence", KEY, encode_set([PROOFS[0]])) == "unchanged"
    assert store.put("evidence", KEY, encode_set([PROOFS[1]])) == "merged"
    assert store.get_evidence(KEY) == merge([PROOFS[0], PROOFS[1]])
    stats = store.stats()
    assert (stats.entries, stats.evidence, stats.records, stats.values) == (1, 1, 0, 0)
    assert store.usage(b"\x01" * 32) == (0, 0)  # the merge by the node itself took the entry over
    assert store.get_evidence(evidence_key(bytes(32))) == []


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 6))
def test_merge_is_order_independent_below_the_cap(tmp_path_factory, rnd: random.Random, batches: int) -> None:
    """Any split of at most MAX_PROOFS proofs into puts, in any order, leaves the same set (their union)."""
    proofs = list(PROOFS[:MAX_PROOFS])
    rnd.shuffle(proofs)
    cuts = sorted(rnd.sample(range(1, len(proofs)), batches - 1))
    parts = [proofs[a:b] for a, b in zip([0, *cuts], [*cuts, len(proofs)], strict=False)]
    with Store(tmp_path_factory.mktemp("m") / "s.sqlite", evidence=FRAUD_EVIDENCE) as s:
        for part in parts:
            s.put_evidence(KEY, encode_set(part))
        assert s.get_evidence(KEY) == union(PROOFS[:MAX_PROOFS])


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(2, 6))
def test_nothing_held_is_ever_evicted(tmp_path_factory, rnd: random.Random, batches: int) -> None:
    """Past the cap, whatever was stored first stays, whatever the later proofs' hashes."""
    proofs = list(PROOFS)
    rnd.shuffle(proofs)
    cuts = sorted(rnd.sample(range(1, len(proofs)), batches - 1))
    parts = [proofs[a:b] for a, b in zip([0, *cuts], [*cuts, len(proofs)], strict=False)]
    with Store(tmp_path_factory.mktemp("m") / "s.sqlite", evidence=FRAUD_EVIDENCE) as s:
        kept: set[bytes] = set()
        for part in parts:
            s.put_evidence(KEY, encode_set(part))
            held = set(s.get_evidence(KEY))
            assert kept <= held and len(held) <= MAX_PROOFS
            kept = held
        assert len(kept) == MAX_PROOFS


def test_cap_keeps_what_came_first(store: Store) -> None:
    """The old rule kept the 16 smallest hashes, so small-hash proofs pushed a genuine one out: no more."""
    first = SMALLEST[-(MAX_PROOFS - 2):]  # the 14 largest hashes arrive first
    store.put_evidence(KEY, encode_set(first))
    store.put_evidence(KEY, encode_set(SMALLEST[:MAX_PROOFS - 2]))  # a flood of smaller hashes
    held = store.get_evidence(KEY)
    assert len(held) == MAX_PROOFS and set(first) <= set(held)
    assert set(held) - set(first) == set(SMALLEST[:2])  # the flood got the 2 free slots (in hash order)
    assert store.put_evidence(KEY, encode_set([SMALLEST[2]])) == "unchanged"  # full: nothing is evicted
    assert merge(PROOFS[:7], PROOFS[7:]) == union(PROOFS[:7] + sorted(PROOFS[7:], key=_h)[:MAX_PROOFS - 7])


def _h(p: bytes) -> bytes:
    return hashlib.sha256(p).digest()


def _same_pair(n: int) -> bytes:
    """Proofs against ACCUSED that all name one (program, dataset) pair (different arguments)."""
    from note_compute.compute.fraud import FraudProof
    from note_compute.compute.protocol import (
        QueryRequest,
        digest_of_claim,
        make_receipt,
    )

    args = encoding.encode(f"same pair {n}")
    req = QueryRequest(f"note://{ACCUSED.authority}/programs/p", bytes(32), f"note://{ACCUSED.authority}/datasets/x",
                       1, 0, args)
    digests = [hashlib.sha256(b"r").digest()]
    receipt = make_receipt(ACCUSED, req, shard_root=bytes(32), count=8, sort_key=["id"],
                           result=digest_of_claim([0], digests, b""), fuel=1)
    return FraudProof("subset", receipt.encode(), args, [0], digests, b"").encode()


def test_one_pair_gets_at_most_max_per_pair_slots(store: Store) -> None:
    same = [_same_pair(i) for i in range(MAX_PER_PAIR + 3)]
    assert pair_of(same[0]) == pair_of(same[1]) != pair_of(PROOFS[0])
    store.put_evidence(KEY, encode_set(same[:1]))
    for p in same[1:]:
        store.put_evidence(KEY, encode_set([p]))
    held = store.get_evidence(KEY)
    assert len(held) == MAX_PER_PAIR and held == union(same[:MAX_PER_PAIR])
    assert store.put_evidence(KEY, encode_set([PROOFS[0]])) == "merged"  # other pairs still have room
    with pytest.raises(InvalidRecord) as e:  # a set that breaks the per-pair cap (a replica's) is malformed
        validate_entry(KEY, encoding.encode(union([_same_pair(i) for i in range(MAX_PAIR_HELD + 1)])))
    assert e.value.reason == "bad-evidence"


def _refused(store: Store, data: bytes, exc: type[Exception], reason: str | None, key: bytes = KEY) -> None:
    before = store.get_evidence(key)
    with pytest.raises(exc) as e:
        store.put("evidence", key, data, peer=b"\x02" * 32)
    if reason is not None:
        assert e.value.reason == reason, e.value
    assert store.get_evidence(key) == before
    assert store.usage(b"\x02" * 32) == (0, 0)


def _forged_signature() -> bytes:
    fp = signed_claim_proof(ACCUSED, 1)
    r = Receipt.decode(fp.receipt)
    return replace(fp, receipt=Receipt(r.body, bytes([r.sig[0] ^ 1]) + r.sig[1:]).encode()).encode()


def _receipt_claiming_victim() -> bytes:
    """The attacker signs a receipt with its own key but names the victim as the peer."""
    fp = signed_claim_proof(OTHER, 1)
    r = Receipt.decode(fp.receipt)
    body = dict(r.body, peer=PID)
    from note_compute import domains

    return replace(fp, receipt=Receipt(body, OTHER.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()).encode()


@pytest.mark.parametrize(
    ("name", "exc", "reason"),
    [
        ("forged-signature", InvalidSignature, None),
        ("victim-named-by-other-key", InvalidSignature, "peer-id"),
        ("wrong-peer", InvalidProof, "wrong-peer"),
        ("claim-mismatch", InvalidProof, "claim-mismatch"),
        ("args-mismatch", InvalidProof, "claim-mismatch"),
        ("garbage-proof", InvalidEncoding, None),
        ("not-a-fraud-proof", InvalidProof, "malformed"),
        ("bad-receipt", InvalidProof, "bad-receipt"),
        ("too-large", InvalidProof, "proof-too-large"),
    ],
)
def test_bad_proofs_refuse_the_whole_put(store: Store, name: str, exc: type[Exception], reason: str | None) -> None:
    good = signed_claim_proof(ACCUSED, 1)
    bad = {
        "forged-signature": _forged_signature,
        "victim-named-by-other-key": _receipt_claiming_victim,
        "wrong-peer": lambda: signed_claim_proof(OTHER, 1).encode(),
        "claim-mismatch": lambda: replace(good, indices=[4], digests=[bytes(32)]).encode(),
        "args-mismatch": lambda: replace(good, args=encoding.encode("other")).encode(),
        "garbage-proof": lambda: b"\xff\x00garbage",
        "not-a-fraud-proof": lambda: encoding.encode({"type": "fraud"}),
        "bad-receipt": lambda: replace(good, receipt=b"\x01").encode(),
        "too-large": lambda: replace(good, extra=bytes(MAX_PROOF_SIZE)).encode(),
    }[name]()
    _refused(store, encode_set([bad]), exc, reason)  # alone, nothing stored
    store.put_evidence(KEY, encode_set([PROOFS[0]]))
    _refused(store, encode_set([PROOFS[2], bad]), exc, reason)  # with a good one, still nothing


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        encoding.encode([]),
        encoding.encode({"proofs": []}),
        encoding.encode([1, 2]),
        encoding.encode(SMALLEST[:2][::-1]),  # not sorted by hash
        encoding.encode([PROOFS[0], PROOFS[0]]),  # duplicate
        encoding.encode(union([signed_claim_proof(ACCUSED, 100 + i).encode() for i in range(MAX_HELD + 1)])),  # over
    ],
)
def test_malformed_sets_are_refused(store: Store, data: bytes) -> None:
    _refused(store, data, InvalidRecord, "bad-evidence")
    with pytest.raises(InvalidRecord):
        decode_set(data)


def test_key_conflicts_and_limits(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite", limits=StoreLimits(max_entry_size=4096), evidence=FRAUD_EVIDENCE) as s:
        with pytest.raises(InvalidRecord) as e:
            s.put_evidence(b"short", encode_set([PROOFS[0]]))
        assert e.value.reason == "bad-key"
        with pytest.raises(InvalidProof):  # the proof is valid, but for another peer's key
            s.put_evidence(evidence_key(bytes(32)), encode_set([PROOFS[0]]))
        with pytest.raises(InvalidRecord):
            s.put_evidence(KEY, "text")  # type: ignore[arg-type]
        with pytest.raises(QuotaExceeded):  # merged set outgrows the entry cap: held set kept
            for p in SMALLEST:
                s.put_evidence(KEY, encode_set([p]))
        held = s.get_evidence(KEY)
        assert 1 <= len(held) < MAX_PROOFS and len(encode_set(held)) <= 4096
    with pytest.raises(InvalidProof):
        check_proof(PROOFS[0], evidence_key(bytes(32)))
    with pytest.raises(InvalidRecord):
        evidence_key(b"short")


def test_restart_keeps_evidence_and_old_stores_migrate(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path, evidence=FRAUD_EVIDENCE) as s:
        s.put_evidence(KEY, encode_set(PROOFS[:3]), peer=b"\x03" * 32)
        used = s.usage(b"\x03" * 32)
    with Store(path, evidence=FRAUD_EVIDENCE) as s:
        assert s.get_evidence(KEY) == merge(PROOFS[:3])
        assert s.usage(b"\x03" * 32) == used and used[1] == 1
        assert s.put_evidence(KEY, encode_set(PROOFS[3:5])) == "merged"
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET v = 3 WHERE k = 'schema'")  # a version-3 store opens and is marked current
    db.commit()
    db.close()
    with Store(path, evidence=FRAUD_EVIDENCE) as s:
        assert s.get_evidence(KEY) == merge(PROOFS[:5])
    db = sqlite3.connect(path)
    assert db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()[0] == SCHEMA_VERSION
    db.close()


async def test_storage_rpc_put_and_sync_of_evidence(tmp_path: Path) -> None:
    """``store.put`` kind evidence gets the store's checks; ``store.sync`` asks for both directions
    when two replicas hold different sets."""
    with Store(tmp_path / "a.sqlite", evidence=FRAUD_EVIDENCE) as a, \
            Store(tmp_path / "b.sqlite", evidence=FRAUD_EVIDENCE) as b:
        svc_a, svc_b = StorageService(a), StorageService(b)
        sender = b"\x05" * 32
        reply = await svc_a.handle(sender, put_msg("evidence", KEY, encode_set(PROOFS[:4])))
        assert reply["result"] == "stored"
        with pytest.raises(InvalidProof):
            await svc_a.handle(sender, put_msg("evidence", KEY, encode_set([signed_claim_proof(OTHER, 1).encode()])))
        assert a.get_evidence(KEY) == merge(PROOFS[:4])
        await svc_b.handle(sender, put_msg("evidence", KEY, encode_set(PROOFS[4:8])))
        # same-size different sets: b wants a's and has its own for a to fetch
        reply = await svc_b.handle(sender, sync_msg(KEY, KEY, a.digests(KEY, KEY)))
        assert reply["want"] == [KEY] and reply["newer"] == [KEY]
        got = await svc_b.handle(sender, {"op": "store.get", "key": KEY})
        assert got["kind"] == "evidence"
        a.put(got["kind"], KEY, got["data"])
        b.put("evidence", KEY, a.get(KEY).data)
        assert a.get_evidence(KEY) == b.get_evidence(KEY) == merge(PROOFS[:8])
        reply = await svc_b.handle(sender, sync_msg(KEY, KEY, a.digests(KEY, KEY)))
        assert reply["want"] == [] and reply["newer"] == []


def test_a_store_without_an_evidence_policy_refuses_evidence(tmp_path: Path) -> None:
    """The merge rule is the policy the store is handed; without one, no evidence is kept unchecked."""
    with Store(tmp_path / "bare.sqlite") as s:
        with pytest.raises(InvalidRecord) as e:
            s.put_evidence(KEY, encode_set([PROOFS[0]]), peer=b"\x01" * 32)
        assert e.value.reason == "no-evidence-policy"
        with pytest.raises(InvalidRecord):
            s.put("evidence", KEY, encode_set([PROOFS[0]]))
        assert s.stats().entries == 0
        assert s.get_evidence(KEY) == []
