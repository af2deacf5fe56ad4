"""Storage RPC messages (``specs/storage-rpc.md``): schemas as data, builders, parsers (pure).

Requests and replies::

    {"op": "store.put", "kind", "key": bytes32, "data": bytes}  -> {"op": "store.put.reply", "result"}
    {"op": "store.get", "key": bytes32}                       -> {"op": "store.get.reply", "kind", "data"}
    {"op": "store.sync", "range": [lo, hi], "digests": [[key, seq, hash], ...]}
                                                              -> {"op": "store.sync.reply", "want", "newer"}

The node (``note_compute.node.storage``) parses requests and builds replies
with this module; the ring client and the compute node's ring source build
requests and parse replies with it. Replies are *open*: fields a newer node
adds are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .schema import Field, Schema, any_bytes, bad, exact_bytes, list_of, one_of, uint, validate

__all__ = [
    "PUT",
    "GET",
    "SYNC",
    "STORAGE_OPS",
    "RECORD",
    "VALUE",
    "EVIDENCE",
    "INBOX",
    "KINDS",
    "MERGED_KINDS",
    "Kind",
    "PUT_RESULTS",
    "PutResult",
    "MAX_ENTRY_SIZE",
    "MAX_SYNC_ENTRIES",
    "REQUESTS",
    "REPLIES",
    "PutRequest",
    "SyncRequest",
    "WireDigest",
    "DigestLike",
    "parse_put",
    "parse_get",
    "parse_sync",
    "put_msg",
    "get_msg",
    "sync_msg",
    "put_reply",
    "get_reply",
    "sync_reply",
    "parse_put_reply",
    "parse_get_reply",
    "parse_sync_reply",
]

PUT = "store.put"
GET = "store.get"
SYNC = "store.sync"
STORAGE_OPS = (PUT, GET, SYNC)

RECORD: Literal["record"] = "record"
VALUE: Literal["value"] = "value"
EVIDENCE: Literal["evidence"] = "evidence"
INBOX: Literal["inbox"] = "inbox"
Kind = Literal["record", "value", "evidence", "inbox"]
KINDS: tuple[Kind, ...] = (RECORD, VALUE, EVIDENCE, INBOX)
MERGED_KINDS: tuple[Kind, ...] = (EVIDENCE, INBOX)
"""Kinds that are unordered sets: a put merges into the held set (replica sync moves them both ways)."""

PutResult = Literal["stored", "replaced", "merged", "unchanged"]
"""What a successful put did: new key, newer record replaced the held one, evidence
merged into the held set, or nothing new (already held)."""
PUT_RESULTS: tuple[PutResult, ...] = ("stored", "replaced", "merged", "unchanged")

MAX_ENTRY_SIZE = 1024 * 1024
"""Largest single entry (record encoding or content-addressed value): 1 MiB."""
MAX_SYNC_ENTRIES = 1024
"""Most digests in one ``store.sync`` (about 80 KB on the wire)."""

WireDigest = tuple[bytes, int, bytes]
"""``(key, seq, hash)`` as a ``store.sync`` carries it."""

_KEY = exact_bytes(32, "bad-key")
_HASH = exact_bytes(32, "bad-key")
_KIND = one_of(KINDS, "bad-kind")


def _range(v: Any, name: str) -> tuple[bytes, bytes]:
    if not isinstance(v, list) or len(v) != 2:
        raise bad("range is [lo, hi] (32 bytes each)", "bad-range")
    return _KEY(v[0], "range"), _KEY(v[1], "range")


def _digest(v: Any, name: str) -> WireDigest:
    if not isinstance(v, list) or len(v) != 3:
        raise bad("a digest is [key, seq, hash]", "bad-digest")
    return _KEY(v[0], "key"), uint("bad-int")(v[1], "seq"), _HASH(v[2], "hash")


def _digests(v: Any, name: str) -> tuple[WireDigest, ...]:
    if not isinstance(v, list) or len(v) > MAX_SYNC_ENTRIES:
        raise bad(f"digests is a list of at most {MAX_SYNC_ENTRIES} entries", "bad-digests")
    return tuple(_digest(d, name) for d in v)


REQUESTS: dict[str, Schema] = {
    PUT: Schema(PUT, {"kind": Field(_KIND),
                      "data": Field(any_bytes("bad-data", max_len=MAX_ENTRY_SIZE, too_long="too-large")),
                      "key": Field(_KEY)},
                op=PUT, what="request"),
    GET: Schema(GET, {"key": Field(_KEY)}, op=GET, what="request"),
    SYNC: Schema(SYNC, {"range": Field(_range), "digests": Field(_digests)}, op=SYNC, what="request"),
}
_KEYS = list_of(_KEY, "bad-reply", max_len=MAX_SYNC_ENTRIES)
REPLIES: dict[str, Schema] = {
    PUT: Schema(PUT + ".reply", {"result": Field(one_of(PUT_RESULTS, "bad-reply"))}, op=PUT + ".reply",
                open=True, reason="bad-reply", what="reply"),
    GET: Schema(GET + ".reply", {"kind": Field(one_of(KINDS, "bad-reply")), "data": Field(any_bytes("bad-reply"))},
                op=GET + ".reply", open=True, reason="bad-reply", what="reply"),
    SYNC: Schema(SYNC + ".reply", {"want": Field(_KEYS), "newer": Field(_KEYS)}, op=SYNC + ".reply", open=True,
                 reason="bad-reply", what="reply"),
}


@dataclass(frozen=True)
class PutRequest:
    kind: Kind
    key: bytes
    data: bytes


@dataclass(frozen=True)
class SyncRequest:
    lo: bytes
    hi: bytes
    digests: tuple[WireDigest, ...]


def _request(msg: Any, op: str) -> dict[str, Any]:
    return validate(msg, REQUESTS[op])


def parse_put(msg: Any) -> PutRequest:
    """Validate ``{"op": "store.put", "kind", "key", "data"}``."""
    m = _request(msg, PUT)
    return PutRequest(m["kind"], m["key"], m["data"])


def parse_get(msg: Any) -> bytes:
    """Validate ``{"op": "store.get", "key"}``; returns the key."""
    key: bytes = _request(msg, GET)["key"]
    return key


def parse_sync(msg: Any) -> SyncRequest:
    """Validate ``{"op": "store.sync", "range": [lo, hi], "digests": [[key, seq, hash], ...]}``."""
    m = _request(msg, SYNC)
    lo, hi = m["range"]
    return SyncRequest(lo, hi, m["digests"])


def put_msg(kind: str, key: bytes, data: bytes) -> dict[str, Any]:
    """A ``store.put`` request."""
    return {"op": PUT, "kind": kind, "key": key, "data": data}


def get_msg(key: bytes) -> dict[str, Any]:
    """A ``store.get`` request."""
    return {"op": GET, "key": key}


class DigestLike(Protocol):
    """Anything with a key, a seq and a hash (the store's ``Digest``)."""

    @property
    def key(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> bytes: ...


def sync_msg(lo: bytes, hi: bytes, digests: Iterable[DigestLike]) -> dict[str, Any]:
    """A ``store.sync`` request for the arc ``(lo, hi]``."""
    return {"op": SYNC, "range": [lo, hi], "digests": [[d.key, d.seq, d.hash] for d in digests]}


def put_reply(result: PutResult) -> dict[str, Any]:
    return {"op": PUT + ".reply", "result": result}


def get_reply(kind: str, data: bytes) -> dict[str, Any]:
    return {"op": GET + ".reply", "kind": kind, "data": data}


def sync_reply(want: list[bytes], newer: list[bytes]) -> dict[str, Any]:
    return {"op": SYNC + ".reply", "want": want, "newer": newer}


def _reply(reply: Any, op: str) -> dict[str, Any]:
    if not isinstance(reply, dict) or reply.get("op") != op + ".reply":
        raise bad(f"expected a {op}.reply", "wrong-reply")
    return validate(reply, REPLIES[op])


def parse_put_reply(reply: Any) -> PutResult:
    """Validate a ``store.put.reply``; returns what the put did."""
    result: PutResult = _reply(reply, PUT)["result"]
    return result


def parse_get_reply(reply: Any, key: bytes = b"") -> tuple[Kind, bytes]:
    """Validate a ``store.get.reply``; returns ``(kind, data)`` (data not yet verified)."""
    m = _reply(reply, GET)
    return m["kind"], m["data"]


def parse_sync_reply(reply: Any) -> tuple[list[bytes], list[bytes]]:
    """Validate a ``store.sync.reply``; returns ``(want, newer)`` key lists."""
    m = _reply(reply, SYNC)
    return m["want"], m["newer"]
