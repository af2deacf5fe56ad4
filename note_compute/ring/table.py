"""Routing table: buckets by clockwise distance, successor and predecessor lists.

Bucket ``i`` holds up to ``k`` peers whose clockwise distance from us lies in
``[2**i, 2**(i+1))``; the closest of them is Chord's finger ``i``. A bucket
keeps the peers it learned first (long-lived peers are the reliable ones, as
in Kademlia) except that a peer closer to the bucket's start than its current
finger always gets in, so the finger is exact. The successor list holds the
next ``n_successors`` peers clockwise, the predecessor list the previous
``n_predecessors`` counter-clockwise (nearest first).

Liveness: ``failed(peer_id)`` counts consecutive failures and evicts a peer
from everything after ``max_failures``; ``add`` (we heard from it) resets
the count. Pure bookkeeping: nothing here sends anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from .ids import ID_BITS, PeerRef, between, between_open, bucket_index, distance

__all__ = ["RoutingTable"]


class RoutingTable:
    """Buckets, successor list and predecessor list of the node ``me``."""

    def __init__(
        self, me: PeerRef, *, k: int = 8, n_successors: int = 8, n_predecessors: int = 3, max_failures: int = 1
    ) -> None:
        if k < 1 or n_successors < 1 or n_predecessors < 1 or max_failures < 1:
            raise ValueError("k, n_successors, n_predecessors and max_failures must be >= 1")
        self.me = me
        self.k = k
        self.n_successors = n_successors
        self.n_predecessors = n_predecessors
        self.max_failures = max_failures
        self.buckets: dict[int, list[PeerRef]] = {}
        self.successors: list[PeerRef] = []
        self.predecessors: list[PeerRef] = []
        self._failures: dict[int, int] = {}

    # -- queries -----------------------------------------------------------
    @property
    def successor(self) -> PeerRef | None:
        """The first live successor known, or None."""
        return self.successors[0] if self.successors else None

    @property
    def predecessor(self) -> PeerRef | None:
        """The predecessor, or None when unknown."""
        return self.predecessors[0] if self.predecessors else None

    def finger(self, i: int) -> PeerRef | None:
        """Chord's finger ``i``: the closest peer of bucket ``i``."""
        b = self.buckets.get(i)
        if not b:
            return None
        return min(b, key=lambda p: distance(self.me.id, p.id))

    def bucket(self, i: int) -> list[PeerRef]:
        """A copy of bucket ``i``."""
        return list(self.buckets.get(i, ()))

    def peers(self) -> list[PeerRef]:
        """Every distinct peer known (buckets, successors, predecessors)."""
        seen: dict[int, PeerRef] = {}
        for b in self.buckets.values():
            for p in b:
                seen.setdefault(p.id, p)
        for p in self.successors:
            seen.setdefault(p.id, p)
        for p in self.predecessors:
            seen.setdefault(p.id, p)
        return list(seen.values())

    def __contains__(self, peer_id: object) -> bool:
        return any(p.id == peer_id for p in self.peers())

    def closest_preceding(self, target: int, count: int) -> list[PeerRef]:
        """Up to ``count`` known peers on the open arc (me, target), closest to ``target`` first."""
        me = self.me.id
        cands = [p for p in self.peers() if between_open(p.id, me, target)]
        cands.sort(key=lambda p: distance(p.id, target))
        return cands[:count]

    def nearest(self, target: int, count: int) -> list[PeerRef]:
        """Up to ``count`` known peers ordered by clockwise distance to ``target`` (preceding ones first)."""
        cands = self.peers()
        cands.sort(key=lambda p: distance(p.id, target))
        return cands[:count]

    def successors_of(self, target: int) -> list[PeerRef] | None:
        """The tail of our successor list starting at ``target``'s successor, if it lies within the list."""
        prev = self.me.id
        for j, s in enumerate(self.successors):
            if between(target, prev, s.id):
                return self.successors[j:]
            prev = s.id
        return None

    # -- updates -------------------------------------------------------------
    def add(self, peer: PeerRef) -> None:
        """Record a peer we just heard from (alive): buckets and, if it falls inside the
        successor list's span, the successor list."""
        if peer.id == self.me.id:
            return
        self._failures.pop(peer.id, None)
        i = bucket_index(self.me.id, peer.id)
        b = self.buckets.setdefault(i, [])
        for j, p in enumerate(b):
            if p.id == peer.id:
                b[j] = peer  # refresh the address
                break
        else:
            if len(b) < self.k:
                b.append(peer)
            else:
                d = distance(self.me.id, peer.id)
                f = min(range(len(b)), key=lambda j: distance(self.me.id, b[j].id))
                if d < distance(self.me.id, b[f].id):
                    # New finger: evict the most recently learned non-finger entry.
                    victim = max(j for j in range(len(b)) if j != f) if len(b) > 1 else f
                    b[victim] = peer
        self._merge_successor(peer)

    def _merge_successor(self, peer: PeerRef) -> None:
        succ = self.successors
        if any(p.id == peer.id for p in succ):
            self.successors = [peer if p.id == peer.id else p for p in succ]
            return
        # Only within the list's span: appending past its end would claim that nobody
        # lives in between (a gap), which only stabilization may establish.
        if succ and distance(self.me.id, peer.id) < distance(self.me.id, succ[-1].id):
            self.set_successors(succ + [peer])

    def set_successors(self, peers: Iterable[PeerRef]) -> None:
        """Replace the successor list (deduplicated, sorted clockwise from us, truncated)."""
        self.successors = self._ordered(peers, lambda p: distance(self.me.id, p.id))[: self.n_successors]

    def set_predecessors(self, peers: Iterable[PeerRef]) -> None:
        """Replace the predecessor list (deduplicated, nearest first, truncated)."""
        self.predecessors = self._ordered(peers, lambda p: distance(p.id, self.me.id))[: self.n_predecessors]

    def _ordered(self, peers: Iterable[PeerRef], key) -> list[PeerRef]:  # type: ignore[no-untyped-def]
        seen: dict[int, PeerRef] = {}
        for p in peers:
            if p.id != self.me.id and p.id not in seen:
                seen[p.id] = p
        return sorted(seen.values(), key=key)

    def remove(self, peer_id: int) -> bool:
        """Forget a peer everywhere; True if it was known."""
        known = False
        for i in list(self.buckets):
            b = self.buckets[i]
            nb = [p for p in b if p.id != peer_id]
            if len(nb) != len(b):
                known = True
                if nb:
                    self.buckets[i] = nb
                else:
                    del self.buckets[i]
        for name in ("successors", "predecessors"):
            lst = getattr(self, name)
            nl = [p for p in lst if p.id != peer_id]
            if len(nl) != len(lst):
                known = True
                setattr(self, name, nl)
        self._failures.pop(peer_id, None)
        return known

    def failed(self, peer_id: int) -> bool:
        """Count a failure (timeout) of a peer; evict it after ``max_failures``. True if evicted."""
        n = self._failures.get(peer_id, 0) + 1
        if n >= self.max_failures:
            return self.remove(peer_id)
        self._failures[peer_id] = n
        return False

    def refresh_indices(self) -> list[int]:
        """Bucket indices worth refreshing: from our successor's bucket up to the top."""
        s = self.successor
        low = bucket_index(self.me.id, s.id) if s is not None else 0
        return list(range(low, ID_BITS))
