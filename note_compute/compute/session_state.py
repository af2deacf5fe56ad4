"""The per-shard and per-audit state a :class:`~.session.QuerySession` keeps, and its pure helpers."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any

from ..errors import NoteError
from .dataset import Manifest
from .fraud import Evidence, FraudProof
from .protocol import QueryRequest, Receipt
from .verify import Claim, ShardAnswer

__all__ = ["AuditJob", "ShardTask", "agreement", "fp_shard", "with_guards"]


def fp_shard(fp: FraudProof) -> int | None:
    """The shard index a fraud proof's receipt names (None when the receipt does not decode)."""
    try:
        return int(Receipt.decode(fp.receipt)["shard"])
    except NoteError:
        return None


@dataclass
class ShardTask:
    """One shard's progress through the session (see :mod:`.session`)."""

    index: int
    req: QueryRequest
    candidates: list[Any]
    asked: set[Any] = field(default_factory=set)
    inflight: int = 0
    auditing: int = 0
    good: list[tuple[ShardAnswer, Any]] = field(default_factory=list)   # checked answers
    tentative: tuple[ShardAnswer, Any] | None = None                    # awaiting the joint check
    pending: list[tuple[Claim, Any]] = field(default_factory=list)       # signed, unproven range claims
    peers: list[Any] = field(default_factory=list)                      # every peer asked
    find: int = 0                   # FindPeers rounds done (0, 1 or 2)
    finding: bool = False
    final: ShardAnswer | None = None
    agreeing: int = 0
    failed: str | None = None
    disagreement: bool = False
    tried: frozenset[Any] = frozenset()  # the answers conflicts were last turned into proofs for
    disputed: frozenset[Any] = frozenset()  # the answers whose differing signed outputs were last re-run

    @property
    def settled(self) -> bool:
        return self.final is not None or self.failed is not None


@dataclass
class AuditJob:
    """One answer's audit: sample parts, where each is fetched from, what arrived."""

    shard: int
    answer: ShardAnswer
    peer: Any
    sources: list[Any]
    parts: list[list[int]]
    got: list[Evidence] = field(default_factory=list)
    waiting: int = 0
    closed: bool = False


def with_guards(manifest: Manifest, lo: Any, hi: Any, touching: list[int]) -> list[int]:
    """The shards a range query asks: those whose declared bounds touch ``[lo, hi)`` plus one guard shard on
    each side, whose key-range proofs show their boundary records (a publisher that mis-declares bounds to
    hide records from a range is caught by :func:`.verify.check_declared_bounds` or by the peers' own
    shard checks)."""
    n = len(manifest.shards)
    if touching:
        first, last = touching[0], touching[-1]
    else:  # the range falls in a gap: the shards either side of it
        last = next((i for i in builtins.range(n) if manifest.shard_range_keys(i)[0] >= lo), n)
        first = last
        touching = []
    ids = set(touching)
    if first - 1 >= 0:
        ids.add(first - 1)
    if last + (1 if touching else 0) < n:
        ids.add(last + (1 if touching else 0))
    return sorted(ids)


def agreement(a: ShardAnswer) -> Any:
    """What replicas must agree on: the whole signed result for a range answer (its extra is checked);
    the returned records for a predicate answer (its extra is never used, see :mod:`.result`)."""
    if a.range_records is not None:
        return a.claim.receipt["result"]
    return (tuple(a.claim.indices), tuple(a.claim.digests))
