"""An in-memory network of RingCores on a virtual clock (an event queue).

Deterministic for a given seed: message latency, node ids and every core's
``rng`` come from one ``random.Random(seed)``. Nothing sleeps; ``run_*``
jump the clock from event to event.

Two ways to build a network:

* ``build_converged(n)`` fills every routing table from the sorted id list
  (an oracle), as a converged ring would look: fast, for 10,000 nodes;
* ``create`` + ``join`` grow it through the real protocol (bootstrap lookup,
  stabilize, notify, refresh) for a few hundred nodes.

Failures are silent (``fail``: the node stops answering, requests to it
time out); ``leave`` is graceful. Every action a core emits other than
``Send`` is recorded in ``SimNode.events`` so tests can check them.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import NoteError
from ..ring import RING, Action, JoinFailed, LookupDone, PeerRef, RingCore, Send
from ..ring.core import IDLE, JOINED
from ..ring.ids import bucket_index

__all__ = ["SimNode", "SimNetwork"]


@dataclass
class SimNode:
    """One simulated node: its core, liveness and the actions it emitted."""

    core: RingCore
    alive: bool = True
    events: list[Action] = field(default_factory=list)
    tick_at: float | None = None

    @property
    def peer(self) -> PeerRef:
        """This node's PeerRef."""
        return self.core.me

    @property
    def id(self) -> int:
        """This node's id."""
        return self.core.me.id


