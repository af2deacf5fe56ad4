"""The ring on the in-memory network: hop counts, failures, joins, leaves, hand-off.

Tests use N = 1,500 and 1,000 (the N = 10,000 figures are in benchmarks/bench_ring_sim.py)
with the issue's bounds: mean hops <= 0.5 * log2(N) + 1, >= 99 % of lookups
right with 20 % of nodes silently failed and no repair, 100 % after
stabilization.
"""

from __future__ import annotations

import math

import pytest

from note_compute.ring import JOINED, Handoff, LookupDone, ResponsibilityChanged, Transfer
from note_compute.ring.ids import Range
from note_compute.testing import SimNetwork

N = 1500


def run_lookups(net: SimNetwork, count: int) -> tuple[list[LookupDone], int]:
    """Run ``count`` lookups from random live nodes for random keys; return results and how many were right."""
    return net.random_lookups(count)


@pytest.fixture(scope="module")
def converged() -> SimNetwork:
    net = SimNetwork(seed=7, maintenance=False)
    net.build_converged(N)
    return net


def test_converged_ring_hops_within_chord_bound(converged: SimNetwork) -> None:
    results, right = run_lookups(converged, 600)
    assert right == 600
    mean_hops = sum(r.hops for r in results) / len(results)
    assert mean_hops <= 0.5 * math.log2(N) + 1, mean_hops
    assert mean_hops >= 1  # lookups really travel
    # The replica set is the key's successor and the next r - 1 nodes.
    for r in results[:200]:
        assert [p.id for p in r.peers] == converged.true_successors(r.key, 3)


