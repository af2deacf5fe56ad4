"""The shipped contracts (shop_search, psi_match, echo) against Python references."""

from __future__ import annotations

import struct
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from note_compute.encoding import decode, encode
from note_compute.errors import InvalidEncoding, SandboxError
from note_compute.sandbox import Sandbox, abi, pack_input, reference

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
SHOP = (CONTRACTS / "shop_search.wasm").read_bytes()
PSI = (CONTRACTS / "psi_match.wasm").read_bytes()
ECHO = (CONTRACTS / "echo.wasm").read_bytes()
FUEL = 10**9


def _product(i: int, name: str, desc: str, cat: str, price: int, **extra: object) -> bytes:
    return encode({"id": f"p{i}", "name": name, "description": desc, "category": cat, "price": price, **extra})


CATALOGUE = [
    _product(0, "Red Shoe", "comfortable", "shoes", 4999),
    _product(1, "Blue shoe", "a RED sole", "shoes", 2999),
    _product(2, "Book of red", "paper", "books", 1500),
    _product(3, "Toy", "plastic", "toys", 999, colour="red", tags=["a", 1]),
    _product(4, "Shoe horn", "metal", "shoes", 2999),
    _product(5, "Ünicode Shoe", "ÄÖ red", "shoes", 0),
]


def _run(sandbox: Sandbox, program: bytes, args: object, records: list[bytes]) -> list[int]:
    return list(sandbox.run(program, pack_input(encode(args), records), fuel=FUEL).indices)


@pytest.mark.parametrize(
    "args, expected",
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"text": "red"}, [0, 1, 2, 5]),
        ({"text": "RED", "category": "shoes"}, [0, 1, 5]),
        ({"category": "shoes", "sort": "price"}, [5, 1, 4, 0]),
        ({"category": "shoes", "sort": "-price"}, [0, 1, 4, 5]),
        ({"category": "shoes", "sort": "name"}, [1, 0, 4, 5]),
        ({"min_price": 1000, "max_price": 2999, "sort": "price"}, [2, 1, 4]),
        ({"sort": "price", "limit": 2}, [5, 3]),
        ({"limit": 0}, []),
        ({"text": ""}, [0, 1, 2, 3, 4, 5]),
        ({"text": "no such thing"}, []),
        ({"category": "Shoes"}, []),
        ({"sort": "none", "limit": 3}, [0, 1, 2]),
    ],
)
def test_shop_search_examples(sandbox: Sandbox, args: dict, expected: list[int]) -> None:
    assert _run(sandbox, SHOP, args, CATALOGUE) == expected
    assert reference.shop_search(pack_input(encode(args), CATALOGUE)) == expected


