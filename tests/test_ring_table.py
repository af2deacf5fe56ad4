"""Routing table: buckets by clockwise distance, successor/predecessor lists, eviction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from note_compute.ring.ids import RING, PeerRef, between_open, bucket_index, distance
from note_compute.ring.table import RoutingTable

ME = PeerRef(1000, "me")


def peer(i: int) -> PeerRef:
    return PeerRef(i % RING, f"p{i % RING}")


def test_peers_land_in_their_bucket_up_to_k() -> None:
    t = RoutingTable(ME, k=2, n_successors=2)
    for d in (16, 17, 18, 31):  # all in bucket 4 ([16, 32))
        t.add(peer(ME.id + d))
    assert set(t.buckets) == {4}
    assert len(t.bucket(4)) == 2
    # The closest (Chord's finger) always gets in, evicting a non-finger.
    assert t.finger(4) == peer(ME.id + 16)
    t.add(peer(ME.id + 20))
    assert len(t.bucket(4)) == 2  # full, not closer than the finger: ignored
    assert peer(ME.id + 20) not in t.bucket(4)
    assert t.finger(5) is None and t.bucket(5) == []


def test_self_is_never_added() -> None:
    t = RoutingTable(ME)
    t.add(ME)
    assert t.peers() == []


def test_successor_list_sorted_and_truncated_with_wrap() -> None:
    me = PeerRef(RING - 5, "me")
    t = RoutingTable(me, n_successors=3)
    t.set_successors(peer(i) for i in (RING - 1, 3, 100, RING - 3, 50))
    assert [p.id for p in t.successors] == [RING - 3, RING - 1, 3]
    # A live peer heard from joins the list only inside its span (never past its end:
    # that would claim nobody lives in between).
    t.add(peer(2))
    assert [p.id for p in t.successors] == [RING - 3, RING - 1, 2]
    t.add(peer(1000))
    assert [p.id for p in t.successors] == [RING - 3, RING - 1, 2]
    t2 = RoutingTable(me, n_successors=3)
    t2.set_successors([peer(10)])
    t2.add(peer(20))
    assert [p.id for p in t2.successors] == [10]
    t.set_predecessors([peer(RING - 10), peer(RING - 7), me, peer(RING - 7)])
    assert [p.id for p in t.predecessors] == [RING - 7, RING - 10]
    assert t.successor.id == RING - 3 and t.predecessor.id == RING - 7  # type: ignore[union-attr]


def test_successors_of_window() -> None:
    t = RoutingTable(ME, n_successors=3)
    t.set_successors([peer(2000), peer(3000), peer(4000)])
    assert [p.id for p in t.successors_of(1500) or []] == [2000, 3000, 4000]
    assert [p.id for p in t.successors_of(3000) or []] == [3000, 4000]
    assert [p.id for p in t.successors_of(3001) or []] == [4000]
    assert t.successors_of(4001) is None
    assert t.successors_of(ME.id) is None


def test_failures_evict_after_threshold_and_contact_resets() -> None:
    t = RoutingTable(ME, max_failures=2)
    p = peer(ME.id + 77)
    t.add(p)
    assert not t.failed(p.id)
    t.add(p)  # heard from it again: count reset
    assert not t.failed(p.id)
    assert t.failed(p.id)
    assert p.id not in t and t.successors == []
    assert not t.remove(p.id)


def test_remove_everywhere() -> None:
    t = RoutingTable(ME)
    p = peer(ME.id + 5)
    t.add(p)
    t.set_predecessors([p])
    assert t.remove(p.id)
    assert t.peers() == [] and t.predecessors == [] and t.buckets == {}


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        RoutingTable(ME, k=0)


@given(st.lists(st.integers(0, RING - 1), max_size=60, unique=True), st.integers(0, RING - 1), st.integers(1, 10))
def test_closest_preceding_properties(others: list[int], target: int, count: int) -> None:
    t = RoutingTable(ME, k=3)
    for o in others:
        if o != ME.id:
            t.add(peer(o))
    got = t.closest_preceding(target, count)
    assert len(got) <= count
    assert all(between_open(p.id, ME.id, target) for p in got)
    dists = [distance(p.id, target) for p in got]
    assert dists == sorted(dists)
    # Nothing known is closer to the target than what we returned (when we returned fewer than count).
    if len(got) < count:
        assert len(got) == sum(1 for p in t.peers() if between_open(p.id, ME.id, target))
    for i, b in t.buckets.items():
        assert len(b) <= 3 and all(bucket_index(ME.id, p.id) == i for p in b)
