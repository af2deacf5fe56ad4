"""Strict comparison of signed values: by canonical encoding, never by Python equality (pure).

Python says ``True == 1``, ``1 == 1.0`` and ``[1] == (1,)``; the wire does
not: ``true`` and ``1`` are different CBOR items, hash differently and sort
differently (:mod:`.keys` ranks booleans before integers). A check that
compares a signed field with ``==`` can therefore accept a receipt that
signs something else than what it appears to (a range starting at ``true``
is not the range starting at ``1``), while the fraud check, which reads the
signed bytes, sees the other value: the answer passes and the lie cannot be
convicted. Every comparison of a signed field goes through :func:`same`.

:func:`same_decoded` is the hot path's shortcut for a value that strict decoding
produced (a receipt field): equal types all the way down and equal values imply
the same canonical encoding, so it answers True without encoding anything; when it
cannot tell (another type, a float, a map) it defers to :func:`same`.
"""

from __future__ import annotations

from typing import Any

from .. import encoding
from ..errors import InvalidEncoding

__all__ = ["canonical", "same", "same_decoded"]


def canonical(value: Any) -> bytes | None:
    """The canonical CBOR encoding of ``value``, or None when it has none (floats, tuples, foreign types)."""
    try:
        return encoding.encode(value)
    except (InvalidEncoding, TypeError, ValueError):
        return None


def same(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` have the same canonical encoding (so ``same(True, 1)`` is False).

    A value with no canonical encoding is never the same as anything.
    """
    ea = canonical(a)
    return ea is not None and ea == canonical(b)


_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def _identical(a: Any, b: Any) -> bool:
    """True only when ``a`` and ``b`` are the same value with the same types at every level (lists of text,
    bytes, in-range integers, booleans and null); False also means "not decided here"."""
    t = type(a)
    if t is not type(b):
        return False
    if t is str or t is bytes or t is bool or a is None:
        return bool(a == b)
    if t is int:
        return bool(a == b) and _INT_MIN <= a <= _INT_MAX
    if t is list:
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    return False  # floats (0.0 == -0.0), maps, tuples, foreign types: the encodings decide


def same_decoded(received: Any, expected: Any) -> bool:
    """:func:`same` for a ``received`` value that strict decoding produced (so it has a canonical encoding).

    Equal types and values at every level (a bool never equals an int here) give the same canonical encoding,
    so that case answers True at once; every other case is decided by :func:`same`. The answer is always
    :func:`same`'s.
    """
    return _identical(received, expected) or same(received, expected)
