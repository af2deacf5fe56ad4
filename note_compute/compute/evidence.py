"""The ring-wide fraud evidence index: proofs kept under the accused peer's id (pure).

Every node holds, at ring key ``K = evidence_key(peer_id) =
SHA-256(domains.FRAUD_INDEX || peer_id)``, a store entry of kind
``"evidence"`` whose data is ``encode([proof, ...])``: encoded
:class:`~note_compute.compute.fraud.FraudProof` byte strings, sorted by
SHA-256 of the proof bytes, without duplicates, at most :data:`MAX_PROOFS`.

Writes **merge** (:func:`merge`): everything held stays (nothing held is
ever evicted, so the accused cannot push a stored genuine proof out by
signing more lies, however small their hashes: the old rule kept the 16
smallest hashes, and was crowded out exactly that way), and incoming proofs
are admitted in hash order while they fit. What fits depends on where the
set comes from:

* a **put** from a peer (``replica=False``) is admitted while the set holds
  fewer than :data:`MAX_PROOFS` (16), fewer than :data:`MAX_PER_PAIR` (4)
  for the proof's (program, dataset) pair, and at most :data:`PUT_BYTES`
  (a third of an entry) in all;
* a **replica's set** (``replica=True``: this node pulling a sync
  partner's set during anti-entropy; never a push, which any ring member
  can send) is admitted up to the room the union
  of :data:`REPLICAS` put-filled sets needs: :data:`MAX_HELD` (48) proofs,
  :data:`MAX_PAIR_HELD` (12) per pair, :data:`SET_BYTES` (an entry).

So the sets the r = 3 replicas filled from puts, in whatever order, always
fit together: anti-entropy leaves every replica holding their **union**
(replicas converge; a proof admitted by one replica is never lost when
another is replaced), and a reader also takes the :func:`union` of the
replicas it asks. Past that (more than three nodes admitting puts for one
key, e.g. after churn), held proofs are kept first and divergence is
possible again; readers' union still sees every replica's set. A full set is
no shelter either: on nodes that run compute every admitted proof convicts,
and a client acts on *any* valid proof (:mod:`.accuse`).

What a node checks (:func:`check_proof`, cheap: no program is run):

* the proof decodes (:meth:`FraudProof.decode`) and is at most
  :data:`MAX_PROOF_SIZE` bytes;
* the receipt inside decodes, its peer id is the accused id ``K`` was
  derived from, and it is signed by the accused (Ed25519 over the receipt
  body with ``SIG_RECEIPT``; SHA-256 of the key is the peer id), so nobody
  can plant evidence against a peer that never signed anything;
* the proof's arguments and claimed output are the ones the receipt signs
  (or, for a ``range`` / ``shard`` proof naming its blob, the claimed
  output is left out: :func:`~note_compute.compute.fraud.claim_omitted`).

The same entries, at ``fault_index.fault_key(dataset URL)``, index
publisher faults against a dataset (:mod:`.fault_index`): an item whose
``type`` is ``publisher-fault`` is checked in full by
:func:`.fault_index.check_fault` instead, grouped by the dataset version.

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
from ..wire.storage import MAX_ENTRY_SIZE
from .fault_index import check_fault, fault_pair, is_fault
from .fraud import FraudProof, claim_omitted
from .protocol import Receipt, args_digest, digest_of_claim

__all__ = ["MAX_HELD", "MAX_PAIR_HELD", "MAX_PER_PAIR", "MAX_PROOFS", "MAX_PROOF_SIZE", "PUT_BYTES", "REPLICAS",
           "SET_BYTES", "check_proof", "decode_set", "encode_set", "evidence_key",
           "merge", "pair_of", "union", "validate_entry", "FraudEvidencePolicy", "FRAUD_EVIDENCE"]

MAX_PROOFS = 16
"""Most proofs held against one peer (first seen, first kept; nothing held is evicted)."""
MAX_PER_PAIR = 4
"""Most proofs held against one peer for one (program hash, dataset URL) pair."""
MAX_PROOF_SIZE = 60 * 1024
"""Largest encoded proof accepted (16 of them fit a 1 MiB store entry)."""
REPLICAS = 3
"""The ring's replication factor the held-set room is sized for (``r``, default 3)."""
MAX_HELD = MAX_PROOFS * REPLICAS
"""Most proofs a set holds: room for the union of ``REPLICAS`` sets each filled from puts."""
MAX_PAIR_HELD = MAX_PER_PAIR * REPLICAS
"""Most proofs a set holds for one (program, dataset) pair."""
SET_BYTES = MAX_ENTRY_SIZE - 64
"""Most bytes an encoded set takes (one store entry, with room for the list header)."""
PUT_BYTES = SET_BYTES // REPLICAS
"""Most bytes a set may hold for a put's proof to be admitted (so ``REPLICAS`` of them fit one entry)."""
_ITEM_OVERHEAD = 5  # CBOR byte-string header of a proof up to 4 GiB


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
    claimed = digest_of_claim(proof.indices, proof.digests, proof.extra) == receipt["result"] \
        or claim_omitted(proof)  # a re-execution proof may leave a large claim out (it checks the digest)
    if args_digest(proof.args) != receipt["args"] or len(proof.digests) != len(proof.indices) or not claimed:
        raise InvalidProof("the proof's arguments or claimed output are not what the receipt signs",
                           reason="claim-mismatch")
    return proof


