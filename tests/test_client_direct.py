"""Client.get_value(direct=True): one round trip when the client knows the ring, a lookup when it guessed wrong."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import trio

from note_compute.client import Client
from note_compute.errors import NotFound, Timeout
from note_compute.ring.ids import PeerRef, distance, id_from_bytes


class FakeHost:
    """Answers store.get from per-peer dicts; records every request."""

    def __init__(self, held: dict[int, dict[bytes, bytes]], dead: set[int] = frozenset(),  # type: ignore[assignment]
                 slow: dict[int, float] | None = None) -> None:
        self.held, self.dead, self.slow = held, dead, slow or {}
        self.sent: list[tuple[int, str, float]] = []
        self.at: list[float] = []

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.sent.append((peer.id, msg["op"], timeout))
        self.at.append(trio.current_time())
        if peer.id in self.dead:
            raise Timeout("no reply", reason="request-timeout")
        if msg["op"] == "ring.ping":
            return {"op": "ring.ping.reply"}
        await trio.sleep(self.slow.get(peer.id, 0.0))
        data = self.held.get(peer.id, {}).get(msg["key"])
        if data is None:
            raise NotFound("not held", reason="missing")
        return {"op": msg["op"] + ".reply", "kind": "value", "data": data}


def _ring(n: int = 8) -> list[PeerRef]:
    return [PeerRef(id_from_bytes(os.urandom(32)), f"/ip4/127.0.0.1/tcp/{4000 + i}/p2p/x{i}") for i in range(n)]


def _successors(peers: list[PeerRef], key: bytes, r: int = 3) -> list[PeerRef]:
    t = id_from_bytes(key)
    return sorted(peers, key=lambda p: distance(t, p.id))[:r]


async def test_direct_get_asks_the_computed_replica_once() -> None:
    peers = _ring()
    data = b"chunk bytes"
    key = hashlib.sha256(data).digest()
    owner = _successors(peers, key)[0]
    host = FakeHost({owner.id: {key: data}})
    client = Client(host, peers)

    async def no_lookup(*a: Any) -> Any:
        raise AssertionError("a direct get must not look up")

    client._lookup = no_lookup  # type: ignore[method-assign]
    assert await client.get_value(key, direct=True) == data
    assert host.sent == [(owner.id, "store.get", client.timeout)]


async def test_wrong_guess_or_dead_peer_falls_back_to_the_lookup() -> None:
    peers = _ring()
    data = b"more bytes"
    key = hashlib.sha256(data).digest()
    succ = _successors(peers, key)
    real = next(p for p in peers if p not in succ)  # the ring moved on: not where the client computes
    host = FakeHost({real.id: {key: data}}, dead={succ[0].id})
    client = Client(host, peers)
    looked: list[bytes] = []

    async def lookup(k: bytes, count: int) -> tuple[PeerRef, ...]:
        looked.append(k)
        return (real,)

    client._lookup = lookup  # type: ignore[method-assign]
    assert await client.get_value(key, direct=True) == data
    assert looked == [key] and host.sent[0][0] == succ[0].id and host.sent[-1][0] == real.id


async def test_tampered_direct_answer_is_refused_then_fetched_honestly() -> None:
    peers = _ring()
    data = b"honest bytes"
    key = hashlib.sha256(data).digest()
    owner = _successors(peers, key)[0]
    other = next(p for p in peers if p.id != owner.id)
    host = FakeHost({owner.id: {key: b"forged bytes"}, other.id: {key: data}})
    client = Client(host, peers)

    async def lookup(k: bytes, count: int) -> tuple[PeerRef, ...]:
        return (other,)

    client._lookup = lookup  # type: ignore[method-assign]
    assert await client.get_value(key, direct=True) == data


async def test_a_slow_replica_is_hedged_not_abandoned(autojump_clock: Any) -> None:
    """No answer within the hedge delay: the next computed replica is asked too, the first good answer
    wins, and the slow one (alive, only busy) stays known."""
    peers = _ring()
    data = b"popular bytes"
    key = hashlib.sha256(data).digest()
    succ = _successors(peers, key)
    host = FakeHost({succ[0].id: {key: data}, succ[1].id: {key: data}}, slow={succ[0].id: 1.5})
    client = Client(host, peers)

    async def no_lookup(*a: Any) -> Any:
        raise AssertionError("a direct get must not look up")

    client._lookup = no_lookup  # type: ignore[method-assign]
    t0 = trio.current_time()
    assert await client.get_value(key, direct=True) == data
    assert [s[0] for s in host.sent] == [succ[0].id, succ[1].id]
    assert host.at[1] - t0 == pytest.approx(0.5) and trio.current_time() - t0 == pytest.approx(0.5)
    assert succ[0].id in client._known
    # The hedge delay follows the answer times: once answers take seconds, it waits 3x longer.
    client._direct_latency = 1.0
    host.sent.clear()
    host.at.clear()
    t0 = trio.current_time()
    assert await client.get_value(key, direct=True) == data
    assert [s[0] for s in host.sent] == [succ[0].id] and trio.current_time() - t0 == pytest.approx(1.5)


async def test_not_held_where_computed_goes_to_the_lookup_at_once() -> None:
    """NotFound from the computed replica means our view of the ring is off there: look it up."""
    peers = _ring()
    data = b"moved bytes"
    key = hashlib.sha256(data).digest()
    succ = _successors(peers, key)
    other = next(p for p in peers if p not in succ)
    host = FakeHost({other.id: {key: data}})
    client = Client(host, peers)

    async def lookup(k: bytes, count: int) -> tuple[PeerRef, ...]:
        return (other,)

    client._lookup = lookup  # type: ignore[method-assign]
    assert await client.get_value(key, direct=True) == data
    assert [s[0] for s in host.sent] == [succ[0].id, other.id]


async def test_keep_alive_pings_known_peers_and_forgets_dead_ones() -> None:
    peers = _ring(6)
    host = FakeHost({}, dead={peers[2].id})
    client = Client(host, peers)
    assert await client.keep_alive(limit=16) == 5
    assert sorted(s[0] for s in host.sent) == sorted(p.id for p in peers)
    assert all(op == "ring.ping" for _, op, _ in host.sent)
    assert peers[2].id not in client._known and len(client._known) == 5
    host.sent.clear()
    assert await client.keep_alive(limit=3) == 3 and len(host.sent) == 3


class RecordHost:
    """Answers store.get with records held per peer."""

    def __init__(self, held: dict[int, bytes]) -> None:
        self.held = held
        self.asked: list[int] = []

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.asked.append(peer.id)
        data = self.held.get(peer.id)
        if data is None:
            raise NotFound("not held", reason="missing")
        return {"op": "store.get.reply", "kind": "record", "data": data}


async def test_direct_record_get_asks_the_computed_replicas_and_keeps_the_freshest() -> None:
    from note_compute import records, urls
    from note_compute.crypto import SigningKey

    key = SigningKey.generate()
    url = urls.make_url(key.authority, "/.note-site")
    old, new = (records.sign_record(key, url, seq=s, created=1, value=b"v%d" % s) for s in (1, 2))
    peers = _ring()
    succ = _successors(peers, urls.address(url))
    host = RecordHost({succ[0].id: old.encode(), succ[1].id: new.encode(), succ[2].id: old.encode()})
    client = Client(host, peers)

    async def no_lookup(*a: Any) -> Any:
        raise AssertionError("a direct get must not look up")

    client._lookup = no_lookup  # type: ignore[method-assign]
    assert (await client.get_record(url, direct=True)).seq == 2
    assert sorted(host.asked) == sorted(p.id for p in succ)

    # Our view is off (none of the computed replicas holds it): the lookup finds where it is.
    elsewhere = [p for p in peers if p not in succ][:3]
    host = RecordHost({p.id: new.encode() for p in elsewhere})
    client = Client(host, peers)

    async def lookup(k: bytes, count: int) -> tuple[PeerRef, ...]:
        return tuple(elsewhere)

    client._lookup = lookup  # type: ignore[method-assign]
    assert (await client.get_record(url, direct=True)).seq == 2
    assert set(host.asked[:5]) <= {p.id for p in _successors(peers, urls.address(url), 5)}
