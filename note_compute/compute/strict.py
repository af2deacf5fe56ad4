"""Strict comparison of signed values: by canonical encoding, never by Python equality (pure).

Python says ``True == 1``, ``1 == 1.0`` and ``[1] == (1,)``; the wire does
not: ``true`` and ``1`` are different CBOR items, hash differently and sort
differently (:mod:`.keys` ranks booleans before integers). A check that
compares a signed field with ``==`` can therefore accept a receipt that
signs something else than what it appears to (a range starting at ``true``
is not the range starting at ``1``), while the fraud check, which reads the
signed bytes, sees the other value: the answer passes and the lie cannot be
convicted. Every comparison of a signed field goes through :func:`same`.
"""

from __future__ import annotations

from typing import Any

from .. import encoding
from ..errors import InvalidEncoding

__all__ = ["canonical", "same"]


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
