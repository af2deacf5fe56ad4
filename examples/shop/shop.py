"""The shop on the ring: publishing (catalog, word index, programs, shop record) and verified search.

Publisher::

    pub = await publish_shop(client, key, products)            # everything, with progress
    upd = await update_products(client, key, products)         # price/stock changes: changed shards only

Buyer::

    shop = Shop(client, sandbox, authority)
    res = await shop.search(parse_query("red lamp", max_price=5000, categories=...))
    res.products, res.cursor, res.summary                      # one page, next cursor, what was verified

``search`` with words is the **proven-complete** text search: every query word
is a sort-key range of the word index, proven complete by the ring; the
client intersects, filters and ranks the index records, then fetches the
page's products from the catalog with proofs. Without words (a category or
price browse) it falls back to the **audited** predicate search (the
``shop_find`` program over every catalog shard, returned records proven,
the selection audited by re-running the program on a sample).
``search_audited`` forces that path (for comparison and benchmarks);
``download_catalog`` fetches every catalog shard (the third way).

The ``client`` is anything with the ring client's surface (``get_record``,
``put_record``, ``get_blob``, ``put_blob``, ``replicas``, ``request``): the
libp2p :class:`~note_compute.client.Client` or the in-memory
:class:`~note_compute.testing.compute.ComputeNetwork`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cbor2
import trio

from note_compute import encoding, records, urls
from note_compute.compute.client import ComputeClient, QueryResult
from note_compute.compute.dataset import Manifest, decode_shard
from note_compute.compute.keys import normalize_bound
from note_compute.compute.publish import Published, dataset_url, publish_dataset
from note_compute.crypto import SigningKey
from note_compute.errors import NoteError

from .catalog import product_record
from .search import (
    Query,
    ShopError,
    decode_cursor,
    encode_cursor,
    find_args,
    index_records,
    passes,
    rank_index_hits,
    rank_records,
    record_key,
)

__all__ = ["SHOP_PATH", "SearchResult", "Shop", "ShopInfo", "contract", "publish_shop", "update_products"]

SHOP_PATH = "/shop"
FIND_FUEL = 4_000_000_000
ECHO_FUEL = 200_000_000
CATALOG_SHARD = 500
INDEX_SHARD = 2000
CANDIDATES = 40
"""When the rarest words leave at most this many products, their catalog records settle the other words
(one proven one-key range each) instead of the other words' whole index ranges."""
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def contract(name: str) -> bytes:
    """The reproducible build of ``contracts/NAME.wasm`` shipped in the repository."""
    return (CONTRACTS / f"{name}.wasm").read_bytes()


@dataclass(frozen=True)
class ShopInfo:
    """The shop's signed description at ``note://AUTHORITY/shop``."""

    authority: str
    name: str
    categories: tuple[str, ...]
    currency: str
    catalog: str
    index: str
    find: str
    echo: str
    inbox: str

    def encode(self) -> bytes:
        return encoding.encode({"v": 1, "name": self.name, "categories": list(self.categories),
                                "currency": self.currency, "catalog": self.catalog, "index": self.index,
                                "find": self.find, "echo": self.echo, "inbox": self.inbox})

    @classmethod
    def from_record(cls, rec: records.Record) -> ShopInfo:
        try:
            m = encoding.decode(rec.value or b"")
            info = cls(rec.authority, m["name"], tuple(m["categories"]), m["currency"], m["catalog"], m["index"],
                       m["find"], m["echo"], m["inbox"])
        except (NoteError, KeyError, TypeError) as exc:
            raise ShopError(f"{rec.url} is not a shop description: {exc}", reason="bad-shop") from exc
        for u in (info.catalog, info.index, info.find, info.echo):
            if urls.parse(u).authority != rec.authority:
                raise ShopError("a shop may only point at its own programs and datasets", reason="bad-shop")
        return info


@dataclass
class PublishReport:
    info: ShopInfo
    catalog: Published
    index: Published
    products: int
    index_records: int
    seconds: float


