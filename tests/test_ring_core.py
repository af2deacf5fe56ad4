"""RingCore commands, timers and the replication plan (pure functions)."""

from __future__ import annotations

import random

import pytest

from note_compute.errors import LocalProtocolError, Timeout
from note_compute.ring import (
    IDLE,
    JOINED,
    JOINING,
    LEFT,
    Handoff,
    Joined,
    JoinFailed,
    LookupDone,
    PeerRef,
    Range,
    ResponsibilityChanged,
    RingCore,
    Send,
    Transfer,
    plan,
)
from note_compute.ring import messages as m

P = {i: PeerRef(i * 100, f"p{i}") for i in range(1, 30)}


def core(me: PeerRef = P[10], **kw: object) -> RingCore:
    return RingCore(me, rng=random.Random(4), **kw)  # type: ignore[arg-type]


def sends(actions: list) -> list[Send]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, Send)]


def test_ring_of_one() -> None:
    c = core()
    assert c.next_tick() is None and c.primary_range() is None
    acts = c.create(0.0)
    (rc,) = [a for a in acts if isinstance(a, ResponsibilityChanged)]
    assert rc.primary == Range(P[10].id, P[10].id) and rc.held.full and rc.replicas == (P[10],)
    assert c.state == JOINED and c.next_tick() is not None
    rep = m.parse_reply(c.handle_request(P[3], m.find(None, 12345, 3), 0.0), m.FIND)
    assert rep.get("successors") == (P[10],)
    lid, acts = c.lookup(999, 0.0)
    assert [a for a in acts if isinstance(a, LookupDone)] == [LookupDone(lid, 999, (P[10],), 0)]
    with pytest.raises(LocalProtocolError):
        c.create(0.0)


def test_second_node_closes_a_ring_of_two() -> None:
    a, b = core(P[10]), core(P[20])
    a.create(0.0)
    acts = b.join([P[10]], 0.0)
    assert b.state == JOINING and b.next_tick() is None
    (s,) = sends(acts)
    rep = a.handle_request(P[20], s.msg, 0.0)
    acts = b.on_reply(s.request_id, rep, 0.1)
    assert b.state == JOINED and any(isinstance(x, Joined) for x in acts)
    assert b.successor == P[10]
    note = [x for x in sends(acts) if x.msg["op"] == m.NOTIFY][0]
    a.handle_request(P[20], note.msg, 0.1)
    assert a.predecessor == P[20] and a.successor == P[20]  # the lone node closes the ring
    changes = [x for x in a.take_actions() if isinstance(x, ResponsibilityChanged)]
    assert changes[-1].primary == Range(P[20].id, P[10].id)
    # a gave (10, 20] to b.
    assert Transfer(Range(P[10].id, P[20].id), (P[20],)) in changes[-1].transfers


def test_join_fails_when_bootstrap_is_silent() -> None:
    c = core()
    with pytest.raises(LocalProtocolError):
        c.join([], 0.0)
    with pytest.raises(LocalProtocolError):
        c.join([P[10]], 0.0)  # only ourselves
    (s,) = sends(c.join([P[3]], 0.0))
    acts = c.on_timeout(s.request_id, 2.0)
    assert acts == [JoinFailed("exhausted")] and c.state == IDLE
    assert c.on_timeout(s.request_id, 2.0) == []  # unknown / repeated id: ignored
    c.join([P[3]], 3.0)  # may try again
    assert c.state == JOINING


def joined(me: PeerRef, preds: list[PeerRef], succs: list[PeerRef], **kw: object) -> RingCore:
    c = core(me, **kw)
    c.create(0.0)
    c.table.set_successors(succs)
    c.table.set_predecessors(preds)
    c.take_actions()
    c._check_plan()
    c.take_actions()
    return c


def test_stabilize_adopts_a_live_node_between_us() -> None:
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    acts = c.tick(10.0)
    stab = [s for s in sends(acts) if s.peer == P[12]]
    check = [s for s in sends(acts) if s.peer == P[9]]
    assert stab and check and stab[0].msg["op"] == m.NEIGHBOURS
    # P12 says its predecessor is P11, between us: we notify P11 (and look ourselves up).
    reply = {"op": "ring.neighbours.reply", "predecessors": [P[11].to_wire()], "successors": [P[13].to_wire()]}
    acts = c.on_reply(stab[0].request_id, reply, 10.1)
    notes = [s for s in sends(acts) if s.msg["op"] == m.NOTIFY]
    assert [s.peer for s in notes] == [P[11]]
    assert c.successor == P[12]  # not adopted before it answers
    c.on_reply(notes[0].request_id, {"op": "ring.notify.reply"}, 10.2)
    assert c.successor == P[11]
    # check predecessor: P9's answer gives our predecessor list.
    c.on_reply(
        check[0].request_id, {"op": "ring.neighbours.reply", "predecessors": [P[6].to_wire()], "successors": []}, 10.2
    )
    assert c.predecessors == [P[9], P[6]]


