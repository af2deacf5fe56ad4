"""Prefetch: a node loads the shards it serves when a dataset manifest lands, not on the first query.

Theory of operation
-------------------
A dataset record (``note://AUTHORITY/datasets/NAME``) is stored on the
replicas of its URL's address, but each shard it names is served by the
replicas of the shard's blob address: other nodes. So:

1. **Landing.** A node that stores a new dataset record (a client's put or a
   replication pull: the storage service's ``on_stored`` hook) queues it.
2. **Announcing.** For at most ``announce_shards`` of its shards, that node
   finds the shard's replica set (its own neighbourhood, else a ring lookup)
   and sends every other member, once, ``compute.prepare`` carrying the
   signed record. A receiver checks the signature and that it is a dataset
   record, queues it, and announces nothing further.
3. **Loading.** For each queued ``(url, seq)`` newer than the last it saw, a
   node fetches the freshest manifest from the ring itself (an announcer is
   trusted for nothing but a valid signature: a stale or unknown seq is
   dropped), then loads the shards whose blob address it must hold through
   the compute source, one at a time, the well-formedness check in a worker
   thread. The first query then finds them checked and indexed; a query that
   arrives mid-load waits for that load rather than starting its own.

Bounds, because a hostile publisher chooses its manifest and anyone may
announce (:class:`PrefetchLimits`; past any bound the shard is simply not
prefetched and the first query loads it, as before):

* per dataset version: ``max_shards`` shards and ``max_bytes`` bytes; a blob
  whose own (hash-addressed) manifest declares more than the bytes left is
  refused before any of its chunks is fetched;
* per authority: ``authority_bytes`` and ``authority_datasets`` per
  ``window`` seconds; all authorities together: ``total_bytes`` per window;
* ``queue`` manifests waiting (more are dropped and counted), ``parallel``
  datasets loading at once, ``announce_shards`` lookups per announcement;
* a newer seq of a dataset cancels the load of the older one; everything is
  cancelled with the node.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from .. import records, urls
from ..errors import InvalidRecord, NoteError
from ..wire.compute import OP_PREPARE, parse_prepare, prepare_msg, prepare_reply
from .dataset import Manifest, shard_table_value
from .source import DATASETS_PREFIX, RingSource, manifest_from_record

__all__ = ["PrefetchLimits", "PrefetchStats", "Prefetcher", "OP_PREPARE"]

log = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class PrefetchLimits:
    """How much background work a landing manifest may cause on one node (see the module docstring)."""

    max_shards: int = 32
    max_bytes: int = 32 * MiB
    authority_bytes: int = 64 * MiB
    authority_datasets: int = 16
    total_bytes: int = 256 * MiB
    window: float = 600.0
    queue: int = 64
    parallel: int = 2
    announce_shards: int = 64
    announce_timeout: float = 5.0
    wait: float = 30.0
    """Longest a ``compute.prepare`` with ``wait`` is held before its reply."""


@dataclass
class PrefetchStats:
    """Counters (for tests, benchmarks and logs)."""

    queued: int = 0
    dropped: int = 0
    """Manifests not queued because the queue was full."""
    datasets: int = 0
    """Dataset versions whose shards this node loaded (or tried to)."""
    loaded: int = 0
    """Shards loaded, checked and indexed ahead of any query."""
    bytes: int = 0
    capped: int = 0
    """Shards (or whole datasets) left to the first query by a bound."""
    failed: int = 0
    cancelled: int = 0
    announced: int = 0
    """``compute.prepare`` requests sent and answered."""


@dataclass(frozen=True)
class _Item:
    url: str
    seq: int
    authority: str
    record: bytes
    announce: bool


class _Budget:
    """Bytes and dataset versions spent per window (one per authority, one for everything)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.bytes = 0
        self.datasets = 0

    def roll(self, now: float, window: float) -> _Budget:
        if now - self.start >= window:
            self.start, self.bytes, self.datasets = now, 0, 0
        return self


