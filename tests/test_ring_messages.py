"""Ring messages: strict validation; bad input into handle_request only ever gives RemoteProtocolError."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from note_compute.encoding import decode, encode
from note_compute.errors import NotAMember, RemoteProtocolError
from note_compute.ring import PeerRef, RingCore
from note_compute.ring import messages as m

ME = PeerRef(10**70, "sim://me")
OTHER = PeerRef(10**75, "sim://other")
THIRD = PeerRef(10**76, "sim://third")


def joined_core() -> RingCore:
    core = RingCore(ME, rng=random.Random(1))
    core.create(0.0)
    core.table.add(OTHER)
    core.table.set_predecessors([THIRD])
    return core


def test_valid_requests_answer_with_valid_replies() -> None:
    core = joined_core()
    for req in (m.ping(OTHER), m.ping(None), m.find(OTHER, 5, 8), m.neighbours(OTHER), m.notify(OTHER),
                m.leave(OTHER, [THIRD], [ME])):
        rep = core.handle_request(OTHER, req, 1.0)
        # Replies survive the wire encoding and validate strictly.
        parsed = m.parse_reply(decode(encode(rep)), req["op"])
        assert parsed.op == req["op"] + ".reply"


def test_find_reply_names_successor_or_closer() -> None:
    core = joined_core()
    # THIRD is our predecessor: keys in (THIRD, ME] are ours.
    rep = m.parse_reply(core.handle_request(OTHER, m.find(None, ME.id, 3), 0.0), m.FIND)
    assert rep.get("successors")[0] == ME and rep.get("closer") == ()
    # A key just after OTHER (our successor) lies beyond our window: closer peers.
    core2 = RingCore(ME, rng=random.Random(1))
    core2.create(0.0)
    core2.table.set_successors([OTHER])
    rep = m.parse_reply(core2.handle_request(THIRD, m.find(None, OTHER.id + 1, 3), 0.0), m.FIND)
    assert rep.get("successors") == () and rep.get("closer") == (OTHER,)


@pytest.mark.parametrize(
    "msg, reason",
    [
        (None, "not-a-map"),
        ([1, 2], "not-a-map"),
        (b"ring.ping", "not-a-map"),
        ({}, "no-op"),
        ({"op": 7}, "no-op"),
        ({"op": "ring.nope"}, "unknown-op"),
        ({"op": "store.put"}, "unknown-op"),
        ({"op": "ring.ping.reply", "id": b"\x00" * 32}, "unknown-op"),
        ({"op": "ring.ping", "extra": 1}, "unexpected-field"),
        ({"op": "ring.find", "count": 3}, "missing-field"),
        ({"op": "ring.find", "key": b"\x01" * 31, "count": 3}, "bad-id"),
        ({"op": "ring.find", "key": "x" * 32, "count": 3}, "bad-id"),
        ({"op": "ring.find", "key": b"\x01" * 32, "count": 0}, "bad-count"),
        ({"op": "ring.find", "key": b"\x01" * 32, "count": 33}, "bad-count"),
        ({"op": "ring.find", "key": b"\x01" * 32, "count": True}, "bad-count"),
        ({"op": "ring.find", "key": b"\x01" * 32, "count": 2.0}, "bad-count"),
        ({"op": "ring.notify"}, "missing-field"),
        ({"op": "ring.notify", "from": {"id": b"\x00" * 32}}, "bad-peer"),
        ({"op": "ring.notify", "from": {"id": b"\x00" * 32, "addr": ""}}, "bad-peer-addr"),
        ({"op": "ring.leave", "from": OTHER.to_wire(), "predecessors": [], "successors": {}}, "bad-peers"),
        (
            {"op": "ring.leave", "from": OTHER.to_wire(), "predecessors": [OTHER.to_wire()] * 33, "successors": []},
            "bad-peers",
        ),
        ({"op": "ring.leave", "from": OTHER.to_wire(), "predecessors": [1], "successors": []}, "bad-peer"),
        ({"op": "ring.notify", "from": THIRD.to_wire()}, "sender-mismatch"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(msg: object, reason: str) -> None:
    core = joined_core()
    before = (core.successors, core.predecessors)
    with pytest.raises(RemoteProtocolError) as ei:
        core.handle_request(OTHER, msg, 0.0)
    assert ei.value.reason == reason
    assert (core.successors, core.predecessors) == before  # nothing changed


def test_request_claiming_our_own_id_is_refused() -> None:
    core = joined_core()
    with pytest.raises(RemoteProtocolError) as ei:
        core.handle_request(ME, m.ping(None), 0.0)
    assert ei.value.reason == "self"


# Arbitrary CBOR-ish values, and dicts that look a lot like ring messages.
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8), st.binary(max_size=40),
    st.floats(allow_nan=True), st.sampled_from([b"\x00" * 32, ME.id_bytes, OTHER.id_bytes]),
)
values = st.recursive(
    leaves, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=12
)
peer_like = st.fixed_dictionaries(
    {
        "id": st.one_of(st.binary(min_size=30, max_size=33), st.just(OTHER.id_bytes)),
        "addr": st.one_of(st.text(max_size=4), values),
    }
)
fields = st.sampled_from(["from", "key", "count", "predecessors", "successors", "id", "closer", "x"])
field_values = st.one_of(values, peer_like, st.lists(peer_like, max_size=3), st.integers(-2, 40))
ring_like = st.builds(
    lambda op, extra: {"op": op, **extra},
    st.one_of(st.sampled_from(list(m.REQUEST_OPS)), st.text(max_size=12), values),
    st.dictionaries(fields, field_values, max_size=4),
)


def core_in_state(state: str) -> RingCore:
    if state == "joined":
        return joined_core()
    core = RingCore(ME, rng=random.Random(2))
    if state == "joining":
        core.join([OTHER], 0.0)
    elif state == "left":
        core.create(0.0)
        core.leave(0.0)
    return core


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(values, ring_like), st.sampled_from(["joined", "idle", "joining", "left"]))
def test_fuzzed_requests_never_raise_anything_else(msg: object, state: str) -> None:
    core = core_in_state(state)
    try:
        rep = core.handle_request(OTHER, msg, 0.0)
    except RemoteProtocolError as e:
        assert e.reason
    except NotAMember as e:  # a valid find/neighbours/notify to a node outside the ring
        assert state != "joined" and e.reason == state
        assert isinstance(msg, dict) and msg["op"] in (m.FIND, m.NEIGHBOURS, m.NOTIFY)
    else:
        m.parse_reply(rep)  # whatever we answered is itself valid
        assert isinstance(msg, dict) and msg["op"] in m.REQUEST_OPS
    core.take_actions()


@settings(max_examples=300, deadline=None)
@given(st.one_of(values, ring_like, st.builds(lambda s, c: {"op": "ring.find.reply", "successors": s, "closer": c},
                                             st.lists(peer_like, max_size=3), st.lists(peer_like, max_size=3))))
def test_fuzzed_replies_never_crash_the_core(reply: object) -> None:
    core = joined_core()
    _, actions = core.lookup(OTHER.id + 5, 0.0)
    sends = [a for a in actions if hasattr(a, "request_id")]
    assert sends
    out = core.on_reply(sends[0].request_id, reply, 0.1)  # bad replies count as that peer failing
    assert isinstance(out, list)
