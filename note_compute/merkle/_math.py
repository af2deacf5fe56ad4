"""Merkle index arithmetic: no hashes, no I/O (property-tested on its own).

The tree over ``size`` leaves is RFC 6962's: it splits at the largest power
of two smaller than ``size``. Stored level by level, that is the same as
pairing nodes left to right on every level and *promoting* a last unpaired
node unchanged to the level above. Level 0 holds the leaves; level ``k`` has
``ceil(size / 2**k)`` nodes; the root is the single node of the top level.

Node ``(level, pos)`` covers leaves ``[pos * 2**level, min((pos + 1) * 2**level, size))``.
Its sibling is ``pos ^ 1`` when that position exists on the level; a last
node with no right sibling has none and is promoted.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "largest_power_of_two_below",
    "level_sizes",
    "audit_path_length",
    "audit_path_positions",
    "batch_sibling_positions",
]


def largest_power_of_two_below(n: int) -> int:
    """The split point k of RFC 6962 section 2.1: largest power of two < n (n >= 2)."""
    if n < 2:
        raise ValueError("the split point is defined for n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def level_sizes(size: int) -> list[int]:
    """Number of nodes on each level, leaves first, root level last ([] for size 0)."""
    if size < 0:
        raise ValueError("size must be >= 0")
    if size == 0:
        return []
    out = [size]
    while size > 1:
        size = (size + 1) >> 1
        out.append(size)
    return out


def audit_path_positions(index: int, size: int) -> list[tuple[int, int]]:
    """The (level, pos) of every hash in the RFC 6962 audit path of ``index``, leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} outside a tree of {size} leaves")
    out: list[tuple[int, int]] = []
    level, i, n = 0, index, size
    while n > 1:
        sib = i ^ 1
        if sib < n:
            out.append((level, sib))
        i >>= 1
        n = (n + 1) >> 1
        level += 1
    return out


def audit_path_length(index: int, size: int) -> int:
    """How many hashes the audit path of ``index`` in a tree of ``size`` leaves has."""
    count, i, n = 0, index, size
    while n > 1:
        if (i ^ 1) < n:
            count += 1
        i >>= 1
        n = (n + 1) >> 1
    return count


def batch_sibling_positions(size: int, indices: Sequence[int]) -> list[tuple[int, int]]:
    """The (level, pos) of every hash a multiproof for ``indices`` carries, in proof order.

    ``indices`` must be strictly increasing and inside the tree. Walking the
    levels bottom-up, the known nodes of a level are visited left to right;
    a known node whose sibling exists and is not itself known needs that
    sibling from the proof. So each needed hash appears exactly once, ordered
    by level, then by position. For a single index this is the RFC 6962 audit
    path.
    """
    out: list[tuple[int, int]] = []
    pos = list(indices)
    n, level = size, 0
    while n > 1:
        nxt: list[int] = []
        k, count = 0, len(pos)
        while k < count:
            p = pos[k]
            if p & 1:
                out.append((level, p - 1))
                k += 1
            elif p + 1 < n:
                if k + 1 < count and pos[k + 1] == p + 1:
                    k += 2
                else:
                    out.append((level, p + 1))
                    k += 1
            else:  # last node of the level, no sibling: promoted unchanged
                k += 1
            nxt.append(p >> 1)
        pos = nxt
        n = (n + 1) >> 1
        level += 1
    return out
