"""Datasets: JSONL -> canonical CBOR records -> sorted shards -> a signed manifest.

Pure (no I/O): the CLI and the benchmarks read files and store blobs; this
module only turns bytes into bytes. See ``specs/compute.md`` section 1.

Theory of operation
-------------------
1. Every JSONL line is one JSON object; it becomes one canonical CBOR map
   (:func:`parse_jsonl`). Floats (and NaN/Infinity) are refused, naming the
   line, because two machines must agree on every byte.
2. Records are sorted by ``(sort key, record bytes)``: the declared sort key
   first (see :mod:`.keys`), ties broken by the bytes, so the order is a
   function of the record *set* alone.
3. The sorted list is cut into shards: fixed ``shard_records`` records per
   shard, or (default) content-defined cuts aiming at ``shard_bytes`` so that
   inserting one record moves only one or two shard boundaries and a
   republish re-uploads only the shards that changed.
4. A shard's blob is ``encode([record bytes, ...])`` (a CBOR array of byte
   strings); its root is the RFC 6962 Merkle root over the record bytes
   (leaf i = record i). The dataset root is the Merkle root over the shard
   roots.
5. The manifest is the canonical CBOR ``value`` of a signed record at
   ``note://AUTHORITY/datasets/NAME``. If its shard table would push the
   value over :data:`MAX_MANIFEST_VALUE`, the table goes into its own blob
   (``"shard_table"``: address) and the manifest carries its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2

from .. import encoding
from ..errors import InvalidEncoding, InvalidRecord
from ..merkle import MerkleTree, merkle_root
from .keys import Key, denormalize, key_of_map, normalize_value

__all__ = [
    "MAX_RECORD_SIZE",
    "MAX_MANIFEST_VALUE",
    "DEFAULT_SHARD_BYTES",
    "DATASET_TYPE",
    "ShardInfo",
    "Manifest",
    "BuiltShard",
    "BuiltDataset",
    "parse_jsonl",
    "no_repeated_keys",
    "sort_records",
    "cut_shards",
    "build_dataset",
    "encode_shard",
    "decode_shard",
    "parse_manifest",
    "shard_table_value",
    "key_of_record",
    "fast_key_of_record",
]

DATASET_TYPE = "dataset"
MAX_RECORD_SIZE = 64 * 1024
"""Largest canonical record accepted (bytes)."""
MAX_MANIFEST_VALUE = 60 * 1024
"""Above this the shard table moves into a blob (the record value cap is 64 KiB)."""
DEFAULT_SHARD_BYTES = 240 * 1024
"""Default shard target: one shard blob fits one 256 KiB blob chunk."""
MAX_SHARD_BLOB = 16 * 1024 * 1024


def _no_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text} is not allowed (use integers, e.g. cents)")


def no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` ``object_pairs_hook`` refusing (ValueError) a key that appears twice in one object.

    Plain ``json.loads`` keeps the last value silently; ``{"price": 1, "price": 2}``
    is a mistake to name, not to guess about. Shared by :func:`parse_jsonl`
    and the CLI's ``--args``/``--range``.
    """
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice (which one did you mean?)")
        out[k] = v
    return out


