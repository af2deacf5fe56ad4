"""The signed record map (``specs/records.md`` section 3.1): its shape and field checks, as data (pure).

::

    {"u": text URL, "s": uint64, "c": uint64, "v"?: bytes (<= 64 KiB) | "r"?: [bytes32] (1..256),
     "e"?: uint64 (>= c), "sig": bytes64}

Refusal order (``records.md`` 3.1.1; every reason is ``schema`` unless said):

1. the shape, by :data:`RECORD` through :func:`~.schema.validate`: not a
   map, an unknown key, a missing ``u`` / ``s`` / ``c`` / ``sig`` (in that
   order), ``r`` present but not a non-empty array;
2. the fields, by :func:`check_fields`, in :data:`FIELD_ORDER`: ``u`` (text;
   normal form and an authority that is a public key, reason ``url``),
   ``s``, ``c``, ``e`` (then ``e >= c``), then ``v`` (bytes; over 64 KiB
   ``too-large``; never beside ``r``) or ``r`` (at most 256, ``too-large``;
   each 32 bytes), then ``sig`` (64 bytes).

:func:`check_fields` also runs when a record is built in Python (the
``Record`` constructor), so a record is checked by one set of rules however
it was made. Checks raise RemoteProtocolError; :mod:`note_compute.records`
turns that into InvalidRecord with the same reason and message.
"""

from __future__ import annotations

from typing import Any

from .. import urls
from ..crypto import AUTHORITY_LENGTH, SIGNATURE_SIZE, public_key_of_authority
from ..errors import InvalidURL
from .schema import Field, Schema, bad, validate

__all__ = [
    "MAX_VALUE_SIZE",
    "MAX_REFS",
    "HASH_SIZE",
    "MAX_SEQ",
    "MAX_TIME",
    "RECORD",
    "FIELD_ORDER",
    "parse_record_map",
    "check_fields",
]

MAX_VALUE_SIZE = 64 * 1024
MAX_REFS = 256
HASH_SIZE = 32
MAX_SEQ = 2**64 - 1
MAX_TIME = 2**64 - 1

_S = "schema"


def _as_is(v: Any, name: str) -> Any:
    return v  # checked in field order by check_fields


def _refs_shape(v: Any, name: str) -> list[Any]:
    if type(v) is not list or not v:
        raise bad("refs must be a non-empty array when present", _S)
    return v


RECORD = Schema("record", {
    "r": Field(_refs_shape, required=False),  # the one shape check beyond keys (records.md 3.1.1)
    "u": Field(_as_is),
    "s": Field(_as_is),
    "c": Field(_as_is),
    "e": Field(_as_is, required=False),
    "v": Field(_as_is, required=False),
    "sig": Field(_as_is),
}, what="CBOR map", shape_reason=_S)
"""The record map's shape: keys, required keys, the refs array (field checks are :func:`check_fields`)."""

FIELD_ORDER = ("u", "s", "c", "e", "v", "r", "sig")
"""The order :func:`check_fields` checks the fields in (``v`` and ``r`` exclude each other)."""


def parse_record_map(m: Any) -> dict[str, Any]:
    """The fields of a decoded record map after the shape checks (step 1); field checks are the caller's."""
    return validate(m, RECORD)


def _uint(name: str, v: object, maximum: int) -> None:
    if type(v) is not int or not 0 <= v <= maximum:
        raise bad(f"{name} must be an integer in [0, {maximum}]", _S)


def _url(url: object) -> None:
    if type(url) is not str:
        raise bad("url must be text", _S)
    if not urls.is_normal(url):
        try:
            urls.parse(url)
        except InvalidURL as exc:
            raise bad(f"bad url: {exc}", "url") from exc
        raise bad("url is not in normal form", "url")
    try:
        public_key_of_authority(url[7 : 7 + AUTHORITY_LENGTH])
    except ValueError as exc:
        raise bad("bad url: the authority is not a public key", "url") from exc


def check_fields(url: object, seq: object, created: object, value: object, refs: object, expires: object,
                 signature: object) -> None:
    """Step 2: each field's check, in :data:`FIELD_ORDER` (``refs`` a tuple, empty when absent)."""
    _url(url)
    _uint("seq", seq, MAX_SEQ)
    _uint("created", created, MAX_TIME)
    if expires is not None:
        _uint("expires", expires, MAX_TIME)
        if expires < created:  # type: ignore[operator]  # both checked ints above
            raise bad("expires is before created", _S)
    if type(refs) is not tuple:
        raise bad("refs must be a tuple of 32-byte hashes", _S)
    if value is not None:
        if type(value) is not bytes:
            raise bad("value must be bytes", _S)
        if len(value) > MAX_VALUE_SIZE:
            raise bad(f"inline value is {len(value)} bytes, over the {MAX_VALUE_SIZE}-byte cap (use blobs and refs)",
                      "too-large")
        if refs:
            raise bad("a record has a value or refs, not both", _S)
    else:
        if not refs:
            raise bad("a record needs a value or at least one ref", _S)
        if len(refs) > MAX_REFS:
            raise bad(f"more than {MAX_REFS} refs", "too-large")
        for ref in refs:
            if type(ref) is not bytes or len(ref) != HASH_SIZE:
                raise bad("each ref must be a 32-byte hash", _S)
    if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE:
        raise bad("signature must be 64 bytes", _S)
