"""What the store holds, and how a row becomes one (pure: no SQL is run here).

* :class:`Entry`, :class:`Digest`, :class:`StoreStats`: the store's public types;
* ``KIND_CODE`` / ``KIND_NAME``: the kind column's integer codes;
* :func:`as_key`, :func:`as_peer`: the key and owner forms every method accepts;
* :func:`arc`: the SQL condition for a clockwise key arc ``(lo, hi]``;
* :func:`entry_of_row`, :func:`seq_of`: rows back to entries;
* :func:`typed_storage_errors`: SQLite failures of a write become typed ``StorageError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from ..errors import InvalidRecord, StorageError
from ..wire.storage import EVIDENCE, INBOX, RECORD, VALUE, Kind

__all__ = ["Digest", "Entry", "StoreStats", "KIND_CODE", "KIND_NAME", "typed_storage_errors", "as_key", "as_peer",
           "arc", "seq_of", "entry_of_row"]

# The entry kinds are wire values, declared in note_compute.wire.storage; these are their column codes.
KIND_CODE = {RECORD: 1, VALUE: 2, EVIDENCE: 3, INBOX: 4}
KIND_NAME: dict[int, Kind] = {1: RECORD, 2: VALUE, 3: EVIDENCE, 4: INBOX}


@dataclass(frozen=True)
class Digest:
    """What replica sync compares: key, kind, seq (0 for values), SHA-256 of the bytes."""

    key: bytes
    kind: Kind
    seq: int
    hash: bytes


@dataclass(frozen=True)
class Entry:
    """One stored entry. ``owner`` is the peer it is charged to (None: the node)."""

    key: bytes
    kind: Kind
    data: bytes
    seq: int
    hash: bytes
    owner: bytes | None
    stored_at: int

    @property
    def digest(self) -> Digest:
        return Digest(self.key, self.kind, self.seq, self.hash)


@dataclass(frozen=True)
class StoreStats:
    """Counts and bytes held."""

    entries: int
    records: int
    values: int
    bytes: int
    evidence: int = 0
    inboxes: int = 0


_P = ParamSpec("_P")
_R = TypeVar("_R")


def typed_storage_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """SQLite failures of a write (disk full, I/O error) become StorageError, not a crash of the handler."""

    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            full = "full" in str(exc).lower()
            raise StorageError(
                f"the node could not write to its store: {exc}", reason="disk-full" if full else "io-error"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"the node's store failed: {exc}", reason="io-error") from exc

    wrapper.__name__, wrapper.__doc__, wrapper.__qualname__ = fn.__name__, fn.__doc__, fn.__qualname__
    return wrapper


def as_key(k: bytes | int) -> bytes:
    if isinstance(k, int) and not isinstance(k, bool):
        if not 0 <= k < 2**256:
            raise ValueError("ring position out of range")
        return k.to_bytes(32, "big")
    if not isinstance(k, (bytes, bytearray)) or len(k) != 32:
        raise InvalidRecord("a key is 32 bytes", reason="bad-key")
    return bytes(k)


def as_peer(p: bytes | int | None) -> bytes | None:
    if p is None:
        return None
    if isinstance(p, int) and not isinstance(p, bool):
        return p.to_bytes(32, "big")
    return bytes(p)


def arc(lo: bytes, hi: bytes) -> tuple[str, tuple[bytes, ...]]:
    if lo < hi:
        return "key > ? AND key <= ?", (lo, hi)
    return "(key > ? OR key <= ?)", (lo, hi)


def seq_of(b: bytes | None) -> int:
    return 0 if b is None else int.from_bytes(b, "big")


def entry_of_row(r: tuple[Any, ...]) -> Entry:
    return Entry(r[0], KIND_NAME[r[1]], r[2], seq_of(r[3]), r[4], r[5], r[6])
