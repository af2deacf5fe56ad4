"""The ring-wide fraud evidence index: proofs kept under the accused peer's id (pure).

Every node holds, at ring key ``K = evidence_key(peer_id) =
SHA-256(domains.FRAUD_INDEX || peer_id)``, a store entry of kind
``"evidence"`` whose data is ``encode([proof, ...])``: encoded
:class:`~note_compute.compute.fraud.FraudProof` byte strings, sorted by
SHA-256 of the proof bytes, without duplicates, at most :data:`MAX_PROOFS`.

Writes **merge** (:func:`merge`): everything held stays, and incoming proofs
are admitted (each put's proofs in hash order) while the set holds fewer
than :data:`MAX_PROOFS` (16) and fewer than :data:`MAX_PER_PAIR` (4) for the
proof's (program, dataset) pair. Nothing held is ever evicted, so the
accused cannot push a stored genuine proof out by signing more lies, however
small their hashes (the old rule kept the 16 smallest hashes, and was
crowded out exactly that way). The cost: replicas that filled up in a
different order may hold different sets for good (anti-entropy then keeps
exchanging them, each side admitting nothing new); a reader takes the
:func:`union` of the replicas' sets. A full set is no shelter either: on
nodes that run compute every admitted proof convicts, and a client acts on
*any* valid proof (:mod:`.accuse`).

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
import itertools
from collections.abc import Iterable

from .. import domains, encoding
from ..crypto import domain_hash
from ..errors import InvalidEncoding, InvalidProof, InvalidRecord, NoteError
from .fraud import FraudProof
from .protocol import Receipt, args_digest, digest_of_claim

__all__ = ["MAX_PER_PAIR", "MAX_PROOFS", "MAX_PROOF_SIZE", "check_proof", "decode_set", "encode_set", "evidence_key",
           "merge", "pair_of", "union", "validate_entry", "FraudEvidencePolicy", "FRAUD_EVIDENCE"]

MAX_PROOFS = 16
"""Most proofs held against one peer (first seen, first kept; nothing held is evicted)."""
MAX_PER_PAIR = 4
"""Most proofs held against one peer for one (program hash, dataset URL) pair."""
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
    if any(a >= b for a, b in itertools.pairwise(hashes)):
        raise InvalidRecord("evidence proofs must be distinct and sorted by SHA-256", reason="bad-evidence")
    return v


def pair_of(proof: bytes) -> tuple[bytes, str]:
    """The (program hash, dataset URL) a proof's receipt names: its slot group (raises on a bad proof)."""
    r = Receipt.decode(FraudProof.decode(proof).receipt)
    return r["program"], r["dataset"]


def encode_set(proofs: Iterable[bytes]) -> bytes:
    """Canonical encoding of a set of proofs (admitted as by :func:`merge`, sorted by hash)."""
    return encoding.encode(merge([], proofs))


def merge(held: Iterable[bytes], *incoming: Iterable[bytes]) -> list[bytes]:
    """``held`` kept whole, then each proof of ``incoming`` (each set in hash order) admitted while it fits.

    A proof fits while the result holds fewer than :data:`MAX_PROOFS` and
    fewer than :data:`MAX_PER_PAIR` for its (program, dataset) pair. Nothing
    held is ever evicted: admission is first-seen, so a proof stored before
    a flood stays. Returns the set sorted by proof hash (its canonical
    order). Proofs whose receipt does not decode count as one pair of their own.
    """
    by_hash: dict[bytes, bytes] = {}
    per_pair: dict[object, int] = {}

    def admit(p: bytes, *, force: bool) -> None:
        h = _proof_hash(p)
        if h in by_hash:
            return
        try:
            pair: object = pair_of(p)
        except NoteError:
            pair = h
        if not force and (len(by_hash) >= MAX_PROOFS or per_pair.get(pair, 0) >= MAX_PER_PAIR):
            return
        by_hash[h] = p
        per_pair[pair] = per_pair.get(pair, 0) + 1

    for p in held:
        admit(p, force=True)
    for s in incoming:
        for p in sorted(s, key=_proof_hash):
            admit(p, force=False)
    return [by_hash[h] for h in sorted(by_hash)]


def union(*sets: Iterable[bytes]) -> list[bytes]:
    """What a reader does with the sets several replicas hold: every distinct proof, sorted by hash, no cap."""
    by_hash = {_proof_hash(p): p for s in sets for p in s}
    return [by_hash[h] for h in sorted(by_hash)]


def validate_entry(key: bytes, data: bytes) -> list[bytes]:
    """Decode an evidence entry sent for ``key`` and check every proof in it; returns the proofs.

    One bad proof refuses the whole entry (the error of :func:`check_proof`),
    as does a set with more than :data:`MAX_PER_PAIR` proofs for one pair.
    """
    proofs = decode_set(data)
    pairs: dict[tuple[bytes, str], int] = {}
    for p in proofs:
        proof = check_proof(p, key)
        r = Receipt.decode(proof.receipt)
        pair = (r["program"], r["dataset"])
        pairs[pair] = pairs.get(pair, 0) + 1
        if pairs[pair] > MAX_PER_PAIR:
            raise InvalidRecord(f"evidence holds more than {MAX_PER_PAIR} proofs for one (program, dataset)",
                                reason="bad-evidence")
    return proofs


class FraudEvidencePolicy:
    """The rule above as the :class:`~note_compute.store.EvidencePolicy` a node hands its store."""

    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]:
        return validate_entry(key, data)

    def decode_set(self, data: bytes) -> list[bytes]:
        return decode_set(data)

    def merge(self, held: Iterable[bytes], *incoming: Iterable[bytes]) -> list[bytes]:
        return merge(held, *incoming)

    def encode_set(self, proofs: Iterable[bytes]) -> bytes:
        return encode_set(proofs)


FRAUD_EVIDENCE = FraudEvidencePolicy()
"""The policy nodes hand their store (``Store(..., evidence=FRAUD_EVIDENCE)``)."""
