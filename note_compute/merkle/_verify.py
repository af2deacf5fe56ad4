"""The verifier side: every function returns normally or raises InvalidProof.

No verifier returns a bool, and none lets any other exception escape on a
hostile proof (wrong types, wrong counts, huge numbers, garbage): each first
checks the proof's structure, then recomputes the root from what it was
given and compares. ``InvalidProof.reason`` says what failed:

==================  =========================================================
``malformed``       wrong types, wrong field shapes, not 32-byte hashes
``size-mismatch``   the proof is for another tree size than the caller's
``index-mismatch``  the proof is for other leaf indices than the caller's
``index-range``     an index is outside the tree
``hash-count``      too few or too many hashes for the indices and size
``leaf-count``      a key-range proof carries the wrong number of leaves
``empty``           a batch over a non-empty tree that names no leaf
``root-mismatch``   the recomputed root differs from the trusted root
``bad-range``       the query range has ``hi < lo``
``bad-key``         ``key_of`` failed on a leaf, or keys do not compare
``not-sorted``      the carried leaves' keys decrease
``outside-range``   a leaf claimed in range has a key outside ``[lo, hi)``
``boundary``        a neighbour's key is inside the range (a leaf was hidden)
==================  =========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import Any

from .. import domains
from ..errors import InvalidProof
from ._proofs import BatchProof, InclusionProof, KeyRangeProof
from ._tree import EMPTY_ROOT

__all__ = ["verify_inclusion", "verify_batch", "verify_key_range", "root_from_batch"]

_LEAF = domains.MERKLE_LEAF
_NODE = domains.MERKLE_NODE


def _check_root(root: Any) -> None:
    if type(root) is not bytes or len(root) != 32:
        raise InvalidProof("trusted root must be 32 bytes", reason="malformed")


def _check_size(size: Any, proof_size: int) -> None:
    if type(size) is not int or size < 0:
        raise InvalidProof(f"tree size must be a non-negative int, got {size!r:.40}", reason="malformed")
    if size != proof_size:
        raise InvalidProof(f"proof is for a tree of {proof_size} leaves, not {size}", reason="size-mismatch")


def _is_data(d: Any) -> bool:
    return isinstance(d, (bytes, bytearray, memoryview))


def _root_mismatch() -> InvalidProof:
    return InvalidProof("recomputed root does not match the trusted root", reason="root-mismatch")


def verify_inclusion(root: bytes, size: int, index: int, leaf: bytes, proof: InclusionProof) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises InvalidProof; returns None on success.
    """
    if not isinstance(proof, InclusionProof):
        raise InvalidProof("not an InclusionProof", reason="malformed")
    _check_root(root)
    proof.check()
    _check_size(size, proof.size)
    if type(index) is not int or index != proof.index:
        raise InvalidProof(f"proof is for leaf {proof.index}, not {index!r:.40}", reason="index-mismatch")
    if not _is_data(leaf):
        raise InvalidProof("leaf must be bytes", reason="malformed")
    h = sha256(_LEAF + leaf).digest()
    path = proof.path
    i, n, k = index, size, 0
    while n > 1:
        if i & 1:
            h = sha256(_NODE + path[k] + h).digest()
            k += 1
        elif i + 1 < n:
            h = sha256(_NODE + h + path[k]).digest()
            k += 1
        i >>= 1
        n = (n + 1) >> 1
    if h != root:
        raise _root_mismatch()


def root_from_batch(size: int, leaf_hashes: list[bytes], proof: BatchProof) -> bytes:
    """Recompute the root from the hashes of ``proof.indices``' leaves and the proof hashes.

    ``proof`` must already have passed ``proof.check()``. Raises InvalidProof
    (``hash-count``) when the proof has too few or too many hashes.
    """
    if size == 0:
        if proof.hashes:
            raise InvalidProof("an empty tree's proof carries no hashes", reason="hash-count")
        return EMPTY_ROOT
    hashes = proof.hashes
    supply = len(hashes)
    used = 0
    pos = list(proof.indices)
    hs = leaf_hashes
    n = size
    while n > 1:
        npos: list[int] = []
        nhs: list[bytes] = []
        k, count = 0, len(pos)
        while k < count:
            p = pos[k]
            if p & 1:
                if used == supply:
                    raise _too_few()
                nhs.append(sha256(_NODE + hashes[used] + hs[k]).digest())
                used += 1
                k += 1
            elif p + 1 < n:
                if k + 1 < count and pos[k + 1] == p + 1:
                    nhs.append(sha256(_NODE + hs[k] + hs[k + 1]).digest())
                    k += 2
                else:
                    if used == supply:
                        raise _too_few()
                    nhs.append(sha256(_NODE + hs[k] + hashes[used]).digest())
                    used += 1
                    k += 1
            else:  # last node of its level: promoted unchanged
                nhs.append(hs[k])
                k += 1
            npos.append(p >> 1)
        pos, hs = npos, nhs
        n = (n + 1) >> 1
    if used != supply:
        raise InvalidProof(f"proof carries {supply - used} hashes too many", reason="hash-count")
    return hs[0]


