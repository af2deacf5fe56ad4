"""The node runtime: a libp2p host + the sans-IO ring core + the store.

Theory of operation
-------------------
A :class:`Node` owns one :class:`~note_compute.net.NetHost`, one
:class:`~note_compute.ring.RingCore` and one
:class:`~note_compute.store.Store`. It is the core's I/O:

* every incoming request goes through :meth:`Node._handle`: ``ring.*`` to
  ``core.handle_request``, ``store.*`` to the
  :class:`~note_compute.node.storage.StorageService`, ``node.status`` here,
  any other op to a handler registered with :meth:`Node.register_handler`;
* every action the core returns is executed by :meth:`Node._execute`: a
  :class:`Send` becomes a request task whose outcome is fed back with
  ``on_reply`` / ``on_error`` / ``on_timeout``; :class:`LookupDone` wakes
  whoever awaits :meth:`Node.lookup`; :class:`ResponsibilityChanged` and
  :class:`Handoff` go to the :class:`~note_compute.node.replication.Replicator`;
* a timer task calls ``core.tick`` (trio's clock is the core's ``now``).

The node creates a ring (no bootstrap) or joins one, retrying a failed join
every second. On leaving (:meth:`Node.leave`, or ``SIGINT``/``SIGTERM``
under :func:`serve_until_signal`) it tells its neighbours, hands its
records off (bounded by ``handoff_timeout``) and closes the host.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from ..compute.evidence import FRAUD_EVIDENCE
from ..crypto import SigningKey
from ..errors import LocalProtocolError, NoteError, NotFound, PeerUnreachable, RemoteProtocolError, Timeout
from ..ring import (
    IDLE,
    LEFT,
    Handoff,
    Joined,
    JoinFailed,
    LookupDone,
    PeerRef,
    ResponsibilityChanged,
    RingCore,
    Send,
)
from ..store import RateLimiter, Store, StoreLimits
from ..transport import Transport
from .datadir import DataDir
from .replication import Replicator
from .storage import STORAGE_OPS, StorageService

__all__ = ["NodeConfig", "Node", "open_node", "serve_until_signal", "STATUS", "RequestHandler"]

log = logging.getLogger(__name__)

STATUS = "node.status"
RequestHandler = Callable[[PeerRef, dict[str, Any]], Awaitable[dict[str, Any]]]
RING_RATE = 500.0
"""Ring requests per second each peer may send (a neighbour sends a few per second)."""
_RESERVED_PREFIXES = ("ring.", "store.", "node.")


@dataclass
class NodeConfig:
    """Everything a node needs to run; defaults suit a real deployment."""

    data_dir: Path
    listen: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/0"])
    bootstrap: list[str] = field(default_factory=list)
    replicas: int = 3
    stabilize_interval: float = 1.0
    replicate_interval: float = 5.0
    request_timeout: float = 2.0
    handoff_timeout: float = 5.0
    limits: StoreLimits | None = None
    rate: float = 2000.0
    """Request tokens per second each peer gets (every op; storage ops cost more by size, see storage.py)."""
    burst: float = 4000.0
    compute_rate: float = 50.0
    """Tokens per second each peer gets for ops served by registered handlers (compute), on top of ``rate``."""
    compute_burst: float = 200.0


class Node:
    """One ring member. Create it with :func:`open_node`.

    Public attributes: ``config``, ``host`` (NetHost), ``core`` (RingCore),
    ``store`` (Store), ``signing_key`` (the node's Ed25519 key: node id =
    SHA-256 of its public key; the compute layer signs receipts with it),
    ``me`` (this node as a PeerRef), ``joined`` (a trio.Event).
    """

    def __init__(self, config: NodeConfig, host: Transport, store: Store, seed: bytes) -> None:
        self.config = config
        self.host = host
        self.store = store
        self.signing_key = SigningKey(seed)
        if self.signing_key.public_key != host.public_key:
            raise LocalProtocolError("host key and node key differ", reason="key-mismatch")
        self.me: PeerRef = host.peer_ref
        self.core = RingCore(
            self.me,
            replicas=config.replicas,
            request_timeout=config.request_timeout,
            stabilize_interval=config.stabilize_interval,
            rng=random.Random(os.urandom(16)),
        )
        self.limiter = RateLimiter(config.rate, config.burst)
        """Every peer's request budget: every op spends from it (storage ops by size)."""
        self.ring_limiter = RateLimiter(RING_RATE, 2 * RING_RATE)
        """Ring ops (ping, lookup, stabilize): cheap, bounded per peer apart from the storage budget."""
        self.compute_limiter = RateLimiter(config.compute_rate, config.compute_burst)
        """A second budget for ops served by registered handlers (compute runs programs: CPU-bound)."""
        self.storage = StorageService(store, limiter=self.limiter)
        self.storage.replica_push = self._is_replica_push
        self.clock: Callable[[], float] = time.monotonic
        """Seconds for the request budgets (monotonic; tests substitute a fixed clock)."""
        self.replicator = Replicator(self)
        self.joined = trio.Event()
        self._handlers: dict[str, RequestHandler] = {}
        self._lookups: dict[int, tuple[trio.Event, list[LookupDone]]] = {}
        self._nursery: trio.Nursery | None = None
        self._started = time.time()
        self._handoff: Handoff | None = None
        self._bootstrap: list[PeerRef] = []
        self._inflight = 0
        host.set_handler(self._handle)

    # -- public API ------------------------------------------------------------

    @property
    def node_id(self) -> bytes:
        """This node's 32-byte ring id."""
        return self.me.id_bytes

    def register_handler(self, op: str, handler: RequestHandler) -> None:
        """Serve requests with ``op`` by ``async handler(sender, msg) -> reply dict``.

        ``ring.``, ``store.`` and ``node.`` ops are the node's own; a handler
        raising a NoteError becomes a typed error reply.
        """
        if not isinstance(op, str) or not op or op.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"op {op!r} is empty or reserved")
        self._handlers[op] = handler

    def spawn(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run ``task`` in the node's nursery: background work (the compute layer's shard prefetch) that
        stops with the node. Raises LocalProtocolError before the node has started."""
        if self._nursery is None:
            raise LocalProtocolError("the node has not started", reason="not-started")
        self._nursery.start_soon(task)

    async def lookup(self, key: bytes, timeout: float = 10.0) -> tuple[PeerRef, ...]:
        """The replica set of a 32-byte key (its successor first), through the ring core."""
        lid, actions = self.core.lookup(key, trio.current_time())
        ev: trio.Event = trio.Event()
        box: list[LookupDone] = []
        self._lookups[lid] = (ev, box)
        self._execute(actions)
        try:
            with trio.fail_after(timeout):
                await ev.wait()
        except trio.TooSlowError:
            raise Timeout(f"lookup of {key.hex()[:16]}... did not finish in {timeout:g} s") from None
        finally:
            self._lookups.pop(lid, None)
        done = box[0]
        if not done.ok:
            raise NotFound(f"lookup of {key.hex()[:16]}... failed ({done.error})", reason="lookup-failed")
        return done.peers

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """A raw request to ``peer`` (typed errors raise)."""
        return await self.host.request(peer, msg, timeout or self.config.request_timeout)

    def status(self) -> dict[str, Any]:
        """The ``node.status`` reply (see specs/storage-rpc.md)."""
        st = self.store.stats()
        pred, succ = self.core.predecessor, self.core.successor
        held, primary = self.core.held_range(), self.core.primary_range()
        return {
            "op": STATUS + ".reply",
            "id": self.node_id,
            "addrs": list(self.host.listen_addrs),
            "state": self.core.state,
            "predecessor": None if pred is None else pred.id_bytes,
            "successor": None if succ is None else succ.id_bytes,
            "successors": [p.to_wire() for p in self.core.successors],
            "held": None if held is None else held.to_wire(),
            "primary": None if primary is None else primary.to_wire(),
            "records": st.records,
            "values": st.values,
            "bytes": st.bytes,
            "uptime": int(time.time() - self._started),
        }

    async def leave(self) -> None:
        """Leave gracefully: tell the neighbours, hand records off (bounded), stop the ring work."""
        if self.core.state == LEFT:
            return
        self._execute(self.core.leave(trio.current_time()))
        handoff = self._handoff
        if handoff is not None:
            with trio.move_on_after(self.config.handoff_timeout):
                await self.replicator.run_transfers(handoff.transfers)
        # Let the ring.leave messages go out before the host closes.
        with trio.move_on_after(0.5):
            while self._inflight:
                await trio.sleep(0.02)

    # -- start -------------------------------------------------------------------

    async def _start(self, nursery: trio.Nursery, bootstrap: list[PeerRef]) -> None:
        self._nursery = nursery
        nursery.start_soon(self._timer_loop)
        nursery.start_soon(self.replicator.run)
        if bootstrap:
            seeds = [p for p in bootstrap if p.id != self.me.id]
            if seeds:
                self._bootstrap = seeds
                self._execute(self.core.join(seeds, trio.current_time()))
                return
        self._execute(self.core.create(trio.current_time()))
        self.joined.set()

    async def _rejoin_later(self) -> None:
        await trio.sleep(1.0)
        if self.core.state == IDLE:
            self._execute(self.core.join(self._bootstrap, trio.current_time()))

    # -- the core's I/O ----------------------------------------------------------

    def _execute(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Send):
                assert self._nursery is not None
                self._nursery.start_soon(self._send, a)
            elif isinstance(a, LookupDone):
                waiter = self._lookups.get(a.lookup_id)
                if waiter is not None:
                    waiter[1].append(a)
                    waiter[0].set()
            elif isinstance(a, ResponsibilityChanged):
                self.replicator.responsibility_changed(a)
            elif isinstance(a, Joined):
                log.info("joined the ring; successor %s", a.successors[0] if a.successors else None)
                self.joined.set()
            elif isinstance(a, JoinFailed):
                log.warning("join failed (%s); retrying in 1 s", a.reason)
                assert self._nursery is not None
                self._nursery.start_soon(self._rejoin_later)
            elif isinstance(a, Handoff):
                self._handoff = a

    async def _send(self, send: Send) -> None:
        self._inflight += 1
        started = trio.current_time()
        try:
            reply = await self.host.request(send.peer, send.msg, send.timeout)
        except (Timeout, PeerUnreachable):
            actions = self.core.on_timeout(send.request_id, trio.current_time())
        except NoteError as exc:
            actions = self.core.on_error(send.request_id, exc, trio.current_time())
        else:
            actions = self.core.on_reply(send.request_id, reply, trio.current_time())
        finally:
            self._inflight -= 1
            took = trio.current_time() - started
            if took > 2 * send.timeout + 1:
                log.warning("%s to %s took %.1f s (timeout %.1f s)", send.msg.get("op"), send.peer.addr, took,
                            send.timeout)
        self._execute(actions)

    async def _timer_loop(self) -> None:
        while True:
            nt = self.core.next_tick()
            now = trio.current_time()
            delay = 0.25 if nt is None else min(0.25, max(0.0, nt - now))
            await trio.sleep(delay)
            self._execute(self.core.tick(trio.current_time()))

    def _is_replica_push(self, sender_id: bytes, key: bytes) -> bool:
        """A put from a ring node we know, for a key we must hold: replication, not the sender's data.

        Replication pushes used to be charged to the pushing node's per-peer
        quota, so a node holding more than 256 MiB for its neighbourhood
        could not hand it over. A ring member can still fill our range only
        within the store's total cap and its request budget.
        """
        return self.core.must_hold(key) and int.from_bytes(sender_id, "big") in self.core.table

    async def _handle(self, sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        if not isinstance(op, str):
            raise RemoteProtocolError("a request needs a text op", reason="no-op")
        if op in STORAGE_OPS:
            return await self.storage.handle(sender.id_bytes, msg)  # spends from self.limiter by size
        now = self.clock()
        if op.startswith("ring."):
            # Their own bucket: a neighbour busy syncing storage must still get its pings answered.
            self.ring_limiter.check(sender.id_bytes, now)
            reply = self.core.handle_request(sender, msg, trio.current_time())
            self._execute(self.core.take_actions())
            return reply
        self.limiter.check(sender.id_bytes, now)
        if op == STATUS:
            if set(msg) != {"op"}:
                raise RemoteProtocolError("node.status takes no fields", reason="unexpected-field")
            return self.status()
        handler = self._handlers.get(op)
        if handler is None:
            raise RemoteProtocolError(f"unknown op {op[:64]!r}", reason="unknown-op")
        self.compute_limiter.check(sender.id_bytes, now)
        return await handler(sender, msg)


@asynccontextmanager
async def open_node(config: NodeConfig, *, leave_on_exit: bool = True) -> AsyncIterator[Node]:
    """Run a node (data dir, host, store, ring work) for the duration of the block.

    Writes ``node.json`` once listening; on exit leaves gracefully (unless
    ``leave_on_exit`` is false: a crash-like stop), closes host and store and
    removes ``node.json``.
    """
    from ..client import peer_ref_from_multiaddr
    from ..net import open_host

    bootstrap = [peer_ref_from_multiaddr(a) for a in config.bootstrap]  # bad addresses fail here, early
    dd = DataDir(Path(config.data_dir))
    seed = dd.load_or_create_seed()
    store = Store.in_dir(dd.path, limits=config.limits, evidence=FRAUD_EVIDENCE)
    try:
        async with open_host(seed, config.listen) as host:
            node = Node(config, host, store, seed)
            async with trio.open_nursery() as nursery:
                await node._start(nursery, bootstrap)
                dd.write_info({"pid": os.getpid(), "addrs": list(host.listen_addrs),
                               "node_id": node.node_id.hex(), "peer_id": host.peer_id})
                try:
                    yield node
                finally:
                    with trio.CancelScope(shield=True):
                        if leave_on_exit:
                            try:
                                await node.leave()
                            except Exception:  # leaving is best effort
                                log.exception("graceful leave failed")
                        nursery.cancel_scope.cancel()
    finally:
        dd.remove_info()
        store.close()


async def serve_until_signal(config: NodeConfig) -> None:
    """Run a node until SIGINT or SIGTERM, then leave gracefully (``note-compute node``)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(config) as node:
            from ..compute.node_source import attach_compute  # compute.query / compute.records (compute layer)

            attach_compute(node)
            log.info("node %s listening on %s", node.node_id.hex()[:16], ", ".join(node.host.listen_addrs))
            print(f"node {node.node_id.hex()[:16]} listening on {node.host.listen_addrs[0]}", flush=True)
            async for _ in signals:
                break
    print("node stopped", flush=True)
