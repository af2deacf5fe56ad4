"""Deterministic CBOR (RFC 8949 section 4.2.1) with strict decoding.

``encode`` produces the core deterministic encoding: shortest integer and
length forms, definite lengths only, map keys sorted by the bytewise order of
their encodings, floats in their shortest exact form. cbor2's ``canonical``
mode does all of this except key order in maps that mix text and integer keys
(or integers of both signs): it sorts those length-first (RFC 7049), so such
maps go through a small pure-Python encoder instead.

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
    mixed = _check(value, MAX_DEPTH, allow_float=True, depth=0)
    return _encode_checked(value, mixed)


def _encode_checked(value: Any, mixed: bool) -> bytes:
    try:
        if mixed:
            return _encode_sorted(value)
        return cbor2.dumps(value, canonical=True)
    except InvalidEncoding:
        raise
    except Exception as exc:  # cbor2 raises several types; collapse them
        raise InvalidEncoding(f"cannot encode value: {exc}", reason="unencodable") from exc


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | extra]) + n.to_bytes(size, "big")
    raise InvalidEncoding("integer outside the 64-bit CBOR range", reason="int-range")


def _encode_sorted(value: Any) -> bytes:
    """Pure-Python encoder used only for maps whose keys mix ints and text (or
    signs): cbor2's ``canonical`` sorts keys length-first (RFC 7049), while
    RFC 8949 4.2.1 sorts them by their encoded bytes; both agree otherwise."""
    t = type(value)
    if t is dict:
        items = sorted((_encode_sorted(k), _encode_sorted(v)) for k, v in value.items())
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    if t is list or t is tuple:
        return _head(4, len(value)) + b"".join(_encode_sorted(v) for v in value)
    return cbor2.dumps(value, canonical=True)


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
    if type(data) is not bytes:
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
            semantic_decoders=_REFUSE_SEMANTIC,
        )
    except InvalidEncoding:
        raise
    except Exception as exc:  # CBORDecodeError, RecursionError, UnicodeError, ...
        raise InvalidEncoding(f"malformed CBOR: {exc}", reason=_reason_of(exc)) from exc
    mixed = _check(value, max_depth, allow_float=allow_float, depth=0)
    again = _encode_checked(value, mixed)
    if again != data:
        if len(again) < len(data) and data.startswith(again):
            raise InvalidEncoding("trailing bytes after the CBOR item", reason="trailing-data")
        raise InvalidEncoding("input is not in deterministic (canonical) form", reason="non-canonical")
    return value


def _reason_of(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, cbor2.CBORDecodeEOF) or "premature end" in text:
        return "truncated"
    if "indefinite length" in text:
        return "indefinite"
    if "Duplicate map key" in text:
        return "duplicate-key"
    if "semantic tag" in text or "CBOR tag" in text:
        return "tag"
    if "nesting depth" in text or isinstance(exc, RecursionError):
        return "too-deep"
    return "malformed"


def _refuse_tag(decoder: Any, tag: Any) -> Any:
    raise InvalidEncoding(f"CBOR tag {tag.tag} is not allowed", reason="tag")


def _refuse_semantic(*args: Any) -> Any:
    raise InvalidEncoding("CBOR tags are not allowed", reason="tag")


# cbor2 decodes the tags it knows (datetimes, bignums, sets, shared values,
# string references, ...) before ``tag_hook`` is consulted; route them all to
# a refusal. Tags cbor2 does not know reach ``_refuse_tag``.
_REFUSE_SEMANTIC: dict[int, Any] = {t: _refuse_semantic for t in (*range(0, 1100), 55799, 55800, 55801)}


def _check(value: Any, max_depth: int, *, allow_float: bool, depth: int) -> bool:
    """Refuse what the wire format does not allow; return True if some map mixes
    key classes (text, non-negative int, negative int) and so needs RFC 8949
    bytewise key sorting rather than cbor2's length-first order."""
    if depth > max_depth:
        raise InvalidEncoding(f"nesting deeper than {max_depth}", reason="too-deep")
    t = type(value)
    if t is bool or value is None or t is str or t is bytes:
        return False
    if t is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidEncoding("integer outside the 64-bit CBOR range", reason="int-range")
        return False
    if t is float:
        if not allow_float:
            raise InvalidEncoding("floating-point values are not allowed here", reason="float")
        return False
    if t is list or t is tuple:  # tuples encode as arrays (encode-side convenience)
        mixed = False
        for item in value:
            mixed |= _check(item, max_depth, allow_float=allow_float, depth=depth + 1)
        return mixed
    if t is dict:
        mixed = False
        classes = 0
        for k, v in value.items():
            tk = type(k)
            if tk is str:
                classes |= 1
            elif tk is int:
                classes |= 2 if k >= 0 else 4
            else:
                raise InvalidEncoding("map keys must be text or integers", reason="key-type")
            mixed |= _check(k, max_depth, allow_float=allow_float, depth=depth + 1)
            mixed |= _check(v, max_depth, allow_float=allow_float, depth=depth + 1)
        return mixed or classes not in (0, 1, 2, 4)
    raise InvalidEncoding(f"type {t.__name__} is not allowed (tag or simple value)", reason="type")
