"""Real libp2p hosts on 127.0.0.1: requests, typed errors, bad input, timeouts, cleanup."""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from note_compute import encoding
from note_compute.errors import (
    InternalError,
    LocalProtocolError,
    NotFound,
    PeerUnreachable,
    QuotaExceeded,
    RemoteProtocolError,
    StaleRecord,
    Timeout,
)
from note_compute.net import NetConfig, NetHost, open_host
from note_compute.net.framing import FrameDecoder, encode_frame
from note_compute.ring.ids import PeerRef

pytestmark = pytest.mark.slow


async def handler(sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
    op = msg.get("op")
    if op == "echo":
        return {"echo": msg.get("x"), "sender": sender.id.to_bytes(32, "big"), "addr": sender.addr}
    if op == "not-found":
        raise NotFound("no such key", reason="no-entry")
    if op == "stale":
        raise StaleRecord("seq 1 is lower than the held seq 2", reason="stale")
    if op == "quota":
        raise QuotaExceeded("peer over quota", reason="peer-bytes")
    if op == "crash":
        raise ZeroDivisionError("bug")
    if op == "bad-reply":
        return "not a dict"  # type: ignore[return-value]
    if op == "huge-reply":
        return {"b": b"x" * (5 * 1024 * 1024)}
    if op == "hang":
        await trio.sleep_forever()
    if op == "sleep":
        await trio.sleep(msg["t"] / 1000)
        return {"slept": msg["t"]}
    return {"unknown": op}


@asynccontextmanager
async def hosts(n: int, config: NetConfig | None = None) -> AsyncIterator[list[NetHost]]:
    async with open_host(os.urandom(32), config=config, handler=handler) as h0:
        if n == 1:
            yield [h0]
            return
        async with hosts(n - 1, config) as rest:
            yield [h0, *rest]


async def test_requests_between_three_hosts() -> None:
    async with hosts(3) as (a, b, c):
        for src, dst in [(a, b), (b, c), (c, a), (a, c)]:
            rep = await src.request(dst.peer_ref, {"op": "echo", "x": 42}, timeout=5)
            assert rep["echo"] == 42
            # the receiver learns the authenticated sender and its dialable address
            assert rep["sender"] == src.node_id_bytes
            assert rep["addr"] == src.listen_addrs[0]
        assert a.listen_addrs[0].startswith("/ip4/127.0.0.1/tcp/") and a.listen_addrs[0].endswith("/p2p/" + a.peer_id)
        assert a.peer_ref.id == a.node_id


async def test_concurrent_requests_share_a_connection() -> None:
    async with hosts(2) as (a, b):
        results: dict[int, int] = {}

        async def one(i: int) -> None:
            rep = await a.request(b.peer_ref, {"op": "sleep", "t": (i * 7) % 20}, timeout=5)
            results[i] = rep["slept"]

        async with trio.open_nursery() as n:
            for i in range(40):
                n.start_soon(one, i)
        assert results == {i: (i * 7) % 20 for i in range(40)}
        assert len(a.connected_peers()) == 1
        assert len(a._pools[b.peer_ref.addr].idle) <= a.config.max_streams_per_peer


async def test_error_replies_become_typed_errors() -> None:
    async with hosts(2) as (a, b):
        with pytest.raises(NotFound) as e1:
            await a.request(b.peer_ref, {"op": "not-found"}, timeout=5)
        assert e1.value.reason == "no-entry" and e1.value.message == "no such key"
        with pytest.raises(StaleRecord) as e2:
            await a.request(b.peer_ref, {"op": "stale"}, timeout=5)
        assert e2.value.reason == "stale"
        with pytest.raises(QuotaExceeded):
            await a.request(b.peer_ref, {"op": "quota"}, timeout=5)
        # the connection is still good afterwards
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=5))["echo"] == 1


async def test_crashing_handler_answers_internal_error_and_stays_up(caplog: pytest.LogCaptureFixture) -> None:
    async with hosts(2) as (a, b):
        for op, reason in [("crash", "handler-crashed"), ("bad-reply", "bad-reply"), ("huge-reply", "frame-too-large")]:
            with pytest.raises(InternalError) as e:
                await a.request(b.peer_ref, {"op": op}, timeout=5)
            assert e.value.reason == reason
            assert "bug" not in e.value.message  # internals are not leaked to the peer
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 2}, timeout=5))["echo"] == 2
        assert "ZeroDivisionError" in caplog.text  # ... but they are logged


