"""Deterministic CBOR (RFC 8949 section 4.2.1) with strict decoding.

``encode`` produces the core deterministic encoding: shortest integer and
length forms, definite lengths only, map keys sorted by the bytewise order of
their encodings, floats in their shortest exact form (cbor2's ``canonical``).

``decode`` refuses anything that ``encode`` would not have produced, by
decoding and re-encoding and comparing bytes. On top of that it refuses:
input over ``max_size`` bytes, nesting deeper than ``max_depth``, tags of any
kind, simple values other than false/true/null, integers outside the 64-bit
CBOR range, floats unless ``allow_float``, and map keys that are not text or
integers. Every failure is an :class:`~note_compute.errors.InvalidEncoding`
with a ``reason``; no other exception escapes.
"""

from __future__ import annotations

from typing import Any

import cbor2

from .errors import InvalidEncoding

__all__ = ["encode", "decode", "MAX_SIZE", "MAX_DEPTH"]

MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 32

_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def encode(value: Any) -> bytes:
    """Encode ``value`` as deterministic CBOR; refuse types the decoder refuses."""
    _check(value, MAX_DEPTH, allow_float=True, depth=0)
    try:
        return cbor2.dumps(value, canonical=True)
    except Exception as exc:  # cbor2 raises several types; collapse them
        raise InvalidEncoding(f"cannot encode value: {exc}", reason="unencodable") from exc


def decode(
    data: bytes,
    *,
    max_size: int = MAX_SIZE,
    max_depth: int = MAX_DEPTH,
    allow_float: bool = False,
) -> Any:
    """Decode canonical CBOR strictly. Raises InvalidEncoding on any deviation."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidEncoding("expected bytes", reason="type")
    data = bytes(data)
    if len(data) > max_size:
        raise InvalidEncoding(f"input is {len(data)} bytes, over the {max_size}-byte cap", reason="too-large")
    if not data:
        raise InvalidEncoding("empty input", reason="truncated")
    try:
        value = cbor2.loads(
            data,
            max_depth=max_depth + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            tag_hook=_refuse_tag,
        )
    except InvalidEncoding:
        raise
    except Exception as exc:  # CBORDecodeError, RecursionError, UnicodeError, ...
        raise InvalidEncoding(f"malformed CBOR: {exc}", reason="malformed") from exc
    _check(value, max_depth, allow_float=allow_float, depth=0)
    try:
        again = cbor2.dumps(value, canonical=True)
    except Exception as exc:
        raise InvalidEncoding(f"value cannot be re-encoded: {exc}", reason="malformed") from exc
    if again != data:
        if len(again) < len(data) and data.startswith(again):
            raise InvalidEncoding("trailing bytes after the CBOR item", reason="trailing-data")
        raise InvalidEncoding("input is not in deterministic (canonical) form", reason="non-canonical")
    return value


def _refuse_tag(decoder: Any, tag: Any) -> Any:
    raise InvalidEncoding(f"CBOR tag {tag.tag} is not allowed", reason="tag")


def _check(value: Any, max_depth: int, *, allow_float: bool, depth: int) -> None:
    if depth > max_depth:
        raise InvalidEncoding(f"nesting deeper than {max_depth}", reason="too-deep")
    t = type(value)
    if t is bool or value is None or t is str or t is bytes:
        return
    if t is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidEncoding("integer outside the 64-bit CBOR range", reason="int-range")
        return
    if t is float:
        if not allow_float:
            raise InvalidEncoding("floating-point values are not allowed here", reason="float")
        return
    if t is list:
        for item in value:
            _check(item, max_depth, allow_float=allow_float, depth=depth + 1)
        return
    if t is dict:
        for k, v in value.items():
            if type(k) is not str and type(k) is not int:
                raise InvalidEncoding("map keys must be text or integers", reason="key-type")
            _check(k, max_depth, allow_float=allow_float, depth=depth + 1)
            _check(v, max_depth, allow_float=allow_float, depth=depth + 1)
        return
    if t is tuple:  # encode-side convenience: tuples encode as arrays
        for item in value:
            _check(item, max_depth, allow_float=allow_float, depth=depth + 1)
        return
    raise InvalidEncoding(f"type {t.__name__} is not allowed (tag or simple value)", reason="type")
