"""Audits for predicate-only matches (pure).

A peer answering a whole-shard query could leave out a record the program
would select: only the program decides, so no Merkle proof can show the
omission. The client samples every *other* index of the shard independently
with probability ``p``, fetches those records with batch proofs (in chunks of
at most :data:`~.protocol.MAX_SAMPLE` indices per ``compute.records``
request, so the sample is never capped), and re-runs the program on the
returned records plus the sample (:func:`.verify.check_output`). Each hidden
match is sampled with probability ``p``, independently, so ``m`` hidden
matches escape with probability ``(1 - p)^m``, for a shard of any size:

    P(detect) = 1 - (1 - p)^m

and the audit costs about ``p * (shard records)`` extra records on the wire
(``benchmarks/bench_compute.py`` measures both; ``specs/compute.md`` states
the promise). ``replicas=k`` adds a cross-check: k replicas' signed result
digests must agree, and when they do not the union of their proven records
convicts the liar (:mod:`.reconcile`).
"""

from __future__ import annotations

import random

from .protocol import MAX_SAMPLE

__all__ = ["chunks", "detection_probability", "sample_indices"]


def sample_indices(count: int, rate: float, rng: random.Random, *, exclude: set[int] | None = None) -> list[int]:
    """Each index in ``range(count)`` not in ``exclude``, kept independently with probability ``rate`` (sorted).

    Never capped: a cap would break the detection formula on large shards
    (the fetch is split into :func:`chunks` instead).
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError("audit rate is in [0, 1]")
    exclude = exclude or set()
    if rate <= 0.0:
        return []
    if rate >= 1.0:
        return [i for i in range(count) if i not in exclude]
    return [i for i in range(count) if i not in exclude and rng.random() < rate]


def chunks(indices: list[int], size: int = MAX_SAMPLE) -> list[list[int]]:
    """``indices`` cut into request-sized pieces (each at most ``size``)."""
    return [indices[j:j + size] for j in range(0, len(indices), size)]


def detection_probability(rate: float, hidden: int) -> float:
    """The chance that an audit at ``rate`` samples at least one of ``hidden`` hidden matches."""
    if hidden <= 0:
        return 0.0
    return 1.0 - (1.0 - rate) ** hidden
