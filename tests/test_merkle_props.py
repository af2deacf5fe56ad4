"""Property tests (hypothesis): proofs verify; any tampering is refused with
InvalidProof; decoding arbitrary bytes yields a proof or a typed error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from note_compute.encoding import encode
from note_compute.errors import InvalidEncoding, InvalidProof
from note_compute.merkle import (
    BatchProof,
    InclusionProof,
    KeyRangeProof,
    MerkleTree,
    audit_path_positions,
    batch_sibling_positions,
    verify_batch,
    verify_inclusion,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_tree(n: int, salt: int = 0) -> tuple[list[bytes], MerkleTree]:
    # distinct leaves, so swapping two of them always changes the tree
    data = [b"%d:%d" % (salt, i) for i in range(n)]
    return data, MerkleTree(data)


@st.composite
def tree_and_indices(draw: st.DrawFn, max_n: int = 70) -> tuple[list[bytes], MerkleTree, list[int]]:
    n = draw(st.integers(1, max_n))
    data, tree = make_tree(n, draw(st.integers(0, 3)))
    idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return data, tree, sorted(idx)


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


# --- index arithmetic --------------------------------------------------------

@SETTINGS
@given(st.integers(1, 2**64 - 1), st.data())
def test_positions_are_valid_nodes(n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, n - 1))
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) >> 1)
    path = audit_path_positions(i, n)
    assert len(path) <= 64
    for level, pos in path:
        assert 0 <= pos < sizes[level]
    assert batch_sibling_positions(n, [i]) == path


@SETTINGS
@given(tree_and_indices())
def test_batch_positions_are_unique_and_never_known(args: Any) -> None:
    _, tree, idx = args
    pos = batch_sibling_positions(tree.size, idx)
    assert len(pos) == len(set(pos))
    assert pos == sorted(pos)
    assert all((0, i) not in pos for i in idx)


# --- round trips ---------------------------------------------------------------

@SETTINGS
@given(tree_and_indices())
def test_inclusion_round_trip(args: Any) -> None:
    data, tree, idx = args
    for i in idx[:5]:
        proof = InclusionProof.decode(tree.inclusion_proof(i).encode())
        verify_inclusion(tree.root, tree.size, i, data[i], proof)


@SETTINGS
@given(tree_and_indices())
def test_batch_round_trip(args: Any) -> None:
    data, tree, idx = args
    proof = BatchProof.decode(tree.batch_proof(idx).encode())
    verify_batch(tree.root, tree.size, {i: data[i] for i in idx}, proof)
    # sharing: never more hashes than separate audit paths, each hash once
    assert len(proof.hashes) <= sum(len(tree.inclusion_proof(i).path) for i in idx)


@SETTINGS
@given(st.integers(1, 300), st.data())
def test_range_round_trip(n: int, data: st.DataObject) -> None:
    leaves, tree = make_tree(n)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    proof = BatchProof.decode(tree.range_proof(start, end).encode())
    verify_batch(tree.root, n, {i: leaves[i] for i in range(start, end)}, proof)
    # a consecutive range needs at most two hashes per level
    assert len(proof.hashes) <= 2 * max(1, n.bit_length())


# --- tampering -----------------------------------------------------------------

@SETTINGS
@given(tree_and_indices(), st.data())
def test_tampered_inclusion_is_refused(args: Any, data: st.DataObject) -> None:
    leaves, tree, idx = args
    i = idx[0]
    n = tree.size
    p = tree.inclusion_proof(i)
    kind = data.draw(st.sampled_from(["flip", "drop", "add", "index", "size", "leaf", "root"]))
    root, size, index, leaf, proof = tree.root, n, i, leaves[i], p
    if kind == "flip":
        assume(p.path)
        k = data.draw(st.integers(0, len(p.path) - 1))
        path = list(p.path)
        path[k] = flip(path[k], data.draw(st.integers(0, 255)))
        proof = InclusionProof(i, n, tuple(path))
    elif kind == "drop":
        assume(p.path)
        k = data.draw(st.integers(0, len(p.path) - 1))
        proof = InclusionProof(i, n, p.path[:k] + p.path[k + 1 :])
    elif kind == "add":
        k = data.draw(st.integers(0, len(p.path)))
        proof = InclusionProof(i, n, p.path[:k] + (tree.root,) + p.path[k:])
    elif kind == "index":  # claim the same path proves another position
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i)) if n > 1 else i + 1
        index, proof = j, InclusionProof(j, n, p.path)
    elif kind == "size":  # the proof's size field, or the caller's trusted size, changed (not both)
        other = data.draw(st.integers(0, 2**64).filter(lambda s: s != n))
        if data.draw(st.booleans()):
            proof = InclusionProof(i, other, p.path)
        else:
            size = other
    elif kind == "leaf":
        leaf = leaves[i] + data.draw(st.binary(min_size=1, max_size=3))
    else:
        root = flip(tree.root, data.draw(st.integers(0, 255)))
    with pytest.raises(InvalidProof):
        verify_inclusion(root, size, index, leaf, proof)


@SETTINGS
@given(tree_and_indices(), st.data())
def test_tampered_batch_is_refused(args: Any, data: st.DataObject) -> None:
    leaves, tree, idx = args
    n = tree.size
    p = tree.batch_proof(idx)
    given_leaves = {i: leaves[i] for i in idx}
    size, proof = n, p
    kind = data.draw(st.sampled_from(["flip", "drop", "add", "index", "size", "leaf", "swap"]))
    if kind == "flip":
        assume(p.hashes)
        k = data.draw(st.integers(0, len(p.hashes) - 1))
        hashes = list(p.hashes)
        hashes[k] = flip(hashes[k], data.draw(st.integers(0, 255)))
        proof = BatchProof(n, p.indices, tuple(hashes))
    elif kind == "drop":
        assume(p.hashes)
        k = data.draw(st.integers(0, len(p.hashes) - 1))
        proof = BatchProof(n, p.indices, p.hashes[:k] + p.hashes[k + 1 :])
    elif kind == "add":
        k = data.draw(st.integers(0, len(p.hashes)))
        proof = BatchProof(n, p.indices, p.hashes[:k] + (tree.root,) + p.hashes[k:])
    elif kind == "index":  # the same leaves and hashes claimed at other positions
        other = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=len(idx), max_size=len(idx), unique=True)))
        assume(other != idx)
        proof = BatchProof(n, tuple(other), p.hashes)
        given_leaves = {o: leaves[i] for o, i in zip(other, idx, strict=False)}
    elif kind == "size":  # the proof's size field, or the caller's trusted size, changed (not both)
        other = data.draw(st.integers(0, 2**64).filter(lambda s: s != n))
        if data.draw(st.booleans()):
            proof = BatchProof(other, p.indices, p.hashes)
        else:
            size = other
    elif kind == "leaf":
        k = data.draw(st.sampled_from(idx))
        given_leaves[k] = leaves[k] + b"!"
    else:  # swap two leaves
        assume(len(idx) >= 2)
        a, b = data.draw(st.lists(st.sampled_from(idx), min_size=2, max_size=2, unique=True))
        given_leaves[a], given_leaves[b] = given_leaves[b], given_leaves[a]
    with pytest.raises(InvalidProof):
        verify_batch(tree.root, size, given_leaves, proof)


def test_no_inclusion_proof_verifies_at_another_index() -> None:
    # Exhaustive for small trees: a path only ever proves its own position.
    for n in range(1, 34):
        leaves, tree = make_tree(n)
        for i in range(n):
            p = tree.inclusion_proof(i)
            for j in range(n):
                if j != i:
                    with pytest.raises(InvalidProof):
                        verify_inclusion(tree.root, n, j, leaves[i], InclusionProof(j, n, p.path))


@SETTINGS
@given(tree_and_indices(max_n=40), st.data())
def test_flipped_encoding_never_verifies(args: Any, data: st.DataObject) -> None:
    leaves, tree, idx = args
    which = data.draw(st.sampled_from(["inclusion", "batch"]))
    enc = tree.inclusion_proof(idx[0]).encode() if which == "inclusion" else tree.batch_proof(idx).encode()
    bad = flip(enc, data.draw(st.integers(0, 8 * len(enc) - 1)))
    try:
        if which == "inclusion":
            proof = InclusionProof.decode(bad)
            verify_inclusion(tree.root, tree.size, idx[0], leaves[idx[0]], proof)
        else:
            bproof = BatchProof.decode(bad)
            verify_batch(tree.root, tree.size, {i: leaves[i] for i in bproof.indices if i < len(leaves)}, bproof)
    except (InvalidEncoding, InvalidProof):
        return
    pytest.fail("a proof with a flipped bit was accepted")


# --- decoding arbitrary input ----------------------------------------------------

DECODERS = [InclusionProof.decode, BatchProof.decode, KeyRangeProof.decode]

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.binary(max_size=40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["index", "size", "path", "ranges", "hashes", "start", "end", "leaves", "x"])
proofish_maps = st.dictionaries(
    field_names,
    st.integers(-3, 70)
    | st.lists(
        st.binary(min_size=31, max_size=33) | st.integers(0, 70) | st.lists(st.integers(-1, 70), max_size=3), max_size=8
    )
    | cbor_values,
    min_size=2,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes(blob: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(blob)
        except (InvalidEncoding, InvalidProof):
            pass


@settings(max_examples=300, deadline=None)
@given(proofish_maps)
def test_decode_proof_shaped_maps(m: dict[str, Any]) -> None:
    blob = encode(m)
    for decode in DECODERS:
        try:
            proof = decode(blob)
        except (InvalidEncoding, InvalidProof):
            continue
        assert proof.encode() == blob  # whatever decodes re-encodes to the same bytes
        proof.check()


@settings(max_examples=150, deadline=None)
@given(proofish_maps, st.binary(max_size=40), st.integers(-2, 80))
def test_verify_never_raises_anything_else(m: dict[str, Any], leaf: bytes, index: int) -> None:
    """Garbage proof objects (built directly, bypassing decode) only ever raise InvalidProof."""
    root = b"\x07" * 32
    args = {k: m.get(k) for k in ("index", "size", "path", "hashes", "start", "end", "leaves")}
    size = args["size"] if isinstance(args["size"], int) else 5
    with pytest.raises(InvalidProof):
        verify_inclusion(root, size, index, leaf, InclusionProof(args["index"], args["size"], args["path"]))
    with pytest.raises(InvalidProof):
        verify_batch(root, size, {index: leaf}, BatchProof(args["size"], args["path"], args["hashes"]))
