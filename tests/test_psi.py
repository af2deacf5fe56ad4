"""note_compute.psi: DH-PSI in ristretto255 (group, parties, set wire form, bad input)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import encoding
from note_compute.errors import InvalidEncoding, InvalidRecord
from note_compute.psi import (
    BLINDED,
    DOUBLE,
    MAX_SET_SIZE,
    EpochMismatch,
    InvalidPoint,
    Party,
    PsiSet,
    SetSizeError,
    check_point,
    group,
    hash_to_group,
    intersect_sorted,
    pad_size,
)

# The ristretto255 group order and the field prime (RFC 9496).
L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19


def run_psi(xs: set[bytes], ys: set[bytes], size: int, epoch: int = 7) -> tuple[list[bytes], PsiSet, PsiSet]:
    a, b = Party(epoch, size), Party(epoch, size)
    sa, sb = a.blind(xs), b.blind(ys)
    da, db = a.double(sb), b.double(sa)
    return intersect_sorted(list(da.points), list(db.points)), sa, da


@settings(max_examples=15, deadline=None)
@given(st.sets(st.binary(max_size=6), max_size=12), st.sets(st.binary(max_size=6), max_size=12))
def test_intersection_size_is_exact(xs: set[bytes], ys: set[bytes]) -> None:
    got, _, _ = run_psi(xs, ys, pad_size(max(len(xs), len(ys), 1)))
    assert len(got) == len(xs & ys)


def test_intersection_values_are_the_doubly_blinded_common_elements() -> None:
    a, b = Party(1, 8), Party(1, 8)
    xs, ys = {b"alice", b"bob", b"carol"}, {b"bob", b"carol", b"dave"}
    da, db = a.double(b.blind(ys)), b.double(a.blind(xs))
    common = intersect_sorted(list(da.points), list(db.points))
    want = sorted(group.exp(b.scalar, group.exp(a.scalar, hash_to_group(x))) for x in (b"bob", b"carol"))
    assert common == want


def test_sets_are_padded_to_the_fixed_size_sorted_and_in_the_group() -> None:
    sizes = set()
    for n in (0, 1, 5, 16):
        s = Party(3, 16).blind({b"e%d" % i for i in range(n)})
        sizes.add(len(s.encode()))
        assert s.size == 16 and list(s.points) == sorted(set(s.points))
        for p in s.points:
            check_point(p)
    assert len(sizes) == 1  # the encoded length says nothing about how many real elements


def test_scalars_are_fresh_per_party_and_epoch() -> None:
    x = {b"same element"}
    one, two = Party(1, 1), Party(1, 1)
    assert one.blind(x).points != two.blind(x).points
    assert one.blind(x).points == one.blind(x).points  # deterministic for one scalar


def test_hash_to_group_is_domain_separated() -> None:
    import ctypes

    from note_compute.psi._sodium import lib

    raw = ctypes.create_string_buffer(32)
    lib().crypto_core_ristretto255_from_hash(raw, hashlib.sha512(b"x").digest())
    assert hash_to_group(b"x") != raw.raw
    assert hash_to_group(b"x") == hash_to_group(b"x") != hash_to_group(b"y")


def test_parallel_and_serial_batches_agree() -> None:
    k = group.random_scalar()
    elems = [b"%d" % i for i in range(group.PARALLEL_MIN + 7)]
    pts = group.hash_exp_many(k, elems, parallel=True)
    assert pts == group.hash_exp_many(k, elems, parallel=False)
    assert group.exp_many(k, pts, parallel=True) == group.exp_many(k, pts, parallel=False)


def test_wire_roundtrip() -> None:
    s = Party(9, 4).blind({b"a"})
    assert PsiSet.decode(s.encode(), kind=BLINDED, epoch=9, size=4) == s


# ---------------------------------------------------------------- bad input

def _bad_points() -> list[tuple[str, bytes]]:
    good = hash_to_group(b"x")
    return [
        ("identity", bytes(32)),
        ("non-canonical (>= p)", (P + 2).to_bytes(32, "little")),
        ("negative field element", (P - 2).to_bytes(32, "little")),  # odd: not a canonical ristretto encoding
        ("high bit set", good[:31] + bytes([good[31] | 0x80])),
        ("random bytes", next(r for r in (os.urandom(32) for _ in range(64)) if not _valid(r))),
        ("short", good[:31]),
    ]


def _valid(p: bytes) -> bool:
    try:
        check_point(p)
        return True
    except InvalidPoint:
        return False


@pytest.mark.parametrize("name,point", _bad_points())
def test_points_not_in_the_group_are_refused(name: str, point: bytes) -> None:
    with pytest.raises(InvalidPoint):
        check_point(point)
    with pytest.raises(InvalidPoint, match="element 0 is not a ristretto255 group element"):
        group.exp_many(group.random_scalar(), [point])
    pts = sorted(Party(1, 3).blind(set()).points[:2] + (point,))
    forged = PsiSet(BLINDED, 1, tuple(pts))
    with pytest.raises(InvalidPoint, match="not a ristretto255 group element"):
        Party(1, 3).double(forged)


def test_wrong_sizes_are_refused() -> None:
    s = Party(1, 8).blind({b"a"})
    with pytest.raises(SetSizeError, match="the round fixes 4"):
        PsiSet.decode(s.encode(), kind=BLINDED, epoch=1, size=4)
    with pytest.raises(SetSizeError):
        Party(1, 4).double(s)
    with pytest.raises(SetSizeError, match="do not fit"):
        Party(1, 2).blind({b"a", b"b", b"c"})
    with pytest.raises(SetSizeError):
        Party(1, MAX_SET_SIZE + 1)
    lying = encoding.encode({"kind": BLINDED, "epoch": 1, "size": 8, "points": b"".join(s.points[:7])})
    with pytest.raises(SetSizeError):
        PsiSet.decode(lying, kind=BLINDED, epoch=1, size=8)


def test_replayed_epochs_are_refused() -> None:
    old = Party(4, 2).blind({b"a"})
    with pytest.raises(EpochMismatch, match="epoch 4"):
        PsiSet.decode(old.encode(), kind=BLINDED, epoch=5, size=2)
    with pytest.raises(EpochMismatch):
        Party(5, 2).double(old)
    p = Party(5, 2)
    p.forget()
    with pytest.raises(InvalidRecord, match="forgotten"):
        p.blind({b"a"})


def test_malformed_sets_are_refused() -> None:
    s = Party(1, 4).blind({b"a"})
    cases = [
        b"\xff",
        encoding.encode([1, 2]),
        encoding.encode({"kind": BLINDED, "epoch": 1, "size": 4}),
        encoding.encode({"kind": DOUBLE, "epoch": 1, "size": 4, "points": b"".join(s.points)}),
        encoding.encode({"kind": BLINDED, "epoch": 1, "size": 4, "points": b"".join(reversed(s.points))}),
        encoding.encode({"kind": BLINDED, "epoch": 1, "size": 4, "points": b"".join(s.points) + b"x"}),
    ]
    for data in cases:
        with pytest.raises(InvalidEncoding):
            PsiSet.decode(data, kind=BLINDED, epoch=1, size=4)
    with pytest.raises(InvalidEncoding, match="only a blinded set"):
        Party(1, 4).double(PsiSet(DOUBLE, 1, s.points))


def test_psi_core_imports_no_io_runtime() -> None:
    code = ("import sys, note_compute.psi.protocol, note_compute.psi.group\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('trio', 'libp2p', 'wasmtime'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_group_order_constant_matches_libsodium() -> None:
    # p^(L) is the identity: scalarmult by L (reduced: 0) is refused, by L-1 gives the inverse point.
    g = hash_to_group(b"g")
    lm1 = (L - 1).to_bytes(32, "little")
    one = (1).to_bytes(32, "little")
    assert group.exp(one, g) == g
    assert group.exp(lm1, group.exp(lm1, g)) == g


def test_reveal_gives_each_side_exactly_its_common_elements() -> None:
    a, b = Party(2, 8), Party(2, 8)
    xs, ys = {b"ann", b"bo", b"cy"}, {b"bo", b"cy", b"di", b"ed"}
    sa, sb = a.blind(xs), b.blind(ys)
    db_of_a = b.double(sa, keep_order=True)   # in sa's order: a can map it back
    da_of_b = a.double(sb)
    assert a.reveal(db_of_a, da_of_b) == [b"bo", b"cy"]
    wire = PsiSet.decode(db_of_a.encode(), kind=DOUBLE, epoch=2, size=8, ordered=False)
    assert wire == db_of_a
    dup = encoding.encode({"kind": DOUBLE, "epoch": 2, "size": 8, "points": db_of_a.points[0] * 8})
    with pytest.raises(InvalidEncoding, match="distinct"):
        PsiSet.decode(dup, kind=DOUBLE, epoch=2, size=8, ordered=False)
    with pytest.raises(EpochMismatch):
        a.reveal(Party(3, 8).double(Party(3, 8).blind(set()), keep_order=True), da_of_b)


# ---------------------------------------------------------------- vectors (specs/vectors/psi_ristretto255.json)

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "specs" / "vectors" / "psi_ristretto255.json").read_text())


def test_exponentiation_gives_the_rfc_9496_generator_multiples() -> None:
    multiples = [bytes.fromhex(h) for h in VECTORS["generator_multiples"]]
    base = multiples[1]
    for k in range(1, 16):
        assert group.exp(k.to_bytes(32, "little"), base) == multiples[k], k
        check_point(multiples[k])
    with pytest.raises(InvalidPoint):  # [0]B is the identity: not an element anyone may send
        check_point(multiples[0])
    with pytest.raises(InvalidPoint):  # and no exponentiation may produce it
        group.exp(bytes(32), base)


@pytest.mark.parametrize("case", VECTORS["invalid_encodings"] + [
    {"class": "small-order Edwards25519 point", "hex": h} for h in VECTORS["small_order_edwards25519"]])
def test_rfc_9496_invalid_encodings_and_small_order_points_are_refused(case: dict[str, str]) -> None:
    point = bytes.fromhex(case["hex"])
    with pytest.raises(InvalidPoint, match="not a ristretto255 group element"):
        check_point(point)
    with pytest.raises(InvalidPoint, match="element 1 is not"):
        group.exp_many(group.random_scalar(), [hash_to_group(b"ok"), point])
    wire = PsiSet(BLINDED, 1, tuple(sorted([hash_to_group(b"ok"), point])))
    with pytest.raises(InvalidPoint):  # a set holding it is refused by the party that would use it
        Party(1, 2).double(PsiSet.decode(wire.encode(), kind=BLINDED, epoch=1, size=2))


def test_hash_to_group_vectors_are_frozen_and_domain_separated() -> None:
    from note_compute import domains

    assert bytes.fromhex(VECTORS["hash_to_group_domain"]) == domains.PSI_HASH_TO_GROUP
    for v in VECTORS["hash_to_group"]:
        data = bytes.fromhex(v["input"])
        assert hash_to_group(data).hex() == v["point"]
        assert group.hash_exp_many((1).to_bytes(32, "little"), [data]) == [bytes.fromhex(v["point"])]
        raw = group._from_hash(hashlib.sha512(data).digest())  # the same map without the prefix: another point
        assert raw != bytes.fromhex(v["point"])


def test_duplicate_points_in_a_sorted_set_are_refused() -> None:
    s = Party(1, 4).blind({b"a"})
    dup = encoding.encode({"kind": BLINDED, "epoch": 1, "size": 4, "points": s.points[0] * 2 + b"".join(s.points[2:])})
    with pytest.raises(InvalidEncoding, match="strictly ascending"):
        PsiSet.decode(dup, kind=BLINDED, epoch=1, size=4)


def test_the_size_cap_holds_before_anything_is_decoded() -> None:
    for bad in (0, MAX_SET_SIZE + 1, -1, "4", 2.0):
        with pytest.raises(SetSizeError, match=f"1..{MAX_SET_SIZE}"):
            PsiSet.decode(b"\xa0", kind=BLINDED, epoch=1, size=bad)  # type: ignore[arg-type]
    over = encoding.encode({"kind": BLINDED, "epoch": 1, "size": MAX_SET_SIZE + 1,
                            "points": bytes(32) * (MAX_SET_SIZE + 1)})
    with pytest.raises(SetSizeError, match=f"holds {MAX_SET_SIZE + 1} points"):
        PsiSet.decode(over, kind=BLINDED, epoch=1, size=MAX_SET_SIZE)
    huge = encoding.encode({"kind": BLINDED, "epoch": 1, "size": MAX_SET_SIZE + 16,
                            "points": bytes(32) * (MAX_SET_SIZE + 16)})
    with pytest.raises(InvalidEncoding, match="not canonical CBOR"):  # the decoder's size limit: never parsed
        PsiSet.decode(huge, kind=BLINDED, epoch=1, size=MAX_SET_SIZE)


def test_loading_the_group_writes_no_file(tmp_path: Path) -> None:
    code = ("import note_compute.psi as p\n"
            "from note_compute.psi._sodium import lib\n"
            "lib(); p.Party(1, 4).blind({b'x'})\n")
    env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert list(tmp_path.rglob("*")) == []


def test_a_machine_without_ristretto255_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from note_compute.psi import PsiUnavailable, _sodium

    monkeypatch.setattr(_sodium, "_lib", None)
    monkeypatch.setattr(_sodium, "_NAMES", ("libsodium-that-is-not-there.so",))
    monkeypatch.setattr(_sodium.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(PsiUnavailable, match="apt-get install libsodium23") as info:
        group.random_scalar()
    assert info.value.reason == "no-libsodium"
