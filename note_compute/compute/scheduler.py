"""Fair compute scheduling: bounded queues per requesting peer, round robin across peers, an immediate busy.

Theory of operation
-------------------
Programs run off the event loop in worker threads (wasmtime releases the
GIL while wasm runs: two long runs in two threads took 1.68x one run on a
loaded 2-core machine, not 2x; see BENCHMARKS.md), at most ``workers`` at
a time (default: the host's cores, at most 4). Work waiting for a worker is
queued **per requesting peer**, and a freed worker takes the oldest job of
the waiting peer that got a worker longest ago (round robin), so one peer submitting sixteen
long queries delays a bystander's query by at most one run per worker, not
by sixteen.

Queues are bounded: a peer may have ``per_peer`` jobs waiting, the node
``total`` jobs waiting. A job that does not fit is refused at once with
:class:`~note_compute.errors.Busy` (code ``busy``, reason ``peer-queue`` or
``node-queue``) instead of waiting out the requester's timeout; the client
asks another replica or retries later.

:class:`RoundRobin` is the pure queueing core (no trio, no threads);
:class:`FairScheduler` drives it with trio.
"""

from __future__ import annotations

import os
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import trio

from ..errors import Busy

__all__ = ["RoundRobin", "FairScheduler", "DEFAULT_PER_PEER", "DEFAULT_TOTAL", "default_workers"]

DEFAULT_PER_PEER = 4
"""Jobs one peer may have waiting for a worker."""
DEFAULT_TOTAL = 64
"""Jobs all peers together may have waiting."""

J = TypeVar("J")


def default_workers() -> int:
    """Worker threads for programs: the host's cores, between 1 and 4."""
    return max(1, min(4, os.cpu_count() or 1))


class RoundRobin(Generic[J]):
    """Per-peer FIFO queues served in rotation (pure)."""

    def __init__(self, *, per_peer: int = DEFAULT_PER_PEER, total: int = DEFAULT_TOTAL) -> None:
        if per_peer < 1 or total < 1:
            raise ValueError("queue bounds must be positive")
        self.per_peer = per_peer
        self.total = total
        self._queues: OrderedDict[Hashable, deque[J]] = OrderedDict()  # ties: the peer that queued first
        self._served: OrderedDict[Hashable, int] = OrderedDict()  # peer -> when it last got a worker
        self._clock = 0
        self.waiting = 0

    def served(self, peer: Hashable) -> None:
        """``peer`` got a worker (from :meth:`pop`, or directly when nothing waited): it goes to the back."""
        self._clock += 1
        self._served.pop(peer, None)
        self._served[peer] = self._clock
        while len(self._served) > 4 * self.total:  # remember recent peers only (bounded)
            self._served.popitem(last=False)

    def push(self, peer: Hashable, job: J) -> None:
        """Queue ``job`` for ``peer``; raises Busy if its queue or the node's is full."""
        q = self._queues.get(peer)
        if q is not None and len(q) >= self.per_peer:
            raise Busy(f"this peer already has {self.per_peer} queries waiting here", reason="peer-queue")
        if self.waiting >= self.total:
            raise Busy(f"{self.total} queries are waiting on this node", reason="node-queue")
        if q is None:
            q = self._queues[peer] = deque()
        q.append(job)
        self.waiting += 1

    def pop(self) -> J | None:
        """The oldest job of the waiting peer served longest ago (round robin), or None."""
        if not self._queues:
            return None
        peer = min(self._queues, key=lambda p: self._served.get(p, 0))  # min keeps the first of ties
        q = self._queues[peer]
        job = q.popleft()
        self.waiting -= 1
        if not q:
            del self._queues[peer]
        self.served(peer)
        return job

    def remove(self, peer: Hashable, job: J) -> bool:
        """Withdraw a queued job (its requester gave up); True if it was queued."""
        q = self._queues.get(peer)
        if q is None or job not in q:
            return False
        q.remove(job)
        self.waiting -= 1
        if not q:
            del self._queues[peer]
        return True


class _Job:
    __slots__ = ("fn", "go")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.go = trio.Event()


class FairScheduler:
    """Runs blocking jobs in worker threads, fairly across peers (see the module docstring)."""

    def __init__(self, workers: int | None = None, *, per_peer: int = DEFAULT_PER_PEER,
                 total: int = DEFAULT_TOTAL,
                 run_sync: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        """``run_sync`` runs a job (default: ``trio.to_thread.run_sync``; tests pass a fake)."""
        self.workers = workers or default_workers()
        self._queue: RoundRobin[_Job] = RoundRobin(per_peer=per_peer, total=total)
        self._running = 0
        self._run_sync = run_sync
        self.started: list[Hashable] = []  # peers in the order their jobs got a worker (last 1,000)
        self.refused = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._queue.waiting

    async def run(self, peer: Hashable, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (blocking) in a worker when ``peer``'s turn comes; raises Busy if its queue is full."""
        job = _Job(fn)
        if self._running < self.workers and self._queue.waiting == 0:
            self._running += 1
            self._queue.served(peer)
        else:
            try:
                self._queue.push(peer, job)
            except Busy:
                self.refused += 1
                raise
            try:
                await job.go.wait()  # _release handed us its worker: _running already counts us
            except BaseException:
                if not self._queue.remove(peer, job):  # cancelled after being handed a worker
                    self._release()
                raise
        self.started.append(peer)
        del self.started[:-1000]
        try:
            if self._run_sync is not None:
                return await self._run_sync(fn)
            return await trio.to_thread.run_sync(fn)
        finally:
            self._release()

    async def offload(self, fn: Callable[[], Any]) -> Any:
        """``run`` for the node's own work (evidence checks), queued under the key ``None``."""
        return await self.run(None, fn)

    def _release(self) -> None:
        nxt = self._queue.pop()
        if nxt is None:
            self._running -= 1
        else:
            nxt.go.set()  # the worker passes straight to the next job in rotation
