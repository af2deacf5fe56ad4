"""Merkle trees: RFC 6962 / Certificate Transparency vectors, a reference
implementation from the RFC text, the frozen wire formats in
specs/vectors/merkle.json, and bad-input handling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from note_compute import domains
from note_compute.errors import InvalidEncoding, InvalidProof
from note_compute.merkle import (
    EMPTY_ROOT,
    MAX_INCLUSION_PROOF_BYTES,
    BatchProof,
    InclusionProof,
    KeyRangeProof,
    MerkleTree,
    audit_path_length,
    audit_path_positions,
    batch_sibling_positions,
    largest_power_of_two_below,
    leaf_hash,
    level_sizes,
    merkle_root,
    node_hash,
    verify_batch,
    verify_inclusion,
    verify_key_range,
)

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "specs" / "vectors" / "merkle.json").read_text())

# The Certificate Transparency test-suite inputs and their published roots
# (transparency-dev/merkle testonly/constants.go: LeafInputs, RootHashes).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# transparency-dev/merkle proof/verify_test.go inclusionProofs, 0-based here.
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]


# --- an independent implementation, straight from RFC 6962 section 2.1 -----

def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) as the RFC writes it."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:  # largest power of two smaller than n
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as the RFC writes it."""
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [b"leaf-%d" % i for i in range(n)]


# --- Certificate Transparency vectors --------------------------------------

@pytest.mark.parametrize("n", range(9))
def test_ct_roots(n: int) -> None:
    assert merkle_root(CT_LEAVES[:n]).hex() == CT_ROOTS[n]
    assert MerkleTree(CT_LEAVES[:n]).root.hex() == CT_ROOTS[n]


@pytest.mark.parametrize("index,size,path", CT_INCLUSION)
def test_ct_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    tree = MerkleTree(CT_LEAVES[:size])
    proof = tree.inclusion_proof(index)
    assert [h.hex() for h in proof.path] == path
    verify_inclusion(bytes.fromhex(CT_ROOTS[size]), size, index, CT_LEAVES[index], proof)


def test_hashing_prefixes_come_from_domains() -> None:
    assert domains.MERKLE_LEAF == b"\x00" and domains.MERKLE_NODE == b"\x01"
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", list(range(0, 34)) + [63, 64, 65, 100, 127, 129])
def test_against_rfc_reference(n: int) -> None:
    data = leaves_of(n)
    tree = MerkleTree(data)
    assert tree.root == merkle_root(data) == ref_mth(data)
    assert tree.size == len(tree) == n
    for i in range(n):
        proof = tree.inclusion_proof(i)
        assert list(proof.path) == ref_path(i, data)
        assert len(proof.path) == audit_path_length(i, n)
        verify_inclusion(tree.root, n, i, data[i], proof)


def test_single_index_batch_is_the_audit_path() -> None:
    data = leaves_of(37)
    tree = MerkleTree(data)
    for i in range(37):
        assert tree.batch_proof([i]).hashes == tree.inclusion_proof(i).path


# --- index arithmetic -------------------------------------------------------

def test_index_math() -> None:
    assert [largest_power_of_two_below(n) for n in (2, 3, 4, 5, 8, 9, 1000)] == [1, 2, 2, 4, 4, 8, 512]
    with pytest.raises(ValueError):
        largest_power_of_two_below(1)
    assert level_sizes(0) == [] and level_sizes(1) == [1]
    assert level_sizes(5) == [5, 3, 2, 1]
    assert audit_path_positions(4, 5) == [(2, 0)]  # leaf 4 of 5 is promoted twice
    assert batch_sibling_positions(8, [0, 1, 2, 3]) == [(2, 1)]
    assert batch_sibling_positions(8, list(range(8))) == []
    with pytest.raises(ValueError):
        audit_path_positions(5, 5)


# --- frozen vectors (specs/vectors/merkle.json) -----------------------------

def test_vector_provenance() -> None:
    prov = VECTORS["_provenance"]
    assert prov["generator"] == "specs/vectors/gen_merkle.py"
    assert any("transparency-dev/merkle" in s for s in prov["checked_against"])
    assert [bytes.fromhex(h) for h in VECTORS["leaves"]] == CT_LEAVES


def test_vector_roots() -> None:
    assert [r["root"] for r in VECTORS["roots"]] == CT_ROOTS
    for r in VECTORS["roots"]:
        assert merkle_root(CT_LEAVES[: int(r["size"])]).hex() == r["root"]


