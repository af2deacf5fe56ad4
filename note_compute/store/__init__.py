"""A node's durable, validated store (SQLite, WAL) with per-peer quotas and rate limits.

See ``specs/store.md``. Typical use by the node runtime::

    store = Store.in_dir(data_dir)
    store.put_record(record_bytes, peer=sender.id, now=now)     # verified, seq rule
    store.put_value(chunk, key=address, peer=sender.id)         # hash must match key
    store.put_evidence(key, proof_set, peer=sender.id)          # fraud proofs, merged into the held set
    store.get(key) / store.digests(lo, hi) / store.entries(lo, hi, limit=..., after=...)
    limiter = RateLimiter(rate=200, burst=400); limiter.check(sender.id_bytes, trio.current_time())
"""

from __future__ import annotations

from .db import (
    DB_FILE,
    EVIDENCE,
    INBOX,
    KINDS,
    MERGED_KINDS,
    RECORD,
    VALUE,
    Digest,
    Entry,
    PutResult,
    Store,
    StoreStats,
)
from .limits import MAX_ENTRY_SIZE, RateLimiter, StoreLimits
from .policy import EvidencePolicy

__all__ = [
    "Store",
    "Entry",
    "Digest",
    "StoreStats",
    "PutResult",
    "RECORD",
    "VALUE",
    "EVIDENCE",
    "INBOX",
    "MERGED_KINDS",
    "KINDS",
    "DB_FILE",
    "StoreLimits",
    "RateLimiter",
    "MAX_ENTRY_SIZE",
    "EvidencePolicy",
]