def test_dead_successor_replaced_and_responsibility_moves() -> None:
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    stab = [s for s in sends(c.tick(10.0)) if s.peer == P[12]][0]
    acts = c.on_timeout(stab.request_id, 12.0)
    assert c.successor == P[13]
    assert [s.peer for s in sends(acts) if s.msg["op"] == m.NEIGHBOURS] == [P[13]]
    (rc,) = [a for a in acts if isinstance(a, ResponsibilityChanged)]
    assert rc.replicas == (P[10], P[13], P[14])
    assert Transfer(Range(P[9].id, P[10].id), (P[14],)) in rc.transfers


def test_dead_predecessor_dropped() -> None:
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    check = [s for s in sends(c.tick(10.0)) if s.peer == P[9]][0]
    acts = c.on_error(check.request_id, Timeout("x"), 12.0)
    assert c.predecessor == P[8]
    (rc,) = [a for a in acts if isinstance(a, ResponsibilityChanged)]
    assert rc.primary == Range(P[8].id, P[10].id)
    # The arc of the dead predecessor is ours now: pushed to our replicas.
    assert Transfer(Range(P[8].id, P[9].id), (P[12], P[13])) in rc.transfers


def test_notify_from_a_closer_node_hands_it_its_arc() -> None:
    c = joined(P[10], [P[8], P[7], P[6]], [P[12], P[13], P[14]])
    c.handle_request(P[9], m.notify(P[9]), 1.0)
    (rc,) = [a for a in c.take_actions() if isinstance(a, ResponsibilityChanged)]
    assert rc.primary == Range(P[9].id, P[10].id)
    assert Transfer(Range(P[8].id, P[9].id), (P[9],)) in rc.transfers
    assert rc.held == Range(P[7].id, P[10].id) and rc.dropped == (Range(P[6].id, P[7].id),)
    # A notify from farther away than our predecessor is ignored.
    c.handle_request(P[5], m.notify(P[5]), 1.0)
    assert c.predecessor == P[9]


def test_leave_tells_neighbours_and_hands_off() -> None:
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    _, _ = c.lookup(P[20].id, 0.0)
    acts = c.leave(1.0)
    assert c.state == LEFT
    leaves = [s for s in sends(acts) if s.msg["op"] == m.LEAVE]
    assert {s.peer for s in leaves} == {P[9], P[12]}
    (h,) = [a for a in acts if isinstance(a, Handoff)]
    assert set(h.transfers) == {
        Transfer(Range(P[9].id, P[10].id), (P[12], P[14])),
        Transfer(Range(P[8].id, P[9].id), (P[13],)),
        Transfer(Range(P[7].id, P[8].id), (P[12],)),
    }
    (done,) = [a for a in acts if isinstance(a, LookupDone)]
    assert done.error == "left" and not done.ok
    with pytest.raises(LocalProtocolError):
        c.lookup(1, 2.0)
    assert c.leave(2.0) == [] and c.tick(5.0) == [] and c.next_tick() is None


def test_receiving_leave_closes_the_gap() -> None:
    succ_side = joined(P[12], [P[10], P[9], P[8]], [P[13], P[14], P[15]])
    succ_side.handle_request(P[10], m.leave(P[10], [P[9], P[8], P[7]], [P[12], P[13]]), 1.0)
    assert succ_side.predecessors == [P[9], P[8], P[7]]
    pred_side = joined(P[9], [P[8], P[7], P[6]], [P[10], P[12], P[13]])
    pred_side.handle_request(P[10], m.leave(P[10], [P[9], P[8]], [P[12], P[13], P[14]]), 1.0)
    assert pred_side.successors[:3] == [P[12], P[13], P[14]]


