"""encoding: deterministic CBOR round trips and strict refusals."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.encoding import MAX_DEPTH, decode, encode
from note_compute.errors import InvalidEncoding, NoteError

ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
scalars = st.none() | st.booleans() | ints | st.binary(max_size=64) | st.text(max_size=32)
keys = st.text(max_size=12) | ints
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300)
@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@settings(max_examples=100)
@given(st.floats(allow_nan=False))
def test_floats_round_trip_only_when_allowed(x: float) -> None:
    data = encode(x)
    assert decode(data, allow_float=True) == x
    with pytest.raises(InvalidEncoding) as e:
        decode(data)
    assert e.value.reason == "float"


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_value_or_a_typed_error(data: bytes) -> None:
    try:
        value = decode(data)
    except NoteError:
        return
    assert encode(value) == data  # anything accepted is canonical


@settings(max_examples=200)
@given(values, st.data())
def test_mutated_encodings_are_canonical_or_refused(value: object, data: st.DataObject) -> None:
    enc = bytearray(encode(value))
    i = data.draw(st.integers(0, len(enc) - 1))
    enc[i] = data.draw(st.integers(0, 255))
    try:
        out = decode(bytes(enc))
    except InvalidEncoding:
        return
    assert encode(out) == bytes(enc)


def _reason(hexdata: str, **kw: object) -> str | None:
    with pytest.raises(InvalidEncoding) as e:
        decode(bytes.fromhex(hexdata), **kw)  # type: ignore[arg-type]
    return e.value.reason


@pytest.mark.parametrize(
    "hexdata,reason",
    [
        ("1817", "non-canonical"),  # 23 in two bytes
        ("190017", "non-canonical"),
        ("1b0000000000000001", "non-canonical"),
        ("3800", "non-canonical"),  # -1 in two bytes
        ("5801ff", "non-canonical"),  # 1-byte bstr with a long length
        ("a2616201616101", "non-canonical"),  # {"b":1,"a":1}: unsorted keys
        ("a2616101616101", "duplicate-key"),
        ("5f4100ff", "indefinite"),
        ("9f00ff", "indefinite"),
        ("bf616100ff", "indefinite"),
        ("7f6161ff", "indefinite"),
        ("c11a00000001", "tag"),  # datetime
        ("c24101", "tag"),  # bignum
        ("d9010280", "tag"),  # set
        ("d81c80", "tag"),  # shareable
        ("d9ffff00", "tag"),  # unknown tag
        ("f97e00", "float"),
        ("fb3ff0000000000000", "float"),
        ("f7", "type"),  # undefined
        ("f0", "type"),  # simple value 16
        ("a1410000", "key-type"),  # bytes key
        ("0000", "trailing-data"),
        ("", "truncated"),
        ("8200", "truncated"),
        ("62c328", "malformed"),  # invalid UTF-8
        ("1c", "malformed"),  # reserved additional info
    ],
)
def test_specific_refusals(hexdata: str, reason: str) -> None:
    assert _reason(hexdata) == reason


def test_size_and_depth_caps() -> None:
    assert _reason("41" + "00", max_size=1) == "too-large"
    nested = "81" * 5 + "00"
    assert decode(bytes.fromhex(nested), max_depth=5) == [[[[[0]]]]]
    assert _reason(nested, max_depth=4) in ("too-deep",)
    deep = "81" * (MAX_DEPTH + 5) + "00"
    assert _reason(deep) == "too-deep"
    with pytest.raises(InvalidEncoding) as e:
        encode(_nest(MAX_DEPTH + 2))
    assert e.value.reason == "too-deep"


def _nest(n: int) -> object:
    v: object = 0
    for _ in range(n):
        v = [v]
    return v


def test_self_referential_shared_value_is_refused() -> None:
    assert _reason("d81c81d81d00") == "tag"


def test_huge_declared_length_is_refused_quickly() -> None:
    assert _reason("5b7fffffffffffffff00") in ("truncated", "malformed")
    assert _reason("9b7fffffffffffffff00") in ("truncated", "malformed")


def test_mixed_key_maps_sort_bytewise_per_rfc8949() -> None:
    # RFC 8949 4.2.1 orders keys by their encoded bytes: 1000 (0x19 03e8) < -1 (0x20) < "a" (0x61 61).
    data = encode({"a": 2, -1: 3, 1000: 1})
    assert data.hex() == "a31903e8012003616102"
    assert decode(data) == {1000: 1, -1: 3, "a": 2}
    # cbor2's length-first order is refused as non-canonical
    length_first = cbor2.dumps({"a": 2, -1: 3, 1000: 1}, canonical=True)
    assert length_first != data
    assert _reason(length_first.hex()) == "non-canonical"
    # nested inside an array too
    assert decode(encode([{1: 0, "": 0, -300: 0}])) == [{1: 0, "": 0, -300: 0}]


def test_encode_refuses_what_decode_refuses() -> None:
    for bad in (1.5j, {b"k": 1}, {(1,): 2}, set(), 2**64, -(2**64) - 1, object()):
        with pytest.raises(InvalidEncoding):
            encode(bad)


def test_integer_edges() -> None:
    for n in (0, 23, 24, 255, 256, 2**32, 2**64 - 1, -1, -24, -25, -(2**64)):
        assert decode(encode(n)) == n


def test_decode_needs_bytes() -> None:
    with pytest.raises(InvalidEncoding):
        decode("00")  # type: ignore[arg-type]
    assert decode(bytearray(b"\x00")) == 0
    assert decode(memoryview(b"\x00")) == 0


def _rfc8949_reference(value: object) -> bytes:
    """A tiny independent RFC 8949 4.2.1 encoder (ints, bytes, text, arrays, maps, simple)."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | extra]) + n.to_bytes(size, "big")
        raise AssertionError("out of range")

    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return head(3, len(raw)) + raw
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(_rfc8949_reference(v) for v in value)
    if isinstance(value, dict):
        items = sorted((_rfc8949_reference(k), _rfc8949_reference(v)) for k, v in value.items())
        return head(5, len(items)) + b"".join(k + v for k, v in items)
    raise AssertionError(type(value))


@settings(max_examples=300)
@given(values)
def test_encode_matches_an_independent_rfc8949_encoder(value: object) -> None:
    assert encode(value) == _rfc8949_reference(value)


def test_text_keys_sort_by_utf8_bytes() -> None:
    value = {"\u00e9": 1, "ab": 2, "b": 3, "\U0001f600": 4, "aaa": 5}
    assert encode(value) == _rfc8949_reference(value)
