"""BLS12-381 quorum certificates: k replicas' agreement kept as one aggregate signature.

Evidence, not a per-query check: py-ecc signs in ~0.3 s and verifies an
aggregate in ~0.3-0.8 s on this project's machines, so a peer endorses only
when a request asks for it (``"qc": true``) and nobody verifies a
certificate on the query path.

A node derives its BLS key from its Ed25519 seed and binds it to its node id
with an Ed25519 signature (``SIG_BLS_KEY`` over ``encode({"bls": pk})``). It
also proves it knows the BLS secret key (**proof of possession**, ``pop``:
py-ecc ``G2ProofOfPossession.PopProve``, a BLS signature over the public key
under the PoP domain tag). An endorsement is a BLS signature over
``BLS_QUORUM || encode(statement)``, the statement being the
peer-independent part of a receipt body: program, dataset, seq, shard, shard
root and count, sort key, argument hash, range, result digest. A
:class:`QuorumCertificate` holds the statement, the members (Ed25519 key,
BLS key, binding, proof of possession) and the aggregate signature (96
bytes). :meth:`QuorumCertificate.verify` checks:

* at least :data:`MIN_MEMBERS` (2) and at most :data:`MAX_MEMBERS` (64)
  distinct members (one member is a receipt, not a quorum);
* every binding (Ed25519, by the member's key) and every proof of
  possession (``PopVerify`` with the member's BLS key): without it, an
  attacker registers the *rogue key* ``pk_r = pk_a - sum(pk_honest)`` under a
  key of its own and signs alone for a "quorum" of honest members who never
  signed (``tests/test_quorum.py``);
* the aggregate (FastAggregateVerify: everyone signed the same statement).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .. import domains, encoding
from ..crypto import SigningKey, verify
from ..errors import InvalidEncoding, InvalidSignature

__all__ = ["MAX_MEMBERS", "MIN_MEMBERS", "STATEMENT_FIELDS", "Endorsement", "QuorumCertificate", "endorse",
           "make_certificate", "statement_of"]

MIN_MEMBERS = 2
"""Fewest members a certificate may have."""
MAX_MEMBERS = 64
"""Most members a certificate may have."""

STATEMENT_FIELDS = ("program", "dataset", "seq", "shard", "shard_root", "count", "sort_key", "args", "range",
                    "result")


def _bls() -> Any:
    from py_ecc.bls.ciphersuites import G2ProofOfPossession

    return G2ProofOfPossession


def statement_of(receipt_body: dict[str, Any]) -> dict[str, Any]:
    """The part of a receipt every honest replica signs identically."""
    return {k: receipt_body[k] for k in STATEMENT_FIELDS}


def _message(statement: dict[str, Any]) -> bytes:
    return domains.BLS_QUORUM + encoding.encode(statement)


@dataclass(frozen=True)
class Endorsement:
    """One node's BLS key (bound to its Ed25519 key, with its proof of possession) and its BLS signature."""

    key: bytes
    bls_key: bytes
    binding: bytes
    pop: bytes
    sig: bytes

    _FIELDS = frozenset({"key", "bls_key", "binding", "pop", "sig"})

    def to_value(self) -> dict[str, Any]:
        return {"key": self.key, "bls_key": self.bls_key, "binding": self.binding, "pop": self.pop, "sig": self.sig}

    @classmethod
    def from_value(cls, v: Any) -> Endorsement:
        if not (isinstance(v, dict) and set(v) == cls._FIELDS
                and all(type(v[f]) is bytes for f in v) and len(v["key"]) == 32 and len(v["bls_key"]) == 48
                and len(v["binding"]) == 64 and len(v["pop"]) == 96 and len(v["sig"]) == 96):
            raise InvalidEncoding("malformed endorsement", reason="malformed")
        return cls(v["key"], v["bls_key"], v["binding"], v["pop"], v["sig"])

    def check_binding(self) -> None:
        """The Ed25519 binding of the BLS key to the node's key (cheap); raises InvalidSignature."""
        verify(domains.SIG_BLS_KEY, self.key, encoding.encode({"bls": self.bls_key}), self.binding)

    def check_pop(self) -> None:
        """The proof of possession of the BLS secret key (slow, ~0.5 s); raises InvalidSignature."""
        try:
            ok = _bls().PopVerify(self.bls_key, self.pop)
        except Exception as exc:  # py-ecc raises assorted errors on malformed points
            raise InvalidSignature(f"proof of possession is malformed: {exc}", reason="pop") from exc
        if not ok:
            raise InvalidSignature("proof of possession does not verify for this BLS key", reason="pop")


_KEYS: dict[bytes, tuple[int, bytes, bytes, bytes]] = {}


