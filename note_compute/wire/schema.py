"""Message schemas as data, and the one validator every side uses (pure).

A :class:`Schema` names a message's fields, each with a *check* (a function
``check(value, field_name) -> typed value`` that raises
:class:`~note_compute.errors.RemoteProtocolError` with a reason) and whether
it is required. :func:`validate` applies a schema to a received map, always
in the same order, so the refusal reason of an input with several defects
is fixed:

1. not a map (``not-a-map``);
2. (the ``op`` field is the caller's: it picks the schema, and refuses a
   missing or unknown op with ``no-op`` / ``unknown-op`` / ``wrong-reply``);
3. a field the schema does not name (``unexpected-field``), unless the
   schema is open (replies that newer peers may extend);
4. a required field missing (``missing-field``), in schema order;
5. each present field's check, in schema order.

A schema with a ``reason`` reports every defect with that one reason (the
compute messages say ``bad-request`` / ``bad-reply``; the message text
still names the defect). A schema with a ``shape_reason`` reports steps 1, 3
and 4 with that reason and leaves each field check its own (records say
``schema`` for a shape defect, ``url`` / ``too-large`` from their checks).
Nothing but RemoteProtocolError escapes, whatever the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import RemoteProtocolError

__all__ = [
    "Check",
    "Field",
    "Schema",
    "validate",
    "bad",
    "exact_bytes",
    "any_bytes",
    "uint",
    "text",
    "one_of",
    "true",
    "list_of",
]

Check = Callable[[Any, str], Any]
"""``check(value, name) -> typed value``; raises RemoteProtocolError(reason=...)."""


def bad(message: str, reason: str) -> RemoteProtocolError:
    """The error every check raises."""
    return RemoteProtocolError(message, reason=reason)


@dataclass(frozen=True)
class Field:
    """One field of a message: its check and whether it must be present."""

    check: Check
    required: bool = True


@dataclass(frozen=True)
class Schema:
    """A message: ``op`` (None for op-less replies), its fields in check order, and its policy.

    ``open``: unknown fields are ignored instead of refused. ``reason``: one
    reason for every defect (else each check's own).
    """

    name: str
    fields: Mapping[str, Field]
    op: str | None = None
    open: bool = False
    reason: str | None = None
    what: str = field(default="message")
    shape_reason: str | None = None

    def names(self) -> frozenset[str]:
        """Every field name a message of this schema may carry (``op`` included)."""
        return self._names

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(self.fields) | ({"op"} if self.op is not None else frozenset())


def validate(msg: Any, schema: Schema) -> dict[str, Any]:
    """Check ``msg`` against ``schema``; the typed values of the fields present (``op`` left out)."""
    try:
        return _validate(msg, schema)
    except RemoteProtocolError as exc:
        if schema.reason is None or exc.reason == schema.reason:
            raise
        raise bad(exc.message, schema.reason) from None


def _validate(msg: Any, schema: Schema) -> dict[str, Any]:
    shape = schema.shape_reason
    if not isinstance(msg, dict):
        raise bad(f"a {schema.name} {schema.what} is a map", shape or "not-a-map")
    if not schema.open:
        allowed = schema.names()
        if not msg.keys() <= allowed:
            extra = [k for k in msg if k not in allowed]
            raise bad(f"unexpected field in {schema.name}: {str(extra[0])[:64]!r}", shape or "unexpected-field")
    for name, f in schema.fields.items():
        if f.required and name not in msg:
            raise bad(f"{schema.name} lacks field {name!r}", shape or "missing-field")
    out: dict[str, Any] = {}
    for name, f in schema.fields.items():
        if name in msg:
            out[name] = f.check(msg[name], name)
    return out


# -- field checks ---------------------------------------------------------------------------


def exact_bytes(n: int, reason: str) -> Check:
    """A byte string of exactly ``n`` bytes."""

    def check(v: Any, name: str) -> bytes:
        if type(v) is not bytes or len(v) != n:
            raise bad(f"field {name!r} must be {n} bytes", reason)
        return v

    return check


def any_bytes(reason: str, *, max_len: int | None = None, too_long: str | None = None) -> Check:
    """A byte string, at most ``max_len`` bytes (over it: reason ``too_long`` if given)."""

    def check(v: Any, name: str) -> bytes:
        if type(v) is not bytes:
            raise bad(f"field {name!r} must be bytes", reason)
        if max_len is not None and len(v) > max_len:
            raise bad(f"field {name!r} is {len(v)} bytes, over the {max_len}-byte cap", too_long or reason)
        return v

    return check


def uint(reason: str, *, bits: int = 64, lo: int = 0, hi: int | None = None) -> Check:
    """An integer (not a bool) in ``[lo, hi]``, default ``[0, 2**bits - 1]``."""
    top = (1 << bits) - 1 if hi is None else hi

    def check(v: Any, name: str) -> int:
        if type(v) is not int or not lo <= v <= top:
            raise bad(f"field {name!r} must be an integer in [{lo}, {top}]", reason)
        return v

    return check


def text(reason: str, *, max_len: int, nonempty: bool = True) -> Check:
    """A text string of at most ``max_len`` code points (non-empty unless told)."""

    def check(v: Any, name: str) -> str:
        if not isinstance(v, str) or len(v) > max_len or (nonempty and not v):
            raise bad(f"field {name!r} must be text of 1..{max_len} characters", reason)
        return v

    return check


def one_of(values: tuple[Any, ...], reason: str) -> Check:
    """One of a fixed set of values."""

    def check(v: Any, name: str) -> Any:
        if type(v) not in (str, int) or v not in values:  # bools are not ints here
            raise bad(f"field {name!r} must be one of {values}", reason)
        return v

    return check


def true(reason: str) -> Check:
    """The value ``true`` (a flag that is present or absent)."""

    def check(v: Any, name: str) -> bool:
        if v is not True:
            raise bad(f"{name}, when present, is true", reason)
        return True

    return check


def list_of(item: Check, reason: str, *, max_len: int, min_len: int = 0, distinct: bool = False) -> Check:
    """A list of ``min_len..max_len`` items, each passing ``item`` (and pairwise distinct if told)."""

    def check(v: Any, name: str) -> list[Any]:
        if not isinstance(v, list) or not min_len <= len(v) <= max_len:
            raise bad(f"field {name!r} must be a list of {min_len}..{max_len} items", reason)
        out = [item(x, name) for x in v]
        if distinct and len(set(out)) != len(out):
            raise bad(f"field {name!r} must not repeat an item", reason)
        return out

    return check