def decode_set(data: bytes) -> list[bytes]:
    """Decode an evidence set's structure: a list of 1..MAX_HELD byte strings sorted by hash, distinct.

    Raises InvalidRecord (reason ``bad-evidence``); the proofs themselves are
    checked by :func:`check_proof`.
    """
    try:
        v = encoding.decode(data, max_size=MAX_ENTRY_SIZE, max_depth=2)
    except InvalidEncoding as exc:
        raise InvalidRecord(f"evidence is not canonical CBOR: {exc}", reason="bad-evidence") from exc
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_HELD or any(type(p) is not bytes for p in v):
        raise InvalidRecord(f"evidence is a list of 1 to {MAX_HELD} encoded fraud proofs", reason="bad-evidence")
    hashes = [_proof_hash(p) for p in v]
    if any(a >= b for a, b in itertools.pairwise(hashes)):
        raise InvalidRecord("evidence proofs must be distinct and sorted by SHA-256", reason="bad-evidence")
    return v


def pair_of(proof: bytes) -> tuple[bytes, str]:
    """The (program hash, dataset URL) a proof's receipt names: its slot group (raises on a bad proof).

    An indexed publisher fault (:mod:`.fault_index`) is grouped by the dataset version it proves malformed.
    """
    if is_fault(proof):
        return fault_pair(proof)
    r = Receipt.decode(FraudProof.decode(proof).receipt)
    return r["program"], r["dataset"]


def encode_set(proofs: Iterable[bytes]) -> bytes:
    """Canonical encoding of a set of proofs (admitted as a replica's set by :func:`merge`, sorted by hash)."""
    return encoding.encode(merge([], proofs, replica=True))


def merge(held: Iterable[bytes], *incoming: Iterable[bytes], replica: bool = False) -> list[bytes]:
    """``held`` kept whole, then each proof of ``incoming`` (each set in hash order) admitted while it fits.

    A put's proof (``replica=False``) fits while the result holds fewer than
    :data:`MAX_PROOFS`, fewer than :data:`MAX_PER_PAIR` for its (program,
    dataset) pair and at most :data:`PUT_BYTES`; a replica's (``replica=True``)
    while it holds fewer than :data:`MAX_HELD`, :data:`MAX_PAIR_HELD` and at
    most :data:`SET_BYTES` (module docstring: room for the union of the
    replicas' put-filled sets, so replicas converge). Nothing held is ever
    evicted: admission is first-seen, so a proof stored before a flood stays.
    Returns the set sorted by proof hash (its canonical order). Proofs whose
    receipt does not decode count as one pair of their own.
    """
    by_hash: dict[bytes, bytes] = {}
    per_pair: dict[object, int] = {}
    cap, pair_cap, byte_cap = (MAX_HELD, MAX_PAIR_HELD, SET_BYTES) if replica else (MAX_PROOFS, MAX_PER_PAIR,
                                                                                   PUT_BYTES)
    size = 0

    def admit(p: bytes, *, force: bool) -> None:
        nonlocal size
        h = _proof_hash(p)
        if h in by_hash:
            return
        try:
            pair: object = pair_of(p)
        except NoteError:
            pair = h
        cost = len(p) + _ITEM_OVERHEAD
        if not force and (len(by_hash) >= cap or per_pair.get(pair, 0) >= pair_cap or size + cost > byte_cap):
            return
        by_hash[h] = p
        per_pair[pair] = per_pair.get(pair, 0) + 1
        size += cost

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

    One bad proof refuses the whole entry (the error of :func:`check_proof`,
    or of :func:`.fault_index.check_fault` for an indexed publisher fault),
    as does a set with more than :data:`MAX_PAIR_HELD` proofs for one pair.
    """
    proofs = decode_set(data)
    pairs: dict[tuple[bytes, str], int] = {}
    for p in proofs:
        if is_fault(p):  # a publisher fault indexed against a dataset (.fault_index): checked in full
            check_fault(p, key)
            pair = fault_pair(p)
        else:
            proof = check_proof(p, key)
            r = Receipt.decode(proof.receipt)
            pair = (r["program"], r["dataset"])
        pairs[pair] = pairs.get(pair, 0) + 1
        if pairs[pair] > MAX_PAIR_HELD:
            raise InvalidRecord(f"evidence holds more than {MAX_PAIR_HELD} proofs for one (program, dataset)",
                                reason="bad-evidence")
    return proofs


class FraudEvidencePolicy:
    """The rule above as the :class:`~note_compute.store.EvidencePolicy` a node hands its store."""

    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]:
        return validate_entry(key, data)

    def decode_set(self, data: bytes) -> list[bytes]:
        return decode_set(data)

    def merge(self, held: Iterable[bytes], *incoming: Iterable[bytes], replica: bool = False) -> list[bytes]:
        return merge(held, *incoming, replica=replica)

    def encode_set(self, proofs: Iterable[bytes]) -> bytes:
        return encode_set(proofs)


FRAUD_EVIDENCE = FraudEvidencePolicy()
"""The policy nodes hand their store (``Store(..., evidence=FRAUD_EVIDENCE)``)."""