def test_lookup_key_forms() -> None:
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    with pytest.raises(LocalProtocolError):
        c.lookup(b"short", 0.0)
    with pytest.raises(LocalProtocolError):
        c.lookup(-1, 0.0)
    lid, acts = c.lookup((950).to_bytes(32, "big"), 0.0)
    assert [a for a in acts if isinstance(a, LookupDone)][0].peers == (P[10], P[12], P[13])
    # A key in our successor's arc: verified by asking it.
    lid, acts = c.lookup(1150, 0.0)
    (s,) = sends(acts)
    assert s.peer == P[12]
    acts = c.on_reply(
        s.request_id,
        {"op": "ring.find.reply", "successors": [P[12].to_wire(), P[13].to_wire(), P[14].to_wire()], "closer": []},
        0.1,
    )
    assert [a for a in acts if isinstance(a, LookupDone)] == [LookupDone(lid, 1150, (P[12], P[13], P[14]), 1)]


def test_plan_functions() -> None:
    me, preds, succs = P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]]
    assert plan.primary_range(me, preds, succs) == Range(P[9].id, me.id)
    assert plan.primary_range(me, [], succs) is None
    assert plan.held_range(me, preds, succs, 3) == Range(P[7].id, me.id)
    assert plan.held_range(me, preds[:2], succs, 3).full
    assert plan.replica_peers(me, succs, 3) == (me, P[12], P[13])
    assert plan.replica_set(750, me, preds, succs, 3) == (P[8], P[9], me)
    assert plan.replica_set(1150, me, preds, succs, 3) == (P[12], P[13], P[14])
    assert plan.replica_set(1250, me, preds, succs, 3) is None  # third replica beyond what we know
    assert plan.replica_set(5000, me, preds, succs, 3) is None
    assert plan.replica_set(5, me, [], [], 3) == (me,)
    # Leave with no predecessor known: everything to every successor.
    assert plan.leave_transfers(me, [], succs, 3) == (Transfer(Range(me.id, me.id), (P[12], P[13], P[14])),)
    assert plan.leave_transfers(me, preds, [], 3) == ()
    assert plan.change_transfers(None, None, (), (me,), None) == ()


def test_bad_configuration() -> None:
    with pytest.raises(LocalProtocolError):
        RingCore("me", rng=random.Random(1))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        core(replicas=12)
    c = joined(P[10], [P[9]], [P[12]])
    with pytest.raises(LocalProtocolError):
        c.handle_request("p", m.ping(None), 0.0)  # type: ignore[arg-type]


def test_joined_node_cut_off_from_everyone_starts_over() -> None:
    c = core(P[20])
    (s,) = sends(c.join([P[10]], 0.0))
    reply = {"op": "ring.find.reply", "successors": [P[10].to_wire()], "closer": []}
    acts = c.on_reply(s.request_id, reply, 0.1)
    assert c.state == JOINED
    out = []
    for s in sends(acts):  # the notify and first stabilize go unanswered
        out += c.on_timeout(s.request_id, 3.0)
    assert c.state == IDLE and out.count(JoinFailed("isolated")) == 1
    assert c.next_tick() is None
    # The creator of a ring is never "isolated": alone is a ring of one.
    lone = joined(P[10], [P[9]], [P[12]])
    pending = sends(lone.tick(10.0))
    while pending:  # everyone it knows fails
        pending += sends(lone.on_timeout(pending.pop().request_id, 12.0))
    assert lone.table.peers() == [] and lone.state == JOINED
    assert m.parse_reply(lone.handle_request(P[3], m.find(None, 1, 3), 13.0), m.FIND).get("successors") == (P[10],)


def test_non_members_refuse_ring_requests() -> None:
    from note_compute.errors import NotAMember

    idle = core(P[20])
    for req in (m.find(None, 5, 3), m.neighbours(P[3]), m.notify(P[3])):
        with pytest.raises(NotAMember) as ei:
            idle.handle_request(P[3], req, 0.0)
        assert ei.value.reason == IDLE
    assert m.parse_reply(idle.handle_request(P[3], m.ping(P[3]), 0.0), m.PING).get("id") == P[20].id
    joining = core(P[20])
    joining.join([P[10]], 0.0)
    with pytest.raises(NotAMember):
        joining.handle_request(P[3], m.neighbours(P[3]), 0.0)
    # An error reply to our stabilize evicts that peer like a timeout does.
    c = joined(P[10], [P[9], P[8], P[7]], [P[12], P[13], P[14]])
    stab = [s for s in sends(c.tick(10.0)) if s.peer == P[12] and s.msg["op"] == m.NEIGHBOURS][0]
    c.on_error(stab.request_id, NotAMember("x"), 10.1)
    assert c.successor == P[13] and P[12].id not in c.table
