"""Bad input from a peer over real libp2p reaches a real store: typed error, nothing stored, node up.

The handler here is a minimal stand-in for the node's storage RPCs (the node
runtime has its own); what is tested is the path peer -> frames -> handler ->
Store / RateLimiter -> typed error reply -> typed exception at the peer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from note_compute import records, urls
from note_compute.crypto import SigningKey
from note_compute.errors import (
    Equivocation,
    InvalidEncoding,
    InvalidRecord,
    InvalidSignature,
    NotFound,
    QuotaExceeded,
    RateLimited,
    StaleRecord,
)
from note_compute.net import open_host
from note_compute.ring.ids import PeerRef
from note_compute.store import RateLimiter, Store, StoreLimits

pytestmark = pytest.mark.slow

NOW = 1_700_000_000
KEY = SigningKey(b"\x07" * 32)


def rec(seq: int, value: bytes = b"v", path: str = "/x") -> records.Record:
    return records.sign_record(KEY, urls.make_url(KEY.authority, path), seq=seq, value=value, created=NOW)


class Server:
    def __init__(self, store: Store, limiter: RateLimiter) -> None:
        self.store, self.limiter, self.clock = store, limiter, 0.0

    async def handle(self, sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        self.limiter.check(sender.id_bytes, self.clock)
        op = msg.get("op")
        if op == "put":
            result = self.store.put(msg["kind"], msg["key"], msg["data"], peer=sender.id_bytes, now=NOW)
            return {"result": result}
        if op == "get":
            return {"data": self.store.get(msg["key"]).data}
        return {}


@pytest.fixture
async def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = Store.in_dir(tmp_path / "server", limits=StoreLimits(peer_max_entries=5))
    server = Server(store, RateLimiter(rate=1, burst=1000))
    async with open_host(os.urandom(32), handler=server.handle) as srv, open_host(os.urandom(32)) as cli:
        yield cli, srv, server
    store.close()


async def put(cli: Any, srv: Any, kind: str, key: bytes, data: bytes) -> str:
    rep = await cli.request(srv.peer_ref, {"op": "put", "kind": kind, "key": key, "data": data}, timeout=5)
    return rep["result"]


async def test_every_refusal_arrives_typed_and_stores_nothing(pair: Any) -> None:
    cli, srv, server = pair
    good = rec(5, b"held")
    assert await put(cli, srv, "record", good.address, good.encode()) == "stored"
    before = [(e.key, e.data) for e in server.store.iter_entries()]

    forged = dataclasses.replace(good, value=b"forged")
    with pytest.raises(InvalidSignature):
        await put(cli, srv, "record", forged.address, forged.encode())
    with pytest.raises(StaleRecord):
        await put(cli, srv, "record", good.address, rec(4).encode())
    with pytest.raises(Equivocation) as eq:
        await put(cli, srv, "record", good.address, rec(5, b"other").encode())
    assert eq.value.proof is None  # the proof stays with the node that filed it
    with pytest.raises(InvalidRecord) as e:
        await put(cli, srv, "value", hashlib.sha256(b"a").digest(), b"b")
    assert e.value.reason == "hash-mismatch"
    with pytest.raises(InvalidRecord) as e:
        await put(cli, srv, "record", b"\x00" * 32, rec(6).encode())
    assert e.value.reason == "address-mismatch"
    with pytest.raises((InvalidEncoding, InvalidRecord)):
        await put(cli, srv, "record", good.address, b"\xa1garbage")

    assert [(e.key, e.data) for e in server.store.iter_entries()] == before
    assert len(server.store.equivocations()) == 1
    rep = await cli.request(srv.peer_ref, {"op": "get", "key": good.address}, timeout=5)
    assert rep["data"] == good.encode()
    with pytest.raises(NotFound):
        await cli.request(srv.peer_ref, {"op": "get", "key": b"\x01" * 32}, timeout=5)


async def test_quota_abuse_is_refused_per_peer(pair: Any) -> None:
    cli, srv, server = pair
    for i in range(5):
        await put(cli, srv, "value", hashlib.sha256(bytes([i])).digest(), bytes([i]))
    with pytest.raises(QuotaExceeded) as e:
        await put(cli, srv, "value", hashlib.sha256(b"\x09").digest(), b"\x09")
    assert e.value.reason == "peer-entries"
    assert server.store.count() == 5
    assert server.store.usage(cli.node_id_bytes) == (5, 5)


async def test_rate_limit_answers_typed_error_and_recovers(pair: Any) -> None:
    cli, srv, server = pair
    server.limiter = RateLimiter(rate=10, burst=3)
    for _ in range(3):
        await cli.request(srv.peer_ref, {"op": "noop"}, timeout=5)
    with pytest.raises(RateLimited) as e:
        await cli.request(srv.peer_ref, {"op": "noop"}, timeout=5)
    assert "retry in" in e.value.message
    server.clock += 1.0  # time is a parameter: a second later the bucket has refilled
    await cli.request(srv.peer_ref, {"op": "noop"}, timeout=5)


async def test_server_survives_a_flood_of_bad_requests(pair: Any) -> None:
    cli, srv, server = pair
    bad = dataclasses.replace(rec(1), value=b"evil")

    async def spam() -> None:
        for _ in range(10):
            with pytest.raises(InvalidSignature):
                await put(cli, srv, "record", bad.address, bad.encode())

    async with trio.open_nursery() as n:
        for _ in range(8):
            n.start_soon(spam)
    assert server.store.count() == 0
    good = rec(1)
    assert await put(cli, srv, "record", good.address, good.encode()) == "stored"
