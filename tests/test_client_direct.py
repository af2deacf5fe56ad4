"""Client.get_value(direct=True): one round trip when the client knows the ring, a lookup when it guessed wrong."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from note_compute.client import Client
from note_compute.errors import NotFound, Timeout
from note_compute.ring.ids import PeerRef, distance, id_from_bytes


class FakeHost:
    """Answers store.get from per-peer dicts; records every request."""

    def __init__(self, held: dict[int, dict[bytes, bytes]], dead: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.held, self.dead = held, dead
        self.sent: list[tuple[int, str, float]] = []

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.sent.append((peer.id, msg["op"], timeout))
        if peer.id in self.dead:
            raise Timeout("no reply", reason="request-timeout")
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
    assert host.sent == [(owner.id, "store.get", 0.5)]


async def test_wrong_guess_or_dead_peer_falls_back_to_the_lookup() -> None:
    peers = _ring()
    data = b"more bytes"
    key = hashlib.sha256(data).digest()
    succ = _successors(peers, key)
    real = peers[(peers.index(succ[0]) + 1) % len(peers)] if len(peers) > 3 else succ[0]
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