class Prefetcher:
    """One node's prefetch (see the module docstring).

    ``node`` needs ``core`` (``must_hold``, ``replica_set``), ``me``,
    ``lookup`` and ``request``; ``source`` is the compute server's
    :class:`~.source.RingSource` (its cache is what the first query reads).
    Run :meth:`run` in the node's nursery; install :meth:`record_stored` as the
    storage service's ``on_stored`` and :meth:`handle` for ``compute.prepare``.
    """

    def __init__(self, node: Any, source: RingSource, *, limits: PrefetchLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.source = source
        self.limits = limits or PrefetchLimits()
        self.clock = clock
        self.stats = PrefetchStats()
        self._send, self._recv = trio.open_memory_channel[_Item](self.limits.queue)
        self._latest: OrderedDict[str, int] = OrderedDict()  # url -> newest seq taken up
        self._scopes: dict[str, trio.CancelScope] = {}
        self._done: OrderedDict[tuple[str, int], trio.Event] = OrderedDict()  # set when a version's load ends
        self._authorities: OrderedDict[str, _Budget] = OrderedDict()
        self._total = _Budget(clock())
        self._limit = trio.CapacityLimiter(self.limits.parallel)
        self.idle = trio.Event()
        """Set whenever nothing is queued or loading (tests wait on it; replaced when work arrives)."""
        self.idle.set()
        self._busy = 0

    # -- arrivals -----------------------------------------------------------------------------------------

    def record_stored(self, kind: str, key: bytes, data: bytes) -> None:
        """Storage hook: a new entry was stored; queue it if it is a dataset record (never raises)."""
        if kind != "record":
            return
        try:
            rec = records.Record.decode(data)  # the store verified the signature before storing it
        except NoteError:
            return
        if _is_dataset(rec.url):
            self._offer(rec, announce=True)

    async def handle(self, sender: Any, msg: Any) -> dict[str, Any]:
        """``compute.prepare``: check the signed dataset record and queue it; with ``wait``, reply once this
        node's load of that version has ended (at most ``limits.wait`` seconds): ``{"queued", "ready"}``."""
        data, wait = parse_prepare(msg)
        rec = records.decode_verified(data, now=int(time.time()))
        if not _is_dataset(rec.url):
            raise InvalidRecord(f"{rec.url} is not a dataset record (under {DATASETS_PREFIX})", reason="not-dataset")
        queued = self._offer(rec, announce=False)
        done = self._done.get((rec.url, rec.seq))
        if wait and done is not None:
            with trio.move_on_after(self.limits.wait):
                await done.wait()
        return prepare_reply(queued, done is not None and done.is_set())

    def _offer(self, rec: records.Record, *, announce: bool) -> bool:
        if self._latest.get(rec.url, -1) >= rec.seq:
            return False
        try:
            self._send.send_nowait(_Item(rec.url, rec.seq, rec.authority, rec.encode(), announce))
        except trio.WouldBlock:
            self.stats.dropped += 1
            return False
        self.stats.queued += 1
        self._done.setdefault((rec.url, rec.seq), trio.Event())
        while len(self._done) > 4096:
            self._done.popitem(last=False)[1].set()
        self._enter()
        return True

    def _enter(self) -> None:
        if self._busy == 0:
            self.idle = trio.Event()
        self._busy += 1

    def _leave(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self.idle.set()

    # -- the task -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Take queued manifests up until cancelled (with the node)."""
        async with trio.open_nursery() as nursery:
            async for item in self._recv:
                try:
                    self._take(item, nursery)
                finally:
                    self._leave()

    def _take(self, item: _Item, nursery: trio.Nursery) -> None:
        latest = self._latest.get(item.url, -1)
        if latest >= item.seq:
            if latest > item.seq:
                self._finished(item)  # superseded before it started
            return
        self._latest[item.url] = item.seq
        self._latest.move_to_end(item.url)
        while len(self._latest) > 4096:
            self._latest.popitem(last=False)
        old = self._scopes.pop(item.url, None)
        if old is not None:
            old.cancel()  # a newer version supersedes it
            self.stats.cancelled += 1
        now = self.clock()
        budget = self._authority(item.authority, now)
        if budget.datasets >= self.limits.authority_datasets:
            self._finished(item)
            self.stats.capped += 1
            log.info("prefetch: %s is over its %d datasets per window", item.authority[:12],
                     self.limits.authority_datasets)
            return
        budget.datasets += 1
        scope = trio.CancelScope()
        self._scopes[item.url] = scope
        self._enter()
        nursery.start_soon(self._prepare, item, scope)

    def _authority(self, authority: str, now: float) -> _Budget:
        budget = self._authorities.get(authority)
        if budget is None:
            budget = self._authorities[authority] = _Budget(now)
            while len(self._authorities) > 4096:
                self._authorities.popitem(last=False)
        self._authorities.move_to_end(authority)
        return budget.roll(now, self.limits.window)

    async def _prepare(self, item: _Item, scope: trio.CancelScope) -> None:
        try:
            with scope:
                async with self._limit:
                    try:
                        manifest = await self._manifest(item)
                    except NoteError as exc:
                        self.stats.failed += 1
                        log.debug("prefetch: no manifest for %s seq %d: %s", item.url, item.seq, exc)
                        return
                    self.stats.datasets += 1
                    started, before = time.monotonic(), self.stats.loaded
                    async with trio.open_nursery() as nursery:
                        if item.announce and self._first_replica(item.url):
                            nursery.start_soon(self._announce, manifest, item.record)
                        nursery.start_soon(self._load_mine, manifest, item.authority)
                    log.info("prefetch: %s seq %d: %d shards loaded in %.2f s", item.url, item.seq,
                             self.stats.loaded - before, time.monotonic() - started)
        finally:
            if self._scopes.get(item.url) is scope:
                del self._scopes[item.url]
            self._finished(item)
            self._leave()

    def _finished(self, item: _Item) -> None:
        done = self._done.get((item.url, item.seq))
        if done is not None:
            done.set()

    async def _manifest(self, item: _Item) -> Manifest:
        """The manifest the (signature-checked) record carries; its shard table fetched when not inline.

        Not put in the source's manifest cache: queries still resolve the freshest manifest from the ring.
        Shards are cached by (root, count), so a shard loaded here serves any manifest that names it.
        """
        rec = records.Record.decode(item.record)
        table = None
        if rec.value is not None:
            addr = shard_table_value(rec.value)
            if addr is not None:
                table = await self.source.client.get_blob(addr, max_size=self.limits.max_bytes)
        return manifest_from_record(rec, table)

    async def _load_mine(self, manifest: Manifest, authority: str) -> None:
        lim = self.limits
        mine = [i for i, s in enumerate(manifest.shards) if self.node.core.must_hold(s.blob)]
        spent = 0
        for n, i in enumerate(mine):
            if self.source.has_shard(manifest, i):
                continue
            now = self.clock()
            left = min(lim.max_bytes - spent,
                       lim.authority_bytes - self._authority(authority, now).bytes,
                       lim.total_bytes - self._total.roll(now, lim.window).bytes)
            if n >= lim.max_shards or left <= 0:
                self.stats.capped += len(mine) - n
                log.info("prefetch: %s seq %d: %d of its shards left to the first query (bounds)",
                         manifest.url, manifest.seq, len(mine) - n)
                return
            try:
                shard = await self.source.shard(manifest, i, max_bytes=left)
            except NoteError as exc:  # too large for what is left, unreachable, malformed: the query decides
                if exc.reason == "too-large":
                    self.stats.capped += 1
                else:
                    self.stats.failed += 1
                log.debug("prefetch: shard %d of %s not loaded: %s", i, manifest.url, exc)
                continue
            size = sum(len(r) for r in shard.records)
            spent += size
            self._authority(authority, now).bytes += size
            self._total.bytes += size
            self.stats.loaded += 1
            self.stats.bytes += size

    def _first_replica(self, url: str) -> bool:
        """Whether we announce: the first node of the record's replica set does (all of them while the
        neighbourhood does not show that set); a record replicated to other nodes is announced once."""
        found = self.node.core.replica_set(urls.address(url))
        return not found or found[0].id_bytes == self.node.me.id_bytes

    async def _announce(self, manifest: Manifest, record: bytes) -> None:
        peers: dict[bytes, Any] = {}
        me = self.node.me.id_bytes
        limit = trio.CapacityLimiter(4)

        async def find(blob: bytes) -> None:
            async with limit:
                found = self.node.core.replica_set(blob)
                if found is None:
                    try:
                        found = await self.node.lookup(blob, timeout=self.limits.announce_timeout)
                    except NoteError:
                        return
                for p in found:
                    if p.id_bytes != me:
                        peers[p.id_bytes] = p

        async with trio.open_nursery() as nursery:
            for s in manifest.shards[: self.limits.announce_shards]:
                nursery.start_soon(find, s.blob)
        msg = prepare_msg(record)

        async def tell(peer: Any) -> None:
            async with limit:
                try:
                    await self.node.request(peer, msg, self.limits.announce_timeout)
                    self.stats.announced += 1
                except NoteError as exc:
                    log.debug("prefetch: %s refused compute.prepare: %s", peer, exc)

        async with trio.open_nursery() as nursery:
            for p in peers.values():
                nursery.start_soon(tell, p)


def _is_dataset(url: str) -> bool:
    try:
        return urls.parse(url).path.startswith(DATASETS_PREFIX)
    except NoteError:
        return False
