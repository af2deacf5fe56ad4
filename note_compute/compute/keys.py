"""Sort keys: a total order over the scalar values a dataset's sort key may hold.

Pure. A dataset declares its sort key as a tuple of field names. A record's
key is the tuple of those fields' values, each *normalised* to a pair
``(rank, value)`` so that values of different types still compare:

    null (or a missing field) < false < true < integers < text < bytes

Integers compare numerically, text by Unicode code point (the same order as
its UTF-8 bytes), bytes bytewise. Lists and maps cannot be sort-key values.

Range bounds (``[lo, hi)``, half-open) are lists of field values, possibly a
*prefix* of the sort key (a shorter list); a prefix sorts before every key
that extends it. ``None`` for a bound means unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidRecord

__all__ = ["Key", "normalize_value", "key_of_map", "normalize_bound", "MIN_KEY", "MAX_KEY", "denormalize"]

Key = tuple[tuple[Any, ...], ...]

MIN_KEY: Key = ()
"""Sorts before every key (an unbounded ``lo``)."""
MAX_KEY: Key = ((9,),)
"""Sorts after every key (an unbounded ``hi``)."""

_RANK_NULL, _RANK_BOOL, _RANK_INT, _RANK_TEXT, _RANK_BYTES = 0, 1, 2, 3, 4


def normalize_value(value: Any, *, field: str = "?") -> tuple[Any, ...]:
    """Map one sort-key field value to its comparable ``(rank, value)`` form."""
    t = type(value)
    if value is None:
        return (_RANK_NULL,)
    if t is bool:
        return (_RANK_BOOL, value)
    if t is int:
        return (_RANK_INT, value)
    if t is str:
        return (_RANK_TEXT, value)
    if t is bytes:
        return (_RANK_BYTES, value)
    raise InvalidRecord(
        f"sort-key field {field!r} holds a {t.__name__}; only null, bool, int, text and bytes can be sorted on",
        reason="sort-key-type",
    )


def denormalize(key: Key) -> list[Any]:
    """Inverse of the normalisation: the plain field values of a key."""
    return [None if part[0] == _RANK_NULL else part[1] for part in key]


def key_of_map(record: dict[str, Any], fields: Sequence[str]) -> Key:
    """The normalised sort key of a decoded record (a missing field counts as null)."""
    return tuple(normalize_value(record.get(f), field=f) for f in fields)


def normalize_bound(bound: Any, fields: Sequence[str], *, upper: bool) -> Key:
    """Normalise a range bound (a list of at most ``len(fields)`` values, or None)."""
    if bound is None:
        return MAX_KEY if upper else MIN_KEY
    if not isinstance(bound, (list, tuple)):
        raise InvalidRecord("a range bound is a list of sort-key values or null", reason="bad-range")
    if len(bound) > len(fields) or (len(bound) == 0 and upper):
        raise InvalidRecord(
            f"a range bound has 1..{len(fields)} values (the sort key is {list(fields)})", reason="bad-range"
        )
    return tuple(normalize_value(v, field=f) for v, f in zip(bound, fields, strict=False))
