"""The ring-wide fraud evidence index: proofs kept under the accused peer's id (pure).

Every node holds, at ring key ``K = evidence_key(peer_id) =
SHA-256(domains.FRAUD_INDEX || peer_id)``, a store entry of kind
``"evidence"`` whose data is ``encode([proof, ...])``: encoded
:class:`~note_compute.compute.fraud.FraudProof` byte strings, sorted by
SHA-256 of the proof bytes, without duplicates, at most :data:`MAX_PROOFS`.

Writes **merge**: the held set and the incoming set are united, sorted by
proof hash and cut to the :data:`MAX_PROOFS` smallest hashes. The result is a
function of the union only, so replicas converge on the same set whatever
order puts and syncs arrive in (``merge(merge(a, b), c) == merge(a, merge(b, c))``).

What a node checks (:func:`check_proof`, cheap: no program is run):

* the proof decodes (:meth:`FraudProof.decode`) and is at most
  :data:`MAX_PROOF_SIZE` bytes;
* the receipt inside decodes, its peer id is the accused id ``K`` was
  derived from, and it is signed by the accused (Ed25519 over the receipt
  body with ``SIG_RECEIPT``; SHA-256 of the key is the peer id), so nobody
  can plant evidence against a peer that never signed anything;
* the proof's arguments and claimed output are the ones the receipt signs.

Conviction (re-running the program on the proven records,
:func:`~note_compute.compute.fraud.verify_fraud_proof`) is done by the
clients, and before storing by nodes that run compute
(:func:`~note_compute.compute.node_source.evidence_verifier`, through
``StorageService.put``), not by this module. Errors are
typed: :class:`InvalidRecord` (reason ``bad-evidence``: the set's structure),
:class:`InvalidProof` (reasons ``malformed``, ``bad-receipt``, ``wrong-peer``,
``claim-mismatch``, ``proof-too-large``), :class:`InvalidSignature`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .. import domains, encoding
from ..crypto import domain_hash
from ..errors import InvalidEncoding, InvalidProof, InvalidRecord, NoteError
from .fraud import FraudProof
from .protocol import Receipt, args_digest, digest_of_claim

__all__ = ["MAX_PROOFS", "MAX_PROOF_SIZE", "evidence_key", "check_proof", "decode_set", "encode_set", "merge",
           "validate_entry"]

MAX_PROOFS = 16
"""Most proofs held against one peer (the smallest proof hashes win)."""
MAX_PROOF_SIZE = 60 * 1024
"""Largest encoded proof accepted (16 of them fit a 1 MiB store entry)."""


def evidence_key(peer_id: bytes) -> bytes:
    """The ring key of the evidence held against the peer whose node id is ``peer_id``."""
    if not isinstance(peer_id, (bytes, bytearray)) or len(peer_id) != 32:
        raise InvalidRecord("a peer id is 32 bytes", reason="bad-key")
    return domain_hash(domains.FRAUD_INDEX, bytes(peer_id))


def _proof_hash(proof: bytes) -> bytes:
    return hashlib.sha256(proof).digest()


def check_proof(data: bytes, key: bytes) -> FraudProof:
    """Check one encoded fraud proof for the evidence entry at ``key`` (see the module docstring).

    Returns the decoded proof; raises InvalidProof / InvalidSignature / InvalidEncoding.
    """
    if type(data) is not bytes:
        raise InvalidProof("a fraud proof is sent as bytes", reason="malformed")
    if len(data) > MAX_PROOF_SIZE:
        raise InvalidProof(f"fraud proof is {len(data)} bytes, over the {MAX_PROOF_SIZE}-byte cap",
                           reason="proof-too-large")
    proof = FraudProof.decode(data)
    if proof.encode() != data:
        raise InvalidProof("fraud proof is not in its canonical encoding", reason="malformed")
    try:
        receipt = Receipt.decode(proof.receipt)
    except NoteError as exc:
        raise InvalidProof(f"fraud proof carries a bad receipt: {exc}", reason="bad-receipt") from exc
    if evidence_key(receipt.peer) != key:
        raise InvalidProof("the receipt was signed by another peer than the one this evidence accuses",
                           reason="wrong-peer")
    receipt.verify()  # InvalidSignature: not signed by the accused
    if args_digest(proof.args) != receipt["args"] or len(proof.digests) != len(proof.indices) \
            or digest_of_claim(proof.indices, proof.digests, proof.extra) != receipt["result"]:
        raise InvalidProof("the proof's arguments or claimed output are not what the receipt signs",
                           reason="claim-mismatch")
    return proof


def decode_set(data: bytes) -> list[bytes]:
    """Decode an evidence set's structure: a list of 1..MAX_PROOFS byte strings sorted by hash, distinct.

    Raises InvalidRecord (reason ``bad-evidence``); the proofs themselves are
    checked by :func:`check_proof`.
    """
    try:
        v = encoding.decode(data, max_size=MAX_PROOFS * (MAX_PROOF_SIZE + 8) + 8, max_depth=2)
    except InvalidEncoding as exc:
        raise InvalidRecord(f"evidence is not canonical CBOR: {exc}", reason="bad-evidence") from exc
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_PROOFS or any(type(p) is not bytes for p in v):
        raise InvalidRecord(f"evidence is a list of 1 to {MAX_PROOFS} encoded fraud proofs", reason="bad-evidence")
    hashes = [_proof_hash(p) for p in v]
    if any(a >= b for a, b in zip(hashes, hashes[1:], strict=False)):
        raise InvalidRecord("evidence proofs must be distinct and sorted by SHA-256", reason="bad-evidence")
    return v


def encode_set(proofs: Iterable[bytes]) -> bytes:
    """Canonical encoding of a set of proofs (sorted by hash, deduplicated, capped)."""
    return encoding.encode(merge(proofs))


def merge(*sets: Iterable[bytes]) -> list[bytes]:
    """Union of proof sets, sorted by proof hash, the MAX_PROOFS smallest hashes kept."""
    by_hash = {_proof_hash(p): p for s in sets for p in s}
    return [by_hash[h] for h in sorted(by_hash)[:MAX_PROOFS]]


def validate_entry(key: bytes, data: bytes) -> list[bytes]:
    """Decode an evidence entry sent for ``key`` and check every proof in it; returns the proofs.

    One bad proof refuses the whole entry (the error of :func:`check_proof`).
    """
    proofs = decode_set(data)
    for p in proofs:
        check_proof(p, key)
    return proofs