class SimNetwork:
    """N ring cores exchanging messages through an event queue with latency."""

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: tuple[float, float] = (0.005, 0.030),
        maintenance: bool = True,
        join_retry: float = 1.0,
        **core_kwargs: Any,
    ) -> None:
        self.rng = random.Random(seed)
        self.latency = latency
        self.maintenance = maintenance
        self.join_retry = join_retry
        self._bootstrap: dict[int, list[PeerRef]] = {}
        self.core_kwargs = core_kwargs
        self.now = 0.0
        self.nodes: dict[int, SimNode] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._waiting: dict[tuple[int, int], SimNode] = {}  # (node id, request id) -> requester
        self._done: dict[tuple[int, int], LookupDone] = {}  # (node id, lookup id) -> result
        self.messages = 0
        self.errors: list[tuple[str, NoteError]] = []

    # ---------------------------------------------------------------- nodes
    def new_node(self, peer: PeerRef | None = None) -> SimNode:
        """Create (not yet join) a node with a fresh random id."""
        if peer is None:
            pid = self.rng.getrandbits(256)
            peer = PeerRef(pid, f"sim://{pid:064x}")
        core = RingCore(peer, rng=random.Random(self.rng.getrandbits(64)), **self.core_kwargs)
        node = SimNode(core)
        self.nodes[peer.id] = node
        return node

    def live(self) -> list[SimNode]:
        """Live nodes, in id order."""
        return [n for _, n in sorted(self.nodes.items()) if n.alive]

    def live_ids(self) -> list[int]:
        """Sorted ids of live, joined nodes."""
        return sorted(i for i, n in self.nodes.items() if n.alive and n.core.state == JOINED)

    def true_successors(self, key: int, count: int = 1, ids: list[int] | None = None) -> list[int]:
        """The ``count`` live joined nodes clockwise from ``key`` (inclusive): the right answer."""
        ids = ids if ids is not None else self.live_ids()
        if not ids:
            return []
        i = bisect.bisect_left(ids, key)
        return [ids[(i + j) % len(ids)] for j in range(min(count, len(ids)))]

    # ------------------------------------------------------------ building
    def build_converged(self, n: int) -> list[SimNode]:
        """Add ``n`` joined nodes whose tables are filled from the sorted id list (an oracle)."""
        nodes = [self.new_node() for _ in range(n)]
        ids = sorted(self.nodes)
        by_id = {i: self.nodes[i].peer for i in ids}
        N = len(ids)
        for pos, me in enumerate(ids):
            core = self.nodes[me].core
            t = core.table
            t.successors = [by_id[ids[(pos + j) % N]] for j in range(1, min(t.n_successors, N - 1) + 1)]
            t.predecessors = [by_id[ids[(pos - j) % N]] for j in range(1, min(t.n_predecessors, N - 1) + 1)]
            t.buckets = {}
            low = bucket_index(me, ids[(pos + 1) % N]) if N > 1 else 256
            for b in range(low, 256):
                lo = (me + (1 << b)) % RING
                start, count = _arc(ids, lo, 1 << b)
                if count == 0:
                    continue
                picks = {0} | {self.rng.randrange(count) for _ in range(t.k - 1)} if count > t.k else set(range(count))
                t.buckets[b] = [by_id[ids[(start + j) % N]] for j in sorted(picks)][: t.k]
            core.state = JOINED
            core._arm_timers(self.now)
            core.take_actions()
            core._check_plan()
            core.take_actions()
            self._schedule_tick(self.nodes[me])
        return nodes

    def grow(self, n: int, settle: float = 0.2) -> list[SimNode]:
        """Add ``n`` nodes by real joins: the first creates the ring, each next joins through a
        random earlier one, with ``settle`` virtual seconds between joins."""
        first = self.new_node()
        self.create(first)
        nodes = [first]
        for _ in range(n - 1):
            node = self.new_node()
            self.join(node, [self.rng.choice(nodes)])
            nodes.append(node)
            self.run_for(settle)
        return nodes

    def create(self, node: SimNode) -> None:
        """``node`` starts a ring of one."""
        self._apply(node, node.core.create(self.now))

    def join(self, node: SimNode, bootstrap: Iterable[SimNode | PeerRef]) -> None:
        """``node`` joins through ``bootstrap`` (runs when the clock runs).

        Like a real runtime, a node whose join fails (``JoinFailed``, say the
        bootstrap peer was itself still joining) tries again through the same
        peers after ``join_retry`` virtual seconds.
        """
        peers = [b.peer if isinstance(b, SimNode) else b for b in bootstrap]
        self._bootstrap[node.id] = peers
        self._apply(node, node.core.join(peers, self.now))

    def leave(self, node: SimNode) -> None:
        """Graceful leave (the node stops afterwards)."""
        self._apply(node, node.core.leave(self.now))
        node.alive = False

    def fail(self, node: SimNode) -> None:
        """Silent failure: the node stops answering, without a word."""
        node.alive = False

    def start_maintenance(self) -> None:
        """Turn stabilization timers on (for networks built with ``maintenance=False``)."""
        self.maintenance = True
        for node in self.nodes.values():
            self._schedule_tick(node)

    def ring_errors(self, lists: int = 0) -> list[str]:
        """What is wrong with the live ring: each live node's successor and predecessor
        must be the next and previous live joined node (and, with ``lists``, its first
        ``lists`` successors and predecessors the next and previous ones: what a replica
        set and a graceful leave rely on). Empty when the ring is correct."""
        ids = self.live_ids()
        out: list[str] = []
        for pos, i in enumerate(ids):
            core = self.nodes[i].core
            depth = min(lists, len(ids) - 1)
            want_ss = [ids[(pos + j) % len(ids)] for j in range(1, depth + 1)]
            want_ps = [ids[(pos - j) % len(ids)] for j in range(1, depth + 1)]
            if [p.id for p in core.successors[:depth]] != want_ss:
                out.append(f"node #{pos}: successor list wrong")
            if [p.id for p in core.predecessors[:depth]] != want_ps:
                out.append(f"node #{pos}: predecessor list wrong")
            want_s, want_p = ids[(pos + 1) % len(ids)], ids[pos - 1]
            s, p = core.successor, core.predecessor
            if len(ids) == 1:
                if s is not None and s.id != i:
                    out.append(f"{i:x}: alone but successor {s.id:x}")
                continue
            if s is None or s.id != want_s:
                out.append(
                    f"node #{pos}: successor {'None' if s is None else ids.index(s.id) if s.id in ids else 'dead'}"
                    f" != #{(pos + 1) % len(ids)}"
                )
            if p is None or p.id != want_p:
                out.append(
                    f"node #{pos}: predecessor {'None' if p is None else ids.index(p.id) if p.id in ids else 'dead'}"
                    f" != #{(pos - 1) % len(ids)}"
                )
        return out

    # ---------------------------------------------------------------- lookups
    def start_lookup(self, node: SimNode, key: int) -> int:
        """Start a lookup at ``node``; ``result(node, lid)`` has it once the clock has run."""
        lid, actions = node.core.lookup(key, self.now)
        self._apply(node, actions)
        return lid

    def result(self, node: SimNode, lookup_id: int) -> LookupDone | None:
        """The LookupDone of a lookup, or None while it runs."""
        return self._done.get((node.id, lookup_id))

    def random_lookups(self, count: int) -> tuple[list[LookupDone], int]:
        """Run ``count`` concurrent lookups from random live nodes for random keys.

        Returns every LookupDone and how many were right (the first peer is
        the key's true live successor).
        """
        live = [n for n in self.nodes.values() if n.alive]
        ids = self.live_ids()
        starts = []
        for _ in range(count):
            src = self.rng.choice(live)
            key = self.rng.getrandbits(256)
            starts.append((src, key, self.start_lookup(src, key)))
        while any(self.result(src, lid) is None for src, _, lid in starts):
            self.step()
        results, right = [], 0
        for src, key, lid in starts:
            res = self.result(src, lid)
            assert res is not None
            results.append(res)
            if res.ok and res.peers[0].id == self.true_successors(key, ids=ids)[0]:
                right += 1
        return results, right

    def lookup(self, node: SimNode, key: int) -> LookupDone:
        """Run one lookup to completion (the clock advances)."""
        lid = self.start_lookup(node, key)
        while self.result(node, lid) is None and self._queue:
            self.step()
        res = self.result(node, lid)
        assert res is not None, "lookup never finished"
        return res

    # ------------------------------------------------------------- the clock
    def run_until(self, t: float) -> None:
        """Process events up to virtual time ``t``."""
        while self._queue and self._queue[0][0] <= t:
            self.step()
        self.now = max(self.now, t)

    def run_for(self, dt: float) -> None:
        """Process events for ``dt`` virtual seconds."""
        self.run_until(self.now + dt)

    def time_to_repair(self, limit: float, lists: int = 3) -> float | None:
        """Run until ``ring_errors(lists)`` is empty; the virtual seconds it took, None past ``limit``."""
        t0 = self.now
        while self.now - t0 < limit:
            if not self.ring_errors(lists):
                return self.now - t0
            self.run_for(0.05)
        return None

    def run_until_idle(self, limit: float = 1e9) -> None:
        """Process events until none is left (only sensible with maintenance off)."""
        while self._queue and self._queue[0][0] <= limit:
            self.step()

    def step(self) -> None:
        """Process the next event."""
        t, _, fn = heapq.heappop(self._queue)
        self.now = max(self.now, t)
        fn()

    def _at(self, t: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, fn))

    def _lat(self) -> float:
        lo, hi = self.latency
        return self.rng.uniform(lo, hi)

    # --------------------------------------------------------------- actions
    def _apply(self, node: SimNode, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self._send(node, a)
            else:
                node.events.append(a)
                if isinstance(a, LookupDone):
                    self._done[(node.id, a.lookup_id)] = a
                elif isinstance(a, JoinFailed) and node.alive:
                    self._at(self.now + self.join_retry, functools.partial(self._retry_join, node))
        self._schedule_tick(node)

    def _retry_join(self, node: SimNode) -> None:
        if node.alive and node.core.state == IDLE:
            self._apply(node, node.core.join(self._bootstrap[node.id], self.now))

    def _schedule_tick(self, node: SimNode) -> None:
        if not self.maintenance or not node.alive:
            return
        nt = node.core.next_tick()
        if nt is None or (node.tick_at is not None and node.tick_at <= nt):
            return
        node.tick_at = nt

        def fire() -> None:
            if node.tick_at != nt or not node.alive:
                return
            node.tick_at = None
            self._apply(node, node.core.tick(self.now))

        self._at(nt, fire)

    def _send(self, src: SimNode, s: Send) -> None:
        self.messages += 1
        dst = self.nodes.get(s.peer.id)
        sent_at = self.now
        key = (src.id, s.request_id)
        self._waiting[key] = src

        def timeout() -> None:
            if self._waiting.pop(key, None) is not None and src.alive:
                self._apply(src, src.core.on_timeout(s.request_id, self.now))

        if dst is None or not dst.alive:
            self._at(sent_at + s.timeout, timeout)
            return

        def deliver() -> None:
            if not dst.alive:
                self._at(sent_at + s.timeout, timeout)
                return
            try:
                reply: dict[str, Any] | None = dst.core.handle_request(src.peer, s.msg, self.now)
                err: NoteError | None = None
            except NoteError as e:  # a typed error reply (RemoteProtocolError, NotAMember, ...)
                reply, err = None, e
                self.errors.append((s.msg.get("op", "?"), e))
            self._apply(dst, dst.core.take_actions())

            def back() -> None:
                if self._waiting.pop(key, None) is None or not src.alive:
                    return
                if err is not None:
                    self._apply(src, src.core.on_error(s.request_id, err, self.now))
                else:
                    self._apply(src, src.core.on_reply(s.request_id, reply, self.now))

            self._at(self.now + self._lat(), back)

        self._at(sent_at + self._lat(), deliver)


def _arc(ids: list[int], lo: int, length: int) -> tuple[int, int]:
    """Index of the first id >= lo (cyclically) and how many ids lie in [lo, lo + length)."""
    n = len(ids)
    start = bisect.bisect_left(ids, lo)
    hi = lo + length
    if hi <= RING:
        count = bisect.bisect_left(ids, hi) - start
    else:
        count = (n - start) + bisect.bisect_left(ids, hi - RING)
    return start % n if n else 0, min(count, n)
