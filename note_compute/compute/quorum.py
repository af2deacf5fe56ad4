"""BLS12-381 quorum certificates: k replicas' agreement kept as one aggregate signature.

Evidence, not a per-query check: py-ecc signs in ~0.3 s and verifies an
aggregate in ~0.3-0.8 s on this project's machines, so a peer endorses only
when a request asks for it (``"qc": true``) and nobody verifies a
certificate on the query path.

A node derives its BLS key from its Ed25519 seed and binds it to its node id
with an Ed25519 signature (``SIG_BLS_KEY`` over ``encode({"bls": pk})``). An
endorsement is a BLS signature over ``BLS_QUORUM || encode(statement)``, the
statement being the peer-independent part of a receipt body: program,
dataset, seq, shard, shard root and count, sort key, argument hash, range,
result digest. A :class:`QuorumCertificate` holds the statement, the members
(Ed25519 key, BLS key, binding) and the aggregate signature (96 bytes);
:meth:`QuorumCertificate.verify` checks every binding and the aggregate
(FastAggregateVerify: everyone signed the same statement).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .. import domains, encoding
from ..crypto import SigningKey, verify
from ..errors import InvalidEncoding, InvalidSignature

__all__ = ["STATEMENT_FIELDS", "statement_of", "Endorsement", "endorse", "QuorumCertificate", "make_certificate"]

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
    """One node's BLS key (bound to its Ed25519 key) and its BLS signature over a statement."""

    key: bytes
    bls_key: bytes
    binding: bytes
    sig: bytes

    def to_value(self) -> dict[str, Any]:
        return {"key": self.key, "bls_key": self.bls_key, "binding": self.binding, "sig": self.sig}

    @classmethod
    def from_value(cls, v: Any) -> Endorsement:
        if not (isinstance(v, dict) and set(v) == {"key", "bls_key", "binding", "sig"}
                and all(type(v[f]) is bytes for f in v) and len(v["key"]) == 32 and len(v["bls_key"]) == 48
                and len(v["binding"]) == 64 and len(v["sig"]) == 96):
            raise InvalidEncoding("malformed endorsement", reason="malformed")
        return cls(v["key"], v["bls_key"], v["binding"], v["sig"])

    def check_binding(self) -> None:
        verify(domains.SIG_BLS_KEY, self.key, encoding.encode({"bls": self.bls_key}), self.binding)


_KEYS: dict[bytes, tuple[int, bytes, bytes]] = {}


def _bls_key(key: SigningKey) -> tuple[int, bytes, bytes]:
    hit = _KEYS.get(key.public_key)
    if hit is None:
        bls = _bls()
        sk = bls.KeyGen(hashlib.sha256(b"note-compute bls12-381 key\x00" + key.seed).digest())
        pk = bls.SkToPk(sk)
        hit = (sk, pk, key.sign(domains.SIG_BLS_KEY, encoding.encode({"bls": pk})))
        _KEYS[key.public_key] = hit
    return hit


def endorse(key: SigningKey, receipt_body: dict[str, Any]) -> Endorsement:
    """Sign the statement of ``receipt_body`` with the node's BLS key (slow: ~0.3 s)."""
    sk, pk, binding = _bls_key(key)
    return Endorsement(key.public_key, pk, binding, _bls().Sign(sk, _message(statement_of(receipt_body))))


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
        v = encoding.decode(data, max_size=64 * 1024, max_depth=8)
        if not (isinstance(v, dict) and v.get("type") == "quorum" and v.get("v") == 1
                and isinstance(v.get("statement"), dict) and set(v["statement"]) == set(STATEMENT_FIELDS)
                and isinstance(v.get("members"), list) and 0 < len(v["members"]) <= 64
                and type(v.get("aggregate")) is bytes and len(v["aggregate"]) == 96):
            raise InvalidEncoding("malformed quorum certificate", reason="malformed")
        members = []
        for m in v["members"]:
            if not (isinstance(m, dict) and m.get("sig") == b""):
                raise InvalidEncoding("malformed quorum member", reason="malformed")
            members.append(Endorsement.from_value(dict(m, sig=bytes(96))))
        return cls(v["statement"], tuple(Endorsement(m.key, m.bls_key, m.binding, b"") for m in members),
                   v["aggregate"])

    @property
    def peers(self) -> list[bytes]:
        """Node ids of the members."""
        return [hashlib.sha256(m.key).digest() for m in self.members]

    def verify(self) -> None:
        """Check every key binding and the aggregate signature; raises InvalidSignature."""
        keys = [m.key for m in self.members]
        if len(set(keys)) != len(keys):
            raise InvalidSignature("a member appears twice", reason="duplicate-member")
        for m in self.members:
            m.check_binding()
        try:
            ok = _bls().FastAggregateVerify([m.bls_key for m in self.members], _message(self.statement),
                                            self.aggregate)
        except Exception as exc:  # py-ecc raises assorted errors on malformed points
            raise InvalidSignature(f"aggregate signature is malformed: {exc}", reason="bls") from exc
        if not ok:
            raise InvalidSignature("aggregate signature does not verify", reason="bls")


def make_certificate(receipt_body: dict[str, Any], endorsements: list[Endorsement]) -> QuorumCertificate:
    """Aggregate endorsements of one statement (bindings checked here, BLS signatures by ``verify``)."""
    if not endorsements:
        raise ValueError("a quorum certificate needs at least one endorsement")
    for e in endorsements:
        e.check_binding()
    agg = _bls().Aggregate([e.sig for e in endorsements])
    return QuorumCertificate(statement_of(receipt_body),
                             tuple(Endorsement(e.key, e.bls_key, e.binding, b"") for e in endorsements), agg)
