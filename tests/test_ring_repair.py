"""Ring repair after a failure: a dead peer is not taken back from a neighbour's stale list.

Before the fix a node evicted a dead successor, then re-adopted it from its
next successor's list (which still named it) at the next stabilization,
timed out on it again, and so on: in rings of at most ``n_successors + 1``
nodes every list wraps around the whole ring and a dead node circulated for
tens of seconds, sometimes for good (``benchmarks/bench_ring_repair.py``).
"""

from __future__ import annotations

import random

import pytest

from note_compute.ring import Handoff, PeerRef, RingCore, Send
from note_compute.ring import messages as m
from note_compute.ring.suspects import Suspects
from note_compute.testing import SimNetwork

P = {i: PeerRef(i * 100, f"p{i}") for i in range(1, 30)}


def joined(me: PeerRef, preds: list[PeerRef], succs: list[PeerRef]) -> RingCore:
    c = RingCore(me, rng=random.Random(4))
    c.create(0.0)
    c.table.set_successors(succs)
    c.table.set_predecessors(preds)
    c.take_actions()
    return c


def sends(actions: list) -> list[Send]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, Send)]


def neighbours_reply(preds: list[PeerRef], succs: list[PeerRef]) -> dict[str, object]:
    return {"op": "ring.neighbours.reply", "predecessors": [p.to_wire() for p in preds],
            "successors": [p.to_wire() for p in succs]}


def fail_successor(c: RingCore, now: float) -> Send:
    """Our successor times out on stabilize; returns the stabilize sent to the next one."""
    stab = next(s for s in sends(c.tick(now)) if s.msg["op"] == m.NEIGHBOURS and s.peer == c.successor)
    return next(s for s in sends(c.on_timeout(stab.request_id, now + 2.0)) if s.msg["op"] == m.NEIGHBOURS)


def test_a_peer_that_failed_is_not_taken_back_from_a_neighbours_list_until_it_answers() -> None:
    # A small ring 10 -> 12 -> 14 -> 16 -> 18 -> 10; P12 (our successor) dies.
    c = joined(P[10], [P[18], P[16], P[14]], [P[12], P[14], P[16], P[18]])
    stab = fail_successor(c, 10.0)
    assert stab.peer == P[14] and c.successor == P[14]
    # P14 has not noticed yet: its predecessor is P12 and its list wraps round to P12.
    acts = c.on_reply(stab.request_id, neighbours_reply([P[12], P[10]], [P[16], P[18], P[10], P[12]]), 12.1)
    assert c.successor == P[14] and P[12] not in c.successors  # was: P12 first again, another timeout
    probes = [s for s in sends(acts) if s.msg["op"] == m.PING]
    assert [s.peer for s in probes] == [P[12]]
    # Asked again a moment later: not probed again before probe_interval.
    stab2 = next(s for s in sends(c.tick(13.5)) if s.msg["op"] == m.NEIGHBOURS and s.peer == P[14])
    acts = c.on_reply(stab2.request_id, neighbours_reply([P[12], P[10]], [P[16], P[18], P[10], P[12]]), 13.6)
    assert P[12] not in c.successors and not [s for s in sends(acts) if s.msg["op"] == m.PING]
    # P12 was only slow (or restarted): it answers the probe and is our successor again.
    c.on_reply(probes[0].request_id, {"op": "ring.ping.reply", "id": P[12].id_bytes}, 13.7)
    assert c.successor == P[12] and not c.suspects.is_suspect(P[12].id, 13.7)


def test_a_request_from_a_suspect_clears_it() -> None:
    c = joined(P[10], [P[18], P[16]], [P[12], P[14], P[16]])
    fail_successor(c, 10.0)
    assert c.suspects.is_suspect(P[12].id, 12.0)
    c.handle_request(P[12], m.notify(P[12]), 12.5)  # the restarted peer notifies us
    assert not c.suspects.is_suspect(P[12].id, 12.5) and P[12] in c.successors


def test_suspicion_expires() -> None:
    s = Suspects(hold=30.0, probe_interval=2.0)
    s.mark(P[1].id, 0.0)
    assert s.screen([P[1], P[2]], 1.0) == ([P[2]], [P[1]])
    assert s.screen([P[1]], 2.0) == ([], [])
    assert s.screen([P[1]], 30.0) == ([P[1]], [])
    off = Suspects(hold=0.0, probe_interval=2.0)  # suspect_hold=0: the old behaviour
    off.mark(P[1].id, 0.0)
    assert not off.is_suspect(P[1].id, 0.0)
    small = Suspects(hold=30.0, probe_interval=2.0, max_size=3)
    for i in range(1, 6):
        small.mark(P[i].id, 0.0)
    assert len(small) == 3 and not small.is_suspect(P[1].id, 0.0) and small.is_suspect(P[5].id, 0.0)


def test_a_graceful_leaver_never_hands_records_to_a_peer_it_saw_fail() -> None:
    c = joined(P[10], [P[18], P[16], P[14]], [P[12], P[14], P[16], P[18]])
    stab = fail_successor(c, 10.0)
    # P14's stale list names P12 again; then we leave.
    c.on_reply(stab.request_id, neighbours_reply([P[12], P[10]], [P[16], P[18], P[10], P[12]]), 12.1)
    c.table.successors.insert(0, P[12])  # even if some path put it back, the leaver skips it
    acts = c.leave(12.2)
    (handoff,) = [a for a in acts if isinstance(a, Handoff)]
    targets = {p.id for t in handoff.transfers for p in t.peers}
    assert P[12].id not in targets and P[14].id in targets
    assert P[12] not in [s.peer for s in sends(acts)]  # ring.leave goes to live neighbours only


def test_a_stale_address_failing_does_not_evict_the_fresh_one() -> None:
    """A restarted peer came back on a new port; a lookup through an old copy of it fails."""
    c = joined(P[10], [P[18]], [P[12], P[14]])
    fresh = PeerRef(P[12].id, "p12-restarted")
    c.table.add(fresh)
    assert c.successor == fresh
    c._send("ping", P[12], m.ping(P[10]))  # a request to the old address (say, from a stale bucket)
    (old,) = sends(c.take_actions())
    assert old.peer.addr == "p12"
    c.on_timeout(old.request_id, 7.0)
    assert c.successor == fresh and not c.suspects.is_suspect(P[12].id, 7.0)


@pytest.mark.parametrize("seed", range(4))
def test_a_small_ring_repairs_kills_and_restarts_quickly(seed: int) -> None:
    """Six nodes, lists of 8 (they wrap): kill one, restart one; each time the ring (first three
    successors and predecessors included) is right again within 8 virtual seconds (a stabilize
    interval is 1 s, a request timeout 2 s). Before the fix most seeds took 10 s to forever."""
    net = SimNetwork(seed=seed)
    net.grow(6)
    net.run_for(15.0)
    assert net.ring_errors(3) == []
    for step in range(3):
        live = [x for x in net.nodes.values() if x.alive]
        victim = net.rng.choice(live)
        net.fail(victim)
        took = net.time_to_repair(8.0)
        assert took is not None, (step, net.ring_errors(3))
        net.run_for(1.0)
        back = net.new_node(victim.peer)  # restarted: same id, same address
        net.join(back, [net.rng.choice([x for x in net.nodes.values() if x.alive and x is not back])])
        took = net.time_to_repair(8.0)
        assert took is not None, (step, net.ring_errors(3))
        net.run_for(2.0)
