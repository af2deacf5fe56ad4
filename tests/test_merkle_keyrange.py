"""Key-range (completeness) proofs: the returned leaves are exactly those whose
sort keys fall in [lo, hi); hiding, adding, moving the boundary or claiming an
empty range are all refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from note_compute.errors import InvalidEncoding, InvalidProof
from note_compute.merkle import (
    EMPTY_ROOT,
    KeyRangeProof,
    MerkleTree,
    batch_sibling_positions,
    verify_key_range,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key_of(leaf: bytes) -> int:
    """Sort key: the first 4 bytes, big-endian."""
    if len(leaf) < 4:
        raise ValueError("leaf too short for a key")
    return int.from_bytes(leaf[:4], "big")


def build(keys: list[int]) -> tuple[list[bytes], MerkleTree]:
    keys = sorted(keys)
    leaves = [k.to_bytes(4, "big") + b"/%d" % i for i, k in enumerate(keys)]
    return leaves, MerkleTree(leaves)


def forge(tree: MerkleTree, leaves: list[bytes], start: int, end: int) -> KeyRangeProof:
    """What a lying prover holding the real tree can build for any [start, end)."""
    n = tree.size
    first = start - 1 if start > 0 else start
    last = end + 1 if end < n else end
    hashes = tuple(tree.node(lvl, pos) for lvl, pos in batch_sibling_positions(n, range(first, last)))
    return KeyRangeProof(size=n, start=start, end=end, leaves=tuple(leaves[first:last]), hashes=hashes)


def expected(leaves: list[bytes], lo: Any, hi: Any) -> list[bytes]:
    return [d for d in leaves if (lo is None or key_of(d) >= lo) and (hi is None or key_of(d) < hi)]


keys_st = st.lists(st.integers(0, 60), min_size=0, max_size=60)
bound_st = st.none() | st.integers(-5, 65)


@SETTINGS
@given(keys_st, bound_st, bound_st)
def test_key_range_round_trip(keys: list[int], lo: Any, hi: Any) -> None:
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    leaves, tree = build(keys)
    proof = KeyRangeProof.decode(tree.key_range_proof([key_of(d) for d in leaves], lo, hi).encode())
    start, got = verify_key_range(tree.root, tree.size, lo, hi, proof, key_of)
    assert got == expected(leaves, lo, hi)
    assert leaves[start : start + len(got)] == got


@SETTINGS
@given(keys_st.filter(bool), bound_st, bound_st, st.data())
def test_any_other_window_is_refused(keys: list[int], lo: Any, hi: Any, data: st.DataObject) -> None:
    """Hiding a leaf, adding one outside, moving a boundary, claiming empty: all refused."""
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    leaves, tree = build(keys)
    honest = tree.key_range_proof([key_of(d) for d in leaves], lo, hi)
    n = tree.size
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, n))
    if (start, end) == (honest.start, honest.end):
        return
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(tree.root, n, lo, hi, forge(tree, leaves, start, end), key_of)
    assert ei.value.reason in {"boundary", "outside-range"}


def test_every_forged_window_is_refused_exhaustively() -> None:
    keys = [1, 3, 3, 3, 5, 8, 8, 13, 21]
    leaves, tree = build(keys)
    n = tree.size
    for lo in [None, 0, 1, 2, 3, 4, 8, 9, 21, 22]:
        for hi in [None, 0, 1, 3, 4, 8, 9, 13, 22, 30]:
            if lo is not None and hi is not None and hi < lo:
                continue
            want = expected(leaves, lo, hi)
            accepted = []
            for start in range(n + 1):
                for end in range(start, n + 1):
                    try:
                        s, got = verify_key_range(tree.root, n, lo, hi, forge(tree, leaves, start, end), key_of)
                    except InvalidProof:
                        continue
                    accepted.append((start, end))
                    assert got == want and leaves[s : s + len(got)] == want
            assert len(accepted) == 1, (lo, hi, accepted)


@SETTINGS
@given(st.lists(st.integers(0, 40), min_size=2, max_size=40), st.data())
def test_tampered_contents_are_refused(keys: list[int], data: st.DataObject) -> None:
    leaves, tree = build(keys)
    n = tree.size
    lo = data.draw(st.integers(0, 40))
    hi = data.draw(st.integers(lo, 41))
    p = tree.key_range_proof([key_of(d) for d in leaves], lo, hi)
    kind = data.draw(st.sampled_from(["drop-leaf", "add-leaf", "swap", "fake", "flip-hash", "drop-hash", "size"]))
    lv, hs, size = list(p.leaves), list(p.hashes), n
    if kind == "drop-leaf":
        del lv[data.draw(st.integers(0, len(lv) - 1))]
    elif kind == "add-leaf":
        lv.insert(data.draw(st.integers(0, len(lv))), lv[0])
    elif kind == "swap":
        if len(lv) < 2:
            lv.append(b"\x00\x00\x00\x00")
        else:
            a = data.draw(st.integers(0, len(lv) - 2))
            lv[a], lv[a + 1] = lv[a + 1], lv[a]  # leaves are distinct, so this changes the tree
    elif kind == "fake":
        k = data.draw(st.integers(0, len(lv) - 1))
        lv[k] = lv[k] + b"x"
    elif kind == "flip-hash":
        if not hs:
            hs.append(tree.root)
        else:
            k = data.draw(st.integers(0, len(hs) - 1))
            hs[k] = bytes([hs[k][0] ^ 1]) + hs[k][1:]
    elif kind == "drop-hash":
        if hs:
            hs.pop(data.draw(st.integers(0, len(hs) - 1)))
        else:
            hs.append(tree.root)
    else:
        size = data.draw(st.integers(0, 2**64).filter(lambda s: s != n))
    forged = KeyRangeProof(size=size, start=p.start, end=p.end, leaves=tuple(lv), hashes=tuple(hs))
    with pytest.raises(InvalidProof):
        verify_key_range(tree.root, n, lo, hi, forged, key_of)


def test_unsorted_commitment_is_refused() -> None:
    # A signer who commits to unsorted leaves cannot get a range proof over the
    # disorder past a verifier.
    leaves = [k.to_bytes(4, "big") for k in (1, 5, 3, 7)]
    tree = MerkleTree(leaves)
    p = forge(tree, leaves, 1, 2)
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(tree.root, 4, 4, 6, p, key_of)
    assert ei.value.reason == "not-sorted"


def test_non_membership() -> None:
    leaves, tree = build([10, 20, 30])
    keys = [10, 20, 30]
    for lo, hi, start in [(11, 20, 1), (0, 10, 0), (31, 99, 3), (20, 20, 1)]:
        p = tree.key_range_proof(keys, lo, hi)
        assert (p.start, p.end) == (start, start)
        assert verify_key_range(tree.root, 3, lo, hi, p, key_of) == (start, [])
    # the same window does not prove emptiness of a range that has members
    p = tree.key_range_proof(keys, 11, 20)
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(tree.root, 3, 11, 21, p, key_of)
    assert ei.value.reason == "boundary"


def test_empty_tree() -> None:
    tree = MerkleTree([])
    p = tree.key_range_proof([], 3, 9)
    assert verify_key_range(EMPTY_ROOT, 0, 3, 9, p, key_of) == (0, [])
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(b"\x01" * 32, 0, 3, 9, p, key_of)
    assert ei.value.reason == "root-mismatch"
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(EMPTY_ROOT, 0, 3, 9, KeyRangeProof(0, 0, 0, (), (EMPTY_ROOT,)), key_of)
    assert ei.value.reason == "hash-count"


def test_unbounded_sides() -> None:
    leaves, tree = build([1, 2, 3, 4])
    keys = [1, 2, 3, 4]
    assert verify_key_range(tree.root, 4, None, 3, tree.key_range_proof(keys, None, 3), key_of)[1] == leaves[:2]
    assert verify_key_range(tree.root, 4, 3, None, tree.key_range_proof(keys, 3, None), key_of)[1] == leaves[2:]
    # a proof for [2, 3) does not pass as (-inf, 3) or [2, +inf)
    p = tree.key_range_proof(keys, 2, 3)
    for lo, hi in [(None, 3), (2, None)]:
        with pytest.raises(InvalidProof) as ei:
            verify_key_range(tree.root, 4, lo, hi, p, key_of)
        assert ei.value.reason == "boundary"


def test_bad_keys_and_queries() -> None:
    leaves, tree = build([1, 2, 3, 4, 5])
    p = tree.key_range_proof([1, 2, 3, 4, 5], 2, 4)
    cases: list[tuple[Any, Any, Any, str]] = [
        (4, 2, key_of, "bad-range"),
        ("a", "b", key_of, "bad-key"),  # str bounds vs int keys do not compare
        (2, 4, lambda d: 1 // 0, "bad-key"),  # key_of itself fails
        (2, 4, lambda d: [d], "bad-key"),  # list keys vs int bounds do not compare
    ]
    for lo, hi, kf, reason in cases:
        with pytest.raises(InvalidProof) as ei:
            verify_key_range(tree.root, 5, lo, hi, p, kf)
        assert ei.value.reason == reason, (lo, hi, ei.value)
    # a short leaf (hostile data) makes key_of raise ValueError: collapsed to bad-key
    short = [b"\x00\x00\x00\x01", b"\x00\x02"]
    t2 = MerkleTree(short)
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(t2.root, 2, 0, 9, forge(t2, short, 0, 2), key_of)
    assert ei.value.reason == "bad-key"
    with pytest.raises(InvalidProof) as ei:
        verify_key_range(tree.root, 5, 2, 4, "not a proof", key_of)  # type: ignore[arg-type]
    assert ei.value.reason == "malformed"


def test_key_range_decode_is_strict() -> None:
    leaves, tree = build([1, 2, 3, 4, 5, 6])
    enc = tree.key_range_proof([1, 2, 3, 4, 5, 6], 2, 5).encode()
    assert KeyRangeProof.decode(enc).encode() == enc
    for bad in (enc[:-1], enc + b"\x00", b"\xa0", b""):
        with pytest.raises((InvalidEncoding, InvalidProof)):
            KeyRangeProof.decode(bad)
    with pytest.raises(InvalidEncoding):
        KeyRangeProof.decode(enc, max_size=len(enc) - 1)