_words = st.sampled_from(["red", "Red", "BLUE", "shoe", "book", "toy", "x", "Ré", "", "redblue"])
_text = st.lists(_words, max_size=4).map(" ".join)
_products = st.lists(
    st.builds(
        lambda name, desc, cat, price: {"name": name, "description": desc, "category": cat, "price": price},
        _text, _text, st.sampled_from(["a", "b", "c"]), st.integers(0, 50),
    ),
    max_size=40,
)
_args = st.fixed_dictionaries(
    {},
    optional={
        "text": st.sampled_from(["red", "RE", "shoe b", "é", "", "zz"]),
        "category": st.sampled_from(["a", "b", "d"]),
        "min_price": st.integers(0, 60),
        "max_price": st.integers(0, 60),
        "sort": st.sampled_from(["price", "-price", "name", "none"]),
        "limit": st.integers(0, 50),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(products=_products, args=_args)
def test_shop_search_matches_the_reference(sandbox: Sandbox, products: list[dict], args: dict) -> None:
    data = pack_input(encode(args), [encode(p) for p in products])
    assert list(sandbox.run(SHOP, data, fuel=FUEL).indices) == reference.shop_search(data)


@pytest.mark.parametrize(
    "args",
    [
        {"bogus": 1},
        {"text": 5},
        {"sort": "price asc"},
        {"limit": -1},
        {"min_price": "1"},
        [],
        "text",
    ],
)
def test_shop_search_rejects_bad_args(sandbox: Sandbox, args: object) -> None:
    with pytest.raises(SandboxError) as info:
        _run(sandbox, SHOP, args, CATALOGUE)
    assert info.value.reason == abi.REASON_PROGRAM_ERROR
    assert "error code 1" in str(info.value)


@pytest.mark.parametrize(
    "raw_args",
    [
        b"",  # empty
        b"\xbf\xff",  # indefinite map
        b"\xa1\x64text",  # truncated
        b"\xa1\x64text\x63red\x00",  # trailing byte
        b"\xa1\x78\x04text\x63red",  # non-shortest key length
        b"\xa1\x65limit\x18\x05",  # non-shortest uint
    ],
)
def test_shop_search_rejects_malformed_args_cbor(sandbox: Sandbox, raw_args: bytes) -> None:
    with pytest.raises(SandboxError) as info:
        sandbox.run(SHOP, pack_input(raw_args, CATALOGUE), fuel=FUEL)
    assert info.value.reason == abi.REASON_PROGRAM_ERROR
    assert "error code 1" in str(info.value)


@pytest.mark.parametrize(
    "record",
    [
        encode({"name": "a", "description": "b", "category": "c"}),  # no price
        encode({"name": "a", "description": "b", "category": "c", "price": -1}),
        encode({"name": 1, "description": "b", "category": "c", "price": 1}),
        encode(["name", "a"]),
        b"\xa1",
        _product(9, "a", "b", "c", 1) + b"\x00",
    ],
)
def test_shop_search_rejects_bad_records(sandbox: Sandbox, record: bytes) -> None:
    with pytest.raises(SandboxError) as info:
        _run(sandbox, SHOP, {}, CATALOGUE[:2] + [record])
    assert "error code 2" in str(info.value)


def _raw_product(name: bytes, desc: bytes, cat: bytes, price: bytes) -> bytes:
    # Hand-framed CBOR map (keys in canonical order) so non-canonical encodings can be injected.
    return b"\xa4" + b"\x64name" + name + b"\x65price" + price + b"\x68category" + cat + b"\x6bdescription" + desc


@pytest.mark.parametrize(
    "record",
    [
        _raw_product(b"\x61a", b"\x78\x05hello", b"\x61c", b"\x01"),  # non-shortest text length
        _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\x18\x05"),  # non-shortest uint (1 byte)
        _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\x19\x00\x05"),  # non-shortest uint (2 bytes)
        _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\x1a\x00\x00\x01\x00"),  # non-shortest uint (4 bytes)
        _raw_product(b"\x61a", b"\x79\x00\x05hello", b"\x61c", b"\x01"),  # non-shortest 2-byte length
        _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\x1f"),  # reserved / indefinite
        _raw_product(b"\x61a", b"\x7f\x61d\xff", b"\x61c", b"\x01"),  # indefinite text
        _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\xf9\x3c\x00"),  # float price
        _raw_product(b"\x65a", b"\x61d", b"\x61c", b"\x01"),  # text runs past the end of its record
        b"\xa5" + _raw_product(b"\x61a", b"\x61d", b"\x61c", b"\x01")[1:] + b"\x64name\x61b",  # duplicate key
    ],
)
def test_shop_search_rejects_non_canonical_records(sandbox: Sandbox, record: bytes) -> None:
    with pytest.raises(SandboxError) as info:
        _run(sandbox, SHOP, {}, [record])
    assert "error code 2" in str(info.value)


@pytest.mark.parametrize(
    "product",
    [
        {"name": "n" * 23, "description": "d" * 24, "category": "c", "price": 23},
        {"name": "n" * 255, "description": "d" * 256, "category": "c" * 300, "price": 24},
        {"name": "n" * 70000, "description": "", "category": "c", "price": 255},
        {"name": "", "description": "", "category": "", "price": 256},
        {"name": "a", "description": "b", "category": "c", "price": 65535},
        {"name": "a", "description": "b", "category": "c", "price": 65536},
        {"name": "a", "description": "b", "category": "c", "price": 2**32 - 1},
        {"name": "a", "description": "b", "category": "c", "price": 2**32},
        {"name": "a", "description": "b", "category": "c", "price": 2**64 - 1},
        {"name": "a", "description": "b", "category": "c", "price": 1, "id": b"raw", "n": -5, "x": None,
         "nested": {"a": [1, 2, {"b": True}]}, "long": "z" * 300, 7: "int key"},
    ],
)
def test_shop_search_accepts_every_canonical_form(sandbox: Sandbox, product: dict) -> None:
    records = [encode(product)] * 2
    for args in ({}, {"min_price": 256}, {"max_price": 65535, "sort": "price"}, {"text": "N", "sort": "name"}):
        data = pack_input(encode(args), records)
        assert list(sandbox.run(SHOP, data, fuel=FUEL).indices) == reference.shop_search(data), args


def test_shop_search_ignores_non_text_keys_in_records(sandbox: Sandbox) -> None:
    rec = encode({1: "x", "name": "a", "description": "b", "category": "c", "price": 3})
    assert _run(sandbox, SHOP, {"category": "c"}, [rec]) == [0]


def test_contract_rejects_broken_framing(sandbox: Sandbox) -> None:
    # The host only checks the header; the contract checks the record framing itself.
    data = struct.pack("<I", 1) + b"\xa0" + struct.pack("<I", 2) + struct.pack("<I", 100) + b"x" * 10
    for program in (SHOP, PSI, ECHO):
        with pytest.raises(SandboxError) as info:
            sandbox.run(program, data, fuel=FUEL)
        assert "error code 4" in str(info.value)


# ---------------------------------------------------------------- psi_match

@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ours=st.sets(st.binary(min_size=32, max_size=32), max_size=30),
    theirs=st.sets(st.binary(min_size=32, max_size=32), max_size=30),
    shared=st.sets(st.binary(min_size=32, max_size=32), max_size=10),
)
def test_psi_match_is_the_intersection(sandbox: Sandbox, ours: set, theirs: set, shared: set) -> None:
    records = sorted(ours | shared)
    the_set = sorted(theirs | shared)
    data = pack_input(encode({"set": b"".join(the_set)}), [encode(v) for v in records])
    got = list(sandbox.run(PSI, data, fuel=FUEL).indices)
    assert got == [i for i, v in enumerate(records) if v in set(the_set)]
    assert got == reference.psi_match(data)


def _psi_error(sandbox: Sandbox, args: object, records: list[bytes]) -> str:
    with pytest.raises(SandboxError) as info:
        sandbox.run(PSI, pack_input(encode(args), records), fuel=FUEL)
    assert info.value.reason == abi.REASON_PROGRAM_ERROR
    return str(info.value)


def test_psi_match_rejects_bad_input(sandbox: Sandbox) -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    ok = [encode(a), encode(b)]
    assert "error code 1" in _psi_error(sandbox, {"set": a[:31]}, ok)
    assert "error code 1" in _psi_error(sandbox, {"set": a, "x": 1}, ok)
    assert "error code 1" in _psi_error(sandbox, {"sets": a}, ok)
    assert "error code 1" in _psi_error(sandbox, {"set": "text"}, ok)
    assert "error code 2" in _psi_error(sandbox, {"set": a}, [a])  # raw, not a CBOR bstr
    assert "error code 2" in _psi_error(sandbox, {"set": a}, [encode(a[:31])])
    assert "error code 3" in _psi_error(sandbox, {"set": a}, [encode(b), encode(a)])  # records not ascending
    assert "error code 3" in _psi_error(sandbox, {"set": a}, [encode(a), encode(a)])  # repeated
    assert "error code 3" in _psi_error(sandbox, {"set": b + a}, ok)  # set not ascending


def test_psi_match_empty_sides(sandbox: Sandbox) -> None:
    a = b"\x05" * 32
    assert _run(sandbox, PSI, {"set": b""}, [encode(a)]) == []
    assert _run(sandbox, PSI, {"set": a}, []) == []


# ---------------------------------------------------------------- echo

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.binary(max_size=300), records=st.lists(st.binary(max_size=20), max_size=20))
def test_echo(sandbox: Sandbox, args: bytes, records: list[bytes]) -> None:
    result = sandbox.run(ECHO, pack_input(args, records), fuel=FUEL)
    assert result.indices == tuple(range(len(records)))
    assert result.extra == args