def _bls_key(key: SigningKey) -> tuple[int, bytes, bytes, bytes]:
    hit = _KEYS.get(key.public_key)
    if hit is None:
        bls = _bls()
        sk = bls.KeyGen(hashlib.sha256(b"note-compute bls12-381 key\x00" + key.seed).digest())
        pk = bls.SkToPk(sk)
        hit = (sk, pk, key.sign(domains.SIG_BLS_KEY, encoding.encode({"bls": pk})), bls.PopProve(sk))
        _KEYS[key.public_key] = hit
    return hit


def endorse(key: SigningKey, receipt_body: dict[str, Any]) -> Endorsement:
    """Sign the statement of ``receipt_body`` with the node's BLS key (slow: ~0.3 s)."""
    sk, pk, binding, pop = _bls_key(key)
    return Endorsement(key.public_key, pk, binding, pop, _bls().Sign(sk, _message(statement_of(receipt_body))))


@dataclass(frozen=True)
class QuorumCertificate:
    """k nodes agreed on ``statement``: their keys and one aggregate BLS signature."""

    statement: dict[str, Any]
    members: tuple[Endorsement, ...]
    aggregate: bytes

    def encode(self) -> bytes:
        return encoding.encode({"type": "quorum", "v": 1, "statement": self.statement,
                                "members": [dict(m.to_value(), sig=b"") for m in self.members],
                                "aggregate": self.aggregate})

    @classmethod
    def decode(cls, data: bytes) -> QuorumCertificate:
        """Strict structural decode (member count included); raises InvalidEncoding."""
        v = encoding.decode(data, max_size=64 * 1024, max_depth=8)
        if not (isinstance(v, dict) and v.get("type") == "quorum" and type(v.get("v")) is int and v["v"] == 1
                and isinstance(v.get("statement"), dict) and set(v["statement"]) == set(STATEMENT_FIELDS)
                and isinstance(v.get("members"), list) and MIN_MEMBERS <= len(v["members"]) <= MAX_MEMBERS
                and type(v.get("aggregate")) is bytes and len(v["aggregate"]) == 96):
            raise InvalidEncoding(f"malformed quorum certificate (it has {MIN_MEMBERS}..{MAX_MEMBERS} members)",
                                  reason="malformed")
        members = []
        for m in v["members"]:
            if not (isinstance(m, dict) and type(m.get("sig")) is bytes and m["sig"] == b""):
                raise InvalidEncoding("malformed quorum member", reason="malformed")
            e = Endorsement.from_value(dict(m, sig=bytes(96)))
            members.append(Endorsement(e.key, e.bls_key, e.binding, e.pop, b""))
        return cls(v["statement"], tuple(members), v["aggregate"])

    @property
    def peers(self) -> list[bytes]:
        """Node ids of the members."""
        return [hashlib.sha256(m.key).digest() for m in self.members]

    def verify(self) -> None:
        """Check the member count, every binding and proof of possession, and the aggregate; raises InvalidSignature."""
        if not MIN_MEMBERS <= len(self.members) <= MAX_MEMBERS:
            raise InvalidSignature(f"a quorum certificate has {MIN_MEMBERS}..{MAX_MEMBERS} members, "
                                   f"this one {len(self.members)}", reason="member-count")
        keys = [m.key for m in self.members]
        bls_keys = [m.bls_key for m in self.members]
        if len(set(keys)) != len(keys) or len(set(bls_keys)) != len(bls_keys):
            raise InvalidSignature("a member (or a BLS key) appears twice", reason="duplicate-member")
        for m in self.members:
            m.check_binding()
        for m in self.members:
            m.check_pop()
        try:
            ok = _bls().FastAggregateVerify(bls_keys, _message(self.statement), self.aggregate)
        except Exception as exc:  # py-ecc raises assorted errors on malformed points
            raise InvalidSignature(f"aggregate signature is malformed: {exc}", reason="bls") from exc
        if not ok:
            raise InvalidSignature("aggregate signature does not verify", reason="bls")


def make_certificate(receipt_body: dict[str, Any], endorsements: list[Endorsement]) -> QuorumCertificate:
    """Aggregate endorsements of one statement (bindings checked here; PoPs and BLS signatures by ``verify``).

    Raises ValueError with fewer than :data:`MIN_MEMBERS` endorsements.
    """
    if len(endorsements) < MIN_MEMBERS:
        raise ValueError(f"a quorum certificate needs at least {MIN_MEMBERS} endorsements")
    for e in endorsements:
        e.check_binding()
    agg = _bls().Aggregate([e.sig for e in endorsements])
    return QuorumCertificate(statement_of(receipt_body),
                             tuple(Endorsement(e.key, e.bls_key, e.binding, e.pop, b"") for e in endorsements), agg)
