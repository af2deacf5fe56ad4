"""Replication: keep every key on its r replicas through joins, leaves and failures.

Theory of operation
-------------------
All moves use one primitive, :meth:`Replicator.sync_range`: send the
digests of our entries on an arc to a peer (``store.sync``), push what it
*wants* (``store.put``) and pull what it holds *newer* (``store.get``, then
our own validated ``Store.put``). Only entries that differ move. Fraud
evidence sets (kind ``"evidence"``) are both wanted and newer when their
hashes differ: each side pulls the other's set and merges it with the room
kept for replicas (``compute.evidence.merge(..., replica=True)``; pushes get
a put's room), so both end with the same set: the union of what each
admitted from puts.

When it runs:

* **Responsibility changes** (the ring core's ``ResponsibilityChanged``):
  its ``transfers`` run at once (after a 0.2 s debounce), followed by a full
  round.
* **Rounds**, every ``replicate_interval`` (jittered): a key in the arc
  ``(p_j, p_{j-1}]`` (``p_0`` = us) lives on ``p_{j-1}`` and the next r - 1
  nodes, so successor ``s_i`` must hold our keys on ``(p_{r-i}, me]`` and
  predecessor ``p_i`` those on ``(p_r, p_i]``. Each round syncs exactly those
  arcs with the r - 1 successors and r - 1 predecessors (the whole ring when
  too few predecessors are known: over-replicating is safe). When r - 1
  adjacent nodes fail at once, the survivor's next round refills the new
  replica set as soon as stabilization has repaired its successor list.
* **Strays**, every few rounds: entries we hold outside our ``held`` arc
  (we were responsible before a join) are synced to the key's current
  replica set (found in our neighbourhood, or by lookup), and deleted here
  once every member of that set holds them (:meth:`Replicator.collect_strays`).
* **Hand-off** on graceful leave: :meth:`run_transfers` on the core's
  ``Handoff``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Protocol

import trio

from ..errors import NoteError, NotFound, PeerUnreachable, RateLimited, Timeout
from ..ring import JOINED, PeerRef, Range, ResponsibilityChanged, RingCore, Transfer
from ..ring.ids import id_to_bytes
from ..store import Digest, Store
from ..wire.storage import MAX_SYNC_ENTRIES, get_msg, parse_get_reply, parse_sync_reply, put_msg, sync_msg
from .storage import StorageService

__all__ = ["Replicator", "ReplicaNode"]

log = logging.getLogger(__name__)

_STRAY_EVERY = 3  # rounds
_STRAY_BATCH = 2000
_STRAY_LOOKUPS = 64  # lookups per stray round, at most
_PARALLEL = 8


class _ReplicateConfig(Protocol):
    @property
    def replicate_interval(self) -> float: ...
    @property
    def replicas(self) -> int: ...


class ReplicaNode(Protocol):
    """What replication needs of its node (the runtime's ``Node`` is one; declared here so the
    runtime imports replication and not the other way round)."""

    @property
    def core(self) -> RingCore: ...
    @property
    def config(self) -> _ReplicateConfig: ...
    @property
    def me(self) -> PeerRef: ...
    @property
    def store(self) -> Store: ...
    @property
    def storage(self) -> StorageService: ...

    async def lookup(self, key: bytes, timeout: float = ...) -> tuple[PeerRef, ...]: ...

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float | None = ...) -> dict[str, Any]: ...


class Replicator:
    """Runs a node's replication (see the module docstring)."""

    def __init__(self, node: ReplicaNode) -> None:
        self.node = node
        self._pending: list[Transfer] = []
        self._wake = trio.Event()
        self.rounds = 0
        self.pushed = 0
        self.pulled = 0
        self.collected = 0

    def responsibility_changed(self, rc: ResponsibilityChanged) -> None:
        """Queue the change's transfers and wake the replication task."""
        self._pending.extend(rc.transfers)
        self._wake.set()

    def kick(self) -> None:
        """Run a round as soon as possible."""
        self._wake.set()

    async def run(self) -> None:
        """The replication task: transfers on change, rounds on a timer. Never returns."""
        rng = self.node.core.rng
        while True:
            interval = self.node.config.replicate_interval * rng.uniform(0.8, 1.2)
            with trio.move_on_after(interval):
                await self._wake.wait()
                await trio.sleep(0.2)  # debounce bursts of changes
            self._wake = trio.Event()
            transfers, self._pending = self._pending, []
            try:
                await self.run_transfers(transfers)
                await self.round()
            except NoteError as exc:
                log.info("replication round cut short: %s", exc)
            except Exception:  # a bug: log it loudly, but keep the node (and its data) serving
                log.exception("replication round failed")

    async def run_transfers(self, transfers: list[Transfer] | tuple[Transfer, ...]) -> None:
        """Sync each transfer's range with each of its peers (in parallel, errors logged)."""
        jobs = [(t.range, p) for t in transfers for p in t.peers if p.id != self.node.me.id]
        await self._run_jobs(jobs)

    async def round(self) -> None:
        """One anti-entropy round with our r - 1 successors and r - 1 predecessors."""
        core = self.node.core
        if core.state != JOINED:
            return
        self.rounds += 1
        me, r = core.me, core.replicas
        preds, succs = core.predecessors, core.successors
        whole = Range(me.id, me.id)
        jobs: list[tuple[Range, PeerRef]] = []
        for i, s in enumerate(succs[: r - 1], start=1):
            jobs.append((Range(preds[r - i - 1].id, me.id) if len(preds) >= r - i else whole, s))
        for p in preds[: r - 1]:
            jobs.append((Range(preds[r - 1].id, p.id) if len(preds) >= r else whole, p))
        await self._run_jobs([(rg, p) for rg, p in jobs if p.id != me.id])
        if self.rounds % _STRAY_EVERY == 0:
            await self.push_strays()

    async def push_strays(self) -> None:
        """Sync entries held outside our arc to their keys' current replica sets."""
        held = self.node.core.held_range()
        if held is None or held.full:
            return
        groups: dict[PeerRef, list[Digest]] = defaultdict(list)
        homes: dict[bytes, set[int]] = {}  # stray key -> ids of its replica set (collectable ones only)
        lookups = 0
        lo, hi = id_to_bytes(held.end), id_to_bytes(held.start)  # the complement arc (me, p_r]
        for d in self.node.store.digests(lo, hi, limit=_STRAY_BATCH):
            peers = self.node.core.replica_set(d.key)
            if peers is None:
                if lookups >= _STRAY_LOOKUPS:
                    continue  # the rest waits for a later round
                lookups += 1
                try:
                    peers = await self.node.lookup(d.key)
                except NoteError:
                    continue
            others = {p.id for p in peers if p.id != self.node.me.id}
            if len(others) == len(peers) >= self.node.config.replicas:
                homes[d.key] = others  # we are not a replica: collectable once all of them hold it
            for p in peers:
                if p.id != self.node.me.id:
                    groups[p].append(d)
        confirmed: dict[bytes, set[int]] = defaultdict(set)
        async with trio.open_nursery() as nursery:
            for peer, digests in groups.items():
                nursery.start_soon(self._sync_digests_safe, peer, digests, confirmed)
        self.collect_strays(homes, confirmed)

    def collect_strays(self, homes: dict[bytes, set[int]], confirmed: dict[bytes, set[int]]) -> int:
        """Delete strays that every member of their replica set now holds; returns how many.

        A stray pushed home used to stay here for good (out of range, never
        served, never collected). It goes once each of the r nodes of its
        replica set (a set that does not include us) answered a sync with
        the entry held, as new as ours or newer, or took our push.
        """
        gone = 0
        for key, members in homes.items():
            if members <= confirmed.get(key, set()) and self.node.store.delete(key):
                gone += 1
        self.collected += gone
        return gone

    async def _sync_digests_safe(self, peer: PeerRef, digests: list[Digest],
                                 confirmed: dict[bytes, set[int]] | None = None) -> None:
        try:
            for i in range(0, len(digests), MAX_SYNC_ENTRIES):
                page = digests[i : i + MAX_SYNC_ENTRIES]
                held = await self._sync_page(peer, page[0].key, page[-1].key, page)
                if confirmed is not None:
                    for key in held:
                        confirmed[key].add(peer.id)
        except NoteError as exc:
            log.debug("stray sync with %s stopped: %s", peer.addr, exc)

    async def _run_jobs(self, jobs: list[tuple[Range, PeerRef]]) -> None:
        if not jobs:
            return
        async with trio.open_nursery() as nursery:
            for rg, peer in jobs:
                nursery.start_soon(self._sync_safe, rg, peer)

    async def _sync_safe(self, rg: Range, peer: PeerRef) -> None:
        try:
            await self.sync_range(rg, peer)
        except NoteError as exc:
            log.debug("sync of %r with %s stopped: %s", rg, peer.addr, exc)

    async def sync_range(self, rg: Range, peer: PeerRef) -> None:
        """Make ``peer`` hold at least what we hold on ``rg`` (and pull what it has newer)."""
        lo, hi = rg.to_wire()
        after: bytes | None = None
        while True:
            digests = self.node.store.digests(lo, hi, limit=MAX_SYNC_ENTRIES, after=after)
            if not digests:
                return
            await self._sync_page(peer, lo, hi, digests)
            if len(digests) < MAX_SYNC_ENTRIES:
                return
            after = digests[-1].key

    async def _sync_page(self, peer: PeerRef, lo: bytes, hi: bytes, digests: list[Digest]) -> set[bytes]:
        """Sync one page of digests with ``peer``; returns the keys ``peer`` now holds (as new as ours)."""
        reply = await self.node.request(peer, sync_msg(lo, hi, digests))
        want, newer = parse_sync_reply(reply)
        wanted = set(want)
        held = {d.key for d in digests if d.key not in wanted}
        limit = trio.CapacityLimiter(_PARALLEL)
        failed: list[NoteError] = []

        async def push(key: bytes) -> None:
            async with limit:
                try:
                    entry = self.node.store.get(key)
                except NotFound:
                    return
                try:
                    await self.node.request(peer, put_msg(entry.kind, key, entry.data))
                    self.pushed += 1
                    held.add(key)
                except (PeerUnreachable, Timeout, RateLimited) as exc:
                    failed.append(exc)
                except NoteError as exc:  # stale, equivocation, quota: this entry only
                    log.debug("push of %s to %s refused: %s", key.hex()[:16], peer.addr, exc)

        async def pull(key: bytes) -> None:
            async with limit:
                try:
                    kind, data = parse_get_reply(await self.node.request(peer, get_msg(key)), key)
                    # evidence: convicted if we run compute, merged with replica room (replicas converge)
                    await self.node.storage.put(kind, key, data, peer=None, replica=True)
                    self.pulled += 1
                except (PeerUnreachable, Timeout, RateLimited) as exc:
                    failed.append(exc)
                except NoteError as exc:
                    log.debug("pull of %s from %s refused: %s", key.hex()[:16], peer.addr, exc)

        async with trio.open_nursery() as nursery:
            for k in want:
                nursery.start_soon(push, k)
            for k in newer:
                nursery.start_soon(pull, k)
        if failed:
            raise failed[0]
        return held
