"""What a running query waits for: the optional ``progress`` hook of :meth:`.client.ComputeClient.query`.

Pure (no trio, no I/O). The driver makes a :class:`QueryWatch` only when a
callback is given (no work otherwise); it notes each request sent and
answered, and after each state change of the session (its start, then each
outcome fed back) hands the callback a :class:`QueryProgress` snapshot when
something it reports changed. Never per byte: one snapshot per request
outcome at most.

The caller renders the snapshot; a wait grows while nothing happens, so
``waited(now)`` computes it against the driver's clock (``ComputeClient.clock``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .actions import Ask, peer_id_of, peer_key

__all__ = ["QueryProgress", "QueryWatch", "ReadyProgress", "peer_label"]


@dataclass(frozen=True)
class QueryProgress:
    """One snapshot of a query's progress (see the module docstring)."""

    shards_total: int
    """Shards this query asks (for a range: the shards it touches plus its guard shards)."""
    shards_done: int
    """Shards settled: verified, or failed (no usable answer)."""
    shards_failed: int
    peers_asked: int
    """Distinct peers sent a request so far (queries, batches, audit samples)."""
    newly_settled: tuple[int, ...] = ()
    """Shards settled since the previous snapshot (each shard appears in exactly one snapshot)."""
    waiting_shard: int | None = None
    """Of the requests still out, the oldest one's first unsettled shard (None when nothing is awaited)."""
    waiting_peer: str | None = None
    """The peer that request went to (:func:`peer_label`)."""
    waiting_since: float | None = None
    """When that request was sent, on the driver's clock."""
    restarts: int = 0
    """Times the query started over on a newer dataset version a peer proved."""

    @property
    def shards_verified(self) -> int:
        return self.shards_done - self.shards_failed

    def waited(self, now: float) -> float:
        """Seconds the awaited request has been out at ``now`` (driver's clock); 0 when nothing is awaited."""
        return max(0.0, now - self.waiting_since) if self.waiting_since is not None else 0.0


@dataclass(frozen=True)
class ReadyProgress:
    """A publisher's wait for the shard replicas to load a new dataset version
    (the ``ready_progress`` hook of :func:`.publish.publish_dataset`), one snapshot per answer."""

    asked: int
    """Replicas sent ``compute.prepare`` (every replica of the shards, each once)."""
    answered: int
    ready: int
    """Replicas that answered ready (their shards loaded and checked)."""
    waiting_on: tuple[str, ...] = ()
    """Labels of replicas not answered yet (:func:`peer_label`; at most 3 named, ``waiting`` counts them all)."""
    waiting: int = 0
    since: float = 0.0
    """When they were asked (``trio.current_time``); ``waited(now)`` = now - since while any is out."""

    def waited(self, now: float) -> float:
        return max(0.0, now - self.since) if self.waiting else 0.0


def peer_label(peer: Any) -> str:
    """A short name for a transport peer: its libp2p peer id shortened (``12D3Koo...ab``) when its
    address carries one, else the first 16 hex digits of its node id (as ``peers used`` prints them)."""
    addr = getattr(peer, "addr", None)
    if isinstance(addr, str) and "/p2p/" in addr:
        pid = addr.rsplit("/p2p/", 1)[1]
        return pid if len(pid) <= 12 else f"{pid[:7]}...{pid[-2:]}"
    node = peer_id_of(peer)
    return node.hex()[:16] if node is not None else str(peer)[:16]


def _shards_of(msg: Any) -> tuple[int, ...]:
    """The shards a request is about (a query, a batch of queries, an audit sample); () when unknown."""
    if not isinstance(msg, dict):
        return ()
    if isinstance(msg.get("queries"), list):
        return tuple(q["shard"] for q in msg["queries"] if isinstance(q, dict) and type(q.get("shard")) is int)
    shard = msg.get("shard")
    return (shard,) if type(shard) is int else ()


class QueryWatch:
    """The driver's bookkeeping for the ``progress`` hook (one per query, across its restarts)."""

    def __init__(self, callback: Callable[[QueryProgress], None], clock: Callable[[], float]) -> None:
        self.callback, self.clock = callback, clock
        self._out: dict[int, tuple[float, Any, tuple[int, ...]]] = {}  # tag -> (sent at, peer, shards)
        self._peers: set[Any] = set()
        self._settled: set[int] = set()
        self._last: QueryProgress | None = None
        self.restarts = 0

    def restart(self) -> None:
        """A new session (a newer dataset version): its shards start unsettled."""
        self._out.clear()
        self._settled.clear()
        self.restarts += 1

    def sent(self, action: Any) -> None:
        if isinstance(action, Ask):
            self._out[action.tag] = (self.clock(), action.peer, _shards_of(action.msg))
            self._peers.add(peer_key(action.peer))

    def answered(self, tag: int) -> None:
        self._out.pop(tag, None)

    def emit(self, session: Any) -> None:
        """Call the callback if the session's state, as reported, changed since the last call."""
        tasks = session.tasks
        new = tuple(i for i, t in tasks.items() if i not in self._settled and t.settled)
        self._settled.update(new)
        failed = sum(1 for i in self._settled if tasks[i].failed is not None)
        shard = peer = since = None
        for at, p, shards in sorted(self._out.values(), key=lambda e: e[0]):
            open_ = [i for i in shards if i in tasks and i not in self._settled]
            if open_:
                shard, peer, since = open_[0], peer_label(p), at
                break
        snap = QueryProgress(len(tasks), len(self._settled), failed, len(self._peers), new, shard, peer, since,
                             self.restarts)
        last = self._last
        if last is not None and not new and (snap.shards_done, snap.shards_failed, snap.peers_asked, shard, peer,
                                             since) == (last.shards_done, last.shards_failed, last.peers_asked,
                                                        last.waiting_shard, last.waiting_peer, last.waiting_since):
            return
        self._last = snap
        self.callback(snap)
