"""Search semantics (``specs/text.md``): queries, the plain-Python reference, the word index (pure).

Everything here is pure and shared by the publisher, the client
(:mod:`examples.shop.shop`) and the tests:

* :class:`Query` and :func:`parse_query`: validated search arguments (a
  bad one raises :class:`ShopError` with a message a user can act on);
* :func:`reference_search`: the semantics in plain Python over product dicts
  (the tests hold the contract and the word-index search to it);
* :func:`find_args`: the ``shop_find`` contract's arguments for a query;
* :func:`index_records`: the word index dataset, one record per (word, product);
* :func:`rank_index_hits`: the client side of the proven-complete search;
* cursors: opaque strings that continue a sorted result after its last item.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from note_compute import encoding
from note_compute.errors import InvalidEncoding

from .text import STOP_WORDS, fold, name_key, search_words, unique_words, words

__all__ = [
    "MAX_LIMIT",
    "MAX_QUERY_WORDS",
    "SORTS",
    "Query",
    "ShopError",
    "find_args",
    "index_records",
    "parse_query",
    "passes",
    "rank_index_hits",
    "rank_records",
    "reference_search",
    "sort_key",
]

SORTS = ("relevance", "price", "-price", "name")
MAX_QUERY_WORDS = 32
MAX_LIMIT = 1000
MAX_PRICE = 10**12
F_NAME, F_BRAND_TAG, F_DESC = 1, 2, 4


class ShopError(ValueError):
    """A user or peer error the shop explains (bad search argument, tampered cart, refused order)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Query:
    """A validated search. ``words`` are normalized; ``category`` is folded."""

    words: tuple[str, ...] = ()
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    sort: str = "relevance"
    limit: int = 10
    cursor: str | None = None


def parse_query(text: str = "", *, category: str | None = None, min_price: int | None = None,
                max_price: int | None = None, in_stock: bool = False, sort: str = "relevance", limit: int = 10,
                cursor: str | None = None, categories: Iterable[str] | None = None) -> Query:
    """Validate search arguments; raises ShopError (reason says which) and builds nothing on bad input.

    ``categories``: the shop's categories; a category not among them is refused
    (case-insensitively), so a typo is not silently an empty result.
    """
    if not isinstance(text, str):
        raise ShopError("the search text must be text", reason="bad-text")
    ws = tuple(search_words(text))
    if len(ws) > MAX_QUERY_WORDS:
        raise ShopError(f"at most {MAX_QUERY_WORDS} search words", reason="too-many-words")
    if text.strip() and not ws:
        if words(text):
            raise ShopError(f"{text!r} has only common words ({', '.join(sorted(STOP_WORDS))} are not searched)",
                            reason="no-words")
        raise ShopError(f"{text!r} has no letters or digits to search for", reason="no-words")
    cat = None
    if category is not None:
        if not isinstance(category, str) or not category.strip():
            raise ShopError("the category must be non-empty text", reason="bad-category")
        cat = fold(category.strip())
        if categories is not None:
            known = {fold(c): c for c in categories}
            if cat not in known:
                raise ShopError(f"unknown category {category!r}; the shop has: {', '.join(sorted(known.values()))}",
                                reason="unknown-category")
    for name, v in (("min_price", min_price), ("max_price", max_price)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise ShopError(f"{name} must be a whole number of cents", reason="bad-price")
        if v is not None and v < 0:
            raise ShopError(f"{name} cannot be negative (got {v})", reason="negative-price")
        if v is not None and v > MAX_PRICE:
            raise ShopError(f"{name} is too large", reason="bad-price")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ShopError(f"min_price {min_price} is above max_price {max_price}", reason="empty-price-range")
    if sort not in SORTS:
        raise ShopError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}", reason="bad-sort")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ShopError(f"limit must be 1 to {MAX_LIMIT}", reason="bad-limit")
    q = Query(ws, cat, min_price, max_price, bool(in_stock), sort, limit, None)
    if cursor is not None:
        decode_cursor(cursor, sort)  # refuse a malformed cursor now
        q = replace(q, cursor=cursor)
    return q


# -- relevance and sort keys ------------------------------------------------------------------


def _score(q: Query, w1: set[str], w2: set[str], w3: set[str]) -> tuple[int, int] | None:
    n1 = n2 = 0
    for w in q.words:
        if w in w1:
            n1 += 1
        elif w in w2:
            n2 += 1
        elif w not in w3:
            return None
    return n1, n2


def sort_key(sort: str, score: tuple[int, int], price: int, nk: str, pid: str) -> tuple[Any, ...]:
    """The total order of results (lower first); ``pid`` breaks every tie."""
    b = pid.encode("utf-8")
    if sort == "relevance":
        return (-score[0], -score[1], price, b)
    if sort == "price":
        return (price, b)
    if sort == "-price":
        return (-price, b)
    return (nk.encode("utf-8"), b)


