"""The per-kind rules of a put, apart from the SQL (pure but for the evidence policy a node hands in).

* a **value** is stored at ``SHA-256(data)`` and may not look like the
  preimage of a derived address (:func:`value_address`);
* **evidence** and **inbox** sets merge into the held set
  (:func:`merged_evidence`, :func:`merged_inbox`): each returns the bytes to
  write, or None when the merge changes nothing;
* a merged kind never overwrites another kind held at its key
  (:func:`held_of_kind`, reason ``kind-conflict``).

Records have their own rule, :func:`note_compute.records.select` (seq,
equivocation), applied by the store as it writes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import domains as _domains
from .. import inbox as _inbox
from ..errors import InvalidRecord
from .entries import KIND_CODE, as_key
from .policy import EvidencePolicy

__all__ = ["ADDRESS_DOMAINS", "refuse_address_preimage", "value_address", "held_of_kind", "merged_evidence",
           "merged_inbox"]

ADDRESS_DOMAINS = _domains.ADDRESS_DOMAINS
"""Prefixes of the preimages of derived ring addresses (records, evidence, inboxes): ``SHA-256(PREFIX || key)``."""


def refuse_address_preimage(data: bytes) -> None:
    """A value is stored at ``SHA-256(its bytes)``; every other kind at ``SHA-256(DOMAIN || key)``.

    Values whose bytes begin with an address domain are refused, so the
    value space is disjoint from every derived one (a collision would need
    a SHA-256 collision): a plain value can never occupy a record, evidence
    or inbox address and lock its genuine contents out with
    ``kind-conflict``. The domains end with a NUL byte; no text and no CBOR
    value starts with one.
    """
    for prefix in ADDRESS_DOMAINS:
        if data.startswith(prefix):
            raise InvalidRecord(
                f"value bytes may not begin with the address domain {prefix[:-1].decode()!r}",
                reason="reserved-address",
            )


def value_address(data: bytes, key: bytes | None) -> bytes:
    """The address of a value, ``SHA-256(data)``; ``key``, if given, must be it (reason ``hash-mismatch``)."""
    h = hashlib.sha256(data).digest()
    if key is not None and as_key(key) != h:
        raise InvalidRecord(
            f"value hashes to {h.hex()[:16]}..., not to the key {bytes(key).hex()[:16]}...",
            reason="hash-mismatch",
        )
    refuse_address_preimage(data)
    return h


def held_of_kind(row: Any, kind: str) -> bytes | None:
    """The held bytes of ``row`` (``data, owner, size, kind``) if it is of ``kind``; None if no row."""
    if row is None:
        return None
    if row[3] != KIND_CODE[kind]:
        raise InvalidRecord("another kind of entry is held at this key", reason="kind-conflict")
    data: bytes = row[0]
    return data


def merged_evidence(policy: EvidencePolicy, held: bytes | None, incoming: list[bytes], *,
                    replica: bool) -> bytes | None:
    """The evidence set to write (``policy.merge`` of the held set and ``incoming``), or None if unchanged."""
    held_set = policy.decode_set(held) if held is not None else []
    merged = policy.merge(held_set, incoming, replica=replica)
    if merged == held_set:
        return None
    return policy.encode_set(merged)


def merged_inbox(key: bytes, held: bytes | None, incoming: _inbox.InboxSet, now: int, *,
                 strict: bool) -> bytes | None:
    """The inbox set to write (:func:`note_compute.inbox.check_append`; ``strict`` for a peer's put), or None
    if unchanged."""
    held_set = _inbox.decode_set(key, held) if held is not None else None
    out = _inbox.encode_set(_inbox.check_append(held_set, incoming, now, strict=strict))
    return None if held is not None and out == held else out
