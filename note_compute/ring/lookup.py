"""Iterative lookup of a key's successor and replica set, as a state machine.

Theory of operation. We keep candidates ordered by clockwise distance to the
target (the closest *preceding* peers first) and keep up to ``alpha``
``ring.find`` queries in flight to the best unqueried ones. A reply either
names peers closer to the target (``closer``: each becomes a candidate one
hop deeper) or claims the target's successors (``successors``: the key lives
at the first *live* peer of that list). A claim whose first peer is the
responder itself is proven (the responder just answered). Otherwise we
*verify* the claim by querying its peers in order until one answers: a
silently failed successor is skipped exactly as Chord's successor list
intends. The verified peer's own answer (when it confirms it is the
successor) gives the fresh replica set.

``hops`` counts the longest chain of sequential queries that led to the
answer: a seed is 1 hop away, a peer named by a reply from depth ``d`` is at
depth ``d + 1``; 0 when this node knew the answer itself.

Transitions:

=============  ==========================  ====================================
state          event                        next
=============  ==========================  ====================================
searching      reply with ``closer``        searching (more queries)
searching      reply with ``successors``    verifying (or done if self-claimed)
searching      timeout / error              searching (peer dropped)
verifying      reply from claimed peer      done if it proves itself; verifying a
                                            newer claim it names; else searching
                                            (it becomes the fallback answer)
verifying      timeout / error              verifying next claimed peer, or
                                            searching when the claim is used up
any            nothing left to ask          failed ("exhausted")
=============  ==========================  ====================================
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import RemoteProtocolError
from . import messages as m
from .actions import Send
from .ids import PeerRef, distance

__all__ = ["Lookup"]

_NEW, _INFLIGHT, _OK, _FAILED = range(4)


class Lookup:
    """Find the live successor of ``target`` and the next ``replicas - 1`` nodes.

    ``seeds`` are the peers to start from (usually this node's closest
    preceding peers). ``me`` (optional) is the asking node: it is never
    queried and is sent as ``from`` unless ``anonymous``. ``local_reply`` is
    an optional ``ring.find.reply`` computed from this node's own table,
    treated as an answer at depth 0. ``new_request_id`` allocates request
    ids for the :class:`Send` actions (a private counter by default).
    """

    def __init__(
        self,
        target: int,
        seeds: Iterable[PeerRef],
        *,
        me: PeerRef | None = None,
        anonymous: bool = False,
        local_reply: dict[str, Any] | None = None,
        alpha: int = 3,
        replicas: int = 3,
        count: int = 8,
        timeout: float = 2.0,
        max_queries: int = 64,
        new_request_id: Callable[[], int] | None = None,
    ) -> None:
        self.target = target
        self.me = me
        self._from = None if anonymous else me
        self.alpha = alpha
        self.replicas = replicas
        self.count = max(count, replicas)
        self.timeout = timeout
        self.max_queries = max_queries
        self._new_id = new_request_id or itertools.count(1).__next__
        self._local = local_reply
        self._cands: dict[int, PeerRef] = {}
        self._state: dict[int, int] = {}
        self._depth: dict[int, int] = {}
        self._claim: list[PeerRef] = []  # claimed successors still to try, clockwise from the target
        self._claimed_at: dict[int, int] = {}  # peer id -> depth of the first reply that claimed it
        self._verifying: int | None = None  # peer id being verified
        self._fallback: tuple[list[PeerRef], int] | None = None  # alive but unconfirmed successor
        self.queries = 0
        self.done = False
        self.result: tuple[PeerRef, ...] = ()
        self.hops = 0
        self.error: str | None = None
        for p in seeds:
            self._candidate(p, 1)

    # -- public ----------------------------------------------------------------
    def start(self, now: float) -> list[Send]:
        """First queries (or none, if the local table already answers)."""
        if self._local is not None and self.me is not None:
            try:
                rep = m.parse_reply(self._local, m.FIND)
            except RemoteProtocolError:
                rep = None
            if rep is not None:
                self._absorb(self.me, rep, 0)
        return self._advance()

    def on_reply(self, peer: PeerRef, reply: Any, now: float) -> list[Send]:
        """A ``ring.find.reply`` (unvalidated) arrived from ``peer``."""
        if self.done or self._state.get(peer.id) != _INFLIGHT:
            return []
        try:
            rep = m.parse_reply(reply, m.FIND)
        except RemoteProtocolError:
            return self.on_error(peer, now)
        self._state[peer.id] = _OK
        depth = self._depth.get(peer.id, 1)
        if self._verifying == peer.id:
            self._verifying = None
            if any(self._state.get(p.id) != _FAILED for p in rep.get("successors")):
                # It proves itself (see _absorb), or knows a closer successor (a recent
                # join) that we follow.
                self._absorb(peer, rep, depth)
            else:
                # Alive, but it does not see the key in its own neighbourhood: either its
                # predecessor is unknown (a fresh joiner: then it is the successor) or the
                # claim was stale. Search on with what it knows; fall back on it.
                if self._fallback is None:
                    self._fallback = ([peer, *self._claim], depth)
                self._claim = []
                self._absorb(peer, rep, depth)
            return self._advance()
        self._absorb(peer, rep, depth)
        return self._advance()

    def on_timeout(self, peer: PeerRef, now: float) -> list[Send]:
        """The query to ``peer`` timed out (or the peer is unreachable)."""
        return self.on_error(peer, now)

    def on_error(self, peer: PeerRef, now: float) -> list[Send]:
        """The query to ``peer`` failed (error reply or bad reply)."""
        if self.done or self._state.get(peer.id) != _INFLIGHT:
            return []
        self._state[peer.id] = _FAILED
        if self._verifying == peer.id:
            self._verifying = None
        self._claim = [p for p in self._claim if p.id != peer.id]
        return self._advance()

    def failed_peers(self) -> list[int]:
        """Ids of peers that failed during this lookup."""
        return [pid for pid, s in self._state.items() if s == _FAILED]

    # -- internals -------------------------------------------------------------
    def _candidate(self, p: PeerRef, depth: int) -> None:
        if self.me is not None and p.id == self.me.id:
            return
        if p.id not in self._cands:
            self._cands[p.id] = p
            self._state[p.id] = _NEW
            self._depth[p.id] = depth
        elif self._state[p.id] == _NEW and depth < self._depth[p.id]:
            self._depth[p.id] = depth

    def _absorb(self, responder: PeerRef, rep: m.Request, depth: int) -> None:
        succ = [p for p in rep.get("successors") if self._state.get(p.id) != _FAILED]
        if succ:
            if succ[0].id == responder.id:
                # It names itself first, or only peers we saw fail before itself: proven.
                self._finish(succ, depth)
                return
            # Merge the claim with earlier ones, clockwise from the target: the key's
            # successor is the first live peer of the union (replies near a run of
            # dead nodes name more or fewer of them).
            merged = {p.id: p for p in self._claim}
            for p in succ:
                if self._state.get(p.id) != _FAILED and p.id != self._verifying:
                    merged.setdefault(p.id, p)
                    self._claimed_at[p.id] = min(self._claimed_at.get(p.id, depth), depth)
            self._claim = sorted(merged.values(), key=lambda p: distance(self.target, p.id))
            return
        for p in rep.get("closer"):
            self._candidate(p, depth + 1)

    def _finish(self, peers: Iterable[PeerRef], hops: int) -> None:
        out: list[PeerRef] = []
        for p in peers:
            if self._state.get(p.id) == _FAILED or any(q.id == p.id for q in out):
                continue
            out.append(p)
            if len(out) == self.replicas:
                break
        self.done = True
        self.result = tuple(out)
        self.hops = hops
        self.error = None if out else "exhausted"

    def _send(self, p: PeerRef, depth: int) -> Send:
        self._state[p.id] = _INFLIGHT
        self._depth[p.id] = depth
        self.queries += 1
        return Send(self._new_id(), p, m.find(self._from, self.target, self.count), self.timeout)

    def _advance(self) -> list[Send]:
        if self.done:
            return []
        # Verifying a claim: one query at a time, in claim order.
        while self._claim and self._verifying is None:
            p = self._claim.pop(0)
            st = self._state.get(p.id)
            if st == _FAILED:
                continue
            depth = self._claimed_at.get(p.id, 0) + 1
            if st == _OK or (self.me is not None and p.id == self.me.id):
                # Alive (us, or it already answered this lookup) but it did not prove
                # itself the successor when it answered: the claim is stale or its
                # predecessor unknown; peers after it cannot be the successor either.
                # Keep it as the fallback and search on.
                if self._fallback is None:
                    self._fallback = ([p, *self._claim], depth - (1 if st is None else 0))
                self._claim = []
                break
            if self.queries >= self.max_queries:
                break
            self._cands.setdefault(p.id, p)
            self._verifying = p.id
            if st == _INFLIGHT:
                return []  # its pending answer verifies it
            return [self._send(p, depth)]
        if self._verifying is not None:
            return []
        inflight = sum(1 for s in self._state.values() if s == _INFLIGHT)
        fresh = sorted(
            (p for pid, p in self._cands.items() if self._state[pid] == _NEW),
            key=lambda p: distance(p.id, self.target),
        )
        sends: list[Send] = []
        for p in fresh:
            if inflight >= self.alpha or self.queries >= self.max_queries:
                break
            sends.append(self._send(p, self._depth[p.id]))
            inflight += 1
        if not sends and inflight == 0:
            if self._fallback is not None:
                self._finish(*self._fallback)
            else:
                self.done = True
                self.error = "exhausted"
        return sends