def test_vector_inclusion() -> None:
    published = 0
    for v in VECTORS["inclusion"]:
        i, n = int(v["index"]), int(v["size"])
        proof = MerkleTree(CT_LEAVES[:n]).inclusion_proof(i)
        assert [h.hex() for h in proof.path] == v["path"]
        assert proof.encode().hex() == v["encoded"]
        decoded = InclusionProof.decode(bytes.fromhex(v["encoded"]))
        assert decoded == proof
        verify_inclusion(bytes.fromhex(CT_ROOTS[n]), n, i, CT_LEAVES[i], decoded)
        published += v["published"]
    assert published == len(CT_INCLUSION)
    assert len(VECTORS["inclusion"]) == sum(range(1, 9))


def test_vector_batch() -> None:
    tree = MerkleTree(CT_LEAVES)
    for v in VECTORS["batch"]:
        indices = [int(i) for i in v["indices"]]
        proof = tree.batch_proof(indices)
        assert [h.hex() for h in proof.hashes] == v["hashes"]
        assert proof.encode().hex() == v["encoded"]
        decoded = BatchProof.decode(bytes.fromhex(v["encoded"]))
        assert decoded == proof
        verify_batch(tree.root, int(v["size"]), {i: CT_LEAVES[i] for i in indices}, decoded)


def test_vector_key_range() -> None:
    kinds = set()
    for v in VECTORS["key_range"]:
        n = int(v["size"])
        tree = MerkleTree(CT_LEAVES[:n])
        lo = None if v["lo"] is None else bytes.fromhex(v["lo"])
        hi = None if v["hi"] is None else bytes.fromhex(v["hi"])
        proof = tree.key_range_proof(CT_LEAVES[:n], lo, hi)
        assert proof.encode().hex() == v["encoded"]
        decoded = KeyRangeProof.decode(bytes.fromhex(v["encoded"]))
        assert decoded == proof
        start, got = verify_key_range(bytes.fromhex(CT_ROOTS[n]), n, lo, hi, decoded, lambda d: d)
        assert (str(start), [g.hex() for g in got]) == (v["start"], v["returned"])
        kinds.add("empty" if not got else "non-empty")
    assert kinds == {"empty", "non-empty"}


