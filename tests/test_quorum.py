"""Forged quorum certificates: the rogue-key attack and the one-member certificate (py-ecc: a few seconds)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from note_compute import domains, encoding
from note_compute.compute.quorum import (
    MIN_MEMBERS,
    Endorsement,
    QuorumCertificate,
    _bls,
    _message,
    endorse,
    make_certificate,
    statement_of,
)
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidEncoding, InvalidSignature

HONEST = [SigningKey(hashlib.sha256(b"quorum-honest-%d" % i).digest()) for i in range(2)]
ATTACKER = SigningKey(hashlib.sha256(b"quorum-attacker").digest())
SYBIL = SigningKey(hashlib.sha256(b"quorum-sybil").digest())

BODY: dict[str, Any] = {"program": bytes(32), "dataset": "note://x/datasets/d", "seq": 1, "shard": 0,
                        "shard_root": bytes(32), "count": 3, "sort_key": ["id"], "args": bytes(32),
                        "range": None, "result": hashlib.sha256(b"the honest result").digest()}
LIE = dict(BODY, result=hashlib.sha256(b"a result nobody honest signed").digest())


def test_honest_certificate_verifies_and_round_trips() -> None:
    cert = make_certificate(BODY, [endorse(k, BODY) for k in HONEST])
    again = QuorumCertificate.decode(cert.encode())
    assert again == cert
    again.verify()
    assert again.peers == [hashlib.sha256(k.public_key).digest() for k in HONEST]


def test_rogue_key_attack_is_refused() -> None:
    """The attacker registers pk_r = pk_a - pk_honest under a sybil Ed25519 key and signs alone:
    the aggregate key of {honest, sybil} is then its own, so FastAggregateVerify passes for a
    statement the honest node never signed. Only the proof of possession stops it."""
    from py_ecc.bls.g2_primitives import G1_to_pubkey, pubkey_to_G1
    from py_ecc.optimized_bls12_381 import add, neg

    bls = _bls()
    honest = endorse(HONEST[0], BODY)  # public: any qc reply carries it (key, BLS key, binding, pop)
    sk_a = bls.KeyGen(hashlib.sha256(b"attacker bls").digest())
    pk_a = bls.SkToPk(sk_a)
    pk_rogue = G1_to_pubkey(add(pubkey_to_G1(pk_a), neg(pubkey_to_G1(honest.bls_key))))
    binding = SYBIL.sign(domains.SIG_BLS_KEY, encoding.encode({"bls": pk_rogue}))  # the sybil binds it
    forged_sig = bls.Sign(sk_a, _message(statement_of(LIE)))
    members = (Endorsement(honest.key, honest.bls_key, honest.binding, honest.pop, b""),
               Endorsement(SYBIL.public_key, pk_rogue, binding, honest.pop, b""))  # no pop of its own exists
    forged = QuorumCertificate(statement_of(LIE), members, forged_sig)
    # the attack works on the aggregate alone (what verify() used to check) ...
    assert bls.FastAggregateVerify([m.bls_key for m in members], _message(forged.statement), forged_sig)
    members[1].check_binding()
    # ... and the proof of possession refuses it
    with pytest.raises(InvalidSignature) as err:
        QuorumCertificate.decode(forged.encode()).verify()
    assert err.value.reason == "pop"
    bogus_pop = bls.Sign(sk_a, pk_rogue)  # a signature the attacker can make is no PoP for pk_r
    with pytest.raises(InvalidSignature):
        Endorsement(SYBIL.public_key, pk_rogue, binding, bogus_pop, b"").check_pop()


def test_one_member_certificate_is_refused() -> None:
    """One member is one signature, not a quorum: refused by decode, verify and make_certificate."""
    solo = endorse(ATTACKER, LIE)
    cert = QuorumCertificate(statement_of(LIE), (Endorsement(solo.key, solo.bls_key, solo.binding, solo.pop, b""),),
                             solo.sig)
    assert _bls().FastAggregateVerify([solo.bls_key], _message(cert.statement), cert.aggregate)  # a valid signature
    with pytest.raises(InvalidSignature) as err:
        cert.verify()
    assert err.value.reason == "member-count" and MIN_MEMBERS == 2
    with pytest.raises(InvalidEncoding):
        QuorumCertificate.decode(cert.encode())
    with pytest.raises(ValueError):
        make_certificate(LIE, [solo])


def test_duplicate_bls_key_under_two_identities_is_refused() -> None:
    """One honest signature doubled and attributed to a second identity that re-binds the same BLS key."""
    honest = endorse(HONEST[0], BODY)
    binding = SYBIL.sign(domains.SIG_BLS_KEY, encoding.encode({"bls": honest.bls_key}))
    twice = _bls().Aggregate([honest.sig, honest.sig])
    members = (Endorsement(honest.key, honest.bls_key, honest.binding, honest.pop, b""),
               Endorsement(SYBIL.public_key, honest.bls_key, binding, honest.pop, b""))
    with pytest.raises(InvalidSignature) as err:
        QuorumCertificate(statement_of(BODY), members, twice).verify()
    assert err.value.reason == "duplicate-member"
