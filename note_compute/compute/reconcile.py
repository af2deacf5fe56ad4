"""Reconciling replicas' answers and sizing the client's own program runs (pure).

``replicas=k`` (``specs/compute.md``, "Reconciliation"): a shard's answer is
returned only when k distinct, unconvicted peers signed the same result
digest for it, each answer verified on its own. When signed digests differ,
:func:`conflict_proofs` builds, for every answer, a subset fraud proof whose
evidence is the union of all the answers' proven records: for a
subset-stable program at least one of two different answers is convicted by
it. Convicted peers' answers are dropped; when the survivors still disagree
(say, two answers that differ only in an unverifiable ``extra``), the
session asks further replicas, and fails the shard when none are left.
"""

from __future__ import annotations

from typing import Any

from ..errors import NoteError
from .fraud import KIND_SUBSET, Evidence, FraudProof
from .verify import ShardAnswer, run_program

__all__ = ["MAX_MERGE_FUEL", "certificate_of", "conflict_proofs", "joint_run", "merge_fuel", "minimal_subset_proof"]

MAX_MERGE_FUEL = 2**62


def merge_fuel(fuel: int, shards: int) -> int:
    """Fuel for a client-side run over the verified inputs of ``shards`` shards.

    A program record's fuel covers one run over one whole shard; the merge
    (and the joint check) runs over up to ``shards`` shards' worth of input,
    so it gets ``fuel * (shards + 1)``: an honest multi-shard query never
    runs out, and a hostile answer (say, every record of its shard) adds at
    most one shard's worth.
    """
    return min(MAX_MERGE_FUEL, fuel * (max(1, shards) + 1))


def conflict_proofs(good: list[tuple[ShardAnswer, Any]]) -> list[tuple[FraudProof, Any]]:
    """One subset fraud proof per predicate answer, over the union of every answer's proven records."""
    evidence: list[Evidence] = []
    for a, _ in good:
        if a.indices and a.range_records is None:
            evidence.append(Evidence(list(a.indices), list(a.records), a.proof))
        evidence.extend(a.sample or [])
    out = []
    for a, peer in good:
        if a.range_records is None:
            out.append((a.claim.fraud(KIND_SUBSET, evidence=evidence), peer))
    return out


def minimal_subset_proof(fp: FraudProof, ans: ShardAnswer, sample: list[Evidence], executor: Any,
                         program: Any) -> FraudProof | None:
    """A smaller proof of the same lie: the claimed records alone, or with the one sample chunk that shows it.

    Returns None when no smaller proof is found (the caller keeps ``fp``).
    """
    claim = ans.claim
    own = [Evidence(list(claim.indices), list(ans.records), ans.proof)] if claim.indices else []
    candidates = [own] + [own + [e] for e in sorted(sample, key=lambda e: len(e.indices))]
    for ev in candidates:
        pool: dict[int, bytes] = {}
        for e in ev:
            pool.update(zip(e.indices, e.records, strict=False))
        if not pool:
            continue
        order = sorted(pool)
        try:
            rel, _ = run_program(executor, program.wasm, claim.args, [pool[i] for i in order], program.fuel)
        except NoteError:
            continue
        if [order[j] for j in rel] != list(claim.indices):
            return claim.fraud(KIND_SUBSET, evidence=ev)
    return None


def certificate_of(agreeing: list[ShardAnswer]) -> Any:
    """Aggregate the BLS endorsements of answers that agree (None if fewer than two are usable)."""
    from .quorum import Endorsement, make_certificate

    ends = []
    for a in agreeing:
        try:
            e = Endorsement.from_value(a.extra_fields.get("qc"))
            if e.key != a.claim.receipt["key"]:
                continue
            e.check_binding()
            ends.append(e)
        except NoteError:
            continue
    if len(ends) < 2:
        return None
    return make_certificate(agreeing[0].claim.receipt.body, ends)


def joint_run(tentative: dict[int, ShardAnswer], executor: Any, program: Any,
              args: bytes) -> tuple[list[int], tuple[list[bytes], bytes] | None]:
    """One program run over every shard's returned (and sampled) records, in dataset order.

    For a subset-stable program the run's output restricted to one shard
    must be exactly that shard's claim; returns the shards where it is
    (``passed``) and, when no sample was mixed in, the merged answer. The
    other shards must be re-checked alone (a limit can cut an honest shard's
    tail; a lie cannot survive the re-check). A failed run passes nobody.
    """
    pool: list[tuple[int, int, bytes]] = []
    for i in sorted(tentative):
        a = tentative[i]
        recs = dict(zip(a.indices, a.records, strict=False))
        for e in a.sample or []:
            recs.update(zip(e.indices, e.records, strict=False))
        pool.extend((i, leaf, recs[leaf]) for leaf in sorted(recs))
    try:
        rel, extra = run_program(executor, program.wasm, args, [r for _, _, r in pool],
                                 merge_fuel(program.fuel, len(tentative)))
    except NoteError:
        return [], None
    chosen = [pool[j] for j in rel]
    per: dict[int, list[int]] = {}
    for shard, leaf, _ in chosen:
        per.setdefault(shard, []).append(leaf)
    passed = [i for i, a in tentative.items() if per.get(i, []) == list(a.indices)]
    clean = not any(a.sample for a in tentative.values())
    return passed, ([r for _, _, r in chosen], extra) if clean else None