def test_vectors_are_up_to_date() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "gen_merkle.py"
    spec = importlib.util.spec_from_file_location("gen_merkle", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert json.loads(mod.render()) == VECTORS


# --- prover-side misuse -----------------------------------------------------

def test_prover_rejects_bad_arguments() -> None:
    tree = MerkleTree(leaves_of(10))
    for bad in (-1, 10, True, 1.0, "1"):
        with pytest.raises(IndexError):
            tree.inclusion_proof(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tree.batch_proof([])
    with pytest.raises(IndexError):
        tree.batch_proof([3, 10])
    with pytest.raises(IndexError):
        tree.range_proof(5, 5)
    with pytest.raises(IndexError):
        tree.range_proof(5, 11)
    with pytest.raises(ValueError):
        tree.key_range_proof(list(range(9)), 0, 5)
    with pytest.raises(ValueError):
        tree.key_range_proof(list(range(10)), 5, 4)
    with pytest.raises(ValueError):
        tree.key_range_proof([0, 1, 2, 3, 9, 5, 6, 7, 8, 9], 5, 6)
    with pytest.raises(TypeError):
        MerkleTree(["text"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        merkle_root(b"abc")  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        MerkleTree([]).inclusion_proof(0)


def test_batch_proof_merges_duplicates_and_order() -> None:
    tree = MerkleTree(leaves_of(20))
    assert tree.batch_proof([7, 3, 7, 12]) == tree.batch_proof([3, 7, 12])
    assert tree.range_proof(4, 9) == tree.batch_proof(range(4, 9))


# --- verifier on bad input ---------------------------------------------------

def _reason(excinfo: pytest.ExceptionInfo[InvalidProof]) -> str | None:
    return excinfo.value.reason


def test_inclusion_refusals_have_reasons() -> None:
    data = leaves_of(11)
    tree = MerkleTree(data)
    p = tree.inclusion_proof(6)
    root = tree.root
    cases = [
        ((root, 11, 6, b"other", p), "root-mismatch"),
        ((root, 12, 6, data[6], p), "size-mismatch"),
        ((root, 11, 5, data[6], p), "index-mismatch"),
        ((root[:31], 11, 6, data[6], p), "malformed"),
        ((root, 11, 6, "text", p), "malformed"),
        ((root, 11, 6, data[6], InclusionProof(6, 11, p.path[:-1])), "hash-count"),
        ((root, 11, 6, data[6], InclusionProof(6, 11, p.path + (root,))), "hash-count"),
        ((root, 11, 11, data[6], InclusionProof(11, 11, p.path)), "index-range"),
        ((root, 11, 6, data[6], InclusionProof(6, 11, (b"x",) * len(p.path))), "malformed"),
        ((root, 11, 6, data[6], InclusionProof(6, 11, None)), "malformed"),  # type: ignore[arg-type]
        ((root, 11, 6, data[6], InclusionProof(6, -1, p.path)), "malformed"),
        ((root, 2**64, 6, data[6], InclusionProof(6, 2**64, p.path)), "malformed"),
        ((root, 11, 6, data[6], InclusionProof(True, 11, p.path)), "malformed"),  # type: ignore[arg-type]
        ((root, 11, 6, data[6], tree.batch_proof([6])), "malformed"),
    ]
    for args, reason in cases:
        with pytest.raises(InvalidProof) as ei:
            verify_inclusion(*args)  # type: ignore[arg-type]
        assert _reason(ei) == reason, (args, ei.value)
    verify_inclusion(root, 11, 6, data[6], p)


def test_batch_refusals_have_reasons() -> None:
    data = leaves_of(13)
    tree = MerkleTree(data)
    p = tree.batch_proof([2, 3, 9])
    root = tree.root
    good = {2: data[2], 3: data[3], 9: data[9]}
    verify_batch(root, 13, good, p)
    cases = [
        ((root, 13, {**good, 9: b"x"}, p), "root-mismatch"),
        ((root, 13, {2: data[2], 3: data[3]}, p), "index-mismatch"),
        ((root, 13, {2: data[2], 3: data[3], 8: data[8]}, p), "index-mismatch"),
        ((root, 13, {2: data[3], 3: data[2], 9: data[9]}, p), "root-mismatch"),
        ((root, 13, {**good, 9: 5}, p), "malformed"),
        ((root, 13, [data[2], data[3], data[9]], p), "malformed"),
        ((root, 14, good, p), "size-mismatch"),
        ((root, 13, good, BatchProof(13, (2, 3, 9), p.hashes[:-1])), "hash-count"),
        ((root, 13, good, BatchProof(13, (2, 3, 9), p.hashes + p.hashes[:1])), "hash-count"),
        ((root, 13, good, BatchProof(13, (3, 2, 9), p.hashes)), "malformed"),
        ((root, 13, good, BatchProof(13, (2, 3, 13), p.hashes)), "index-range"),
        ((root, 13, {}, BatchProof(13, (), ())), "empty"),
        ((root, 13, good, BatchProof(13, "abc", p.hashes)), "malformed"),  # type: ignore[arg-type]
    ]
    for args, reason in cases:
        with pytest.raises(InvalidProof) as ei:
            verify_batch(*args)  # type: ignore[arg-type]
        assert _reason(ei) == reason, (args, ei.value)


def test_empty_tree_batch() -> None:
    verify_batch(EMPTY_ROOT, 0, {}, BatchProof(0, (), ()))
    with pytest.raises(InvalidProof) as ei:
        verify_batch(EMPTY_ROOT, 0, {}, BatchProof(0, (), (EMPTY_ROOT,)))
    assert ei.value.reason == "hash-count"
    with pytest.raises(InvalidProof) as ei:
        verify_batch(b"\x00" * 32, 0, {}, BatchProof(0, (), ()))
    assert ei.value.reason == "root-mismatch"


def test_size_must_be_trusted_like_the_root() -> None:
    # RFC 6962 roots do not commit to the tree size: the audit path of leaf 0
    # in a 4-leaf tree also recomputes that root when read as leaf 0 of a
    # 3-leaf tree (the third "leaf" being the node over leaves 2 and 3). So
    # the size a verifier passes must come from the same signed source as the
    # root (the dataset manifest), never from the proof; a proof whose own
    # size differs from the caller's is refused.
    data = leaves_of(4)
    tree = MerkleTree(data)
    p = tree.inclusion_proof(0)
    verify_inclusion(tree.root, 3, 0, data[0], InclusionProof(0, 3, p.path))
    with pytest.raises(InvalidProof) as ei:
        verify_inclusion(tree.root, 4, 0, data[0], InclusionProof(0, 3, p.path))
    assert ei.value.reason == "size-mismatch"


def test_huge_sizes_are_cheap_to_refuse() -> None:
    # A hostile size near 2**64 walks 64 levels, never 2**64 nodes.
    n = 2**64 - 1
    p = BatchProof(n, (0, n - 1), (b"\x00" * 32,) * 200)
    with pytest.raises(InvalidProof) as ei:
        verify_batch(b"\x00" * 32, n, {0: b"a", n - 1: b"b"}, p)
    assert ei.value.reason in {"hash-count", "root-mismatch"}
    p2 = InclusionProof(n - 1, n, (b"\x00" * 32,) * audit_path_length(n - 1, n))
    with pytest.raises(InvalidProof) as ei:
        verify_inclusion(b"\x00" * 32, n, n - 1, b"a", p2)
    assert ei.value.reason == "root-mismatch"


# --- decoding -------------------------------------------------------------------

def test_decode_refuses_malformed_maps() -> None:
    from note_compute.encoding import encode

    h = b"\x11" * 32
    bad_inclusion = [
        {"index": 0, "size": 2},
        {"index": 0, "size": 2, "path": [h], "extra": 1},
        {"index": 0, "size": 2, "path": h},
        {"index": -1, "size": 2, "path": [h]},
        {"index": 0, "size": 2, "path": [h[:31]]},
        {"index": 0, "size": 2, "path": [h, h]},
        {"index": 2, "size": 2, "path": [h]},
        {"index": "0", "size": 2, "path": [h]},
        [0, 2, [h]],
    ]
    for m in bad_inclusion:
        with pytest.raises(InvalidProof):
            InclusionProof.decode(encode(m))
    bad_batch = [
        {"size": 4, "ranges": [[0, 1], [1, 2]], "hashes": []},  # adjacent runs are not canonical
        {"size": 4, "ranges": [[2, 3], [0, 1]], "hashes": []},
        {"size": 4, "ranges": [[1, 1]], "hashes": []},
        {"size": 4, "ranges": [[0, 5]], "hashes": []},
        {"size": 4, "ranges": [[0, 1, 2]], "hashes": []},
        {"size": 4, "ranges": [], "hashes": []},
        {"size": 2**64 - 1, "ranges": [[0, 2**64 - 1]], "hashes": []},  # too many leaves, not expanded
        {"size": 4, "ranges": [[0, 1]], "hashes": [b"short"]},
        {"size": 4, "ranges": "0-1", "hashes": []},
    ]
    for m in bad_batch:
        with pytest.raises(InvalidProof):
            BatchProof.decode(encode(m))
    bad_key_range = [
        {"size": 4, "start": 3, "end": 2, "leaves": [], "hashes": []},
        {"size": 4, "start": 1, "end": 2, "leaves": [b"a"], "hashes": []},  # needs 3 leaves
        {"size": 4, "start": 1, "end": 2, "leaves": [b"a", b"b", 3], "hashes": []},
        {"size": 4, "start": 1, "end": 5, "leaves": [], "hashes": []},
    ]
    for m in bad_key_range:
        with pytest.raises(InvalidProof):
            KeyRangeProof.decode(encode(m))


def test_decode_refuses_bad_cbor_and_oversize() -> None:
    tree = MerkleTree(leaves_of(6))
    enc = tree.inclusion_proof(3).encode()
    for bad in (b"", b"\xff", enc[:-1], enc + b"\x00", b"\xa0"):
        with pytest.raises((InvalidEncoding, InvalidProof)):
            InclusionProof.decode(bad)
    with pytest.raises(InvalidEncoding) as ei:
        InclusionProof.decode(b"\x00" * (MAX_INCLUSION_PROOF_BYTES + 1))
    assert ei.value.reason == "too-large"
    big = tree.range_proof(0, 6).encode()
    with pytest.raises(InvalidEncoding):
        BatchProof.decode(big, max_size=len(big) - 1)
    assert BatchProof.decode(big, max_size=len(big)) == tree.range_proof(0, 6)


def test_sizes_are_reported() -> None:
    tree = MerkleTree(leaves_of(100_000 // 100))
    p = tree.inclusion_proof(500)
    assert p.encoded_size == len(p.encode())
    # 10 hashes of 32 bytes plus CBOR framing: a few bytes per hash.
    assert 10 * 32 < p.encoded_size < 10 * 35 + 30
    r = tree.range_proof(100, 200)
    assert r.encoded_size == len(r.encode()) < 25 * 35


def test_merkle_is_a_pure_core() -> None:
    # The merkle package must not pull in trio, libp2p or wasmtime.
    import subprocess
    import sys

    code = (
        "import sys, note_compute.merkle\n"
        "bad = [m for m in ('trio', 'libp2p', 'wasmtime') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
