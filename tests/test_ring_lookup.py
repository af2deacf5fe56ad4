"""The lookup state machine driven by hand: claims, verification, timeouts, hops."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.ring import messages as m
from note_compute.ring.ids import PeerRef
from note_compute.ring.lookup import Lookup

P = {i: PeerRef(i * 100, f"p{i}") for i in range(1, 20)}
ME = PeerRef(50, "me")
TARGET = 1050  # successor: P[11] (1100)


def found(successors: list[PeerRef] = (), closer: list[PeerRef] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "op": "ring.find.reply",
        "successors": [p.to_wire() for p in successors],
        "closer": [p.to_wire() for p in closer],
    }


def test_sends_at_most_alpha_and_follows_closer_peers() -> None:
    lk = Lookup(TARGET, [P[2], P[3], P[4], P[5]], me=ME, alpha=3)
    sends = lk.start(0.0)
    assert [s.peer for s in sends] == [P[5], P[4], P[3]]  # closest preceding first
    assert all(s.msg["op"] == m.FIND and s.msg["from"] == ME.to_wire() for s in sends)
    out = lk.on_reply(P[5], found(closer=[P[9], P[8]]), 0.1)
    assert [s.peer for s in out] == [P[9]]  # back to alpha in flight
    out = lk.on_reply(P[9], found(successors=[P[11], P[12], P[13]]), 0.2)
    assert [s.peer for s in out] == [P[11]]  # verify the claim
    assert not lk.done
    lk.on_reply(P[11], found(successors=[P[11], P[12], P[13]]), 0.3)
    assert lk.done and lk.error is None
    assert lk.result == (P[11], P[12], P[13])
    assert lk.hops == 3  # P5 -> P9 -> P11


def test_dead_successor_is_skipped() -> None:
    lk = Lookup(TARGET, [P[10]], me=ME)
    lk.start(0.0)
    out = lk.on_reply(P[10], found(successors=[P[11], P[12], P[13], P[14]]), 0.1)
    assert [s.peer for s in out] == [P[11]]
    out = lk.on_timeout(P[11], 2.1)
    assert [s.peer for s in out] == [P[12]]
    lk.on_reply(P[12], found(successors=[P[12], P[13], P[14]]), 2.2)
    assert lk.result == (P[12], P[13], P[14]) and lk.hops == 2
    assert lk.failed_peers() == [P[11].id]


def test_self_proving_responder_finishes_at_once() -> None:
    lk = Lookup(TARGET, [P[11]], me=ME, replicas=2)
    lk.start(0.0)
    lk.on_reply(P[11], found(successors=[P[11], P[12], P[13]]), 0.1)
    assert lk.result == (P[11], P[12]) and lk.hops == 1


def test_local_reply_at_depth_zero() -> None:
    lk = Lookup(TARGET, [], me=ME, local_reply=found(successors=[ME, P[1]]))
    assert lk.start(0.0) == []
    assert lk.done and lk.result == (ME, P[1]) and lk.hops == 0


def test_exhausted_when_everyone_fails() -> None:
    lk = Lookup(TARGET, [P[1], P[2]], me=ME)
    lk.start(0.0)
    lk.on_timeout(P[2], 2.0)
    assert not lk.done
    lk.on_error(P[1], 2.0)
    assert lk.done and lk.error == "exhausted" and lk.result == ()


def test_bad_reply_counts_as_failure_and_late_replies_are_ignored() -> None:
    lk = Lookup(TARGET, [P[1]], me=ME)
    lk.start(0.0)
    assert lk.on_reply(P[1], {"op": "ring.find.reply", "successors": "no"}, 0.1) == []
    assert lk.done and lk.error == "exhausted"
    assert lk.on_reply(P[1], found(successors=[P[11]]), 0.2) == []
    assert lk.on_reply(P[7], found(successors=[P[11]]), 0.2) == []  # never asked


def test_stale_claim_falls_back_to_search() -> None:
    # P10 claims P13, but P13 does not see the key (its predecessor is closer): search on.
    lk = Lookup(TARGET, [P[10]], me=ME)
    lk.start(0.0)
    out = lk.on_reply(P[10], found(successors=[P[13], P[14]]), 0.1)
    assert [s.peer for s in out] == [P[13]]
    out = lk.on_reply(P[13], found(closer=[P[10], P[9]]), 0.2)
    # P10 already answered; P9 is new.
    assert [s.peer for s in out] == [P[9]]
    out = lk.on_reply(P[9], found(successors=[P[11], P[12]]), 0.3)
    assert [s.peer for s in out] == [P[11]]
    lk.on_reply(P[11], found(successors=[P[11], P[12], P[13]]), 0.4)
    assert lk.result[0] == P[11]


def test_fallback_when_nothing_better() -> None:
    # A fresh joiner (no predecessor yet) is vouched for but cannot prove itself.
    lk = Lookup(TARGET, [P[10]], me=ME)
    lk.start(0.0)
    lk.on_reply(P[10], found(successors=[P[11], P[12]]), 0.1)
    lk.on_reply(P[11], found(closer=[P[10]]), 0.2)
    assert lk.done and lk.result == (P[11], P[12]) and lk.hops == 2


def test_claim_pointing_at_a_closer_successor_is_followed() -> None:
    lk = Lookup(TARGET, [P[10]], me=ME)
    lk.start(0.0)
    lk.on_reply(P[10], found(successors=[P[12], P[13]]), 0.1)
    out = lk.on_reply(P[12], found(successors=[P[11], P[12]]), 0.2)  # P11 joined recently
    assert [s.peer for s in out] == [P[11]]
    lk.on_reply(P[11], found(successors=[P[11], P[12], P[13]]), 0.3)
    assert lk.result == (P[11], P[12], P[13]) and lk.hops == 3


def test_anonymous_lookup_sends_no_from() -> None:
    lk = Lookup(TARGET, [P[1]], me=ME, anonymous=True)
    (s,) = lk.start(0.0)
    assert "from" not in s.msg
    assert m.parse_request(s.msg).get("count") == 8


def test_query_cap() -> None:
    lk = Lookup(TARGET, [P[i] for i in range(1, 10)], me=ME, alpha=2, max_queries=3)
    sends = lk.start(0.0)
    sends += lk.on_timeout(sends[0].peer, 1.0)
    sends += lk.on_timeout(sends[1].peer, 1.0)
    assert len(sends) == 3
    lk.on_timeout(sends[2].peer, 1.0)
    assert lk.done and lk.error == "exhausted"


POOL = [PeerRef(i * 7919 + 3, f"q{i}") for i in range(1, 25)]
outcome = st.one_of(
    st.just("timeout"),
    st.just("garbage"),
    st.tuples(st.lists(st.sampled_from(POOL), max_size=5), st.lists(st.sampled_from(POOL), max_size=5)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(POOL), min_size=1, max_size=6),
    st.lists(outcome, min_size=1, max_size=80),
    st.integers(0, 200000),
)
def test_any_sequence_of_answers_terminates_cleanly(seeds: list[PeerRef], script: list[Any], target: int) -> None:
    """Whatever peers answer (timeouts, garbage, arbitrary peer lists), a lookup never raises,
    never exceeds its query cap, and ends with peers it was told about (or an error)."""
    lk = Lookup(target, seeds, me=ME, alpha=3, max_queries=20)
    queue = list(lk.start(0.0))
    steps = 0
    while queue and not lk.done:
        s = queue.pop(0)
        o = script[steps % len(script)]
        steps += 1
        if o == "timeout":
            queue += lk.on_timeout(s.peer, 1.0)
        elif o == "garbage":
            queue += lk.on_reply(s.peer, {"op": "ring.find.reply", "successors": [1], "closer": []}, 1.0)
        else:
            queue += lk.on_reply(s.peer, found(list(o[0]), list(o[1])), 1.0)
    assert lk.queries <= 20
    assert lk.done  # every query was answered: the lookup cannot be left waiting
    if lk.done and lk.error is None:
        assert lk.result and set(lk.result) <= set(POOL)
        assert lk.hops >= 1
    assert steps <= 20