async def test_no_handler_installed() -> None:
    async with open_host(os.urandom(32)) as a, open_host(os.urandom(32)) as b:
        with pytest.raises(InternalError) as e:
            await a.request(b.peer_ref, {"op": "echo"}, timeout=5)
        assert e.value.reason == "no-handler"


async def test_timeout_then_next_request_served() -> None:
    async with hosts(2) as (a, b):
        with trio.fail_after(5):
            with pytest.raises(Timeout) as e:
                await a.request(b.peer_ref, {"op": "hang"}, timeout=0.2)
        assert e.value.reason == "request-timeout"
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 3}, timeout=5))["echo"] == 3


async def test_unreachable_peer_is_a_typed_error() -> None:
    async with hosts(1) as (a,):
        async with open_host(os.urandom(32)) as gone:
            ref = gone.peer_ref
        with trio.fail_after(10):
            with pytest.raises((PeerUnreachable, Timeout)) as e:
                await a.request(ref, {"op": "echo"}, timeout=5)
        assert isinstance(e.value, PeerUnreachable)
        assert e.value.code == "unreachable"


async def test_bad_peer_refs_refused_locally() -> None:
    async with hosts(2) as (a, b):
        wrong_id = PeerRef((b.node_id + 1) % 2**256, b.listen_addrs[0])
        with pytest.raises(LocalProtocolError) as e:
            await a.request(wrong_id, {"op": "echo"}, timeout=5)
        assert e.value.reason == "peer-id-mismatch"
        with pytest.raises(LocalProtocolError) as e:
            await a.request(PeerRef(b.node_id, "not a multiaddr"), {"op": "echo"}, timeout=5)
        assert e.value.reason == "bad-addr"
        with pytest.raises(LocalProtocolError) as e:
            await a.request(a.peer_ref, {"op": "echo"}, timeout=5)
        assert e.value.reason == "self-dial"
        with pytest.raises(LocalProtocolError) as e:
            await a.request(b.peer_ref, {"b": b"x" * (2 * 1024 * 1024)}, timeout=5)
        assert e.value.reason == "frame-too-large"
        with pytest.raises(LocalProtocolError):
            await a.request(b.peer_ref, {"f": 1.5, "s": {1}}, timeout=5)


async def raw_exchange(a: NetHost, b: NetHost, data: bytes, until: int = 0) -> list[dict[str, Any]]:
    """Write raw bytes on a fresh /note/1.0.0 stream to b; return the frames b sends before closing
    (or, with ``until``, the first ``until`` frames)."""
    stream = await a._open_stream(b.peer_ref)
    await stream.write(data)
    dec = FrameDecoder()
    frames: list[dict[str, Any]] = []
    with trio.fail_after(5):
        while True:
            try:
                chunk = await stream.read(65536)
            except Exception:
                break
            if not chunk:
                break
            frames += dec.feed(chunk)
            if until and len(frames) >= until:
                break
    return frames


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x00\x00\x00\x07garbage", "frame-"),  # text header, 6 bytes of a 7-byte string: not CBOR
        (struct.pack(">I", 100 * 1024 * 1024) + b"x" * 100, "frame-too-large"),
        (b"\x00\x00\x00\x00", "frame-empty"),
        (encode_frame({"no": "id"}), "bad-envelope"),
        (encode_frame({"id": 0, "req": {}}), "bad-envelope"),
        (encode_frame({"id": 1, "req": "not a map"}), "bad-envelope"),
        (struct.pack(">I", 4) + b"\x83\x01\x02\x03", "frame-not-a-map"),
    ],
)
async def test_bad_frames_get_a_typed_fatal_reply_and_host_stays_up(data: bytes, reason: str) -> None:
    async with hosts(2) as (a, b):
        frames = await raw_exchange(a, b, data)
        assert len(frames) == 1 and set(frames[0]) == {"fatal"}
        fatal = frames[0]["fatal"]
        assert fatal["code"] == "remote-protocol"
        assert fatal["reason"] == reason or (reason.endswith("-") and fatal["reason"].startswith(reason))
        assert b.protocol_errors == 1
        # nothing was dispatched, and the host serves the next request
        assert b.requests_served == 0
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 5}, timeout=5))["echo"] == 5


