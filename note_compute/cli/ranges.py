"""Sort-key ranges as users write them: inclusive ``[lo, hi]``, checked against the dataset.

The one convention of the command line (``--range``, program arguments such
as ``min_price``/``max_price``, help and errors): **both bounds inclusive**.
A bound is a list of sort-key field values, possibly a prefix of the sort key
(``[1000]`` on a ``price,id`` key means every id at price 1000), or ``null``
(unbounded). The query protocol's ranges are half-open ``[lo, hi)``
(``specs/compute.md``); :func:`to_protocol` converts: an inclusive ``hi``
becomes the smallest bound above every key it covers (its last value's
successor: ``n`` -> ``n + 1``, text/bytes ``s`` -> ``s + "\\0"``, ``false`` ->
``true``, ``null`` -> ``false``). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NoteError

__all__ = ["RangeError", "check_shape", "check_range", "to_protocol", "RANGE_HELP"]

RANGE_HELP = ("Sort-key range [lo, hi], both bounds inclusive, as JSON: each bound a list of sort-key values "
              "(a prefix of the key is fine) or null for unbounded; e.g. '[[1000], [5000]]' or '[null, [\"m\"]]'.")

_TYPE_NAMES = {bool: "bool", int: "int", str: "text", bytes: "bytes", type(None): "null"}


class RangeError(NoteError):
    """A --range that cannot mean anything on this dataset (a usage error: exit 2)."""

    code = "bad-range"
    exit_code = 2


def check_shape(rng: Any) -> None:
    """Refuse a range that is not ``[lo, hi]`` with list-or-null bounds (before any network use)."""
    if not (isinstance(rng, list) and len(rng) == 2 and all(b is None or isinstance(b, list) for b in rng)):
        raise RangeError("--range is [lo, hi] (inclusive), each bound a list of sort-key values or null, "
                         "e.g. '[[1000], [5000]]'", reason="shape")


def check_range(rng: Any, sort_key: Sequence[str], schema: dict[str, list[str]]) -> None:
    """Refuse a range whose shape, value types (against the dataset's schema) or order is wrong."""
    check_shape(rng)
    for which, bound in zip(("lo", "hi"), rng, strict=False):
        if bound is None:
            continue
        if not 0 < len(bound) <= len(sort_key):
            raise RangeError(f"--range {which} bound has {len(bound)} values; the sort key is "
                             f"{','.join(sort_key)} (1..{len(sort_key)} values)", reason="length")
        for field, value in zip(sort_key, bound, strict=False):
            t = _TYPE_NAMES.get(type(value))
            if t is None:
                raise RangeError(f"--range {which} bound: {field!r} cannot be a {type(value).__name__}",
                                 reason="type")
            allowed = schema.get(field) or []
            if allowed and t not in allowed:
                raise RangeError(f"--range {which} bound: {field!r} is {t} ({value!r}), but the dataset's "
                                 f"{field!r} values are {'/'.join(allowed)}", reason="type")
    from ..compute.keys import normalize_bound  # here: importing compute/ costs ~0.2 s of `--help`

    lo, hi = rng
    if lo is not None and hi is not None:
        nlo = normalize_bound(lo, sort_key, upper=False)
        nhi = normalize_bound(to_protocol(rng)[1], sort_key, upper=True)
        if nlo >= nhi:
            raise RangeError(f"--range is reversed: lo {lo} is above hi {hi} (both inclusive)", reason="reversed")


def _successor(value: Any) -> Any:
    if value is None:
        return False
    if value is False:
        return True
    if type(value) is int:
        return value + 1
    if type(value) is str:
        return value + "\0"
    if type(value) is bytes:
        return value + b"\0"
    raise RangeError("an inclusive upper bound cannot end in true (nothing sorts just after it); "
                     "drop that value or use null", reason="type")


def to_protocol(rng: list[Any]) -> list[Any]:
    """The half-open protocol range covering exactly the inclusive ``[lo, hi]``."""
    lo, hi = rng
    if hi is None:
        return [lo, None]
    return [lo, list(hi[:-1]) + [_successor(hi[-1])]]
