"""Matching on a ring peer, with a Merkle proof for every element (uses the compute layer).

A doubly-blinded set is published as an ordinary dataset (``specs/compute.md``):
records ``{"v": point}`` sorted by ``v``, Merkle-committed, in a manifest
signed by its owner (:func:`publish_set`). To match a value against it, a
client runs the ``psi_match`` contract on a peer as a *key-range query* over
``[v, v || 0x00)`` - the range that holds ``v`` and nothing else
(:func:`match_values`). The answer carries the peer's signed receipt and a
key-range proof against the owner's signed root, so for each value the
client holds either

* an inclusion proof of its partner (the one record in the range), or
* a non-membership proof: the two adjacent records of the sorted set (or
  the set's edge) with their Merkle paths, bracketing ``v``.

The compute client verifies both and re-runs ``psi_match`` on the proven
range, so a peer that hides a match (its proof cannot leave out a leaf that
is in the tree) or invents one (a leaf that is not in the owner's tree
cannot be proven) is caught; a signed lie becomes a fraud proof and the
query goes to another replica. No new proof machinery: these are the
dataset's key-range proofs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from .. import encoding
from ..errors import InvalidProof, NoteError
from .group import POINT_BYTES

__all__ = ["SORT_KEY", "MatchReport", "MatchUnproven", "match_values", "publish_set", "published_manifest",
           "set_records", "value_range"]

SORT_KEY = ("v",)
"""A doubly-blinded set's dataset sort key."""


def set_records(points: Sequence[bytes]) -> list[bytes]:
    """The dataset records of a set: canonical ``{"v": point}`` maps."""
    return [encoding.encode({"v": p}) for p in points]


def value_range(value: bytes) -> list[list[bytes]]:
    """The half-open sort-key range that holds exactly ``value``."""
    return [[value], [value + b"\x00"]]


async def publish_set(client: Any, key: Any, name: str, points: Sequence[bytes], *,
                      now_ms: int | None = None, previous: Any = "read") -> Any:
    """Publish ``points`` as the dataset ``note://KEY/datasets/NAME`` (one shard); returns ``Published``.

    ``previous``: the set's current version when the caller knows it (:func:`published_manifest` of its
    last ``publish_set``, or None under a key it has just made), which saves reading it back from the
    ring; by default it is read. A wrong one cannot roll the set back: the ring refuses a lower seq.
    """
    from ..compute.publish import publish_dataset

    return await publish_dataset(client, key, set_records(points), name=name, sort_key=list(SORT_KEY),
                                 shard_records=max(1, len(points)), now_ms=now_ms, previous=previous)


def published_manifest(pub: Any) -> Any:
    """The manifest of the version a ``publish_set`` call just stored (as a reader would parse it)."""
    from ..compute.source import manifest_from_record

    return manifest_from_record(pub.record, pub.built.table_blob)


@dataclass
class MatchReport:
    """What :func:`match_values` proved: per value, member or not; the liars it caught."""

    members: list[bytes] = field(default_factory=list)
    absent: list[bytes] = field(default_factory=list)
    unproven: list[bytes] = field(default_factory=list)  # no replica gave a verified answer either way
    frauds: list[Any] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    proof_bytes: int = 0

    def check_complete(self) -> None:
        """Raise MatchUnproven when some value is neither proven member nor proven absent."""
        if self.unproven:
            raise MatchUnproven(f"{len(self.unproven)} value(s) not proven either way: "
                                f"{'; '.join(self.failures[-3:]) or 'no replica answered'}", reason="unproven")

    @property
    def caught(self) -> list[str]:
        """Hex ids of the peers convicted while matching."""
        return sorted({fp.peer.hex() for fp in self.frauds})


class MatchUnproven(InvalidProof):
    """No replica gave a verified answer for a value: its membership is unknown."""


async def match_values(cc: Any, program_url: str, dataset_url: str, values: Sequence[bytes], *,
                       parallel: int = 8, min_seq: int = 0) -> MatchReport:
    """Prove, for each value, whether it is in the set published at ``dataset_url``.

    ``cc`` is a :class:`~note_compute.compute.client.ComputeClient`;
    ``program_url`` names the ``psi_match`` program. A value that no
    replica answered with a verified proof lands in ``unproven`` (never in
    ``absent``); :meth:`MatchReport.check_complete` turns that into an error.
    ``min_seq``: answers over an older version of the set than this
    sequence number (one that may not hold the value yet) are unproven too.
    """
    for v in values:
        if type(v) is not bytes or len(v) != POINT_BYTES:
            raise ValueError("values are 32-byte points")
    report = MatchReport()
    limiter = trio.CapacityLimiter(parallel)

    async def one(v: bytes) -> None:
        async with limiter:
            try:
                res = await cc.query(program_url, dataset_url, {"set": v}, range=value_range(v))
            except NoteError as exc:
                report.failures.append(f"{type(exc).__name__}: {exc}")
                report.unproven.append(v)
                return
        report.frauds.extend(res.frauds)
        report.failures.extend(res.verification.failures)
        report.proof_bytes += res.verification.bytes_received
        if not res.verification.ok or res.verification.seq < min_seq:
            report.failures.extend(res.verification.errors or [f"set version {res.verification.seq} < {min_seq}"])
            report.unproven.append(v)
            return
        found = [r.get("v") for r in res.values() if isinstance(r, dict)]
        (report.members if v in found else report.absent).append(v)

    async with trio.open_nursery() as nursery:
        for v in values:
            nursery.start_soon(one, v)
    report.members.sort()
    report.absent.sort()
    report.unproven.sort()
    return report
