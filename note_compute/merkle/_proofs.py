"""Proof objects and their canonical CBOR wire format (strict decoding).

Each proof is a frozen dataclass with ``encode()`` (deterministic CBOR via
:mod:`note_compute.encoding`) and a strict ``decode(data)`` that refuses
anything ``encode`` would not have produced: wrong field set, wrong types,
hashes that are not 32 bytes, numbers out of range, inconsistent counts, or
input over a size cap. CBOR-level faults raise
:class:`~note_compute.errors.InvalidEncoding`; a well-formed CBOR map that is
not a valid proof raises :class:`~note_compute.errors.InvalidProof` with
``reason="malformed"`` (or a finer reason such as ``"index-range"``).

``len(proof.encode())`` (also ``proof.encoded_size``) is the size reported
for a proof. Wire formats are specified field by field in ``specs/merkle.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import encoding
from ..errors import InvalidProof
from ._math import audit_path_length

__all__ = [
    "InclusionProof",
    "BatchProof",
    "KeyRangeProof",
    "MAX_TREE_SIZE",
    "MAX_BATCH_LEAVES",
    "MAX_INCLUSION_PROOF_BYTES",
    "MAX_PROOF_BYTES",
]

#: Largest tree size a proof may name (largest CBOR unsigned integer).
MAX_TREE_SIZE = 2**64 - 1
#: Most leaves one batch or key-range proof may cover.
MAX_BATCH_LEAVES = 1 << 20
#: Decode cap for an inclusion proof (64 hashes at most, ~2.2 KB).
MAX_INCLUSION_PROOF_BYTES = 4096
#: Default decode cap for batch and key-range proofs.
MAX_PROOF_BYTES = 4 * 1024 * 1024

_HASH_SIZE = 32


def _fail(message: str, reason: str = "malformed") -> InvalidProof:
    return InvalidProof(message, reason=reason)


def _check_uint(value: Any, name: str, limit: int = MAX_TREE_SIZE) -> None:
    if type(value) is not int or not 0 <= value <= limit:
        raise _fail(f"{name} must be an integer in [0, {limit}], got {value!r:.40}")


def _check_hashes(value: Any, name: str) -> None:
    if not isinstance(value, (tuple, list)):
        raise _fail(f"{name} must be a sequence of 32-byte hashes")
    for k, h in enumerate(value):
        if type(h) is not bytes or len(h) != _HASH_SIZE:
            raise _fail(f"{name}[{k}] is not a 32-byte hash")


def _check_blobs(value: Any, name: str) -> None:
    if not isinstance(value, (tuple, list)):
        raise _fail(f"{name} must be a sequence of byte strings")
    for k, d in enumerate(value):
        if type(d) is not bytes:
            raise _fail(f"{name}[{k}] is not a byte string")


def _load_map(data: bytes, fields: frozenset[str], max_size: int, what: str) -> dict[str, Any]:
    value = encoding.decode(data, max_size=max_size, max_depth=3)
    if type(value) is not dict:
        raise _fail(f"{what} must be a CBOR map")
    if set(value) != fields:
        parts = []
        missing = sorted(fields - set(value))
        extra = sorted(str(k) for k in set(value) - fields)
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra))
        raise _fail(f"{what} has the wrong fields ({'; '.join(parts)})")
    return value


def _runs(indices: Sequence[int]) -> list[list[int]]:
    """Maximal runs of consecutive indices as [start, end) pairs."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def _indices_from_runs(runs: Any, size: int) -> tuple[int, ...]:
    if type(runs) is not list:
        raise _fail("ranges must be an array of [start, end) pairs")
    total, prev_end = 0, -1
    for r in runs:
        if type(r) is not list or len(r) != 2:
            raise _fail("each range must be a [start, end) pair")
        s, e = r
        _check_uint(s, "range start")
        _check_uint(e, "range end")
        if not s < e:
            raise _fail("a range must have start < end")
        if s <= prev_end:  # equal would mean two runs that should be one
            raise _fail("ranges must be increasing, disjoint and maximal (not adjacent)")
        if e > size:
            raise _fail(f"range [{s}, {e}) outside a tree of {size} leaves", "index-range")
        total += e - s
        if total > MAX_BATCH_LEAVES:
            raise _fail(f"more than {MAX_BATCH_LEAVES} leaves in one proof")
        prev_end = e
    return tuple(i for s, e in runs for i in range(s, e))


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 6962 audit path for one leaf: ``path`` lists sibling hashes, leaf level first.

    Wire format: ``{"index": uint, "size": uint, "path": [bstr .size 32, ...]}``.
    """

    index: int
    size: int
    path: tuple[bytes, ...]

    FIELDS: ClassVar[frozenset[str]] = frozenset({"index", "size", "path"})

    def check(self) -> None:
        """Structural validation (types, ranges, path length); raises InvalidProof."""
        _check_uint(self.size, "size")
        _check_uint(self.index, "index")
        if self.index >= self.size:
            raise _fail(f"index {self.index} outside a tree of {self.size} leaves", "index-range")
        _check_hashes(self.path, "path")
        want = audit_path_length(self.index, self.size)
        if len(self.path) != want:
            raise _fail(
                f"audit path has {len(self.path)} hashes; index {self.index} of {self.size} needs {want}",
                "hash-count",
            )

    def encode(self) -> bytes:
        """Canonical CBOR."""
        return encoding.encode({"index": self.index, "size": self.size, "path": list(self.path)})

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_INCLUSION_PROOF_BYTES) -> InclusionProof:
        """Strict decode; raises InvalidEncoding or InvalidProof."""
        m = _load_map(data, cls.FIELDS, max_size, "inclusion proof")
        path = m["path"]
        if type(path) is not list:
            raise _fail("path must be an array")
        proof = cls(index=m["index"], size=m["size"], path=tuple(path))
        proof.check()
        return proof

    @property
    def encoded_size(self) -> int:
        """Size of the canonical encoding in bytes."""
        return len(self.encode())


@dataclass(frozen=True, slots=True)
class BatchProof:
    """Multiproof for a set of leaves (a range proof is the consecutive case).

    ``indices`` are strictly increasing leaf indices; ``hashes`` are the
    sibling hashes the verifier cannot compute itself, ordered by level
    (leaves first), then by position, each once.

    Wire format: ``{"size": uint, "ranges": [[start, end], ...], "hashes": [bstr .size 32, ...]}``
    where ``ranges`` are the maximal runs of consecutive indices.
    """

    size: int
    indices: tuple[int, ...]
    hashes: tuple[bytes, ...]

    FIELDS: ClassVar[frozenset[str]] = frozenset({"size", "ranges", "hashes"})

    def check(self) -> None:
        """Structural validation; raises InvalidProof. Hash count is checked by verification."""
        _check_uint(self.size, "size")
        if not isinstance(self.indices, (tuple, list)):
            raise _fail("indices must be a sequence of ints")
        if len(self.indices) > MAX_BATCH_LEAVES:
            raise _fail(f"more than {MAX_BATCH_LEAVES} leaves in one proof")
        prev = -1
        for i in self.indices:
            _check_uint(i, "leaf index")
            if i <= prev:
                raise _fail("indices must be strictly increasing")
            prev = i
        if prev >= self.size:
            raise _fail(f"index {prev} outside a tree of {self.size} leaves", "index-range")
        if not self.indices and self.size != 0:
            raise _fail("a batch proof over a non-empty tree needs at least one leaf", "empty")
        _check_hashes(self.hashes, "hashes")

    def encode(self) -> bytes:
        """Canonical CBOR."""
        return encoding.encode(
            {"size": self.size, "ranges": _runs(self.indices), "hashes": list(self.hashes)}
        )

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_PROOF_BYTES) -> BatchProof:
        """Strict decode; raises InvalidEncoding or InvalidProof."""
        m = _load_map(data, cls.FIELDS, max_size, "batch proof")
        _check_uint(m["size"], "size")
        indices = _indices_from_runs(m["ranges"], m["size"])
        if type(m["hashes"]) is not list:
            raise _fail("hashes must be an array")
        proof = cls(size=m["size"], indices=indices, hashes=tuple(m["hashes"]))
        proof.check()
        return proof

    @property
    def encoded_size(self) -> int:
        """Size of the canonical encoding in bytes."""
        return len(self.encode())


@dataclass(frozen=True, slots=True)
class KeyRangeProof:
    """Completeness proof for a sort-key range ``[lo, hi)`` over a sorted tree.

    Leaves ``start..end-1`` are the ones in range. ``leaves`` carries them
    *plus* the left neighbour ``start-1`` when ``start > 0`` and the right
    neighbour ``end`` when ``end < size``; ``hashes`` is the multiproof for
    exactly those carried leaves (see :class:`BatchProof`).

    Wire format: ``{"size": uint, "start": uint, "end": uint, "leaves": [bstr, ...], "hashes": [bstr .size 32, ...]}``.
    """

    size: int
    start: int
    end: int
    leaves: tuple[bytes, ...]
    hashes: tuple[bytes, ...]

    FIELDS: ClassVar[frozenset[str]] = frozenset({"size", "start", "end", "leaves", "hashes"})

    @property
    def first(self) -> int:
        """Index of ``leaves[0]``: the left neighbour if there is one, else ``start``."""
        return self.start - 1 if self.start > 0 else self.start

    @property
    def last(self) -> int:
        """One past the index of the last carried leaf (the right neighbour, if any)."""
        return self.end + 1 if self.end < self.size else self.end

    @property
    def in_range(self) -> tuple[bytes, ...]:
        """The carried leaves that are in the range (neighbours stripped)."""
        off = self.start - self.first
        return tuple(self.leaves[off : off + self.end - self.start])

    def check(self) -> None:
        """Structural validation; raises InvalidProof."""
        _check_uint(self.size, "size")
        _check_uint(self.start, "start")
        _check_uint(self.end, "end")
        if not self.start <= self.end <= self.size:
            raise _fail(
                f"need start <= end <= size, got start={self.start} end={self.end} size={self.size}",
                "index-range",
            )
        _check_blobs(self.leaves, "leaves")
        want = self.last - self.first
        if len(self.leaves) != want:
            raise _fail(f"{len(self.leaves)} leaves carried; [{self.first}, {self.last}) needs {want}", "leaf-count")
        if want > MAX_BATCH_LEAVES:
            raise _fail(f"more than {MAX_BATCH_LEAVES} leaves in one proof")
        _check_hashes(self.hashes, "hashes")

    def batch(self) -> BatchProof:
        """The multiproof for the carried leaves, as a BatchProof."""
        return BatchProof(size=self.size, indices=tuple(range(self.first, self.last)), hashes=tuple(self.hashes))

    def encode(self) -> bytes:
        """Canonical CBOR."""
        return encoding.encode(
            {
                "size": self.size,
                "start": self.start,
                "end": self.end,
                "leaves": list(self.leaves),
                "hashes": list(self.hashes),
            }
        )

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_PROOF_BYTES) -> KeyRangeProof:
        """Strict decode; raises InvalidEncoding or InvalidProof."""
        m = _load_map(data, cls.FIELDS, max_size, "key-range proof")
        for name in ("leaves", "hashes"):
            if type(m[name]) is not list:
                raise _fail(f"{name} must be an array")
        proof = cls(
            size=m["size"], start=m["start"], end=m["end"], leaves=tuple(m["leaves"]), hashes=tuple(m["hashes"])
        )
        proof.check()
        return proof

    @property
    def encoded_size(self) -> int:
        """Size of the canonical encoding in bytes."""
        return len(self.encode())