def parse_jsonl(data: bytes | str) -> list[bytes]:
    """Parse JSONL into canonical CBOR record bytes (input order).

    Raises InvalidRecord naming the 1-based line on: invalid JSON, a value
    that is not an object, a float/NaN/Infinity, a key repeated within one
    object (:func:`no_repeated_keys`), a record over
    :data:`MAX_RECORD_SIZE` bytes. Blank lines are skipped.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecord(f"input is not UTF-8 (byte {exc.start})", reason="not-utf8") from exc
    out: list[bytes] = []
    for lineno, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=_no_float, parse_constant=_no_float, object_pairs_hook=no_repeated_keys)
        except ValueError as exc:
            raise InvalidRecord(f"line {lineno}: {exc}", reason="bad-json") from exc
        if not isinstance(obj, dict):
            raise InvalidRecord(
                f"line {lineno}: a record is a JSON object, got {type(obj).__name__}", reason="not-object"
            )
        try:
            rec = encoding.encode(obj)
        except InvalidEncoding as exc:
            raise InvalidRecord(f"line {lineno}: {exc}", reason="unencodable") from exc
        if len(rec) > MAX_RECORD_SIZE:
            raise InvalidRecord(
                f"line {lineno}: record is {len(rec)} bytes, over the {MAX_RECORD_SIZE}-byte cap", reason="too-large"
            )
        out.append(rec)
    return out


def key_of_record(record: bytes, fields: Sequence[str]) -> Key:
    """The normalised sort key of canonical record bytes (raises InvalidRecord)."""
    try:
        value = encoding.decode(record, max_size=MAX_RECORD_SIZE)
    except InvalidEncoding as exc:
        raise InvalidRecord(f"record is not canonical CBOR: {exc}", reason="bad-record") from exc
    if not isinstance(value, dict):
        raise InvalidRecord("a dataset record is a CBOR map", reason="bad-record")
    return key_of_map(value, fields)


def fast_key_of_record(record: bytes, fields: Sequence[str]) -> Key:
    """The sort key of a record already authenticated by a Merkle proof (no canonical re-check; ~5x faster).

    Raises InvalidRecord on anything that is not a CBOR map.
    """
    try:
        value = cbor2.loads(record)
    except Exception as exc:  # cbor2 raises several types on garbage
        raise InvalidRecord(f"record is not CBOR: {exc}", reason="bad-record") from exc
    if not isinstance(value, dict):
        raise InvalidRecord("a dataset record is a CBOR map", reason="bad-record")
    return key_of_map(value, fields)


def sort_records(records: Iterable[bytes], fields: Sequence[str]) -> tuple[list[bytes], list[Key]]:
    """Sort record bytes by (sort key, bytes); return (records, keys) in that order."""
    decorated = [(key_of_record(r, fields), r) for r in records]
    decorated.sort()
    return [r for _, r in decorated], [k for k, _ in decorated]


def _cut_hash(record: bytes) -> int:
    return int.from_bytes(hashlib.sha256(record).digest()[:4], "big")


def cut_shards(records: Sequence[bytes], *, shard_bytes: int | None = DEFAULT_SHARD_BYTES,
               shard_records: int | None = None) -> list[tuple[int, int]]:
    """Shard boundaries ``[(start, end), ...]`` over sorted records.

    With ``shard_records``: fixed counts. Otherwise content-defined: a shard
    closes after a record once it holds at least three quarters of
    ``shard_bytes`` and the record's hash hits a 1-in-64 pattern, and always before it would pass
    ``shard_bytes`` (each shard holds at least one record).
    """
    if shard_records is not None:
        if shard_records < 1:
            raise ValueError("shard_records must be >= 1")
        return [(i, min(i + shard_records, len(records))) for i in range(0, len(records), shard_records)]
    if shard_bytes is None or shard_bytes < 64:
        raise ValueError("shard_bytes must be >= 64")
    cuts: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, rec in enumerate(records):
        cost = len(rec) + 5
        if size and size + cost > shard_bytes:
            cuts.append((start, i))
            start, size = i, 0
        size += cost
        if size >= shard_bytes * 3 // 4 and _cut_hash(rec) % 64 == 0:
            cuts.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(records):
        cuts.append((start, len(records)))
    return cuts


def encode_shard(records: Sequence[bytes]) -> bytes:
    """A shard's blob bytes: canonical CBOR array of the record byte strings."""
    return encoding.encode(list(records))


def decode_shard(data: bytes, *, root: bytes | None = None, count: int | None = None) -> list[bytes]:
    """Decode a shard blob; if ``root``/``count`` are given, check them. Raises InvalidRecord."""
    try:
        value = encoding.decode(data, max_size=MAX_SHARD_BLOB, max_depth=2)
    except InvalidEncoding as exc:
        raise InvalidRecord(f"shard blob is not canonical CBOR: {exc}", reason="bad-shard") from exc
    if not isinstance(value, list) or not all(type(r) is bytes for r in value):
        raise InvalidRecord("a shard blob is an array of byte strings", reason="bad-shard")
    if count is not None and len(value) != count:
        raise InvalidRecord(f"shard holds {len(value)} records, manifest says {count}", reason="shard-count")
    if root is not None and merkle_root(value) != root:
        raise InvalidRecord("shard records do not hash to the manifest's shard root", reason="shard-root")
    return value