def encode_cursor(sort: str, key: tuple[Any, ...]) -> str:
    """An opaque cursor continuing after the item whose sort key is ``key``."""
    return base64.urlsafe_b64encode(encoding.encode([sort, list(key)])).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    """The sort key in a cursor; ShopError if malformed or made for another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        v = encoding.decode(raw, max_size=512)
    except (binascii.Error, ValueError, InvalidEncoding) as exc:
        raise ShopError("malformed cursor (copy it whole from the previous page)", reason="bad-cursor") from exc
    if not (isinstance(v, list) and len(v) == 2 and isinstance(v[1], list)):
        raise ShopError("malformed cursor", reason="bad-cursor")
    if v[0] != sort:
        raise ShopError(f"this cursor was made for sort {v[0]!r}, not {sort!r}", reason="bad-cursor")
    key = tuple(v[1])
    shapes = {"relevance": (int, int, int, bytes), "price": (int, bytes), "-price": (int, bytes),
              "name": (bytes, bytes)}[sort]
    if len(key) != len(shapes) or any(type(x) is not t for x, t in zip(key, shapes, strict=False)):
        raise ShopError("malformed cursor", reason="bad-cursor")
    return key


def passes(q: Query, ck: str, price: int, stock: int) -> bool:
    if q.category is not None and ck != q.category:
        return False
    if q.min_price is not None and price < q.min_price:
        return False
    if q.max_price is not None and price > q.max_price:
        return False
    return not (q.in_stock and stock <= 0)


def _page(q: Query, keyed: list[tuple[tuple[Any, ...], Any]]) -> tuple[list[Any], str | None]:
    keyed.sort(key=lambda kv: kv[0])
    if q.cursor is not None:
        after = decode_cursor(q.cursor, q.sort)
        keyed = [kv for kv in keyed if kv[0] > after]
    page = keyed[: q.limit]
    more = len(keyed) > q.limit
    return [v for _, v in page], (encode_cursor(q.sort, page[-1][0]) if more and page else None)


def reference_search(products: Sequence[dict[str, Any]], q: Query) -> tuple[list[dict[str, Any]], str | None]:
    """The semantics in plain Python: (one page of products, cursor of the next page or None)."""
    keyed = []
    for p in products:
        if not passes(q, fold(p["category"]), p["price"], p["stock"]):
            continue
        sc = _score(q, set(words(p["name"])), set(words(" ".join([p["brand"], *p["tags"]]))),
                    set(words(p["description"])))
        if sc is None:
            continue
        keyed.append((sort_key(q.sort, sc, p["price"], name_key(p["name"]), p["id"]), p))
    return _page(q, keyed)


def find_args(q: Query) -> dict[str, Any]:
    """The ``shop_find`` arguments (the contract sorts and filters; the cursor is applied by the client)."""
    a: dict[str, Any] = {"sort": q.sort}
    if q.words:
        a["words"] = list(q.words)
    if q.category is not None:
        a["category"] = q.category
    if q.min_price is not None:
        a["min_price"] = q.min_price
    if q.max_price is not None:
        a["max_price"] = q.max_price
    if q.in_stock:
        a["in_stock"] = 1
    return a


def record_key(q: Query, rec: dict[str, Any]) -> tuple[Any, ...]:
    """The sort key of a catalog record (it carries w1/w2/w3/nk) for ``q``."""
    sc = _score(q, set(rec["w1"]), set(rec["w2"]), set(rec["w3"])) or (0, 0)
    return sort_key(q.sort, sc, rec["price"], rec["nk"], rec["id"])


def rank_records(q: Query, recs: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None, int]:
    """Filter and rank catalog records (with their w1/w2/w3/ck/nk) for ``q``: (one page, next cursor, matches)."""
    keyed = []
    for rec in recs:
        if not passes(q, rec["ck"], rec["price"], rec["stock"]):
            continue
        sc = _score(q, set(rec["w1"]), set(rec["w2"]), set(rec["w3"]))
        if sc is not None:
            keyed.append((sort_key(q.sort, sc, rec["price"], rec["nk"], rec["id"]), rec))
    total = len(keyed)
    page, cursor = _page(q, keyed)
    return page, cursor, total


# -- the word index ------------------------------------------------------------------------------


def index_records(products: Iterable[dict[str, Any]]) -> list[bytes]:
    """One canonical record per (distinct word, product) except stop words: ``{w, id, f, price, stock, cat, nk}``."""
    out = []
    for p in products:
        fields: dict[str, int] = {}
        for bit, text in ((F_NAME, p["name"]), (F_BRAND_TAG, " ".join([p["brand"], *p["tags"]])),
                          (F_DESC, p["description"])):
            for w in unique_words(text):
                if w not in STOP_WORDS:
                    fields[w] = fields.get(w, 0) | bit
        ck, nk = fold(p["category"]), name_key(p["name"])
        for w, f in fields.items():
            out.append(encoding.encode({"w": w, "id": p["id"], "f": f, "price": p["price"], "stock": p["stock"],
                                        "cat": ck, "nk": nk}))
    return out


def rank_index_hits(q: Query, per_word: dict[str, list[dict[str, Any]]]) -> tuple[list[str], str | None]:
    """Intersect the (complete) index records of every query word; filter, rank, page.

    ``per_word[w]`` is every index record of word ``w``. Returns the product
    ids of one page and the next page's cursor.
    """
    if set(per_word) != set(q.words) or not q.words:
        raise ValueError("per_word must hold exactly the query's words")
    ids: set[str] | None = None
    for w in q.words:
        these = {r["id"] for r in per_word[w]}
        ids = these if ids is None else ids & these
    assert ids is not None
    flags: dict[str, dict[str, int]] = {i: {} for i in ids}
    info: dict[str, dict[str, Any]] = {}
    for w in q.words:
        for r in per_word[w]:
            if r["id"] in flags:
                flags[r["id"]][w] = r["f"]
                info[r["id"]] = r
    keyed = []
    for pid in ids:
        r = info[pid]
        if not passes(q, r["cat"], r["price"], r["stock"]):
            continue
        fl = flags[pid]
        n1 = sum(1 for w in q.words if fl[w] & F_NAME)
        n2 = sum(1 for w in q.words if not fl[w] & F_NAME and fl[w] & F_BRAND_TAG)
        keyed.append((sort_key(q.sort, (n1, n2), r["price"], r["nk"], pid), pid))
    return _page(q, keyed)
