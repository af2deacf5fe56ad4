"""Pure-Python reference implementations of the shipped contracts.

They take the same ABI v1 input bytes as the wasm contracts and return the
same answer (a list of record indices), so tests can cross-check the
contracts and benchmarks can compare against a plain Python loop over the
same bytes. They assume well-formed input (the contracts do the strict
checking); no wasmtime import.
"""

from __future__ import annotations

from typing import Any

import cbor2

from .abi import unpack_input

__all__ = ["dating_deck", "psi_match", "shop_matches", "shop_search"]

_NO_LIMIT = 1 << 64


def shop_matches(args: dict[str, Any], product: dict[str, Any]) -> bool:
    """The shop_search predicate for one decoded product."""
    price = product["price"]
    if price < args.get("min_price", 0) or price > args.get("max_price", _NO_LIMIT):
        return False
    if "category" in args and product["category"] != args["category"]:
        return False
    text = args.get("text")
    if text is not None:
        pattern = text.encode().lower()  # bytes.lower(): ASCII only, like the contract
        if pattern not in product["name"].encode().lower() and pattern not in product["description"].encode().lower():
            return False
    return True


def shop_search(data: bytes) -> list[int]:
    """shop_search on ABI v1 input bytes: matching indices, sorted and limited."""
    raw_args, records = unpack_input(data)
    args = cbor2.loads(raw_args)
    hits = []
    for i, rec in enumerate(records):
        product = cbor2.loads(rec)
        if shop_matches(args, product):
            hits.append((i, product))
    sort = args.get("sort", "none")
    if sort == "price":
        hits.sort(key=lambda h: (h[1]["price"], h[0]))
    elif sort == "-price":
        hits.sort(key=lambda h: (-h[1]["price"], h[0]))
    elif sort == "name":
        hits.sort(key=lambda h: (h[1]["name"].encode(), h[0]))
    return [i for i, _ in hits][: args.get("limit", _NO_LIMIT)]


def psi_match(data: bytes) -> list[int]:
    """psi_match on ABI v1 input bytes: indices of records whose 32-byte value is in the set."""
    raw_args, records = unpack_input(data)
    blob = cbor2.loads(raw_args)["set"]
    wanted = {blob[i : i + 32] for i in range(0, len(blob), 32)}
    values = [cbor2.loads(rec) for rec in records]
    values = [v["v"] if isinstance(v, dict) else v for v in values]  # dataset records {"v": value}
    return [i for i, v in enumerate(values) if v in wanted]


def dating_deck(data: bytes) -> list[int]:
    """dating_deck on ABI v1 input bytes: indices of cards sharing at least min_shared interests."""
    raw_args, records = unpack_input(data)
    args = cbor2.loads(raw_args)
    want, need = set(args["interests"]), args.get("min_shared", 1)
    return [i for i, rec in enumerate(records)
            if len(want & set(cbor2.loads(rec).get("interests", []))) >= need]