def test_echo_large_args_use_memory_growth(sandbox: Sandbox) -> None:
    args = bytes(range(256)) * 4096  # 1 MiB: past the initial memory
    assert sandbox.run(ECHO, pack_input(args, []), fuel=FUEL).extra == args


# ---------------------------------------------------------------- fuzzing the contracts' CBOR readers

_cbor_ish = st.one_of(
    st.binary(max_size=40),
    st.recursive(
        st.one_of(st.integers(-(2**64), 2**64 - 1), st.text(max_size=10), st.binary(max_size=10), st.booleans(),
                  st.none()),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
        max_leaves=12,
    ).map(encode),
)


def _mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    return bytes(b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=_cbor_ish, records=st.lists(_cbor_ish, max_size=5),
       flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
       program=st.sampled_from(["shop", "psi"]))
@example(args=b"\x00", records=[], flips=[(194, 160)], program="shop")  # invalid UTF-8 in a product's text
def test_contracts_never_trap_on_hostile_input(sandbox: Sandbox, args: bytes, records: list[bytes],
                                                flips: list, program: str) -> None:
    # Random and mutated CBOR: the contract answers or rejects its input, it never traps or misbehaves.
    product = _product(0, "Red", "x", "c", 5)
    records = [_mutate(r, flips) for r in records] + [_mutate(product, flips)]
    wasm = SHOP if program == "shop" else PSI
    raw_args = _mutate(args, flips[:1])
    data = pack_input(raw_args, records)
    try:
        result = sandbox.run(wasm, data, fuel=FUEL)
    except SandboxError as exc:
        assert exc.reason == abi.REASON_PROGRAM_ERROR, str(exc)
        return
    if program == "shop":
        try:
            want = reference.shop_search(data)
        except cbor2.CBORDecodeError:
            # Not well-formed CBOR (say, invalid UTF-8 in a text string): the contract compares
            # bytes and need not notice, so "no trap" is all that is asked. Nodes never run a
            # program on such a record: check_shard's strict decode refuses the shard.
            with pytest.raises(InvalidEncoding):
                for part in [raw_args, *records]:
                    decode(part)
            return
        assert list(result.indices) == want