async def test_valid_raw_request_then_garbage_on_same_stream() -> None:
    async with hosts(2) as (a, b):
        stream = await a._open_stream(b.peer_ref)
        dec = FrameDecoder()
        await stream.write(encode_frame({"id": 9, "req": {"op": "echo", "x": 7}}))
        frames: list[dict[str, Any]] = []
        with trio.fail_after(5):
            while not frames:
                frames += dec.feed(await stream.read(65536))
        assert frames[0]["id"] == 9 and frames[0]["rep"]["echo"] == 7
        await stream.write(b"\x00\x00\x00\x02\xff\xff")
        with trio.fail_after(5):
            while len(frames) < 2:
                frames += dec.feed(await stream.read(65536))
        assert frames[1]["fatal"]["code"] == "remote-protocol"
        assert b.requests_served == 1 and b.protocol_errors == 1


async def test_fake_hello_address_is_ignored() -> None:
    async with hosts(3) as (a, b, c):
        # a claims to be listening at c's address: b keeps the observed address instead
        data = encode_frame({"hello": {"v": 1, "addr": c.listen_addrs[0]}}) + encode_frame(
            {"id": 1, "req": {"op": "echo", "x": 0}}
        )
        frames = await raw_exchange(a, b, data, until=1)
        rep = frames[0]["rep"]
        assert rep["sender"] == a.node_id_bytes
        assert rep["addr"] != c.listen_addrs[0] and rep["addr"].endswith("/p2p/" + a.peer_id)


async def test_malformed_error_reply_is_a_protocol_error() -> None:
    async def liar(sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        return {"error": {"code": 5}}

    async with open_host(os.urandom(32)) as a, open_host(os.urandom(32), handler=liar) as b:
        with pytest.raises(RemoteProtocolError) as e:
            await a.request(b.peer_ref, {}, timeout=5)
        assert e.value.reason == "bad-error-reply"


async def test_identity_comes_from_the_seed() -> None:
    seed = bytes(range(32))
    async with open_host(seed) as h1:
        ids = (h1.peer_id, h1.node_id, h1.public_key)
    async with open_host(seed) as h2:
        assert (h2.peer_id, h2.node_id, h2.public_key) == ids
        assert h2.seed == seed
    with pytest.raises(ValueError):
        NetHost(b"short", NetConfig())


async def test_restarted_peer_is_reached_again() -> None:
    seed = os.urandom(32)
    async with hosts(1) as (a,):
        async with open_host(seed, handler=handler) as b:
            assert (await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=5))["echo"] == 1
        with trio.fail_after(10):
            with pytest.raises((PeerUnreachable, Timeout)):
                await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=3)
        async with open_host(seed, handler=handler) as b2:
            with trio.fail_after(10):
                assert (await a.request(b2.peer_ref, {"op": "echo", "x": 2}, timeout=5))["echo"] == 2


@pytest.mark.parametrize(
    "config", [NetConfig(stream_mode="per-request"), NetConfig(muxer="yamux")], ids=["per-request", "yamux"]
)
async def test_other_configurations(config: NetConfig) -> None:
    async with hosts(2, config) as (a, b):
        for i in range(5):
            assert (await a.request(b.peer_ref, {"op": "echo", "x": i}, timeout=5))["echo"] == i
        with pytest.raises(NotFound):
            await a.request(b.peer_ref, {"op": "not-found"}, timeout=5)


async def test_close_releases_connections_and_listeners() -> None:
    """Closing a host closes its libp2p connections and listeners (file descriptors are counted,
    over many cycles, by ``benchmarks/bench_bounds.py``: a count is not a test on a loaded machine)."""
    for _ in range(2):
        async with hosts(2) as (a, b):
            await a.request(b.peer_ref, {"op": "echo"}, timeout=5)
            net_a = a._host.get_network()
            assert net_a.connections  # a connection to b is open while the host runs
        await a.close()  # idempotent
        assert not net_a.connections
        with pytest.raises(LocalProtocolError):
            await a.request(b.peer_ref, {"op": "echo"}, timeout=1)


