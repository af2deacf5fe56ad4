"""Program interfaces (arguments, record fields, error codes) and inclusive ranges: pure checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from note_compute import programs
from note_compute.cli.ranges import RangeError, check_range, to_protocol
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord
from note_compute.program_interface import InvalidArgument, check_args, check_record, parse_interface

ROOT = Path(__file__).resolve().parents[1]
SHOP = json.loads((ROOT / "contracts" / "shop_search.json").read_text())
KEY = SigningKey(bytes(range(32)))
WASM = (ROOT / "contracts" / "shop_search.wasm").read_bytes()


def test_shipped_shop_search_interface_parses_and_round_trips() -> None:
    itf = parse_interface(SHOP)
    assert parse_interface(itf.to_value()) == itf
    assert itf.error_meaning(2) is not None and itf.error_meaning(99) is None
    assert itf.ranges == (("min_price", "max_price"),)


def test_program_record_carries_the_interface_and_old_records_still_parse() -> None:
    itf = parse_interface(SHOP)
    rec = programs.make_program(KEY, "shop_search", WASM, fuel=10**9, seq=1, created=1, interface=itf)
    assert programs.parse_program(rec).interface == itf
    old = programs.make_program(KEY, "shop_search", WASM, fuel=10**9, seq=1, created=1)
    assert programs.parse_program(old).interface is None


@pytest.mark.parametrize("bad, needle", [
    ({"args": {"x": {"type": "float"}}}, "type must be one of"),
    ({"args": {"x": {"type": "uint", "min": 5, "max": 1}}}, "min 5 is above max 1"),
    ({"args": {"x": {"type": "text", "min": 1}}}, "min/max apply to integers only"),
    ({"args": {"x": {"type": "text", "values": [1]}}}, "allowed value 1 is not text"),
    ({"errors": {"one": "x"}}, "error code 'one'"),
    ({"ranges": [["a", "b"]]}, "ranges is a list of"),
    ({"argz": {}}, "unknown ['argz']"),
    ({"args": {"x": {"type": "uint", "colour": 1}}}, "unknown ['colour']"),
])
def test_bad_interfaces_refused(bad: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRecord) as ei:
        parse_interface(bad)
    assert ei.value.reason == "interface" and needle in ei.value.message


def test_interface_signed_in_the_record_cannot_be_swapped() -> None:
    rec = programs.make_program(KEY, "shop_search", WASM, fuel=10**9, seq=1, created=1,
                                interface=parse_interface(SHOP))
    from dataclasses import replace

    from note_compute import encoding
    from note_compute.errors import InvalidSignature
    from note_compute.records import verify_record

    value = encoding.decode(rec.value)
    value["interface"]["args"]["limit"]["min"] = 0
    with pytest.raises(InvalidSignature):
        verify_record(replace(rec, value=encoding.encode(value)))


def test_check_args_and_records() -> None:
    itf = parse_interface(SHOP)
    check_args(itf, {"text": "lamp", "min_price": 1, "max_price": 1, "sort": "-price", "limit": 3})
    with pytest.raises(InvalidArgument) as ei:
        check_args(itf, {"min_price": True})
    assert "must be a non-negative integer, got a boolean true" in ei.value.message
    with pytest.raises(InvalidArgument):
        check_args(itf, {"limit": 0})
    with pytest.raises(InvalidArgument):
        check_args(itf, {"max_price": -1})
    check_record(itf, {"name": "a", "description": "b", "category": "c", "price": 0, "extra": [1]})
    with pytest.raises(InvalidRecord) as ei2:
        check_record(itf, {"name": "a", "description": "b", "category": "c", "price": 1.5}, where="line 4")
    assert ei2.value.message.startswith("line 4: field 'price' must be a non-negative integer")


SCHEMA = {"price": ["int"], "id": ["text"]}


def test_inclusive_range_to_protocol_half_open() -> None:
    assert to_protocol([[1000], [5000]]) == [[1000], [5001]]
    assert to_protocol([[1000, "a"], [5000, "p9"]]) == [[1000, "a"], [5000, "p9\0"]]
    assert to_protocol([None, [False]]) == [None, [True]]
    assert to_protocol([[1], None]) == [[1], None]
    with pytest.raises(RangeError):
        to_protocol([None, [True]])
    check_range([[5000], [5000]], ["price", "id"], SCHEMA)  # one price: not reversed
    check_range([[5000, "b"], [5000]], ["price", "id"], SCHEMA)
    with pytest.raises(RangeError) as ei:
        check_range([[5000, "b"], [5000, "a"]], ["price", "id"], SCHEMA)
    assert ei.value.reason == "reversed"
    with pytest.raises(RangeError) as ei:
        check_range([[5000, 7], None], ["price", "id"], SCHEMA)
    assert "'id' is int (7), but the dataset's 'id' values are text" in ei.value.message
