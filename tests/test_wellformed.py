"""Well-formed data checked where it is held; a malformed shard is the publisher's provable fault."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute.dataset import build_dataset
from note_compute.compute.protocol import QueryRequest, RecordsRequest
from note_compute.compute.server import load_shard
from note_compute.compute.source import manifest_from_record
from note_compute.compute.wellformed import (
    MALFORMED,
    MalformedDataset,
    PublisherFault,
    check_shard,
    fault_from_reply,
    verify_publisher_fault,
)
from note_compute.crypto import SigningKey
from note_compute.errors import (
    InvalidEncoding,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
)
from note_compute.records import Record
from note_compute.sandbox import Sandbox
from note_compute.testing.attackers import junk_manifest, publish_junk
from note_compute.testing.compute import ALL_WAT, ComputeNetwork

LIAR = SigningKey(hashlib.sha256(b"lying publisher").digest())


def rec(i: int, **kw: object) -> bytes:
    return encoding.encode({"id": i, "name": f"item {i}", **kw})


def junk(kind: str):
    """Two shards; shard 0 is malformed as ``kind`` says, shard 1 is fine."""
    good = [rec(i) for i in range(10, 14)]
    if kind == "order":
        bad = [rec(0), rec(3), rec(2), rec(4)]
        bounds = [([0], [4]), ([10], [13])]
    elif kind == "duplicate":
        bad = [rec(0), rec(1), rec(1), rec(4)]
        bounds = [([0], [4]), ([10], [13])]
    elif kind == "bounds":
        bad = [rec(0), rec(1), rec(2), rec(20)]      # sorted, but 20 is outside [0, 4]
        bounds = [([0], [4]), ([10], [13])]
        good = [rec(i) for i in range(30, 34)]
        bounds = [([0], [4]), ([30], [33])]
    elif kind == "record":
        bad = [rec(0), encoding.encode([1, 2]), rec(2), rec(3)]
        bounds = [([0], [4]), ([10], [13])]
    else:
        raise AssertionError(kind)
    return junk_manifest(LIAR, "junk", [bad, good], bounds, ["id"])


def manifest_of(j):
    return manifest_from_record(j.record)


def records_of(j, i):
    return encoding.decode(j.blobs[i])


@pytest.mark.parametrize("kind,defect", [("order", "order"), ("duplicate", "order"), ("bounds", "bounds"),
                                         ("record", "record")])
def test_malformed_shard_refused_with_a_publisher_fault(kind: str, defect: str) -> None:
    j = junk(kind)
    m = manifest_of(j)
    with pytest.raises(MalformedDataset) as exc:
        load_shard(m, 0, j.blobs[0])
    assert exc.value.reason == MALFORMED
    fault = exc.value.fault
    assert fault is not None and fault.defect == defect
    again = PublisherFault.decode(fault.encode())
    assert again == fault
    assert verify_publisher_fault(again) == defect
    assert again.url == j.url
    # the well-formed shard of the same manifest loads
    assert len(load_shard(m, 1, j.blobs[1]).records) == 4


def test_well_formed_dataset_passes_every_shard() -> None:
    built = build_dataset([rec(i) for i in range(50)], name="ok", sort_key=["id"], shard_records=7)
    for i, s in enumerate(built.shards):
        keys = check_shard(built.manifest, i, s.records)
        assert keys == sorted(keys) and len(keys) == len(s.records)


def test_not_the_shard_is_not_a_publisher_fault() -> None:
    j = junk("order")
    m = manifest_of(j)
    with pytest.raises(InvalidRecord) as exc:
        load_shard(m, 0, j.blobs[1])   # another shard's bytes: wrong root, nobody's provable fault
    assert exc.value.reason == "shard-root"
    assert not isinstance(exc.value, MalformedDataset)


def test_forged_faults_are_refused() -> None:
    j = junk("order")
    with pytest.raises(MalformedDataset) as exc:
        load_shard(manifest_of(j), 0, j.blobs[0])
    fault = exc.value.fault
    assert fault is not None
    # the well-formed pair next to the inversion shows nothing
    good = junk_manifest(LIAR, "fine", [[rec(0), rec(1)]], [([0], [1])], ["id"])
    m = manifest_from_record(good.record)
    from note_compute.merkle import MerkleTree
    tree = MerkleTree(records_of(good, 0))
    honest = PublisherFault(good.record.encode(), b"", 0, "order", [0, 1], records_of(good, 0),
                            tree.batch_proof([0, 1]).encode())
    with pytest.raises(InvalidProof) as e1:
        verify_publisher_fault(honest)
    assert e1.value.reason == "not-fault"
    assert m.count == 2
    # records swapped for ones the shard does not hold
    with pytest.raises(InvalidProof):
        verify_publisher_fault(replace(fault, records=[rec(9), rec(8)]))
    # not adjacent
    with pytest.raises(InvalidProof):
        verify_publisher_fault(replace(fault, indices=[0, 2]))
    # the defect claimed is not the one shown
    with pytest.raises(InvalidProof):
        verify_publisher_fault(replace(fault, defect="bounds", indices=fault.indices[:1], records=fault.records[:1]))
    # a manifest not signed by the publisher
    r = Record.decode(fault.manifest)
    forged = replace(r, signature=bytes(64))
    with pytest.raises(InvalidSignature):
        verify_publisher_fault(replace(fault, manifest=forged.encode()))
    # junk bytes
    for data in (b"", b"\xa0", encoding.encode({"type": "publisher-fault"}), fault.encode()[:-1]):
        with pytest.raises((InvalidProof, InvalidEncoding)):
            PublisherFault.decode(data)


def test_cached_shard_is_rechecked_against_another_manifests_bounds() -> None:
    """A well-formed shard reused by a second manifest with mis-declared bounds is refused there."""
    import trio

    shard = [rec(i) for i in range(5)]
    fine = junk_manifest(LIAR, "a", [shard], [([0], [4])], ["id"])
    lying = junk_manifest(LIAR, "b", [shard], [([100], [200])], ["id"])

    class Ring:
        async def get_blob(self, address: bytes) -> bytes:
            return fine.blobs[0]

    from note_compute.compute.source import RingSource

    async def main() -> None:
        src = RingSource(Ring())
        assert len((await src.shard(manifest_from_record(fine.record), 0)).records) == 5
        with pytest.raises(MalformedDataset) as exc:
            await src.shard(manifest_from_record(lying.record), 0)
        assert exc.value.fault is not None and verify_publisher_fault(exc.value.fault) == "bounds"

    trio.run(main)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.mark.parametrize("kind", ["order", "bounds"])
async def test_peers_refuse_to_sign_over_a_malformed_shard(sandbox: Sandbox, kind: str) -> None:
    net = ComputeNetwork(4, sandbox)
    wasm = wasmtime.wat2wasm(ALL_WAT)
    purl = await net.publish_program(LIAR, "all", wasm)
    j = junk(kind)
    durl = await publish_junk(net, j)
    m = manifest_from_record(j.record)
    phash = hashlib.sha256(wasm).digest()
    for peer in net.peers:
        for rng in (None, [[0], [5]], [[1], [3]]):
            req = QueryRequest(purl, phash, durl, m.seq, 0, encoding.encode(None), rng)
            reply = await net.request(peer, req.to_msg())
            assert "receipt" not in reply and reply["error"]["reason"] == MALFORMED
            fault = fault_from_reply(reply)
            assert fault is not None and verify_publisher_fault(fault) == kind
        reply = await net.request(peer, RecordsRequest(durl, m.seq, 0, [0, 1]).to_msg())
        assert reply["error"]["reason"] == MALFORMED
        # the well-formed shard is still served and signed
        ok = await net.request(peer, QueryRequest(purl, phash, durl, m.seq, 1, encoding.encode(None)).to_msg())
        assert "receipt" in ok


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 12), min_size=1, max_size=12), lo=st.integers(0, 6), hi=st.integers(6, 12),
       extra=st.lists(st.sampled_from(["a", "b"]), min_size=12, max_size=12))
def test_check_shard_refuses_exactly_the_malformed(ids: list[int], lo: int, hi: int, extra: list[str]) -> None:
    """Property: a shard passes iff strictly sorted by (key, bytes) and inside its bounds; otherwise the
    publisher-fault proof it yields verifies and names a real defect."""
    recs = [encoding.encode({"id": i, "x": extra[n]}) for n, i in enumerate(ids)]
    j = junk_manifest(LIAR, "p", [recs], [([lo], [hi])], ["id"])
    m = manifest_from_record(j.record)
    keyed = [((2, i), r) for i, r in zip(ids, recs, strict=True)]
    expected = None  # the first defect a scan in leaf order meets
    for n, (i, _) in enumerate(zip(ids, recs, strict=True)):
        if n and not keyed[n - 1] < keyed[n]:
            expected = "order"
            break
        if not lo <= i <= hi:
            expected = "bounds"
            break
    if expected is None:
        assert len(check_shard(m, 0, recs)) == len(recs)
        return
    with pytest.raises(MalformedDataset) as exc:
        check_shard(m, 0, recs)
    fault = exc.value.fault
    assert fault is not None
    assert verify_publisher_fault(PublisherFault.decode(fault.encode())) == expected == fault.defect
    if expected == "bounds":
        assert not lo <= encoding.decode(fault.records[0])["id"] <= hi
    else:
        a, b = fault.records
        assert not ((2, encoding.decode(a)["id"]), a) < ((2, encoding.decode(b)["id"]), b)