async def test_request_after_close_refused() -> None:
    async with hosts(2) as (a, b):
        ref = b.peer_ref
    with pytest.raises(LocalProtocolError):
        await a.request(ref, {"op": "echo"}, timeout=1)


def test_wire_shape_of_an_error_reply() -> None:
    from note_compute.net import error_reply

    assert encoding.decode(encoding.encode(error_reply(NotFound("gone", reason="x")))) == {
        "error": {"code": "not-found", "message": "gone", "reason": "x"}
    }


async def test_exception_in_the_block_propagates_unchanged() -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with open_host(os.urandom(32)):
            raise Boom()
    with pytest.raises(NotFound):  # a typed error from a request inside the block
        async with hosts(2) as (a, b):
            await a.request(b.peer_ref, {"op": "not-found"}, timeout=5)


async def test_outer_cancellation_closes_the_host() -> None:
    with trio.move_on_after(0.3) as scope:
        async with open_host(os.urandom(32)) as h:
            await trio.sleep_forever()
    assert scope.cancelled_caught and h._closed


async def test_largest_store_entry_fits_in_a_request() -> None:
    async with hosts(2) as (a, b):
        rep = await a.request(b.peer_ref, {"op": "echo", "x": b"v" * (1024 * 1024)}, timeout=10)
        assert len(rep["echo"]) == 1024 * 1024


async def test_forget_closes_the_connection_and_pools_do_not_pile_up() -> None:
    async with hosts(3) as (a, b, c):
        await a.request(b.peer_ref, {"op": "echo"}, timeout=5)
        await a.request(c.peer_ref, {"op": "echo"}, timeout=5)
        assert set(a._pools) == {b.peer_ref.addr, c.peer_ref.addr}
        await a.forget(b.peer_ref)
        assert set(a._pools) == {c.peer_ref.addr}
        assert b.peer_id not in a.connected_peers()
        # a forgotten peer is dialled again on demand
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=5))["echo"] == 1
        # a peer that failed leaves no pool behind
        async with open_host(os.urandom(32), handler=handler) as gone:
            ref = gone.peer_ref
            await a.request(ref, {"op": "echo"}, timeout=5)
        with pytest.raises(PeerUnreachable):
            await a.request(ref, {"op": "echo"}, timeout=5)
        assert ref.addr not in a._pools


async def test_handler_timeout_answers_timeout_and_frees_the_stream() -> None:
    async with hosts(2, NetConfig(handler_timeout=0.2)) as (a, b):
        with trio.fail_after(5):
            with pytest.raises(Timeout) as e:
                await a.request(b.peer_ref, {"op": "hang"}, timeout=5)
        assert e.value.reason == "handler-timeout"
        # the same pooled stream serves the next request
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 4}, timeout=5))["echo"] == 4
        assert len(a._pools[b.peer_ref.addr].idle) == 1


async def test_half_a_frame_is_not_waited_for_forever() -> None:
    async with hosts(2, NetConfig(frame_timeout=0.3)) as (a, b):
        frame = encode_frame({"id": 1, "req": {"op": "echo"}})
        frames = await raw_exchange(a, b, frame[:-2])
        assert frames == [{"fatal": {"code": "remote-protocol", "message": frames[0]["fatal"]["message"],
                                     "reason": "frame-timeout"}}]
        assert b.protocol_errors == 1


async def test_slow_drip_of_one_frame_is_cut_off() -> None:
    async with hosts(2, NetConfig(frame_timeout=0.4)) as (a, b):
        stream = await a._open_stream(b.peer_ref)
        frame = encode_frame({"id": 1, "req": {"op": "echo", "x": b"y" * 50}})
        dec = FrameDecoder()
        got: list[dict[str, Any]] = []
        with trio.fail_after(5):
            for i in range(len(frame)):  # one byte every 0.1 s: each read is quick, the frame is not
                try:
                    await stream.write(frame[i : i + 1])
                except Exception:
                    break
                await trio.sleep(0.1)
                if b.protocol_errors:
                    break
            while not got:
                got = dec.feed(await stream.read(65536))
        assert got[0]["fatal"]["reason"] == "frame-timeout"


