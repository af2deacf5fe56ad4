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

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..compute import evidence as _evidence
from ..errors import RemoteProtocolError
from ..store import EVIDENCE, KINDS, MERGED_KINDS, RECORD, Digest, PutResult, RateLimiter, Store
from ..store.limits import MAX_ENTRY_SIZE

__all__ = [
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

PUT = "store.put"
GET = "store.get"
SYNC = "store.sync"
STORAGE_OPS = (PUT, GET, SYNC)
MAX_SYNC_ENTRIES = 1024
"""Most digests in one ``store.sync`` (about 80 KB on the wire)."""

_KINDS = KINDS

EvidenceVerifier = Callable[[bytes, list[bytes]], Awaitable[None]]
"""``await verifier(key, proofs)``: convict each encoded proof (already past the cheap check) or raise."""


def _bad(message: str, reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, reason=reason)


def _fields(msg: Any, op: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    if not isinstance(msg, dict):
        raise _bad(f"a {op} request is a map", "not-a-map")
    extra = [k for k in msg if k != "op" and k not in required and k not in optional]
    if extra:
        raise _bad(f"unexpected field in {op}: {str(extra[0])[:64]!r}", "unexpected-field")
    for name in required:
        if name not in msg:
            raise _bad(f"{op} lacks field {name!r}", "missing-field")
    return msg


def _key(value: Any, name: str = "key") -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise _bad(f"field {name!r} must be 32 bytes", "bad-key")
    return value


def _uint(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise _bad(f"field {name!r} must be an unsigned 64-bit integer", "bad-int")
    return value


@dataclass(frozen=True)
class PutRequest:
    kind: str
    key: bytes
    data: bytes


@dataclass(frozen=True)
class SyncRequest:
    lo: bytes
    hi: bytes
    digests: tuple[tuple[bytes, int, bytes], ...]


def parse_put(msg: Any) -> PutRequest:
    """Validate ``{"op": "store.put", "kind", "key", "data"}``."""
    m = _fields(msg, PUT, {"kind", "key", "data"})
    if m["kind"] not in _KINDS:
        raise _bad(f"kind must be one of {_KINDS}", "bad-kind")
    data = m["data"]
    if not isinstance(data, bytes):
        raise _bad("field 'data' must be bytes", "bad-data")
    if len(data) > MAX_ENTRY_SIZE:
        raise _bad(f"data is {len(data)} bytes, over the {MAX_ENTRY_SIZE}-byte cap", "too-large")
    return PutRequest(m["kind"], _key(m["key"]), data)


def parse_get(msg: Any) -> bytes:
    """Validate ``{"op": "store.get", "key"}``; returns the key."""
    return _key(_fields(msg, GET, {"key"})["key"])


def parse_sync(msg: Any) -> SyncRequest:
    """Validate ``{"op": "store.sync", "range": [lo, hi], "digests": [[key, seq, hash], ...]}``."""
    m = _fields(msg, SYNC, {"range", "digests"})
    rng = m["range"]
    if not isinstance(rng, list) or len(rng) != 2:
        raise _bad("range is [lo, hi] (32 bytes each)", "bad-range")
    lo, hi = _key(rng[0], "range"), _key(rng[1], "range")
    ds = m["digests"]
    if not isinstance(ds, list) or len(ds) > MAX_SYNC_ENTRIES:
        raise _bad(f"digests is a list of at most {MAX_SYNC_ENTRIES} entries", "bad-digests")
    out = []
    for d in ds:
        if not isinstance(d, list) or len(d) != 3:
            raise _bad("a digest is [key, seq, hash]", "bad-digest")
        out.append((_key(d[0]), _uint(d[1], "seq"), _key(d[2], "hash")))
    return SyncRequest(lo, hi, tuple(out))


def put_msg(kind: str, key: bytes, data: bytes) -> dict[str, Any]:
    """A ``store.put`` request."""
    return {"op": PUT, "kind": kind, "key": key, "data": data}


def get_msg(key: bytes) -> dict[str, Any]:
    """A ``store.get`` request."""
    return {"op": GET, "key": key}


def sync_msg(lo: bytes, hi: bytes, digests: list[Digest]) -> dict[str, Any]:
    """A ``store.sync`` request for the arc ``(lo, hi]``."""
    return {"op": SYNC, "range": [lo, hi], "digests": [[d.key, d.seq, d.hash] for d in digests]}


def parse_get_reply(reply: Any, key: bytes) -> tuple[str, bytes]:
    """Validate a ``store.get.reply``; returns ``(kind, data)`` (data not yet verified)."""
    if not isinstance(reply, dict) or reply.get("op") != GET + ".reply":
        raise _bad("expected a store.get.reply", "wrong-reply")
    kind, data = reply.get("kind"), reply.get("data")
    if kind not in _KINDS or not isinstance(data, bytes):
        raise _bad("store.get.reply needs kind and data", "bad-reply")
    return kind, data


def parse_sync_reply(reply: Any) -> tuple[list[bytes], list[bytes]]:
    """Validate a ``store.sync.reply``; returns ``(want, newer)`` key lists."""
    if not isinstance(reply, dict) or reply.get("op") != SYNC + ".reply":
        raise _bad("expected a store.sync.reply", "wrong-reply")
    want, newer = reply.get("want"), reply.get("newer")
    if not isinstance(want, list) or not isinstance(newer, list):
        raise _bad("store.sync.reply needs want and newer lists", "bad-reply")
    if len(want) > MAX_SYNC_ENTRIES or len(newer) > MAX_SYNC_ENTRIES:
        raise _bad("store.sync.reply lists are too long", "bad-reply")
    return [_key(k) for k in want], [_key(k) for k in newer]


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

    async def put(self, kind: str, key: bytes, data: bytes, *, peer: bytes | int | None = None,
                  now: int | None = None) -> PutResult:
        """Store an entry that came from a peer (``store.put``, replica sync).

        Like ``Store.put``; for evidence with an :attr:`evidence_verifier`
        installed, the proofs not already held are first convicted by it (it
        raises, e.g. InvalidProof reason ``not-fraud``; nothing is stored).
        """
        if kind == EVIDENCE and self.evidence_verifier is not None:
            incoming = _evidence.validate_entry(key, data)  # the cheap check first: never run junk
            held = set(self.store.get_evidence(key))
            fresh = [p for p in incoming if p not in held]
            if fresh:
                await self.evidence_verifier(key, fresh)
        return self.store.put(kind, key, data, peer=peer, now=now)

    async def handle(self, sender_id: bytes, msg: dict[str, Any]) -> dict[str, Any]:
        """Answer one storage request from the peer whose 32-byte id is ``sender_id``."""
        op = msg.get("op")
        self.limiter.check(sender_id, self.clock(), request_cost(msg))
        if op == PUT:
            req = parse_put(msg)
            replica = self.replica_push is not None and self.replica_push(sender_id, req.key)
            result = await self.put(req.kind, req.key, req.data, peer=None if replica else sender_id,
                                    now=int(self.wall()))
            return {"op": PUT + ".reply", "result": result}
        if op == GET:
            key = parse_get(msg)
            entry = self.store.get(key)
            return {"op": GET + ".reply", "kind": entry.kind, "data": entry.data}
        if op == SYNC:
            return self._sync(parse_sync(msg))
        raise _bad(f"unknown storage op {str(op)[:64]!r}", "unknown-op")

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
        return {"op": SYNC + ".reply", "want": want, "newer": newer}
