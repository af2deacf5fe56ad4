"""What a query returns and what the user is told about it (pure).

:class:`Verification` records what was checked for one query;
:func:`decide_verdict` turns it into one of four verdicts, the only words
the CLI may print as the answer's status (``specs/compute.md`` section
"Verdicts"):

``verified-complete``
    A sort-key range query: every shard's answer came with a key-range
    proof over the site-signed root, the program was re-run here on every
    record of the range, and (``replicas=k``) k distinct unconvicted peers
    signed the same result for every shard. Nothing unresolved.
``audited``
    A predicate query whose every shard was audited at the requested
    nonzero rate (sample never capped), k replicas agreed per shard, and
    nothing is unresolved: each hidden match escaped with probability at
    most ``1 - rate``.
``unverified``
    An answer came back but one of the above does not hold (no audit, a
    suspicion left unresolved); ``not_checked`` and ``suspicions`` say what.
``failed``
    Some shard has no acceptable answer, or a check failed (``errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import encoding
from .verify import ShardAnswer

__all__ = ["VERDICTS", "QueryResult", "Verification", "decide_verdict"]

VERDICTS = ("verified-complete", "audited", "unverified", "failed")


@dataclass
class Verification:
    """What was checked for one query (the CLI prints it; ``--json`` emits it)."""

    ok: bool = True
    dataset: str = ""
    seq: int = 0
    shards: int = 0
    records_proven: int = 0
    completeness: str = ""
    audited_records: int = 0
    audit_rate: float = 0.0
    replicas: int = 1                 # replicas requested per shard
    replicas_agreeing: int = 0        # the fewest distinct unconvicted peers that signed each returned shard answer
    peers_used: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    fraud: list[dict[str, str]] = field(default_factory=list)
    bytes_received: int = 0
    verify_seconds: float = 0.0
    resolve_seconds: float = 0.0  # manifest + program resolution (part of total)
    total_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)  # hex of each QuorumCertificate (quorum=True)
    suspicions: list[str] = field(default_factory=list)    # unresolved: they keep the verdict below verified
    publisher_faults: list[dict[str, str]] = field(default_factory=list)  # verified proofs the dataset is malformed
    extra_scope: str = ""             # what the returned ``extra`` was recomputed over
    restarts: int = 0                 # times the query moved to a newer dataset version (seq hints)
    hints_ignored: int = 0            # newer-seq claims without a valid signed record (or replays): not followed
    verdict: str = ""
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QueryResult:
    """The merged, verified answer: records (canonical CBOR) in the program's order.

    ``extra`` is never a peer's word: it is the program's extra output
    recomputed here over verified records (``verification.extra_scope``).
    """

    records: list[bytes]
    extra: bytes
    verification: Verification
    answers: list[ShardAnswer]
    frauds: list[Any]
    certificates: list[Any] = field(default_factory=list)  # QuorumCertificate per shard (quorum=True)

    def values(self) -> list[Any]:
        return [encoding.decode(r) for r in self.records]

    @property
    def verdict(self) -> str:
        return self.verification.verdict

    @property
    def summary(self) -> str:
        return self.verification.summary


def decide_verdict(v: Verification, *, ranged: bool) -> None:
    """Fill ``verdict``, ``checked``, ``not_checked`` and ``summary`` of ``v`` (see the module docstring)."""
    checked = list(v.checked)
    missing = list(v.not_checked)
    if v.shards:
        checked.append(f"receipts signed by the answering peers, for dataset seq {v.seq} (the newest found)")
        checked.append(f"{v.records_proven} returned records proven against the site-signed roots")
    if ranged:
        checked.append("range complete: key-range proofs, program re-run here on every record in range")
    elif v.audit_rate > 0:
        checked.append(f"audit at rate {v.audit_rate}: {v.audited_records} other records re-checked "
                       "(a hidden match escapes with probability <= 1 - rate)")
    else:
        missing.append("completeness: no audit (a peer could have left matches out unnoticed)")
    if v.replicas > 1:
        if v.replicas_agreeing >= v.replicas:
            checked.append(f"{v.replicas} replicas signed the same result per shard")
        else:
            missing.append(f"replicas: {v.replicas} requested, only {v.replicas_agreeing} agreed on some shard")
    if v.fraud:
        checked.append(f"{len(v.fraud)} lying peer(s) convicted; their answers dropped and re-asked")
    if not v.ok:
        verdict = "failed"
    elif v.suspicions or missing:
        verdict = "unverified"
    elif ranged:
        verdict = "verified-complete"
    else:
        verdict = "audited"
    v.verdict, v.checked, v.not_checked = verdict, checked, missing
    head = {"verified-complete": "verified: proven complete",
            "audited": f"verified: audited at rate {v.audit_rate}, nothing unresolved",
            "unverified": "NOT verified",
            "failed": "FAILED"}[verdict]
    parts = [head]
    if missing:
        parts.append("not checked: " + "; ".join(missing))
    if v.suspicions:
        parts.append("unresolved: " + "; ".join(v.suspicions))
    if v.errors:
        parts.append("errors: " + "; ".join(v.errors))
    v.summary = ". ".join(parts)
