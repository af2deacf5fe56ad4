"""RingCore: one Note ring member, sans-IO.

Theory of operation
-------------------
The core is a state machine driven by four kinds of input, each of which
returns a list of actions (see :mod:`note_compute.ring.actions`):

* ``handle_request(sender, msg, now) -> reply``: a peer's ring request. The
  reply is a dict to send back; a malformed request raises
  :class:`~note_compute.errors.RemoteProtocolError` (send it as an error
  reply); nothing else escapes. Side effects (say, a ``notify`` that moves
  our predecessor and so our responsibility) are queued: call
  ``take_actions()`` afterwards (they also come out of the next call).
* ``on_reply(request_id, reply, now)`` / ``on_error(request_id, error, now)``
  / ``on_timeout(request_id, now)``: the outcome of a :class:`Send`.
* ``tick(now)``: timers. Call it at ``next_tick()`` (or any time later).
* commands: ``create``, ``join``, ``lookup``, ``leave``.

The runtime executes :class:`Send` (one request, one outcome), reports
:class:`LookupDone` to whoever asked, and moves records for
:class:`ResponsibilityChanged` and :class:`Handoff`.

Node states and transitions (``self.state``)::

    idle    --create-->            joined   (a ring of one)
    idle    --join(bootstrap)-->   joining  (lookup of our own id)
    joining --lookup ok-->         joined   (+ Joined, notify successor)
    joining --lookup failed-->     idle     (+ JoinFailed)
    joined  --every peer failed--> idle     (+ JoinFailed("isolated"); not for the ring's creator)
    joined  --leave-->             left     (+ ring.leave to both sides, Handoff)
    any     --leave-->             left

While joined, ``tick`` runs Chord's maintenance every ``stabilize_interval``
(jittered with ``rng``): *stabilize* asks our successor for its neighbours,
adopts its predecessor if that sits between us, rebuilds the successor list
from the successor's and *notifies* the successor; *check predecessor* asks
our predecessor for its neighbours (learning our predecessor list, or
dropping it on timeout). Every ``refresh_interval`` one bucket is refreshed
by a lookup of a random id in it (round robin over the non-empty range).
A timed-out peer is evicted (``max_failures``); a dead successor is replaced
by the next in the list at once. Every peer we hear from directly (a reply,
or a request carrying ``from``) is added to the routing table. A peer that
failed us is a *suspect* for ``suspect_hold`` s (:mod:`.suspects`): never
taken back from another peer's list, nor handed records on leave, until it
answers a probe or speaks to us. A failure at an address other than the one
we hold for that id (a stale copy of a restarted peer) evicts nothing.

After every input the replication plan (:mod:`note_compute.ring.plan`) is
recomputed; if it moved, a :class:`ResponsibilityChanged` is emitted with
the transfers that make it true.

API stability: the public names here and in ``actions``/``messages`` are
the agreed interface for ``note_compute.node``; changes are noted here.
Additions since the first version (nothing removed or renamed): the
``outstanding`` property, ``LookupDone.queries``, the ``suspect_hold``
parameter and ``suspects`` (0 turns the screening off); ``handle_request`` also
raises :class:`~note_compute.errors.NotAMember` (an error reply, like
RemoteProtocolError) for find/neighbours/notify while not joined; a joined
node cut off from every peer emits ``JoinFailed("isolated")`` and goes idle.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError, NotAMember, NoteError, RemoteProtocolError
from . import messages as m
from . import plan
from .actions import Action, Handoff, Joined, JoinFailed, LookupDone, ResponsibilityChanged, Send
from .ids import RING, PeerRef, Range, between_open, bucket_start, id_from_bytes
from .lookup import Lookup
from .suspects import Suspects
from .table import RoutingTable

__all__ = ["RingCore", "IDLE", "JOINING", "JOINED", "LEFT"]

IDLE, JOINING, JOINED, LEFT = "idle", "joining", "joined", "left"

# Purposes of pending requests (request_id -> _Pending.kind).
_LOOKUP, _STAB, _PRED, _NOTIFY, _LEAVE, _PING = "lookup", "stabilize", "check-pred", "notify", "leave", "ping"
# Purposes of lookups.
_USER, _JOIN, _REFRESH, _FIX = "user", "join", "refresh", "fix-successor"


@dataclass
class _Pending:
    kind: str
    peer: PeerRef
    op: str
    lookup_id: int | None = None


@dataclass
class _Job:
    lookup: Lookup
    purpose: str
    key: int


class RingCore:
    """One ring member's protocol state. See the module docstring."""

    def __init__(
        self,
        me: PeerRef,
        *,
        k: int = 8,
        n_successors: int = 8,
        replicas: int = 3,
        alpha: int = 3,
        request_timeout: float = 2.0,
        stabilize_interval: float = 1.0,
        refresh_interval: float | None = None,
        max_failures: int = 1,
        suspect_hold: float = 30.0,
        rng: random.Random,
    ) -> None:
        if not isinstance(me, PeerRef):
            raise LocalProtocolError("me must be a PeerRef", reason="bad-me")
        if replicas < 1 or replicas > n_successors + 1:
            raise LocalProtocolError("need 1 <= replicas <= n_successors + 1", reason="bad-config")
        self.me = me
        self.k = k
        self.replicas = replicas
        self.alpha = alpha
        self.request_timeout = request_timeout
        self.stabilize_interval = stabilize_interval
        self.refresh_interval = refresh_interval if refresh_interval is not None else 4 * stabilize_interval
        self.rng = rng
        self.table = RoutingTable(
            me, k=k, n_successors=n_successors, n_predecessors=replicas, max_failures=max_failures
        )
        self.suspects = Suspects(suspect_hold, 2 * stabilize_interval)
        self.state = IDLE
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._jobs: dict[int, _Job] = {}
        self._outbox: list[Action] = []
        self._next_stab: float | None = None
        self._next_refresh: float | None = None
        self._refresh_cursor = 0
        self._stab_inflight = False
        self._pred_inflight = False
        self._plan: tuple[Range | None, Range | None, tuple[int, ...]] = (None, None, ())
        self._last_primary: Range | None = None
        self._last_replicas: tuple[PeerRef, ...] = ()
        self._created = False  # started the ring ourselves (alone is normal then)

    # ------------------------------------------------------------------ views
    @property
    def successor(self) -> PeerRef | None:
        """Our first successor (None when alone or not joined)."""
        return self.table.successor

    @property
    def successors(self) -> list[PeerRef]:
        """Our successor list, nearest first."""
        return list(self.table.successors)

    @property
    def predecessor(self) -> PeerRef | None:
        """Our predecessor, or None when unknown."""
        return self.table.predecessor

    @property
    def predecessors(self) -> list[PeerRef]:
        """Our predecessor list, nearest first (up to ``replicas``)."""
        return list(self.table.predecessors)

    def primary_range(self) -> Range | None:
        """Keys whose successor is this node: ``(predecessor, me]`` (None when unknown / not joined)."""
        if self.state != JOINED:
            return None
        return plan.primary_range(self.me, self.table.predecessors, self.table.successors)

    def held_range(self) -> Range | None:
        """Keys this node must hold: ``(p_r, me]`` (the whole ring while fewer predecessors are known)."""
        if self.state != JOINED:
            return None
        return plan.held_range(self.me, self.table.predecessors, self.table.successors, self.replicas)

    def replica_peers(self) -> tuple[PeerRef, ...]:
        """This node and its next ``replicas - 1`` successors: where primary keys must live."""
        return plan.replica_peers(self.me, self.table.successors, self.replicas)

    def replica_set(self, key: int | bytes) -> tuple[PeerRef, ...] | None:
        """The key's replica set if our neighbourhood shows it (else None: use ``lookup``)."""
        kid = _key(key)
        if self.state != JOINED:
            return None
        return plan.replica_set(kid, self.me, self.table.predecessors, self.table.successors, self.replicas)

    def must_hold(self, key: int | bytes) -> bool:
        """True when this node is in the key's replica set (as far as it knows)."""
        held = self.held_range()
        return held is not None and _key(key) in held

    def next_tick(self) -> float | None:
        """When ``tick`` next has work (None: no timers, e.g. not joined)."""
        if self.state != JOINED:
            return None
        ts = [t for t in (self._next_stab, self._next_refresh) if t is not None]
        return min(ts) if ts else None

    @property
    def outstanding(self) -> int:
        """How many of our :class:`Send` requests await an outcome (e.g. to drain before closing)."""
        return len(self._pending)

    def take_actions(self) -> list[Action]:
        """Actions queued by ``handle_request`` (and anything else not yet returned)."""
        out, self._outbox = self._outbox, []
        return out

    # --------------------------------------------------------------- commands
    def create(self, now: float) -> list[Action]:
        """Start a new ring of one node."""
        if self.state != IDLE:
            raise LocalProtocolError(f"cannot create a ring in state {self.state}", reason="bad-state")
        self.state = JOINED
        self._created = True
        self._arm_timers(now)
        return self._finish_call()

    def join(self, bootstrap: Sequence[PeerRef], now: float) -> list[Action]:
        """Join the ring through ``bootstrap`` peers (a lookup of our own id)."""
        if self.state not in (IDLE,):
            raise LocalProtocolError(f"cannot join in state {self.state}", reason="bad-state")
        seeds = [p for p in bootstrap if p.id != self.me.id]
        if not seeds:
            raise LocalProtocolError("join needs at least one bootstrap peer other than us", reason="no-bootstrap")
        # A retry also tries every peer an earlier attempt heard from.
        seeds += [p for p in self.table.peers() if all(p.id != s.id for s in seeds)]
        self.state = JOINING
        # The successor of our id + 1: peers that already heard of us cannot name us.
        self._start_lookup((self.me.id + 1) % RING, _JOIN, now, seeds=seeds, local=False)
        return self._finish_call()

    def lookup(self, key: int | bytes, now: float) -> tuple[int, list[Action]]:
        """Start a lookup of ``key``'s replica set; its :class:`LookupDone` carries the returned id."""
        kid = _key(key)
        if self.state in (LEFT,):
            raise LocalProtocolError("this node has left the ring", reason="left")
        lid = self._start_lookup(kid, _USER, now)
        return lid, self._finish_call()

    def leave(self, now: float) -> list[Action]:
        """Leave gracefully: tell predecessor and successor, hand records off, stop."""
        if self.state == LEFT:
            return self._finish_call()
        was_joined = self.state == JOINED
        # Never hand records to (or count on) a peer we know just failed.
        preds = [p for p in self.table.predecessors if not self.suspects.is_suspect(p.id, now)]
        succs = [p for p in self.table.successors if not self.suspects.is_suspect(p.id, now)]
        if was_joined:
            msg = m.leave(self.me, preds, succs)
            targets = {p.id: p for p in (preds[:1] + succs[:1])}
            for p in targets.values():
                self._send(_LEAVE, p, msg)
            self._outbox.append(Handoff(plan.leave_transfers(self.me, preds, succs, self.replicas)))
        self.state = LEFT
        for lid, job in list(self._jobs.items()):
            if job.purpose == _USER:
                self._outbox.append(LookupDone(lid, job.key, (), job.lookup.hops, "left"))
        self._jobs.clear()
        self._next_stab = self._next_refresh = None
        return self.take_actions()

    # --------------------------------------------------------------- requests
    def handle_request(self, sender: PeerRef, msg: Any, now: float) -> dict[str, Any]:
        """Answer a peer's ring request. Raises RemoteProtocolError (with a reason) for bad ones,
        and NotAMember for ``ring.find``/``neighbours``/``notify`` while not joined.

        ``sender`` is the authenticated peer (its ``id`` derived from the
        transport's public key; ``addr`` may be ``""`` when unknown). A
        ``from`` field, when present, must carry the same id; its ``addr`` is
        what the peer is reachable at.
        """
        if not isinstance(sender, PeerRef):
            raise LocalProtocolError("sender must be a PeerRef", reason="bad-sender")
        req = m.parse_request(msg)
        frm: PeerRef | None = req.get("from")
        if sender.id == self.me.id:
            raise RemoteProtocolError("request from our own id", reason="self")
        if frm is not None and frm.id != sender.id:
            raise RemoteProtocolError("'from' names another peer than the sender", reason="sender-mismatch")
        if self.state != JOINED and req.op in _MEMBER_OPS:
            # A node that is joining, idle or gone knows no ring: an answer would be a
            # lie (say, an empty neighbourhood that makes us someone's successor).
            raise NotAMember(f"this node is {self.state}, not a ring member", reason=self.state)
        self.suspects.clear(sender.id)  # it just spoke to us
        reply = _HANDLERS[req.op](self, frm, req, now)
        if frm is not None and self.state != LEFT and req.op != m.LEAVE:
            # Learn the requester after answering, so that it never hears about itself.
            self.table.add(frm)
        self._check_plan()
        return reply

    def _h_ping(self, frm: PeerRef | None, req: m.Request, now: float) -> dict[str, Any]:
        return m.ping_reply(self.me)

    def _h_find(self, frm: PeerRef | None, req: m.Request, now: float) -> dict[str, Any]:
        return self.find_reply(req.get("key"), req.get("count"))

    def _h_neighbours(self, frm: PeerRef | None, req: m.Request, now: float) -> dict[str, Any]:
        return m.neighbours_reply(self.table.predecessors, self.table.successors)

    def _h_notify(self, frm: PeerRef | None, req: m.Request, now: float) -> dict[str, Any]:
        assert frm is not None  # required by the schema
        if self.state != JOINED:
            return m.notify_reply()
        pred = self.table.predecessor
        if pred is None or between_open(frm.id, pred.id, self.me.id):
            self.table.set_predecessors([frm, *self.table.predecessors])
        if not self.table.successors:
            self.table.set_successors([frm])
        return m.notify_reply()

    def _h_leave(self, frm: PeerRef | None, req: m.Request, now: float) -> dict[str, Any]:
        assert frm is not None
        was_succ = any(p.id == frm.id for p in self.table.successors)
        was_pred = any(p.id == frm.id for p in self.table.predecessors)
        self.table.remove(frm.id)
        if self.state != JOINED:
            return m.leave_reply()
        if was_succ:
            self.table.set_successors([*self.table.successors, *self._screen(req.get("successors"), now)])
        if was_pred:
            self.table.set_predecessors([*self.table.predecessors, *self._screen(req.get("predecessors"), now)])
        return m.leave_reply()

    def find_reply(self, key: int, count: int) -> dict[str, Any]:
        """Our ``ring.find.reply`` (:func:`.messages.find_reply`): successors if we know them, else closer peers."""
        count = max(1, min(count, m.MAX_FIND_COUNT))
        succ: list[PeerRef] = []
        closer: list[PeerRef] = []
        if self.state == JOINED:
            if not self.table.successors and not self.table.predecessors:
                succ = [self.me]  # alone: everything is ours
            else:
                tail = plan.window_successors(key, self.me, self.table.predecessors, self.table.successors)
                succ = (tail or [])[:count]
        if not succ:
            closer = self.table.closest_preceding(key, count)
            if not closer and self.state == JOINED and self.table.successors:
                closer = self.table.successors[:count]
        return m.find_reply(succ, closer)

    # ---------------------------------------------------------------- outcomes
    def on_reply(self, request_id: int, reply: Any, now: float) -> list[Action]:
        """A reply to one of our :class:`Send` actions arrived (validated here)."""
        pend = self._pending.pop(request_id, None)
        if pend is None or self.state == LEFT:
            return self._finish_call()
        try:
            rep = m.parse_reply(reply, pend.op)
        except RemoteProtocolError:
            return self._failed(pend, now, timeout=False)
        self.table.add(pend.peer)
        self.suspects.clear(pend.peer.id)
        if pend.kind == _LOOKUP:
            job = self._jobs.get(pend.lookup_id)  # type: ignore[arg-type]
            if job is not None:
                self._emit(job.lookup.on_reply(pend.peer, reply, now), pend.lookup_id)  # type: ignore[arg-type]
                self._job_progress(pend.lookup_id, now)  # type: ignore[arg-type]
        elif pend.kind == _STAB:
            self._stab_inflight = False
            self._on_succ_neighbours(pend.peer, rep, now)
        elif pend.kind == _PRED:
            self._pred_inflight = False
            if self.table.predecessor is not None and self.table.predecessor.id == pend.peer.id:
                self.table.set_predecessors([pend.peer, *self._screen(rep.get("predecessors"), now)])
        return self._finish_call()

    def on_error(self, request_id: int, error: NoteError | None, now: float) -> list[Action]:
        """The peer answered one of our requests with an error reply."""
        pend = self._pending.pop(request_id, None)
        if pend is None or self.state == LEFT:
            return self._finish_call()
        return self._failed(pend, now, timeout=False)

    def on_timeout(self, request_id: int, now: float) -> list[Action]:
        """One of our requests got no answer in time (or the peer was unreachable)."""
        pend = self._pending.pop(request_id, None)
        if pend is None or self.state == LEFT:
            return self._finish_call()
        return self._failed(pend, now, timeout=True)

    def _failed(self, pend: _Pending, now: float, *, timeout: bool) -> list[Action]:
        known = next((p for p in self.table.peers() if p.id == pend.peer.id), None)
        stale = known is not None and bool(pend.peer.addr) and known.addr != pend.peer.addr
        if not stale and (self.table.failed(pend.peer.id) or known is None):
            self.suspects.mark(pend.peer.id, now)
        if pend.kind == _LOOKUP:
            job = self._jobs.get(pend.lookup_id)  # type: ignore[arg-type]
            if job is not None:
                self._emit(job.lookup.on_timeout(pend.peer, now), pend.lookup_id)  # type: ignore[arg-type]
                self._job_progress(pend.lookup_id, now)  # type: ignore[arg-type]
        elif pend.kind == _STAB:
            self._stab_inflight = False
            if not stale:
                self.table.remove(pend.peer.id)  # a successor that fails is replaced at once
                self.suspects.mark(pend.peer.id, now)
            self._stabilize(now)
        elif pend.kind == _PRED:
            self._pred_inflight = False
            # check_predecessor: a dead predecessor is dropped; the next one in the list
            # stands in until a notify names a closer live one.
            self.table.predecessors = [p for p in self.table.predecessors if p.id != pend.peer.id]
        if self.state == JOINED and not self._created and not self.table.peers():
            # Every peer we knew is gone: we are cut off from the ring. Start over.
            self.state = IDLE
            self._jobs.clear()
            self._pending.clear()
            self._next_stab = self._next_refresh = None
            self._stab_inflight = self._pred_inflight = False
            self._outbox.append(JoinFailed("isolated"))
        return self._finish_call()

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> list[Action]:
        """Run due maintenance (stabilize, check predecessor, refresh a bucket)."""
        if self.state != JOINED:
            return self._finish_call()
        if self._next_stab is not None and now >= self._next_stab:
            self._next_stab = now + self.stabilize_interval * self.rng.uniform(0.75, 1.25)
            self._stabilize(now)
            self._check_predecessor(now)
        if self._next_refresh is not None and now >= self._next_refresh:
            self._next_refresh = now + self.refresh_interval * self.rng.uniform(0.75, 1.25)
            self._refresh(now)
        return self._finish_call()

    def _arm_timers(self, now: float) -> None:
        self._next_stab = now + self.stabilize_interval * self.rng.uniform(0.0, 1.0)
        self._next_refresh = now + self.refresh_interval * self.rng.uniform(0.5, 1.5)

    def _stabilize(self, now: float) -> None:
        if self.state != JOINED or self._stab_inflight:
            return
        if not self.table.successors:
            # Every successor failed: fall back on the nearest peers we know, clockwise.
            self.table.set_successors(self.table.peers())
        succ = self.table.successor
        if succ is None:
            return
        self._stab_inflight = True
        self._send(_STAB, succ, m.neighbours(self.me))

    def _on_succ_neighbours(self, succ: PeerRef, rep: m.Request, now: float) -> None:
        if self.state != JOINED:
            return
        preds: tuple[PeerRef, ...] = rep.get("predecessors")
        succs: tuple[PeerRef, ...] = rep.get("successors")
        # Chord adopts the successor's predecessor when it sits between us. We notify
        # every peer of its predecessor list that sits between us instead: those that
        # answer (alive) are merged into our successor list by on_reply, so a dead
        # predecessor the successor has not noticed yet never becomes our successor.
        between_us = [p for p in preds if p.id != self.me.id and between_open(p.id, self.me.id, succ.id)]
        # Its successors, minus peers that just failed us (it may not have noticed yet).
        self.table.set_successors([succ, *self._screen(succs, now)])
        for p in between_us:
            self._send(_NOTIFY, p, m.notify(self.me))
        if between_us and not any(j.purpose == _FIX for j in self._jobs.values()):
            # We were wrong about our successor: look it up through the ring too.
            self._start_lookup((self.me.id + 1) % RING, _FIX, now)
        if not between_us:
            self._send(_NOTIFY, succ, m.notify(self.me))

    def _check_predecessor(self, now: float) -> None:
        pred = self.table.predecessor
        if pred is None or self._pred_inflight:
            return
        self._pred_inflight = True
        self._send(_PRED, pred, m.neighbours(self.me))

    def _refresh(self, now: float) -> None:
        idx = self.table.refresh_indices()
        if not idx:
            return
        i = idx[self._refresh_cursor % len(idx)]
        self._refresh_cursor += 1
        target = (bucket_start(self.me.id, i) + self.rng.randrange(1 << i)) % RING
        self._start_lookup(target, _REFRESH, now)

    # ----------------------------------------------------------------- lookups
    def _start_lookup(
        self, key: int, purpose: str, now: float, *, seeds: Sequence[PeerRef] | None = None, local: bool = True
    ) -> int:
        lid = next(self._ids)
        count = max(self.k, self.replicas)
        lk = Lookup(
            key,
            # Every known peer is a candidate (queried closest-preceding first, only as
            # needed): after churn the few closest may all be dead.
            seeds if seeds is not None else self.table.peers(),
            me=self.me,
            local_reply=(self.find_reply(key, count) if local else None),
            alpha=self.alpha,
            replicas=self.replicas,
            count=count,
            timeout=self.request_timeout,
            new_request_id=self._new_request_id,
        )
        self._jobs[lid] = _Job(lk, purpose, key)
        self._emit(lk.start(now), lid)
        self._job_progress(lid, now)
        return lid

    def _job_progress(self, lid: int, now: float) -> None:
        job = self._jobs.get(lid)
        if job is None or not job.lookup.done:
            return
        del self._jobs[lid]
        lk = job.lookup
        for pid in list(self._pending):
            if self._pending[pid].lookup_id == lid:
                del self._pending[pid]  # late answers to a finished lookup are ignored
        if job.purpose == _USER:
            self._outbox.append(LookupDone(lid, job.key, lk.result, lk.hops, lk.error, lk.queries))
        elif job.purpose == _FIX:
            if lk.result and self.state == JOINED:
                self.table.add(lk.result[0])  # verified alive by the lookup
        elif job.purpose == _JOIN:
            if self.state != JOINING:
                return
            found = [p for p in lk.result if p.id != self.me.id]
            if not found:
                self.state = IDLE
                self._outbox.append(JoinFailed(lk.error or "exhausted"))
                return
            self.state = JOINED
            self.table.set_successors([found[0], *self._screen(found[1:], now), *self.table.successors])
            self._outbox.append(Joined(tuple(self.table.successors)))
            self._arm_timers(now)
            self._send(_NOTIFY, self.table.successors[0], m.notify(self.me))
            self._stabilize(now)

    def _emit(self, sends: list[Send], lid: int) -> None:
        for s in sends:
            self._pending[s.request_id] = _Pending(_LOOKUP, s.peer, m.FIND, lid)
            self._outbox.append(s)

    # ----------------------------------------------------------------- helpers
    def _screen(self, peers: Sequence[PeerRef], now: float) -> list[PeerRef]:
        """Peers another node named, minus suspects (each probed with a ping now and then)."""
        kept, probe = self.suspects.screen(peers, now)
        for p in probe:
            if p.id != self.me.id and self.state != LEFT:
                self._send(_PING, p, m.ping(self.me))
        return kept

    def _new_request_id(self) -> int:
        return next(self._ids)

    def _send(self, kind: str, peer: PeerRef, msg: dict[str, Any]) -> None:
        rid = next(self._ids)
        self._pending[rid] = _Pending(kind, peer, msg["op"])
        self._outbox.append(Send(rid, peer, msg, self.request_timeout))

    def _check_plan(self) -> None:
        if self.state != JOINED:
            return
        primary = self.primary_range()
        held = self.held_range()
        reps = self.replica_peers()
        snap = (primary, held, tuple(p.id for p in reps))
        if snap == self._plan:
            return
        old_primary, old_held, _ = self._plan
        dropped = tuple(old_held.minus(held)) if (old_held is not None and held is not None) else ()
        transfers = plan.change_transfers(
            self._last_primary, primary, self._last_replicas, reps, self.table.predecessor
        )
        self._plan = snap
        if primary is not None:
            self._last_primary = primary
            self._last_replicas = reps
        self._outbox.append(ResponsibilityChanged(held, primary, reps, dropped, transfers))

    def _finish_call(self) -> list[Action]:
        self._check_plan()
        return self.take_actions()


def _key(key: int | bytes) -> int:
    if isinstance(key, (bytes, bytearray)):
        return id_from_bytes(bytes(key))
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < RING:
        return key
    raise LocalProtocolError("a key is a 32-byte address or an int in [0, 2**256)", reason="bad-key")


_MEMBER_OPS = frozenset({m.FIND, m.NEIGHBOURS, m.NOTIFY})

_HANDLERS: dict[str, Callable[[RingCore, PeerRef | None, m.Request, float], dict[str, Any]]] = {
    m.PING: RingCore._h_ping,
    m.FIND: RingCore._h_find,
    m.NEIGHBOURS: RingCore._h_neighbours,
    m.NOTIFY: RingCore._h_notify,
    m.LEAVE: RingCore._h_leave,
}