@dataclass(frozen=True)
class ShardInfo:
    """One row of the manifest's shard table."""

    lo: list[Any]
    hi: list[Any]
    count: int
    root: bytes
    blob: bytes
    size: int

    def to_value(self) -> dict[str, Any]:
        return {"lo": list(self.lo), "hi": list(self.hi), "count": self.count, "root": self.root,
                "blob": self.blob, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    """A parsed, structurally checked dataset manifest (the record's value)."""

    name: str
    schema: dict[str, list[str]]
    sort_key: tuple[str, ...]
    count: int
    root: bytes
    shards: tuple[ShardInfo, ...]
    url: str = ""
    seq: int = 0
    shard_table: bytes | None = None
    record: bytes = field(default=b"", compare=False, repr=False)
    """The signed dataset record this manifest came from (``Record.encode()``; b"" when built locally)."""
    table_data: bytes | None = field(default=None, compare=False, repr=False)
    """The shard-table blob, when the table is not inline (publisher-fault proofs carry it)."""

    def shard_range_keys(self, i: int) -> tuple[Key, Key]:
        s = self.shards[i]
        return (tuple(normalize_value(v) for v in s.lo), tuple(normalize_value(v) for v in s.hi))

    def shards_touching(self, lo: Key, hi: Key) -> list[int]:
        """Indices of shards whose [lo, hi] key span can meet the half-open range [lo, hi)."""
        out = []
        for i in range(len(self.shards)):
            slo, shi = self.shard_range_keys(i)
            if shi >= lo and slo < hi:
                out.append(i)
        return out


@dataclass
class BuiltShard:
    info: ShardInfo
    blob: bytes
    records: list[bytes]


@dataclass
class BuiltDataset:
    """Output of :func:`build_dataset`: the manifest value plus every shard blob."""

    value: bytes
    manifest: Manifest
    shards: list[BuiltShard]
    table_blob: bytes | None = None
    changed: list[int] = field(default_factory=list)


def _schema(records: Sequence[bytes]) -> dict[str, list[str]]:
    names = {bool: "bool", int: "int", str: "text", bytes: "bytes", list: "list", dict: "map", type(None): "null"}
    seen: dict[str, set[str]] = {}
    for rec in records:
        for k, v in encoding.decode(rec, max_size=MAX_RECORD_SIZE).items():
            seen.setdefault(str(k), set()).add(names.get(type(v), "other"))
    return {k: sorted(v) for k, v in sorted(seen.items())}


def build_dataset(records: Iterable[bytes], *, name: str, sort_key: Sequence[str],
                  shard_bytes: int | None = DEFAULT_SHARD_BYTES, shard_records: int | None = None,
                  blob_address: Any = None, previous: Manifest | None = None) -> BuiltDataset:
    """Sort, shard and commit ``records``; return the manifest value and the blobs.

    ``blob_address(data) -> bytes`` names the address a blob will be stored at
    (default: :func:`note_compute.blobs.split_blob`'s manifest address, what
    ``Client.put_blob`` returns). With ``previous``, ``changed`` lists only
    the shards whose blob address is new (the ones a republish uploads).
    """
    if not sort_key or len(set(sort_key)) != len(sort_key) or not all(isinstance(f, str) and f for f in sort_key):
        raise ValueError("sort_key is a non-empty list of distinct field names")
    if blob_address is None:
        from ..blobs import split_blob

        def blob_address(data: bytes) -> bytes:
            return split_blob(data)[0].address
    ordered, keys = sort_records(records, sort_key)
    if not ordered:
        raise InvalidRecord("a dataset needs at least one record", reason="empty")
    shards: list[BuiltShard] = []
    for start, end in cut_shards(ordered, shard_bytes=shard_bytes, shard_records=shard_records):
        recs = ordered[start:end]
        blob = encode_shard(recs)
        info = ShardInfo(lo=denormalize(keys[start]), hi=denormalize(keys[end - 1]), count=len(recs),
                         root=MerkleTree(recs).root, blob=blob_address(blob), size=len(blob))
        shards.append(BuiltShard(info, blob, recs))
    root = merkle_root([s.info.root for s in shards])
    value: dict[str, Any] = {"type": DATASET_TYPE, "version": 1, "name": name, "schema": _schema(ordered),
                             "sort_key": list(sort_key), "count": len(ordered), "root": root,
                             "shards": [s.info.to_value() for s in shards]}
    table_blob = None
    data = encoding.encode(value)
    if len(data) > MAX_MANIFEST_VALUE:
        table_blob = encoding.encode(value.pop("shards"))
        value["shard_table"] = blob_address(table_blob)
        value["shard_table_hash"] = hashlib.sha256(table_blob).digest()
        value["shard_count"] = len(shards)
        data = encoding.encode(value)
    old = {s.blob for s in previous.shards} if previous is not None else set()
    changed = [i for i, s in enumerate(shards) if s.info.blob not in old]
    manifest = parse_manifest(data, table=table_blob)
    return BuiltDataset(data, manifest, shards, table_blob, changed)


def shard_table_value(manifest_value: bytes) -> bytes | None:
    """The shard-table blob address a manifest value refers to (None when inline)."""
    value = _decode_value(manifest_value)
    addr = value.get("shard_table")
    return addr if isinstance(addr, bytes) else None


def _decode_value(data: bytes) -> dict[str, Any]:
    try:
        value = encoding.decode(data, max_size=MAX_MANIFEST_VALUE + 4096)
    except InvalidEncoding as exc:
        raise InvalidRecord(f"manifest is not canonical CBOR: {exc}", reason="bad-manifest") from exc
    if not isinstance(value, dict) or value.get("type") != DATASET_TYPE:
        raise InvalidRecord("not a dataset manifest (type must be 'dataset')", reason="bad-manifest")
    return value


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise InvalidRecord(f"malformed dataset manifest: {what}", reason="bad-manifest")


def parse_manifest(data: bytes, *, table: bytes | None = None, url: str = "", seq: int = 0) -> Manifest:
    """Check and parse a manifest value. ``table`` is the shard-table blob when it is not inline.

    Verifies the shard table against the dataset root, the counts, and that
    the shard key spans are in order. Raises InvalidRecord (reason
    ``bad-manifest``) on anything else.
    """
    v = _decode_value(data)
    _need(type(v.get("version")) is int and v["version"] == 1, "version must be 1")
    name, sk, count, root = v.get("name"), v.get("sort_key"), v.get("count"), v.get("root")
    _need(isinstance(name, str) and bool(name), "name")
    _need(isinstance(sk, list) and bool(sk) and all(isinstance(f, str) and f for f in sk) and len(set(sk)) == len(sk),
          "sort_key")
    _need(type(count) is int and count >= 1, "count")
    _need(type(root) is bytes and len(root) == 32, "root")
    schema = v.get("schema")
    _need(isinstance(schema, dict) and all(isinstance(t, list) for t in schema.values()), "schema")
    assert isinstance(name, str) and isinstance(count, int) and isinstance(root, bytes) and isinstance(sk, list)
    assert isinstance(schema, dict)  # all checked by _need above (this narrows the types)
    rows: Any
    table_addr = None
    if "shards" in v:
        rows = v["shards"]
    else:
        table_addr = v.get("shard_table")
        _need(type(table_addr) is bytes and type(v.get("shard_table_hash")) is bytes, "shard_table")
        if table is None:
            raise InvalidRecord("manifest keeps its shard table in a blob; fetch it first", reason="need-shard-table")
        _need(hashlib.sha256(table).digest() == v["shard_table_hash"], "shard table blob does not match its hash")
        try:
            rows = encoding.decode(table, max_size=MAX_SHARD_BLOB, max_depth=6)
        except InvalidEncoding as exc:
            raise InvalidRecord(f"shard table is not canonical CBOR: {exc}", reason="bad-manifest") from exc
    _need(isinstance(rows, list) and bool(rows), "shards")
    shards = []
    for i, row in enumerate(rows):
        _need(isinstance(row, dict) and set(row) == {"lo", "hi", "count", "root", "blob", "size"}, f"shard {i} fields")
        _need(isinstance(row["lo"], list) and isinstance(row["hi"], list) and len(row["lo"]) == len(sk)
              and len(row["hi"]) == len(sk), f"shard {i} key span")
        _need(type(row["count"]) is int and row["count"] >= 1, f"shard {i} count")
        _need(type(row["root"]) is bytes and len(row["root"]) == 32, f"shard {i} root")
        _need(type(row["blob"]) is bytes and len(row["blob"]) == 32, f"shard {i} blob")
        _need(type(row["size"]) is int and row["size"] >= 0, f"shard {i} size")
        shards.append(ShardInfo(row["lo"], row["hi"], row["count"], row["root"], row["blob"], row["size"]))
    _need(sum(s.count for s in shards) == count, "shard counts do not add up to count")
    _need(merkle_root([s.root for s in shards]) == root, "shard roots do not hash to root")
    m = Manifest(name, {str(k): list(t) for k, t in schema.items()}, tuple(sk), count, root, tuple(shards), url, seq,
                 table_addr)
    prev_hi: Key | None = None
    for i in range(len(shards)):
        try:
            lo, hi = m.shard_range_keys(i)
        except InvalidRecord as exc:
            raise InvalidRecord(f"malformed dataset manifest: shard {i}: {exc.message}", reason="bad-manifest") from exc
        _need(lo <= hi and (prev_hi is None or prev_hi <= lo), f"shard {i} key span out of order")
        prev_hi = hi
    return m
