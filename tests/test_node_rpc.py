"""Storage RPCs of a real node against bad input from a peer (in-process libp2p hosts).

One node runs with small quotas; an "attacker" host sends forged records,
wrong hashes, stale seqs, oversize data, quota and rate abuse, malformed
messages. Every one gets a typed error reply, nothing is stored, and the
node keeps serving.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from note_compute import records, urls
from note_compute.crypto import SigningKey
from note_compute.errors import (
    InvalidEncoding,
    InvalidRecord,
    InvalidSignature,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RemoteProtocolError,
    StaleRecord,
)
from note_compute.net import open_host
from note_compute.node import NodeConfig, open_node
from note_compute.node.storage import get_msg, put_msg, sync_msg
from note_compute.store import StoreLimits

pytestmark = pytest.mark.slow

T = 5.0


def _record(key: SigningKey, path: str = "/a", seq: int = 1, value: bytes = b"v") -> records.Record:
    return records.sign_record(key, urls.make_url(key.authority, path), seq=seq, value=value, created=int(time.time()))


@asynccontextmanager
async def _node_and_peer(tmp_path: Path, **cfg: object) -> AsyncIterator[tuple[object, object]]:
    config = NodeConfig(data_dir=tmp_path / "n", **cfg)  # type: ignore[arg-type]
    async with open_node(config, leave_on_exit=False) as node:
        async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as peer:
            yield node, peer


async def _still_serves(node: object, peer: object) -> None:
    """The node answers a valid request after the bad ones."""
    k = SigningKey.generate()
    rec = _record(k, "/ok")
    reply = await peer.request(node.me, put_msg("record", rec.address, rec.encode()), T)  # type: ignore[attr-defined]
    assert reply["result"] == "stored"
    got = await peer.request(node.me, get_msg(rec.address), T)  # type: ignore[attr-defined]
    assert got["data"] == rec.encode()


async def test_put_get_round_trip_and_unchanged(tmp_path: Path) -> None:
    async with _node_and_peer(tmp_path) as (node, peer):
        k = SigningKey.generate()
        rec = _record(k)
        msg = put_msg("record", rec.address, rec.encode())
        assert (await peer.request(node.me, msg, T))["result"] == "stored"
        assert (await peer.request(node.me, msg, T))["result"] == "unchanged"
        newer = _record(k, seq=2, value=b"w")
        assert (await peer.request(node.me, put_msg("record", newer.address, newer.encode()), T))[
            "result"
        ] == "replaced"
        got = await peer.request(node.me, get_msg(rec.address), T)
        assert got["kind"] == "record" and records.decode_verified(got["data"]).seq == 2
        data = os.urandom(1000)
        addr = hashlib.sha256(data).digest()
        assert (await peer.request(node.me, put_msg("value", addr, data), T))["result"] == "stored"
        assert (await peer.request(node.me, get_msg(addr), T))["data"] == data
        with pytest.raises(NotFound):
            await peer.request(node.me, get_msg(os.urandom(32)), T)


async def test_forged_wrong_hash_stale_refused_nothing_stored(tmp_path: Path) -> None:
    async with _node_and_peer(tmp_path) as (node, peer):
        k = SigningKey.generate()
        good = _record(k, seq=5)
        await peer.request(node.me, put_msg("record", good.address, good.encode()), T)
        before = node.store.count()

        # Forged: signature by another key over this authority's URL.
        mallory = SigningKey.generate()
        forged = replace(good, seq=6, signature=mallory.sign(b"note-compute/v1/record\x00", good.body()))
        with pytest.raises(InvalidSignature):
            await peer.request(node.me, put_msg("record", forged.address, forged.encode()), T)
        # Tampered bytes (flip a byte of the value) -> signature fails or decoding fails.
        raw = bytearray(_record(k, seq=7, value=b"hello").encode())
        raw[raw.index(b"hello")] ^= 1
        with pytest.raises((InvalidSignature, InvalidEncoding, InvalidRecord)):
            await peer.request(node.me, put_msg("record", good.address, bytes(raw)), T)
        # Stale: lower seq than held.
        stale = _record(k, seq=4)
        with pytest.raises(StaleRecord):
            await peer.request(node.me, put_msg("record", stale.address, stale.encode()), T)
        # Record sent for another key than its address.
        other = _record(k, path="/b", seq=9)
        with pytest.raises(InvalidRecord) as ei:
            await peer.request(node.me, put_msg("record", os.urandom(32), other.encode()), T)
        assert ei.value.reason == "address-mismatch"
        # Content-addressed value under the wrong hash.
        with pytest.raises(InvalidRecord) as ei:
            await peer.request(node.me, put_msg("value", os.urandom(32), b"some bytes"), T)
        assert ei.value.reason == "hash-mismatch"
        # Garbage instead of a record.
        with pytest.raises((InvalidEncoding, InvalidRecord)):
            await peer.request(node.me, put_msg("record", good.address, b"\xff\x00garbage"), T)

        assert node.store.count() == before
        assert records.Record.decode(node.store.get(good.address).data).seq == 5
        await _still_serves(node, peer)


@pytest.mark.parametrize(
    "msg, reason",
    [
        ({"op": "store.put", "kind": "record", "key": b"\x00" * 32}, "missing-field"),
        ({"op": "store.put", "kind": "blob", "key": b"\x00" * 32, "data": b"x"}, "bad-kind"),
        ({"op": "store.put", "kind": "value", "key": b"\x00" * 31, "data": b"x"}, "bad-key"),
        ({"op": "store.put", "kind": "value", "key": b"\x00" * 32, "data": "text"}, "bad-data"),
        ({"op": "store.put", "kind": "value", "key": b"\x00" * 32, "data": b"x", "extra": 1}, "unexpected-field"),
        ({"op": "store.get"}, "missing-field"),
        ({"op": "store.get", "key": 7}, "bad-key"),
        ({"op": "store.sync", "range": [b"\x00" * 32], "digests": []}, "bad-range"),
        ({"op": "store.sync", "range": [b"\x00" * 32, b"\x01" * 32], "digests": [[b"\x00" * 32, -1, b"\x00" * 32]]},
         "bad-int"),
        ({"op": "store.sync", "range": [b"\x00" * 32, b"\x01" * 32], "digests": [[b"\x00" * 32]]}, "bad-digest"),
        ({"op": "store.sync", "range": [b"\x00" * 32, b"\x01" * 32], "digests": "all"}, "bad-digests"),
        ({"op": "store.nuke"}, "unknown-op"),
        ({"op": "no.such.op"}, "unknown-op"),
        ({"op": "node.status", "x": 1}, "unexpected-field"),
        ({"op": 5}, "no-op"),
        ({"op": "ring.find", "key": b"\x00", "count": 3}, "bad-id"),
    ],
)
async def test_malformed_requests_get_typed_errors(tmp_path: Path, msg: dict, reason: str) -> None:
    async with _node_and_peer(tmp_path) as (node, peer):
        with pytest.raises(RemoteProtocolError) as ei:
            await peer.request(node.me, msg, T)
        assert ei.value.reason == reason
        assert node.store.count() == 0
        await _still_serves(node, peer)


async def test_oversize_quota_and_rate_limits(tmp_path: Path) -> None:
    limits = StoreLimits(max_entry_size=4096, peer_max_bytes=10_000, peer_max_entries=3)
    async with _node_and_peer(tmp_path, limits=limits, rate=50.0, burst=40.0) as (node, peer):
        big = os.urandom(5000)
        with pytest.raises(QuotaExceeded) as ei:
            await peer.request(node.me, put_msg("value", hashlib.sha256(big).digest(), big), T)
        assert ei.value.reason == "entry-too-large"
        # Three entries fit in the entry quota, the fourth does not.
        for _ in range(3):
            d = os.urandom(100)
            await peer.request(node.me, put_msg("value", hashlib.sha256(d).digest(), d), T)
        d = os.urandom(100)
        with pytest.raises(QuotaExceeded) as ei:
            await peer.request(node.me, put_msg("value", hashlib.sha256(d).digest(), d), T)
        assert ei.value.reason == "peer-entries"
        assert node.store.count() == 3
        # Hammer it: the bucket (burst 40) runs dry and the node says so. The bucket's clock is
        # frozen, so no token comes back however slowly a loaded machine serves the requests.
        frozen = node.storage.clock()
        node.storage.clock = lambda: frozen
        outcomes: list[str] = []

        async def one() -> None:
            try:
                await peer.request(node.me, get_msg(os.urandom(32)), T)
            except RateLimited:
                outcomes.append("limited")
            except NotFound:
                outcomes.append("not-found")

        async with trio.open_nursery() as nursery:
            for _ in range(80):
                nursery.start_soon(one)
        assert len(outcomes) == 80
        assert "limited" in outcomes and "not-found" in outcomes
        # The node itself is fine: a ring request (not rate limited) still gets an answer.
        reply = await peer.request(node.me, {"op": "ring.ping"}, T)
        assert reply["id"] == node.node_id


async def test_sync_reports_wanted_and_newer(tmp_path: Path) -> None:
    from note_compute.store import Digest

    async with _node_and_peer(tmp_path) as (node, peer):
        k = SigningKey.generate()
        held_new = _record(k, "/x", seq=9)
        held_old = _record(k, "/y", seq=1)
        for r in (held_new, held_old):
            await peer.request(node.me, put_msg("record", r.address, r.encode()), T)
        missing = os.urandom(32)
        digests = [
            Digest(held_new.address, "record", 3, b"\x00" * 32),  # we are older -> node has newer
            Digest(held_old.address, "record", 2, b"\x00" * 32),  # we are newer -> node wants it
            Digest(missing, "value", 0, missing),                 # node lacks it -> wants it
        ]
        reply = await peer.request(node.me, sync_msg(b"\x00" * 32, b"\x00" * 32, digests), T)
        assert sorted(reply["want"]) == sorted([held_old.address, missing])
        assert reply["newer"] == [held_new.address]


async def test_status_and_extra_handler(tmp_path: Path) -> None:
    async with _node_and_peer(tmp_path) as (node, peer):
        seen: list[bytes] = []

        async def echo(sender, msg):  # type: ignore[no-untyped-def]
            seen.append(sender.id_bytes)
            return {"op": "demo.echo.reply", "x": msg.get("x")}

        node.register_handler("demo.echo", echo)
        with pytest.raises(ValueError):
            node.register_handler("store.put", echo)
        assert (await peer.request(node.me, {"op": "demo.echo", "x": 3}, T))["x"] == 3
        assert seen == [peer.node_id_bytes]
        st = await peer.request(node.me, {"op": "node.status"}, T)
        assert st["id"] == node.node_id and st["state"] == "joined" and st["records"] == 0
        # The node's signing key is its libp2p identity: node id = SHA-256(public key).
        assert hashlib.sha256(node.signing_key.public_key).digest() == node.node_id


async def test_restarted_node_keeps_identity_and_records(tmp_path: Path) -> None:
    k = SigningKey.generate()
    rec = _record(k, "/durable")
    async with _node_and_peer(tmp_path) as (node, peer):
        first_id = node.node_id
        await peer.request(node.me, put_msg("record", rec.address, rec.encode()), T)
    assert oct((tmp_path / "n" / "node.key").stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "n" / "node.json").exists()
    async with _node_and_peer(tmp_path) as (node, peer):
        assert node.node_id == first_id
        got = await peer.request(node.me, get_msg(rec.address), T)
        assert records.decode_verified(got["data"]) == rec
