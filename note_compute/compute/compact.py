"""Fraud proofs cut down to what conviction needs, so that every proof a client builds fits the evidence
index (pure; ``specs/compute.md`` section 5, "Size").

A proof found during a query can be large: the audit chunk it came from (up
to :data:`~.protocol.MAX_SAMPLE` records with their batch proof), the
union of several replicas' records, a key-range proof carrying a whole
range, a claim listing thousands of returned indices. The ring stores at
most :data:`.evidence.MAX_PROOF_SIZE` (60 KiB) per proof. :func:`candidates`
lists smaller forms of the same accusation, smallest evidence first, and
:func:`compact` picks the first that fits:

1. a ``subset`` proof of a program-independent lie keeps only what shows it:
   no evidence for a claimed index outside the shard; for a forged record,
   the **single** contradicting record with its own Merkle path (cut out of
   the verified batch proof it came with: :func:`single_record`);
2. a re-execution proof: ``range`` (the verifier cuts the window from the
   shard, no key-range proof) or ``shard`` (whole-shard receipts), naming the
   shard's blob, with the claimed output;
3. the same without the claimed output (:func:`.fraud.without_claim`): the
   receipt, the arguments and the blob address. Its size is
   ``len(receipt) + len(args) + CLAIMLESS_OVERHEAD`` at most, whatever the
   shard, the answer or the audit.

The caller verifies the form it publishes (forms 2 and 3 need the shard).
"""

from __future__ import annotations

import hashlib
from hashlib import sha256

from ..errors import InvalidEncoding, InvalidProof
from ..merkle import BatchProof, batch_sibling_positions
from .evidence import MAX_PROOF_SIZE
from .fraud import KIND_RANGE, KIND_SHARD, KIND_SUBSET, Evidence, FraudProof, shard_proof, without_claim
from .protocol import Receipt

__all__ = ["CLAIMLESS_OVERHEAD", "candidates", "compact", "full_shard", "single_record"]

CLAIMLESS_OVERHEAD = 160
"""Bytes a claim-less re-execution proof adds to its receipt and arguments (map keys, headers, blob)."""

_LEAF, _NODE = b"\x00", b"\x01"


def single_record(ev: Evidence, size: int, index: int) -> Evidence:
    """The record at ``index`` with its own Merkle path, cut out of ``ev`` (a batch proof already verified
    against a tree of ``size`` leaves): every sibling on the path is either a proof hash or a node the batch
    lets one compute. Raises InvalidProof if ``ev`` does not carry ``index`` or does not verify."""
    bp = BatchProof.decode(ev.proof)
    if index not in ev.indices or tuple(sorted(ev.indices)) != bp.indices:
        raise InvalidProof("the evidence does not carry that record", reason="index-mismatch")
    leaves = dict(zip(ev.indices, ev.records, strict=False))
    known: dict[tuple[int, int], bytes] = dict(zip(batch_sibling_positions(size, bp.indices), bp.hashes,
                                                   strict=False))
    for i in bp.indices:
        known[(0, i)] = sha256(_LEAF + leaves[i]).digest()
    level, n, pos = 0, size, list(bp.indices)
    while n > 1:
        parents = sorted({p >> 1 for p in pos})
        for q in parents:
            left, right = (level, 2 * q), (level, 2 * q + 1)
            if 2 * q + 1 < n:
                if left not in known or right not in known:
                    raise InvalidProof("the batch proof is missing a sibling", reason="hash-count")
                known[(level + 1, q)] = sha256(_NODE + known[left] + known[right]).digest()
            else:
                known[(level + 1, q)] = known[left]
        pos, n, level = parents, (n + 1) >> 1, level + 1
    path = tuple(known[p] for p in batch_sibling_positions(size, [index]))
    one = BatchProof(size, (index,), path)
    return Evidence([index], [leaves[index]], one.encode())


def _forged(fp: FraudProof, count: int) -> tuple[Evidence, int] | None:
    """The evidence item and index where a proven record contradicts the claimed digest, if any."""
    claimed = dict(zip(fp.indices, fp.digests, strict=False))
    for ev in fp.evidence:
        for i, r in zip(ev.indices, ev.records, strict=False):
            if i in claimed and i < count and hashlib.sha256(r).digest() != claimed[i]:
                return ev, i
    return None


def full_shard(fp: FraudProof) -> list[bytes] | None:
    """The whole shard's records when a ``subset`` proof's evidence proves every leaf (else None).

    Only meaningful for a proof that :func:`.fraud.verify_fraud_proof` accepted (evidence verified)."""
    if fp.kind != KIND_SUBSET:
        return None
    count = int(Receipt.decode(fp.receipt)["count"])
    proven: dict[int, bytes] = {}
    for ev in fp.evidence:
        proven.update(zip(ev.indices, ev.records, strict=False))
    if sorted(proven) != list(range(count)):
        return None
    return [proven[i] for i in range(count)]


def candidates(fp: FraudProof, blob: bytes | None) -> list[FraudProof]:
    """Smaller forms of the accusation ``fp`` (already verified), in order of preference (see the module
    docstring); ``blob`` is the shard's blob address (None: only forms needing no shard)."""
    receipt = Receipt.decode(fp.receipt)
    count = int(receipt["count"])
    out: list[FraudProof] = []
    if fp.kind == KIND_SUBSET:
        bare = FraudProof(KIND_SUBSET, fp.receipt, fp.args, list(fp.indices), list(fp.digests), fp.extra)
        if any(i >= count for i in fp.indices):
            out.append(bare)
        else:
            hit = _forged(fp, count)
            if hit is not None:
                try:
                    out.append(FraudProof(KIND_SUBSET, fp.receipt, fp.args, list(fp.indices), list(fp.digests),
                                          fp.extra, [single_record(hit[0], count, hit[1])]))
                except (InvalidProof, InvalidEncoding):
                    pass
    named = fp.blob or blob
    if named and len(named) == 32 and (fp.kind != KIND_SUBSET or receipt["range"] is None):
        kind = KIND_RANGE if receipt["range"] is not None else KIND_SHARD
        base = fp if fp.kind == kind else FraudProof(kind, fp.receipt, fp.args, list(fp.indices),
                                                     list(fp.digests), fp.extra)
        reexec = shard_proof(base, named)
        out += [reexec, without_claim(reexec)]
    return out


def compact(fp: FraudProof, blob: bytes | None, *, cap: int = MAX_PROOF_SIZE) -> FraudProof:
    """The first of :func:`candidates` that fits ``cap`` (the smallest if none does; ``fp`` if there are
    none). The result still has to be verified by the caller (re-execution forms need the shard)."""
    forms = candidates(fp, blob)
    if not forms:
        return fp
    sized = [(len(f.encode()), f) for f in forms]
    for n, f in sized:
        if n <= cap:
            return f
    return min(sized, key=lambda x: x[0])[1]