def _too_few() -> InvalidProof:
    return InvalidProof("proof carries too few hashes", reason="hash-count")


def verify_batch(root: bytes, size: int, leaves: Mapping[int, bytes], proof: BatchProof) -> None:
    """Check that ``leaves`` (index -> data) are leaves of the tree of ``size`` leaves with ``root``.

    The indices of ``leaves`` must be exactly ``proof.indices``. Raises
    InvalidProof; returns None on success.
    """
    if not isinstance(proof, BatchProof):
        raise InvalidProof("not a BatchProof", reason="malformed")
    _check_root(root)
    proof.check()
    _check_size(size, proof.size)
    if not isinstance(leaves, Mapping):
        raise InvalidProof("leaves must be a mapping index -> bytes", reason="malformed")
    if len(leaves) != len(proof.indices):
        raise InvalidProof(
            f"{len(leaves)} leaves given, proof covers {len(proof.indices)}", reason="index-mismatch"
        )
    try:
        data = [leaves[i] for i in proof.indices]
    except (KeyError, TypeError):
        raise InvalidProof("given leaf indices differ from the proof's", reason="index-mismatch") from None
    for d in data:
        if not _is_data(d):
            raise InvalidProof("leaves must be bytes", reason="malformed")
    leaf_hashes = [sha256(_LEAF + d).digest() for d in data]
    if root_from_batch(size, leaf_hashes, proof) != root:
        raise _root_mismatch()


def verify_key_range(
    root: bytes,
    size: int,
    lo: Any,
    hi: Any,
    proof: KeyRangeProof,
    key_of: Callable[[bytes], Any],
) -> tuple[int, list[bytes]]:
    """Check a completeness proof for the sort-key range ``[lo, hi)``.

    ``lo`` / ``hi`` may be ``None`` for an unbounded side. ``key_of(leaf)``
    gives a leaf's sort key (any exception it raises on a hostile leaf is
    turned into InvalidProof ``bad-key``). Checks, in order: structure and
    size; the carried leaves and hashes recompute ``root``; the carried keys
    are non-decreasing; every in-range leaf's key is in ``[lo, hi)``; the
    left neighbour's key is ``< lo`` and the right neighbour's ``>= hi``
    (unless the range touches the tree edge). Given a tree sorted by key
    (what the root's signer commits to), that proves the returned leaves are
    exactly the leaves with keys in ``[lo, hi)``.

    Returns ``(start, leaves in range)``; raises InvalidProof.
    """
    if not isinstance(proof, KeyRangeProof):
        raise InvalidProof("not a KeyRangeProof", reason="malformed")
    _check_root(root)
    proof.check()
    _check_size(size, proof.size)
    if size == 0:
        if proof.hashes:
            raise InvalidProof("an empty tree's proof carries no hashes", reason="hash-count")
        if root != EMPTY_ROOT:
            raise _root_mismatch()
        return 0, []
    leaf_hashes = [sha256(_LEAF + d).digest() for d in proof.leaves]
    if root_from_batch(size, leaf_hashes, proof.batch()) != root:
        raise _root_mismatch()

    try:
        if lo is not None and hi is not None and hi < lo:
            raise InvalidProof("query range has hi < lo", reason="bad-range")
        keys = [key_of(d) for d in proof.leaves]
        for k in range(1, len(keys)):
            if keys[k] < keys[k - 1]:
                raise InvalidProof(f"leaf keys decrease at index {proof.first + k}", reason="not-sorted")
        off = proof.start - proof.first
        inner = keys[off : off + proof.end - proof.start]
        for k, key in enumerate(inner):
            if (lo is not None and key < lo) or (hi is not None and not key < hi):
                raise InvalidProof(
                    f"leaf {proof.start + k} is claimed in range but its key is outside [lo, hi)",
                    reason="outside-range",
                )
        if proof.start > 0 and (lo is None or not keys[0] < lo):
            raise InvalidProof("the left neighbour's key is not below lo: a leaf was left out", reason="boundary")
        if proof.end < size and hi is not None and keys[-1] < hi:
            raise InvalidProof("the right neighbour's key is below hi: a leaf was left out", reason="boundary")
        if proof.end < size and hi is None:
            raise InvalidProof("an unbounded range must reach the tree's end", reason="boundary")
    except InvalidProof:
        raise
    except Exception as exc:  # key_of or key comparison failed on hostile leaf data
        raise InvalidProof(f"cannot compare leaf keys: {type(exc).__name__}: {exc}", reason="bad-key") from exc
    return proof.start, list(proof.in_range)
