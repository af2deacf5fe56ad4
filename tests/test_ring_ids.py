"""Ring id arithmetic: clockwise intervals with wrap-around, ranges, peer refs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from note_compute.errors import LocalProtocolError, RemoteProtocolError
from note_compute.ring.ids import (
    RING,
    PeerRef,
    Range,
    between,
    between_open,
    bucket_index,
    bucket_start,
    distance,
    id_from_bytes,
    id_to_bytes,
    key_id,
    node_id,
)

ids = st.integers(min_value=0, max_value=RING - 1)
# Small offsets around interesting points so that wrap-around is hit often.
near = st.sampled_from([0, 1, 2, RING // 2, RING - 2, RING - 1])
ring_ids = st.one_of(ids, near, st.builds(lambda a, d: (a + d) % RING, near, st.integers(-3, 3)))


def test_node_id_is_sha256_of_public_key() -> None:
    pk = bytes(range(32))
    assert node_id(pk) == int.from_bytes(hashlib.sha256(pk).digest(), "big")
    with pytest.raises(LocalProtocolError):
        node_id(b"short")


def test_key_id_and_bytes_round_trip() -> None:
    addr = hashlib.sha256(b"note://x/y").digest()
    assert id_to_bytes(key_id(addr)) == addr
    with pytest.raises(LocalProtocolError):
        id_from_bytes(b"\x00" * 31)
    with pytest.raises(LocalProtocolError):
        id_to_bytes(RING)
    with pytest.raises(LocalProtocolError):
        id_to_bytes(-1)


@given(ring_ids, ring_ids)
def test_distance_inverse(a: int, b: int) -> None:
    assert (a + distance(a, b)) % RING == b
    assert distance(a, b) + distance(b, a) in (0, RING)


@given(ring_ids, ring_ids, ring_ids)
def test_between_matches_linear_definition(x: int, a: int, b: int) -> None:
    # (a, b] unrolled: walk clockwise from a (exclusive) to b (inclusive).
    if a == b:
        expect = True
    else:
        expect = 0 < distance(a, x) <= distance(a, b)
    assert between(x, a, b) == expect
    assert between_open(x, a, b) == ((expect and x != b) if a != b else x != a)


@given(ring_ids, ring_ids)
def test_between_endpoints(a: int, b: int) -> None:
    assert between(b, a, b)
    if a != b:
        assert not between(a, a, b)
        assert not between_open(a, a, b) and not between_open(b, a, b)


@given(ring_ids, ring_ids, ring_ids)
def test_arc_splits_ring(x: int, a: int, b: int) -> None:
    # (a, b] and (b, a] partition the ring when a != b.
    if a != b:
        assert between(x, a, b) != between(x, b, a)


def test_wrap_around_examples() -> None:
    assert between(0, RING - 1, 1)
    assert between(1, RING - 1, 1)
    assert not between(2, RING - 1, 1)
    assert between(RING - 1, RING - 2, 0)
    assert between_open(0, RING - 1, 1)
    assert not between_open(1, RING - 1, 1)


@given(ring_ids, ring_ids)
def test_bucket_index(me: int, other: int) -> None:
    if me == other:
        with pytest.raises(LocalProtocolError):
            bucket_index(me, other)
        return
    i = bucket_index(me, other)
    assert 2**i <= distance(me, other) < 2 ** (i + 1)
    assert between(other, (bucket_start(me, i) - 1) % RING, (bucket_start(me, i) + 2**i - 1) % RING)


@given(ring_ids, ring_ids, ring_ids, ring_ids, st.lists(ring_ids, max_size=20))
def test_range_minus_pointwise(a: int, b: int, c: int, d: int, probes: list[int]) -> None:
    r, o = Range(a, b), Range(c, d)
    parts = r.minus(o)
    assert len(parts) <= 2
    for x in probes + [a, b, c, d, (a + 1) % RING, (c + 1) % RING, (b + 1) % RING, (d + 1) % RING]:
        in_parts = sum(1 for p in parts if x in p)
        assert in_parts <= 1
        assert (in_parts == 1) == (x in r and x not in o), (x, r, o, parts)
    assert sum(p.size for p in parts) <= r.size


def test_range_basics() -> None:
    assert Range(5, 5).full and Range(5, 5).size == RING
    assert Range(RING - 1, 1).size == 2
    assert 0 in Range(RING - 1, 1) and RING - 1 not in Range(RING - 1, 1)
    assert "x" not in Range(1, 2)  # type: ignore[operator]
    assert Range(1, 10).minus(Range(3, 3)) == []
    assert Range(1, 10).minus(Range(20, 30)) == [Range(1, 10)]
    assert Range(1, 10).minus(Range(3, 5)) == [Range(1, 3), Range(5, 10)]
    assert Range(0, 0).minus(Range(3, 5)) == [Range(5, 3)]


def test_peer_ref_wire_round_trip_and_validation() -> None:
    p = PeerRef.from_public_key(bytes(32), "/ip4/127.0.0.1/tcp/1/p2p/x")
    assert PeerRef.from_wire(p.to_wire()) == p
    assert p.id_bytes == hashlib.sha256(bytes(32)).digest()
    bad = [
        None, [], {"id": p.id_bytes}, {"id": p.id_bytes, "addr": "a", "x": 1},
        {"id": b"\x00" * 31, "addr": "a"}, {"id": "x" * 32, "addr": "a"},
        {"id": p.id_bytes, "addr": ""}, {"id": p.id_bytes, "addr": "a" * 513},
        {"id": p.id_bytes, "addr": 5},
    ]
    for obj in bad:
        with pytest.raises(RemoteProtocolError) as ei:
            PeerRef.from_wire(obj)
        assert ei.value.reason and ei.value.reason.startswith("bad-peer")
    with pytest.raises(LocalProtocolError):
        PeerRef(RING, "a")
    with pytest.raises(LocalProtocolError):
        PeerRef(True, "a")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        PeerRef(1, b"a")  # type: ignore[arg-type]
