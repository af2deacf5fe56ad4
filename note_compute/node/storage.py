"""The storage RPCs a node serves: ``store.put``, ``store.get``, ``store.sync``.

Schemas, limits and errors are in ``specs/storage-rpc.md``. Every request is
validated strictly (:func:`parse_put` and friends raise
:class:`~note_compute.errors.RemoteProtocolError` with a ``reason``); every
write goes through :class:`~note_compute.store.Store`, which verifies
signatures, hashes, the seq rule and the sender's quota before writing
anything. Each request first spends a token of the sender's rate-limit
bucket. A refusal is a typed error reply; nothing is stored.

``store.sync`` is the anti-entropy step: a replica sends the digests
``[key, seq, hash]`` of its entries on an arc, the receiver answers with the
keys it *wants* (missing, or an older record) and the keys where it holds a
*newer* record; the sender then pushes the wanted entries with ``store.put``
and fetches the newer ones with ``store.get``. Only what differs moves.
Evidence sets (fraud proofs under the accused peer's id) have no order: a
hash mismatch puts the key in both lists, each side merges what the other
holds, and both end with the same capped union.

Evidence writes that arrive from peers (``store.put``, and replica sync's
pulls, which go through :meth:`StorageService.put`) are checked cheaply by
the store; a node that runs compute also installs
:attr:`StorageService.evidence_verifier` (``attach_compute``), which
*convicts* every proof not already held (re-runs the program) before
anything is stored: one proof that does not convict refuses the whole put.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import NoteError, RemoteProtocolError
from ..store import EVIDENCE, MERGED_KINDS, RECORD, PutResult, RateLimiter, Store
from ..wire.storage import (
    GET,
    MAX_SYNC_ENTRIES,
    PUT,
    STORAGE_OPS,
    SYNC,
    PutRequest,
    SyncRequest,
    get_msg,
    get_reply,
    parse_get,
    parse_get_reply,
    parse_put,
    parse_sync,
    parse_sync_reply,
    put_msg,
    put_reply,
    sync_msg,
    sync_reply,
)

log = logging.getLogger(__name__)

__all__ = [
    # the messages are declared in note_compute.wire.storage; re-exported for the node's users
    "PUT",
    "GET",
    "SYNC",
    "STORAGE_OPS",
    "MAX_SYNC_ENTRIES",
    "PutRequest",
    "SyncRequest",
    "parse_put",
    "parse_get",
    "parse_sync",
    "put_msg",
    "get_msg",
    "sync_msg",
    "parse_get_reply",
    "parse_sync_reply",
    "StorageService",
    "EvidenceVerifier",
]

EvidenceVerifier = Callable[[bytes, list[bytes]], Awaitable[None]]
"""``await verifier(key, proofs)``: convict each encoded proof (already past the cheap check) or raise."""


def request_cost(msg: dict[str, Any]) -> float:
    """Rate-limit tokens one storage request spends, known before any work is done.

    One token per request, plus one per 64 KiB a put carries and one per 32
    digests a sync names (a full 1,024-digest sync costs 33 tokens).
    """
    cost = 1.0
    data = msg.get("data")
    if isinstance(data, (bytes, bytearray)):
        cost += len(data) / PUT_BYTES_PER_TOKEN
    digests = msg.get("digests")
    if isinstance(digests, list):
        cost += len(digests) / SYNC_DIGESTS_PER_TOKEN
    return cost


PUT_BYTES_PER_TOKEN = 64 * 1024
SYNC_DIGESTS_PER_TOKEN = 32


class StorageService:
    """Serves the storage RPCs from one :class:`Store`.

    ``clock`` returns seconds for the rate limiter (monotonic, any origin);
    records are checked for expiry against the wall clock (``wall``).
    """

    def __init__(self, store: Store, *, limiter: RateLimiter | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limiter = limiter if limiter is not None else RateLimiter(rate=2000.0, burst=4000.0)
        self.clock = clock
        self.wall = wall
        self.replica_push: Callable[[bytes, bytes], bool] | None = None
        """``replica_push(sender_id, key)``: True when a put is replication between ring members (a known
        ring node pushing a key this node must hold). Such entries are the node's own, not charged to the
        pusher's quota (installed by the node runtime)."""
        self.evidence_verifier: EvidenceVerifier | None = None
        """Installed by ``attach_compute``: evidence is convicted, not only checked, before it is stored."""
        self.on_stored: Callable[[str, bytes, bytes], None] | None = None
        """``on_stored(kind, key, data)`` after an entry from a peer (a put or a replication pull) was stored or
        replaced (installed by ``attach_compute``: a dataset record starts the shard prefetch). It must not
        block; an exception in it is logged, never refuses the put."""

    async def put(self, kind: str, key: bytes, data: bytes, *, peer: bytes | int | None = None,
                  now: int | None = None, replica: bool = False) -> PutResult:
        """Store an entry that came from a peer (``store.put``, replica sync).

        Like ``Store.put``; for evidence with an :attr:`evidence_verifier`
        installed, the proofs not already held are first convicted by it (it
        raises, e.g. InvalidProof reason ``not-fraud``; nothing is stored).
        A ``replica`` set (anti-entropy) is filtered instead: the proofs that
        convict here are merged, the others left out, so one replica's proof
        that does not convict (it ran no compute) cannot keep a genuine one
        it also holds from the replicas that do.
        """
        if kind == EVIDENCE and self.evidence_verifier is not None:
            incoming = self.store.check_evidence(key, data)  # the cheap check first: never run junk
            held = set(self.store.get_evidence(key))
            fresh = [p for p in incoming if p not in held]
            if fresh and not replica:
                await self.evidence_verifier(key, fresh)
            elif fresh:
                try:
                    await self.evidence_verifier(key, fresh)  # the usual case: all convict, one pass
                    convicting = fresh
                except NoteError:
                    convicting = []
                    for p in fresh:
                        try:
                            await self.evidence_verifier(key, [p])
                        except NoteError:
                            continue  # tried again at the next sync round (it may be a fetch that failed)
                        convicting.append(p)
                if not convicting:
                    return "unchanged"
                policy = self.store.evidence
                assert policy is not None  # check_evidence passed
                data = policy.encode_set([p for p in incoming if p in held or p in convicting])
        result = self.store.put(kind, key, data, peer=peer, now=now, replica=replica)
        if self.on_stored is not None and result in ("stored", "replaced"):
            try:
                self.on_stored(kind, key, data)
            except Exception:  # a bug in a hook: log it loudly, the entry is stored
                log.exception("on_stored hook failed")
        return result

    async def handle(self, sender_id: bytes, msg: dict[str, Any]) -> dict[str, Any]:
        """Answer one storage request from the peer whose 32-byte id is ``sender_id``."""
        op = msg.get("op")
        self.limiter.check(sender_id, self.clock(), request_cost(msg))
        if op == PUT:
            req = parse_put(msg)
            replica = self.replica_push is not None and self.replica_push(sender_id, req.key)
            # Replica room for evidence (``replica=True``) only on this node's own pulls from the sync partners
            # it chose (``Replicator``), never on a push: any ring member may push, the accused included.
            result = await self.put(req.kind, req.key, req.data, peer=None if replica else sender_id,
                                    now=int(self.wall()))
            return put_reply(result)
        if op == GET:
            key = parse_get(msg)
            entry = self.store.get(key)
            return get_reply(entry.kind, entry.data)
        if op == SYNC:
            return self._sync(parse_sync(msg))
        raise RemoteProtocolError(f"unknown storage op {str(op)[:64]!r}", reason="unknown-op")

    def _sync(self, req: SyncRequest) -> dict[str, Any]:
        """Compare the sender's digests with what we hold (``want`` / ``newer``, see the module docstring)."""
        want: list[bytes] = []
        newer: list[bytes] = []
        # Stored digests only (key, kind, seq, hash columns): never an entry's bytes, whatever the peer names.
        have = self.store.digests_of([key for key, _, _ in req.digests])
        for key, seq, h in req.digests:
            held = have.get(key)
            if held is None:
                want.append(key)
                continue
            if h == key:
                continue  # a content-addressed value (its hash is its key): presence is all that matters
            if held.kind == RECORD:
                if held.seq < seq:
                    want.append(key)
                elif held.seq > seq:
                    newer.append(key)
            elif held.kind in MERGED_KINDS and held.hash != h:
                # Unordered sets (evidence, inboxes): each side merges the other's (union, then the cap),
                # so both converge.
                want.append(key)
                newer.append(key)
        return sync_reply(want, newer)
