"""Audits for predicate-only matches (pure).

A peer answering a whole-shard query could leave out a record the program
would select: only the program decides, so no Merkle proof can show the
omission. The client samples every *other* index of the shard independently
with probability ``p``, fetches those records with a batch proof (from a
different replica when there is one), and re-runs the program on the
returned records plus the sample (:func:`.verify.check_output`). Each hidden
match is sampled with probability ``p``, independently, so ``m`` hidden
matches escape with probability ``(1 - p)^m``:

    P(detect) = 1 - (1 - p)^m

and the audit costs about ``p * (shard records)`` extra records on the wire.
``replicas=k`` adds a cross-check: k replicas' signed result digests must
agree, and when they do not the union of their proven records convicts the
liar (see :meth:`.client.ComputeClient._reconcile`).
"""

from __future__ import annotations

import random

from .protocol import MAX_SAMPLE

__all__ = ["sample_indices", "detection_probability"]


def sample_indices(count: int, rate: float, rng: random.Random, *, exclude: set[int] | None = None) -> list[int]:
    """Each index in ``range(count)`` not in ``exclude``, kept with probability ``rate`` (sorted, capped)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError("audit rate is in [0, 1]")
    exclude = exclude or set()
    if rate <= 0.0:
        return []
    out = [i for i in range(count) if i not in exclude and rng.random() < rate]
    if len(out) > MAX_SAMPLE:
        out = sorted(rng.sample(out, MAX_SAMPLE))
    return out


def detection_probability(rate: float, hidden: int) -> float:
    """The chance that an audit at ``rate`` samples at least one of ``hidden`` hidden matches."""
    if hidden <= 0:
        return 0.0
    return 1.0 - (1.0 - rate) ** hidden
