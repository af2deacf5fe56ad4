"""The replication plan, as pure functions of a node's neighbourhood.

A key lives at its clockwise successor and the next ``r - 1`` nodes. Seen
from node ``me`` with predecessors ``p1, p2, ...`` (nearest first) and
successors ``s1, s2, ...``:

* ``primary`` = ``(p1, me]``: keys whose successor is ``me``;
* ``held`` = ``(p_r, me]``: keys whose replica set contains ``me`` (when
  fewer than ``r`` predecessors are known, the whole ring: holding too much
  is safe, dropping too early is not);
* ``replicas`` = ``me, s1, ..., s_{r-1}``: where ``primary`` keys must live;
* on a graceful leave, keys in ``(p_{j+1}, p_j]`` (``p_0 = me``) gain the
  new member ``s_{r-j}`` of their replica set (``s1`` for the primary arc
  too, the new successor).
"""

from __future__ import annotations

from collections.abc import Sequence

from .actions import Transfer
from .ids import PeerRef, Range, between

__all__ = [
    "primary_range",
    "held_range",
    "replica_peers",
    "window_successors",
    "replica_set",
    "leave_transfers",
    "change_transfers",
]


def primary_range(me: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef]) -> Range | None:
    """Keys whose successor is ``me``; whole ring when alone, None when no predecessor is known."""
    if predecessors:
        return Range(predecessors[0].id, me.id)
    if not successors:
        return Range(me.id, me.id)
    return None


def held_range(me: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef], r: int) -> Range | None:
    """Keys ``me`` must hold: ``(p_r, me]``; the whole ring when fewer than ``r`` predecessors are known."""
    if len(predecessors) >= r and len({p.id for p in predecessors[:r]} | {me.id}) == r + 1:
        return Range(predecessors[r - 1].id, me.id)
    return Range(me.id, me.id)


def replica_peers(me: PeerRef, successors: Sequence[PeerRef], r: int) -> tuple[PeerRef, ...]:
    """``me`` and its next ``r - 1`` successors."""
    return (me, *successors[: r - 1])


def window_successors(
    key: int, me: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef]
) -> list[PeerRef] | None:
    """Our neighbourhood ``p_r .. p_1, me, s_1 .. s_n`` from ``key``'s successor on, if ``key`` lies within it."""
    window = [*reversed(predecessors), me, *successors]
    for i in range(1, len(window)):
        if between(key, window[i - 1].id, window[i].id):
            return window[i:]
    return None


def replica_set(
    key: int, me: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef], r: int
) -> tuple[PeerRef, ...] | None:
    """The ``r`` nodes responsible for ``key`` if ``me``'s neighbourhood shows them, else None."""
    if not predecessors and not successors:
        return (me,)
    tail = window_successors(key, me, predecessors, successors)
    if tail is None or len(tail) < r:
        return None
    return tuple(tail[:r])


def leave_transfers(
    me: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef], r: int
) -> tuple[Transfer, ...]:
    """What ``me`` must push before leaving so every replica set is whole again."""
    if not successors:
        return ()
    out: list[Transfer] = []
    ends = [me, *predecessors]
    for j in range(r):
        if j + 1 >= len(ends):
            # Predecessors unknown this far back: push the rest of what we may hold,
            # (me, p_j] (the whole ring when j == 0), to every successor that may need it.
            out.append(Transfer(Range(me.id, ends[j].id), tuple(successors[:r])))
            break
        arc = Range(ends[j + 1].id, ends[j].id)
        idx = r - 1 - j
        peers: list[PeerRef] = []
        if j == 0:
            peers.append(successors[0])
        if idx < len(successors) and all(p.id != successors[idx].id for p in peers):
            peers.append(successors[idx])
        out.append(Transfer(arc, tuple(peers)))
    return tuple(out)


def change_transfers(
    old_primary: Range | None,
    new_primary: Range | None,
    old_replicas: Sequence[PeerRef],
    new_replicas: Sequence[PeerRef],
    predecessor: PeerRef | None,
) -> tuple[Transfer, ...]:
    """Pushes that make a plan change true (see ResponsibilityChanged)."""
    if new_primary is None:
        return ()
    out: list[Transfer] = []
    me_id = new_replicas[0].id if new_replicas else None
    others = tuple(p for p in new_replicas if p.id != me_id)
    old_ids = {p.id for p in old_replicas}
    added = tuple(p for p in others if p.id not in old_ids)
    if added:
        out.append(Transfer(new_primary, added))
    if old_primary is not None:
        gained = new_primary.minus(old_primary)
        for arc in gained:
            if others:
                out.append(Transfer(arc, others))
        lost = old_primary.minus(new_primary)
        if lost and predecessor is not None:
            for arc in lost:
                out.append(Transfer(arc, (predecessor,)))
    return tuple(out)
