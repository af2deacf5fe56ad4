"""Datasets: JSONL parsing, sorting, sharding, manifests, republishing."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import encoding
from note_compute.blobs import split_blob
from note_compute.compute.dataset import (
    MAX_MANIFEST_VALUE,
    build_dataset,
    cut_shards,
    decode_shard,
    encode_shard,
    key_of_record,
    parse_jsonl,
    parse_manifest,
    sort_records,
)
from note_compute.compute.keys import MAX_KEY, MIN_KEY, normalize_bound, normalize_value
from note_compute.errors import InvalidRecord
from note_compute.merkle import MerkleTree, merkle_root


def products(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [encoding.encode({"id": f"p{i:05d}", "name": f"thing {i}", "price": rng.randrange(100, 100_000),
                             "category": rng.choice(["a", "b", "c"])}) for i in range(n)]


# -- JSONL -------------------------------------------------------------------------------


def test_parse_jsonl_canonical_records() -> None:
    data = '{"b": 1, "a": "x"}\n\n{"a": [1, {"z": null}], "t": true}\n'
    recs = parse_jsonl(data)
    assert recs == [encoding.encode({"a": "x", "b": 1}), encoding.encode({"a": [1, {"z": None}], "t": True})]
    assert parse_jsonl(data.encode()) == recs


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ('{"a": 1}\n{"price": 1.5}\n', 2, "bad-json"),
        ('{"a": NaN}\n', 1, "bad-json"),
        ('{"a": 1}\n{"a": 2}\n{"a": Infinity}\n', 3, "bad-json"),
        ('{"a": 1}\n[1, 2]\n', 2, "not-object"),
        ('{"a": \n', 1, "bad-json"),
        ('{"a": 123456789012345678901234567890}\n', 1, "unencodable"),
        ('{"a": 1}\n{"price": 1, "price": 2}\n', 2, "bad-json"),
        ('{"a": {"b": 1, "b": 1}}\n', 1, "bad-json"),  # nested, even with equal values
    ],
)
def test_parse_jsonl_refuses_with_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(InvalidRecord) as err:
        parse_jsonl(text)
    assert err.value.reason == reason
    assert f"line {line}:" in str(err.value)


def test_parse_jsonl_float_message_names_the_number() -> None:
    with pytest.raises(InvalidRecord, match=r"line 1: .*1\.25.*not allowed"):
        parse_jsonl('{"price": 1.25}')


def test_parse_jsonl_repeated_key_message_names_the_key() -> None:
    with pytest.raises(InvalidRecord, match=r"^line 2: key 'price' appears twice"):
        parse_jsonl('{"price": 1}\n{"id": 2, "price": 1, "price": 2}\n')
    assert parse_jsonl('{"price": 1, "Price": 2}') == [encoding.encode({"Price": 2, "price": 1})]  # case counts


def test_parse_jsonl_refuses_non_utf8_and_huge_records() -> None:
    with pytest.raises(InvalidRecord) as err:
        parse_jsonl(b'{"a": "\xff"}')
    assert err.value.reason == "not-utf8"
    with pytest.raises(InvalidRecord) as err:
        parse_jsonl(json.dumps({"a": "x" * 70_000}))
    assert err.value.reason == "too-large"


# -- sort keys ---------------------------------------------------------------------------


def test_key_order_across_types() -> None:
    values = [b"\x00", "b", "a", 10, -5, True, False, None]
    ordered = sorted(values, key=lambda v: normalize_value(v))
    assert ordered == [None, False, True, -5, 10, "a", "b", b"\x00"]
    with pytest.raises(InvalidRecord) as err:
        normalize_value([1], field="tags")
    assert err.value.reason == "sort-key-type" and "tags" in str(err.value)


def test_bounds() -> None:
    fields = ["price", "id"]
    assert normalize_bound(None, fields, upper=False) == MIN_KEY
    assert normalize_bound(None, fields, upper=True) == MAX_KEY
    k = key_of_record(encoding.encode({"price": 5, "id": "x"}), fields)
    assert normalize_bound([5], fields, upper=False) < k < normalize_bound([6], fields, upper=True)
    for bad in ([1, 2, 3], "x", 5):
        with pytest.raises(InvalidRecord):
            normalize_bound(bad, fields, upper=False)
    with pytest.raises(InvalidRecord):
        normalize_bound([], fields, upper=True)


def test_sort_is_by_key_then_bytes_and_ignores_input_order() -> None:
    recs = [encoding.encode({"k": k, "v": v}) for k, v in [(2, "b"), (1, "z"), (2, "a"), (1, "a")]]
    ordered, keys = sort_records(recs, ["k"])
    assert [encoding.decode(r) for r in ordered] == [{"k": 1, "v": "a"}, {"k": 1, "v": "z"}, {"k": 2, "v": "a"},
                                                     {"k": 2, "v": "b"}]
    assert keys == sorted(keys)
    assert sort_records(list(reversed(recs)), ["k"])[0] == ordered


def test_sort_key_field_must_be_scalar() -> None:
    with pytest.raises(InvalidRecord, match="tags"):
        sort_records([encoding.encode({"tags": ["x"]})], ["tags"])


# -- sharding ----------------------------------------------------------------------------


def test_cut_by_records_and_by_bytes() -> None:
    recs = products(1000)
    assert cut_shards(recs, shard_records=300) == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    cuts = cut_shards(recs, shard_bytes=4000)
    assert cuts[0][0] == 0 and cuts[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))
    for s, e in cuts:
        size = sum(len(r) + 5 for r in recs[s:e])
        assert size <= 4000 or e - s == 1
    with pytest.raises(ValueError):
        cut_shards(recs, shard_records=0)
    with pytest.raises(ValueError):
        cut_shards(recs, shard_bytes=10)


def test_content_defined_cuts_are_local() -> None:
    recs = sort_records(products(3000), ["id"])[0]
    base = cut_shards(recs, shard_bytes=6000)
    extra = encoding.encode({"id": "p01500x", "name": "new", "price": 5, "category": "a"})
    grown = sort_records(recs + [extra], ["id"])[0]
    after = cut_shards(grown, shard_bytes=6000)
    a = {tuple(recs[s:e]) for s, e in base}
    b = {tuple(grown[s:e]) for s, e in after}
    assert len(a - b) <= 3, "inserting one record moved more than a few shard boundaries"


def test_build_dataset_commits_everything() -> None:
    recs = products(500)
    built = build_dataset(recs, name="catalog", sort_key=["price", "id"], shard_records=64)
    m = built.manifest
    assert m.count == 500 and len(m.shards) == 8 and m.sort_key == ("price", "id")
    assert m.schema["price"] == ["int"] and m.schema["id"] == ["text"]
    ordered, _ = sort_records(recs, ["price", "id"])
    flat = [r for s in built.shards for r in s.records]
    assert flat == ordered
    for s in built.shards:
        assert s.info.root == MerkleTree(s.records).root
        assert s.info.blob == split_blob(s.blob)[0].address
        assert decode_shard(s.blob, root=s.info.root, count=s.info.count) == s.records
        assert encoding.decode(s.records[0])["price"] == s.info.lo[0]
        assert encoding.decode(s.records[-1])["id"] == s.info.hi[1]
    assert m.root == merkle_root([s.info.root for s in built.shards])
    assert parse_manifest(built.value) == m
    shuffled = list(recs)
    random.Random(3).shuffle(shuffled)
    assert build_dataset(shuffled, name="catalog", sort_key=["price", "id"], shard_records=64).value == built.value


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.text(max_size=3)), min_size=1, max_size=40), st.randoms())
def test_manifest_is_a_function_of_the_record_set(rows: list, rnd: random.Random) -> None:
    recs = [encoding.encode({"k": k, "t": t}) for k, t in rows]
    a = build_dataset(recs, name="d", sort_key=["k"], shard_records=7)
    rnd.shuffle(recs)
    b = build_dataset(recs, name="d", sort_key=["k"], shard_records=7)
    assert a.value == b.value
    keys = [key_of_record(r, ["k"]) for s in a.shards for r in s.records]
    assert keys == sorted(keys)


def test_build_refuses_bad_input() -> None:
    with pytest.raises(InvalidRecord) as err:
        build_dataset([], name="x", sort_key=["id"])
    assert err.value.reason == "empty"
    for sk in ([], ["a", "a"], [""]):
        with pytest.raises(ValueError):
            build_dataset(products(3), name="x", sort_key=sk)


def test_big_shard_table_moves_to_a_blob() -> None:
    recs = products(3000)
    built = build_dataset(recs, name="many", sort_key=["id"], shard_records=4)
    assert built.table_blob is not None
    assert len(built.value) <= MAX_MANIFEST_VALUE
    v = encoding.decode(built.value)
    assert "shards" not in v and v["shard_count"] == 750
    with pytest.raises(InvalidRecord) as err:
        parse_manifest(built.value)
    assert err.value.reason == "need-shard-table"
    m = parse_manifest(built.value, table=built.table_blob)
    assert len(m.shards) == 750 and m.shard_table == v["shard_table"]
    with pytest.raises(InvalidRecord, match="hash"):
        parse_manifest(built.value, table=built.table_blob + b"\x00")


def test_republish_uploads_only_changed_shards() -> None:
    recs = sort_records(products(2000), ["id"])[0]
    first = build_dataset(recs, name="c", sort_key=["id"], shard_bytes=8000)
    assert first.changed == list(range(len(first.shards)))
    changed_rec = encoding.decode(recs[1000])
    changed_rec["price"] += 1
    recs2 = recs[:1000] + [encoding.encode(changed_rec)] + recs[1001:]
    second = build_dataset(recs2, name="c", sort_key=["id"], shard_bytes=8000, previous=first.manifest)
    assert len(second.changed) == 1
    assert second.manifest.root != first.manifest.root
    same = build_dataset(recs, name="c", sort_key=["id"], shard_bytes=8000, previous=first.manifest)
    assert same.changed == []


def _tamper(value: bytes, fn) -> bytes:
    v = encoding.decode(value)
    fn(v)
    return encoding.encode(v)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.__setitem__("count", v["count"] + 1),
        lambda v: v.__setitem__("root", bytes(32)),
        lambda v: v["shards"][0].__setitem__("root", bytes(32)),
        lambda v: v["shards"][0].__setitem__("count", 0),
        lambda v: v["shards"][0].__setitem__("extra", 1),
        lambda v: v["shards"][1].__setitem__("lo", ["zzz"]),
        lambda v: v["shards"].reverse(),
        lambda v: v.__setitem__("sort_key", []),
        lambda v: v.__setitem__("type", "program"),
        lambda v: v.__setitem__("version", 2),
        lambda v: v.pop("schema"),
        lambda v: v["shards"][0].__setitem__("lo", [[1]]),
    ],
)
def test_parse_manifest_refuses_tampering(mutate) -> None:
    built = build_dataset(products(100), name="c", sort_key=["id"], shard_records=30)
    with pytest.raises(InvalidRecord) as err:
        parse_manifest(_tamper(built.value, mutate))
    assert err.value.reason == "bad-manifest"


@pytest.mark.parametrize("data", [b"", b"\xff", encoding.encode([1, 2]), encoding.encode({"type": "dataset"}),
                                  encoding.encode(1.5)])
def test_parse_manifest_garbage(data: bytes) -> None:
    with pytest.raises(InvalidRecord):
        parse_manifest(data)


@pytest.mark.parametrize("blob", [b"", b"\x00", encoding.encode([1]), encoding.encode({"a": b""}),
                                  encoding.encode([b"a", "b"])])
def test_decode_shard_refuses_garbage(blob: bytes) -> None:
    with pytest.raises(InvalidRecord) as err:
        decode_shard(blob)
    assert err.value.reason == "bad-shard"


def test_decode_shard_checks_root_and_count() -> None:
    recs = products(5)
    blob = encode_shard(recs)
    with pytest.raises(InvalidRecord) as err:
        decode_shard(blob, count=4)
    assert err.value.reason == "shard-count"
    with pytest.raises(InvalidRecord) as err:
        decode_shard(blob, root=merkle_root(recs[:4]))
    assert err.value.reason == "shard-root"


def test_fast_key_matches_strict_key_and_refuses_garbage() -> None:
    from note_compute.compute.dataset import fast_key_of_record

    for r in products(50):
        assert fast_key_of_record(r, ["price", "id"]) == key_of_record(r, ["price", "id"])
    for bad in (b"", b"\xff\xff", encoding.encode([1])):
        with pytest.raises(InvalidRecord):
            fast_key_of_record(bad, ["id"])