def test_silent_failures_then_stabilization() -> None:
    n_nodes = 1000
    net = SimNetwork(seed=11, maintenance=False)
    nodes = net.build_converged(n_nodes)
    for n in net.rng.sample(nodes, n_nodes // 5):
        net.fail(n)
    _, right = run_lookups(net, 500)
    assert right >= 0.99 * 500, right
    net.start_maintenance()
    # Dead successors are skipped one timeout (2 s) at a time; a few runs of
    # consecutive dead nodes take a handful of rounds.
    net.run_for(14.0)
    assert net.ring_errors() == []
    _, right = run_lookups(net, 500)
    assert right == 500


@pytest.fixture(scope="module")
def grown() -> SimNetwork:
    net = SimNetwork(seed=3)
    net.grow(150, settle=0.1)
    net.run_for(25.0)
    return net


def test_joins_through_bootstrap_converge(grown: SimNetwork) -> None:
    assert all(n.core.state == JOINED for n in grown.nodes.values())
    assert grown.ring_errors() == []
    ids = grown.live_ids()
    for pos, i in enumerate(ids):
        core = grown.nodes[i].core
        assert [p.id for p in core.successors] == [ids[(pos + j) % len(ids)] for j in range(1, 9)]
        assert [p.id for p in core.predecessors] == [ids[(pos - j) % len(ids)] for j in range(1, 4)]
        assert core.primary_range() == Range(ids[pos - 1], i)
        assert core.held_range() == Range(ids[pos - 3], i)
    results, right = run_lookups(grown, 200)
    assert right == 200
    for r in results:
        assert [p.id for p in r.peers] == grown.true_successors(r.key, 3)


def test_replica_set_from_neighbourhood(grown: SimNetwork) -> None:
    ids = grown.live_ids()
    node = grown.nodes[ids[10]].core
    for key in (ids[7] + 1, ids[8], ids[9] + 5, ids[10], ids[12], ids[14] + 1):
        assert [p.id for p in node.replica_set(key)] == grown.true_successors(key, 3)
        assert node.must_hold(key) == (ids[10] in grown.true_successors(key, 3))
    assert node.replica_set(ids[100]) is None  # beyond what it knows: use a lookup


def test_join_moves_responsibility() -> None:
    net = SimNetwork(seed=5)
    nodes = net.grow(40, settle=0.1)
    net.run_for(15.0)
    assert net.ring_errors() == []
    for n in nodes:
        n.events.clear()
    newcomer = net.new_node()
    net.join(newcomer, [nodes[0]])
    net.run_for(6.0)
    assert net.ring_errors() == []
    ids = net.live_ids()
    pos = ids.index(newcomer.id)
    succ = net.nodes[ids[(pos + 1) % len(ids)]]
    pred_id = ids[pos - 1]
    # The successor gave up (pred, newcomer] and pushed it to the newcomer.
    changes = [e for e in succ.events if isinstance(e, ResponsibilityChanged)]
    assert changes and changes[-1].primary == Range(newcomer.id, succ.id)
    pushed = [t for c in changes for t in c.transfers if newcomer.id in {p.id for p in t.peers}]
    assert any(t.range == Range(pred_id, newcomer.id) for t in pushed)
    # The newcomer knows what it must hold.
    assert newcomer.core.primary_range() == Range(pred_id, newcomer.id)
    assert any(isinstance(e, ResponsibilityChanged) for e in newcomer.events)
    # The node 3 behind the newcomer no longer holds keys in (p, newcomer]: it dropped an arc.
    third = net.nodes[ids[(pos + 3) % len(ids)]]
    drops = [d for e in third.events if isinstance(e, ResponsibilityChanged) for d in e.dropped]
    assert Range(pred_id, newcomer.id) in drops
    assert third.core.held_range() == Range(newcomer.id, third.id)


def test_graceful_leave_hands_off() -> None:
    net = SimNetwork(seed=9)
    nodes = net.grow(40, settle=0.1)
    net.run_for(15.0)
    ids = net.live_ids()
    pos = 20
    leaver = net.nodes[ids[pos]]
    s = [ids[(pos + j) % len(ids)] for j in range(1, 4)]
    p = [ids[(pos - j) % len(ids)] for j in range(1, 4)]
    for n in nodes:
        n.events.clear()
    net.leave(leaver)
    hand = [e for e in leaver.events if isinstance(e, Handoff)]
    assert len(hand) == 1
    got = {(t.range, tuple(x.id for x in t.peers)) for t in hand[0].transfers}
    assert got == {
        (Range(p[0], ids[pos]), (s[0], s[2])),  # primary arc: new successor and new third replica
        (Range(p[1], p[0]), (s[1],)),
        (Range(p[2], p[1]), (s[0],)),
    }
    net.run_for(0.2)  # the leave messages arrive: no stabilization needed to close the gap
    succ, pred = net.nodes[s[0]].core, net.nodes[p[0]].core
    assert succ.predecessor.id == p[0] and pred.successor.id == s[0]
    assert succ.primary_range() == Range(p[0], s[0])
    changes = [e for e in net.nodes[s[0]].events if isinstance(e, ResponsibilityChanged)]
    assert changes and changes[-1].primary == Range(p[0], s[0])
    net.run_for(5.0)
    assert net.ring_errors() == []


def test_failure_moves_responsibility() -> None:
    net = SimNetwork(seed=13)
    nodes = net.grow(40, settle=0.1)
    net.run_for(15.0)
    ids = net.live_ids()
    pos = 15
    victim = net.nodes[ids[pos]]
    succ, pred = net.nodes[ids[pos + 1]], net.nodes[ids[pos - 1]]
    for n in nodes:
        n.events.clear()
    net.fail(victim)
    net.run_for(8.0)
    assert net.ring_errors() == []
    # The successor took over (pred, victim] and pushed it to its replicas.
    sc = [e for e in succ.events if isinstance(e, ResponsibilityChanged)]
    assert sc and sc[-1].primary == Range(pred.id, succ.id)
    gained = [t for e in sc for t in e.transfers if t.range == Range(pred.id, victim.id)]
    assert gained and {p.id for p in gained[0].peers} >= {ids[pos + 2]}
    # The predecessor's replica set lost the victim and gained a new member, who got its arc.
    pc = [e for e in pred.events if isinstance(e, ResponsibilityChanged)]
    assert pc and [p.id for p in pc[-1].replicas] == [pred.id, succ.id, ids[pos + 2]]
    assert any(
        Transfer(Range(ids[pos - 2], pred.id), (net.nodes[ids[pos + 2]].peer,)) == t for e in pc for t in e.transfers
    )


def test_simulation_is_deterministic() -> None:
    def once() -> list[tuple[int, int]]:
        net = SimNetwork(seed=21)
        net.grow(30, settle=0.1)
        net.run_for(5.0)
        res, _ = run_lookups(net, 20)
        return [(r.hops, r.peers[0].id if r.peers else 0) for r in res] + [(net.messages, 0)]

    assert once() == once()


def test_burst_of_concurrent_joins_converges() -> None:
    net = SimNetwork(seed=17)
    base = net.grow(20, settle=0.1)
    net.run_for(5.0)
    newcomers = [net.new_node() for _ in range(30)]
    for n in newcomers:  # all at the same instant, through the same node
        net.join(n, [base[0]])
    net.run_for(15.0)
    assert all(n.core.state == JOINED for n in newcomers)
    assert net.ring_errors() == []
    _, right = run_lookups(net, 100)
    assert right == 100


def test_join_through_a_joining_node_retries() -> None:
    net = SimNetwork(seed=19)
    a = net.new_node()
    net.create(a)
    b, c = net.new_node(), net.new_node()
    net.join(b, [a])
    net.join(c, [b])  # b is still joining: it knows nobody yet
    net.run_for(0.5)
    assert c.core.state != JOINED
    net.run_for(5.0)
    assert c.core.state == JOINED and net.ring_errors() == []


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_random_churn_then_repair(seed: int) -> None:
    """Joins, graceful leaves and silent failures interleaved; once churn stops, all is right again."""
    net = SimNetwork(seed=seed)
    nodes = net.grow(30, settle=0.1)
    net.run_for(10.0)
    for _ in range(20):
        live = [n for n in nodes if n.alive and n.core.state == JOINED]
        op = net.rng.random()
        if op < 0.4:
            newcomer = net.new_node()
            net.join(newcomer, [net.rng.choice(live)])
            nodes.append(newcomer)
        elif op < 0.7:
            net.leave(net.rng.choice(live))
        else:
            net.fail(net.rng.choice(live))
        net.run_for(net.rng.uniform(0.0, 1.0))
    net.run_for(20.0)
    assert net.ring_errors() == []
    ids = net.live_ids()
    for pos, i in enumerate(ids):
        core = net.nodes[i].core
        assert core.held_range() == Range(ids[pos - 3], i)
        assert [p.id for p in core.replica_peers()] == [i, ids[(pos + 1) % len(ids)], ids[(pos + 2) % len(ids)]]
    results, right = run_lookups(net, 100)
    assert right == 100
    assert all([p.id for p in r.peers] == net.true_successors(r.key, 3) for r in results)