async def test_unspecified_listen_address_is_announced_concretely() -> None:
    from note_compute.net._p2p import primary_ipv4

    async with open_host(os.urandom(32), ["/ip4/0.0.0.0/tcp/0"], handler=handler) as a, hosts(1) as (b,):
        assert a.listen_addrs[0].startswith(f"/ip4/{primary_ipv4()}/tcp/")
        assert "0.0.0.0" not in a.listen_addrs[0]
        rep = await b.request(a.peer_ref, {"op": "echo", "x": 1}, timeout=5)  # and it is dialable
        assert rep["echo"] == 1
        rep = await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=5)
        assert rep["addr"] == a.listen_addrs[0]  # what the peer learns through hello


async def test_announced_addresses() -> None:
    seed = os.urandom(32)
    async with open_host(seed) as probe:
        pid = probe.peer_id
    async with open_host(seed, announce=["/dns4/node.example/tcp/4001"]) as h:
        assert h.listen_addrs == [f"/dns4/node.example/tcp/4001/p2p/{pid}"]
    with pytest.raises(LocalProtocolError):
        async with open_host(seed, announce=["/ip4/1.2.3.4/tcp/1/p2p/12D3KooWNotMine"]):
            pass


@pytest.mark.parametrize(
    "listen", [["/ip4/127.0.0.1/tcpx/1"], ["not a multiaddr"], ["/ip4/127.0.0.1/udp/1"], [], "/ip4/127.0.0.1/tcp/0"]
)
async def test_bad_listen_addresses_refused(listen: Any) -> None:
    with pytest.raises(LocalProtocolError) as e:
        async with open_host(os.urandom(32), listen):
            pass
    assert e.value.reason == "bad-addr"


async def test_port_in_use_refused_and_reusable_after_close() -> None:
    async with open_host(os.urandom(32)) as a:
        port = a.listen_addrs[0].split("/")[4]
        with pytest.raises(LocalProtocolError) as e:
            async with open_host(os.urandom(32), [f"/ip4/127.0.0.1/tcp/{port}"]):
                pass
        assert e.value.reason == "addr-in-use" and port in str(e.value)
    async with open_host(os.urandom(32), [f"/ip4/127.0.0.1/tcp/{port}"]) as again:  # the port is free again
        assert f"/tcp/{port}/" in again.listen_addrs[0]


async def test_random_bytes_on_live_streams_never_hurt_the_host() -> None:
    import random

    rng = random.Random(1234)
    async with hosts(2, NetConfig(frame_timeout=0.3)) as (a, b):
        for i in range(12):
            n = rng.randrange(1, 200)
            junk = bytes(rng.randrange(256) for _ in range(n))
            if i % 3 == 0:  # a plausible header, then junk
                junk = struct.pack(">I", rng.randrange(1, 300)) + junk
            frames = await raw_exchange(a, b, junk)
            for f in frames:  # whatever came back is a reply or a typed fatal error
                assert set(f) in ({"fatal"}, {"id", "rep"})
                if "fatal" in f:
                    assert f["fatal"]["code"] == "remote-protocol"
        assert (await a.request(b.peer_ref, {"op": "echo", "x": 9}, timeout=5))["echo"] == 9


async def test_too_many_streams_from_one_peer_are_reset() -> None:
    async with open_host(os.urandom(32), config=NetConfig(max_inbound_streams_per_peer=2), handler=handler) as b:
        async with hosts(1) as (a,):
            streams = [await a._open_stream(b.peer_ref) for _ in range(3)]
            for i, s in enumerate(streams):
                try:
                    await s.write(encode_frame({"id": 1, "req": {"op": "echo", "x": i}}))
                except Exception:
                    assert i == 2  # the third stream may already be reset
            answered = []
            for s in streams:
                dec = FrameDecoder()
                frames: list[dict[str, Any]] = []
                with trio.move_on_after(2):
                    try:
                        while not frames:
                            chunk = await s.read(65536)
                            if not chunk:
                                break
                            frames += dec.feed(chunk)
                    except Exception:
                        pass
                if frames:
                    answered.append(frames[0]["rep"]["echo"])
            assert answered == [0, 1]
            # once those streams are gone, the peer is served again
            for s in streams:
                try:
                    await s.reset()
                except Exception:
                    pass
            with trio.fail_after(5):
                while b._inbound:  # wait until b has seen the resets
                    await trio.sleep(0.01)
            assert (await a.request(b.peer_ref, {"op": "echo", "x": 7}, timeout=5))["echo"] == 7