async def publish_shop(client: Any, key: SigningKey, products: Sequence[dict[str, Any]], *, name: str = "Demo shop",
                       progress: Callable[[str], None] | None = None, ready_timeout: float = 0.0) -> PublishReport:
    """Publish the programs, the catalog (sorted by id), the word index and the shop record.

    ``ready_timeout`` > 0: wait (at most that long per dataset) until the shards' replicas have loaded and
    checked them, so the first search finds them ready (``publish_dataset``).
    """
    from note_compute.cli.program import publish_program

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    now_ms = int(time.time() * 1000)
    find, _ = await publish_program(client, key, "shop_find", contract("shop_find"), fuel=FIND_FUEL, now_ms=now_ms)
    echo, _ = await publish_program(client, key, "echo", contract("echo"), fuel=ECHO_FUEL, now_ms=now_ms)
    say("programs shop_find and echo published (signed records, wasm hash pinned)")
    cat_pub, idx_pub, n_index = await _publish_data(client, key, products, say, ready_timeout)
    categories = tuple(sorted({p["category"] for p in products}))
    info = ShopInfo(key.authority, name, categories, products[0]["currency"] if products else "EUR",
                    cat_pub.record.url, idx_pub.record.url, find.url, echo.url, "orders")
    url = urls.make_url(key.authority, SHOP_PATH)
    try:
        prev = (await client.get_record(url)).seq
    except NoteError:
        prev = 0
    rec = records.sign_record(key, url, seq=max(prev + 1, now_ms), value=info.encode(), created=now_ms // 1000)
    await client.put_record(rec)
    say(f"shop record {url[:24]}...{SHOP_PATH} signed and stored")
    return PublishReport(info, cat_pub, idx_pub, len(products), n_index, time.perf_counter() - t0)


async def _publish_data(client: Any, key: SigningKey, products: Sequence[dict[str, Any]],
                        say: Callable[[str], None], ready_timeout: float = 0.0) -> tuple[Published, Published, int]:
    ordered = sorted(products, key=lambda p: p["id"].encode())
    cat_records = [product_record(p) for p in ordered]
    idx = index_records(ordered)
    say(f"built catalog ({len(cat_records)} products) and word index ({len(idx)} records)")

    def shard_progress(what: str) -> Callable[[int, int], None]:
        last = [0.0]

        def cb(done: int, total: int) -> None:
            if total and (done == total or time.monotonic() - last[0] > 2.0):
                last[0] = time.monotonic()
                say(f"  uploading {what}: {done * 100 // total}% of {total // 1024} KiB")
        return cb

    cat_pub = await publish_dataset(client, key, cat_records, name="catalog", sort_key=["id"], shard_bytes=None,
                                    shard_records=CATALOG_SHARD, progress=shard_progress("catalog"),
                                    ready_timeout=ready_timeout)
    say(f"catalog: {len(cat_pub.built.shards)} shards, {cat_pub.uploaded} uploaded, seq {cat_pub.record.seq}"
        + (", its replicas asked to load it" if ready_timeout else ""))
    idx_pub = await publish_dataset(client, key, idx, name="index", sort_key=["w", "id"], shard_bytes=None,
                                    shard_records=INDEX_SHARD, progress=shard_progress("word index"),
                                    ready_timeout=ready_timeout)
    say(f"word index: {len(idx_pub.built.shards)} shards, {idx_pub.uploaded} uploaded, seq {idx_pub.record.seq}"
        + (", its replicas asked to load it" if ready_timeout else ""))
    return cat_pub, idx_pub, len(idx)


async def update_products(client: Any, key: SigningKey, products: Sequence[dict[str, Any]], *,
                          progress: Callable[[str], None] | None = None,
                          ready_timeout: float = 0.0) -> tuple[Published, Published]:
    """Republish after price or stock changes: only the shards that changed are uploaded, seq goes up."""
    cat, idx, _ = await _publish_data(client, key, products, progress or (lambda _m: None), ready_timeout)
    return cat, idx


@dataclass
class Summary:
    """What was verified for one search."""

    mode: str
    completeness: str
    queries: int = 0
    records_proven: int = 0
    bytes_received: int = 0
    peers: set[str] = field(default_factory=set)
    fraud: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    seqs: dict[str, int] = field(default_factory=dict)
    point_checks: int = 0  # candidates whose catalog records settled the other words (instead of their ranges)
    unused_bytes: int = 0  # received by range fetches started at once and then not needed (not in bytes_received)

    def add(self, r: QueryResult) -> None:
        v = r.verification
        if not v.ok:
            raise ShopError(f"a query could not be verified: {'; '.join(v.errors)[:300]}", reason="unverified")
        self.queries += 1
        self.records_proven += v.records_proven
        self.bytes_received += v.bytes_received
        self.peers.update(v.peers_used)
        self.fraud.extend(v.fraud)
        self.seqs[v.dataset] = v.seq

    def line(self) -> str:
        fraud = f", {len(self.fraud)} fraud proof(s): {', '.join(sorted({f['lie'] for f in self.fraud}))}" \
            if self.fraud else ", no fraud"
        points = f" ({self.point_checks} of them candidates' catalog records)" if self.point_checks else ""
        return (f"{self.mode}: {self.completeness}; {self.queries} queries{points}, "
                f"{self.records_proven} records proven, "
                f"{len(self.peers)} peers, {self.bytes_received / 1024:.1f} KiB received, "
                f"{self.seconds * 1000:.0f} ms{fraud}")


@dataclass
class SearchResult:
    products: list[dict[str, Any]]
    cursor: str | None
    summary: Summary
    total: int | None = None  # matches in all (the proven path knows it)


class Shop:
    """A buyer's verified view of one shop (see the module docstring)."""

    def __init__(self, client: Any, sandbox: Any, authority: str, *, compute: ComputeClient | None = None) -> None:
        self.client = client
        self.authority = authority
        self.cc = compute or ComputeClient(client, sandbox)
        self._info: ShopInfo | None = None

    async def info(self, *, refresh: bool = False) -> ShopInfo:
        if self._info is None or refresh:
            rec = await self.client.get_record(urls.make_url(self.authority, SHOP_PATH))
            self._info = ShopInfo.from_record(rec)
        return self._info

    async def search(self, q: Query) -> SearchResult:
        """Proven-complete when the query has words; audited otherwise."""
        if q.words:
            return await self.search_index(q)
        return await self.search_audited(q)

    async def search_index(self, q: Query, *, plan: bool = True) -> SearchResult:
        """The proven-complete text search (see :meth:`_planned`); ``plan=False``: the first version, every
        word's whole range and every product its own freshly resolved query (the benchmark's baseline)."""
        if not q.words:
            raise ShopError("the word index needs at least one word", reason="no-words")
        info = await self.info()
        t0 = time.perf_counter()
        s = Summary("proven-complete text search (word index)", "every query word's index range proven complete")
        if plan:
            res = await self._planned(q, info, s)
        else:
            per_word = await self._every_word(q, info, s)
            ids, cursor = rank_index_hits(q, per_word)
            total = len(rank_index_hits(replace(q, limit=10**9, cursor=None), per_word)[0])
            res = SearchResult(await self.fetch_products(ids, s), cursor, s, total)
        s.seconds = time.perf_counter() - t0
        return res

    async def _every_word(self, q: Query, info: ShopInfo, s: Summary) -> dict[str, list[dict[str, Any]]]:
        per_word: dict[str, list[dict[str, Any]]] = {}

        async def one(w: str) -> None:
            r = await self.cc.query(info.echo, info.index, {}, range=[[w], [w + "\x00"]])
            s.add(r)
            per_word[w] = [x for x in r.values() if x.get("w") == w]

        await _all(one, q.words)
        return per_word

    async def _planned(self, q: Query, info: ShopInfo, s: Summary) -> SearchResult:
        """Rarest words first; the others read from the candidates' own catalog records when few remain.

        One version of the index and of the catalog per search (each resolved once, the catalog's while the
        words are fetched; every later query names it, so nothing is resolved twice and no search mixes
        versions). The words whose index ranges
        touch the fewest shards are fetched first (proven complete: every product having all the query's
        words is among their products). The other words' ranges start at the same time; but when the first
        words leave at most :data:`CANDIDATES` products (after the category, price and stock filters, read
        from the same proven records), those fetches are cancelled and the candidates' catalog records are
        fetched instead (each a proven one-key range): each record lists its product's words, so it settles
        the other words, and the page's products are then in hand (no separate fetch). Completeness is
        unchanged: a product is left out only because a proven record says it lacks a word or a filter.
        """
        box: dict[str, Manifest] = {}
        catalog_ready = trio.Event()

        async def resolve_catalog() -> None:  # beside the word fetches: needed only for the products
            box["catalog"] = await self.cc.latest_manifest(info.catalog)
            catalog_ready.set()

        idx_m = await self.cc.latest_manifest(info.index)
        span = {w: len(idx_m.shards_touching(*_word_keys(idx_m, w))) for w in q.words}
        first = [w for w in q.words if span[w] == min(span.values())]
        later = [w for w in q.words if w not in first]
        per_word: dict[str, list[dict[str, Any]]] = {}
        fetched: dict[str, QueryResult] = {}  # the later words' answers, used only on the range path
        direct: SearchResult | None = None

        async def word(w: str) -> None:
            r = await self.cc.query(info.echo, info.index, {}, range=[[w], [w + "\x00"]], manifest=idx_m)
            if w in later:
                fetched[w] = r
            else:
                s.add(r)
                per_word[w] = [x for x in _index_values(r) if x["w"] == w]

        with _single_errors():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(resolve_catalog)
                rest = trio.CancelScope()

                async def fetch_later() -> None:
                    with rest:
                        await _all(word, later)

                if later:
                    nursery.start_soon(fetch_later)
                await _all(word, first)
                cands = _candidates(q, first, per_word)
                if later and len(cands) <= CANDIDATES:  # (whether or not some of those fetches finished first)
                    rest.cancel()
                    s.unused_bytes = sum(r.verification.bytes_received for r in fetched.values())
                    await catalog_ready.wait()
                    recs = await self._records(sorted(cands), s, box["catalog"])
                    page, cursor, total = rank_records(q, recs)
                    s.point_checks = len(cands)
                    s.completeness = (f"the index ranges of {', '.join(first)} proven complete; "
                                      f"{', '.join(later)} checked on each of the {len(cands)} candidates' "
                                      "proven catalog records")
                    direct = SearchResult([_public(r) for r in page], cursor, s, total)
        if direct is not None:
            return direct
        for w in later:
            s.add(fetched[w])
            per_word[w] = [x for x in _index_values(fetched[w]) if x["w"] == w]
        ids, cursor = rank_index_hits(q, per_word)
        total = len(rank_index_hits(replace(q, limit=10**9, cursor=None), per_word)[0])
        return SearchResult(await self.fetch_products(ids, s, manifest=box["catalog"]), cursor, s, total)

    async def fetch_products(self, ids: list[str], s: Summary | None = None, *, context: str = "index",
                             manifest: Manifest | None = None) -> list[dict[str, Any]]:
        """The catalog records of ``ids`` (each a proven one-key range), in the order given.

        A missing id is proven absent; ``context`` says whose id it was: ``"index"`` (the word index
        named it: the publisher's data disagrees with itself) or ``"cart"`` (the buyer's). ``manifest``:
        the catalog version to read (resolved once by the caller), else the newest found.
        """
        recs = await self._records(ids, s, manifest, context=context)
        return [_public(r) for r in recs]

    async def _records(self, ids: list[str], s: Summary | None, manifest: Manifest | None, *,
                       context: str = "index") -> list[dict[str, Any]]:
        """The whole catalog records (search fields included) of ``ids``, in order; see :meth:`fetch_products`."""
        info = await self.info()
        got: dict[str, dict[str, Any]] = {}

        async def one(pid: str) -> None:
            r = await self.cc.query(info.echo, info.catalog, {}, range=[[pid], [pid + "\x00"]], manifest=manifest)
            if s is not None:
                s.add(r)
            for v in r.values():
                if v.get("id") == pid:
                    got[pid] = v

        await _all(one, ids)
        missing = [i for i in ids if i not in got]
        if missing and context == "cart":
            raise ShopError(f"{', '.join(missing[:3])}: not in the shop's catalog (proven absent); "
                            "remove it from the cart", reason="unknown-product")
        if missing:
            raise ShopError(f"products {missing[:3]} are in the index but not in the catalog (the publisher's data "
                            "disagrees with itself)", reason="index-catalog-mismatch")
        return [got[i] for i in ids]

    async def search_audited(self, q: Query, *, audit: float = 0.05) -> SearchResult:
        """The ``shop_find`` program over every catalog shard; returned records proven, selection audited."""
        info = await self.info()
        t0 = time.perf_counter()
        s = Summary("audited predicate search (shop_find)", f"selection audited at rate {audit}")
        args = find_args(q)
        if q.cursor is None:
            args["limit"] = q.limit + 1
        r = await self.cc.query(info.find, info.catalog, args, audit=audit)
        s.add(r)
        keyed = [(record_key(q, v), v) for v in r.values()]
        if q.cursor is not None:
            after = decode_cursor(q.cursor, q.sort)
            keyed = [kv for kv in keyed if kv[0] > after]
        page = keyed[: q.limit]
        cursor = encode_cursor(q.sort, page[-1][0]) if len(keyed) > q.limit and page else None
        s.seconds = time.perf_counter() - t0
        return SearchResult([_public(v) for _, v in page], cursor, s)

    async def download_catalog(self) -> tuple[list[dict[str, Any]], int]:
        """Every product, by fetching every catalog shard (hash-checked); ``(products, bytes received)``."""
        info = await self.info()
        manifest = await self.cc.latest_manifest(info.catalog)  # never older than seen before
        out: list[dict[str, Any]] = []
        size = 0
        blobs: dict[int, bytes] = {}

        async def one(i: int) -> None:
            blobs[i] = await self.client.get_blob(manifest.shards[i].blob)

        await _all(one, range(len(manifest.shards)))
        for i in range(len(manifest.shards)):
            size += len(blobs[i])
            info_i = manifest.shards[i]
            out.extend(_public(encoding.decode(r)) for r in decode_shard(blobs[i], root=info_i.root,
                                                                            count=info_i.count))
        return out, size


_SEARCH_FIELDS = ("w1", "w2", "w3", "ck", "nk")
_INDEX_FIELDS = {"w": str, "id": str, "f": int, "price": int, "stock": int, "cat": str, "nk": str}


@contextmanager
def _single_errors() -> Iterator[None]:
    """Raise a shop or ring error from inside a nursery as itself (the first one), not in an exception group."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        first = next((e for e in leaves if isinstance(e, (ShopError, NoteError))), None)
        if first is None:
            raise
        raise first from group


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _word_keys(m: Manifest, w: str) -> tuple[Any, Any]:
    return normalize_bound([w], m.sort_key, upper=False), normalize_bound([w + "\x00"], m.sort_key, upper=True)


def _index_values(r: QueryResult) -> list[dict[str, Any]]:
    """The index records of a verified answer, decoded.

    Their bytes are proven against the shop's signed root, so they are read with the plain CBOR decoder
    (about 5x faster than the strict one, which also re-encodes each record to check it is canonical) and
    then held to the index record's shape: a record that is not one is the publisher's error, refused.
    """
    out = []
    for raw in r.records:
        try:
            v = cbor2.loads(raw)
        except Exception as exc:  # noqa: BLE001 - any decoding failure of a proven record is the publisher's
            raise ShopError(f"the shop's word index holds a record that is not CBOR: {exc}",
                            reason="bad-index-record") from exc
        if not (type(v) is dict and v.keys() == _INDEX_FIELDS.keys()
                and all(type(v[k]) is t for k, t in _INDEX_FIELDS.items())):
            raise ShopError("the shop's word index holds a record of the wrong shape", reason="bad-index-record")
        out.append(v)
    return out


def _candidates(q: Query, words: Sequence[str], per_word: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The products having every one of ``words`` that pass the query's filters (from their index records)."""
    ids: set[str] | None = None
    for w in words:
        these = {r["id"] for r in per_word[w] if passes(q, r["cat"], r["price"], r["stock"])}
        ids = these if ids is None else ids & these
    return ids or set()


async def _all(fn: Callable[[Any], Awaitable[None]], items: Sequence[Any], parallel: int = 16) -> None:
    """Run ``fn`` on every item, ``parallel`` at once; the first error (ShopError or NoteError) is raised as itself."""
    errors: list[Exception] = []
    limit = trio.CapacityLimiter(parallel)

    async def one(x: Any) -> None:
        try:
            async with limit:
                await fn(x)
        except (ShopError, NoteError) as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for x in items:
            nursery.start_soon(one, x)
    if errors:
        raise errors[0]


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in _SEARCH_FIELDS}


def catalog_url(authority: str) -> str:
    return dataset_url(authority, "catalog")
