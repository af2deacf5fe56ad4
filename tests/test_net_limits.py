"""Connection slots, handshake deadlines, per-IP caps and the frame memory budget, for the life of a node.

py-libp2p 0.8.1's swarm held an inbound slot per connection until the host
stopped: a node refused every new peer after ~300 short-lived inbound
connections in its life, and idle sockets that never finished the handshake
held slots too. ``note_compute.net._p2p._manage_inbound`` and
:mod:`note_compute.net.admission` fix both; the slow tests below fail
without them.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import pytest
import trio

from note_compute import encoding
from note_compute.errors import PeerUnreachable, RemoteProtocolError
from note_compute.net import PROTOCOL_ID, NetConfig, NetHost, _p2p, open_host
from note_compute.net.admission import Admission, FrameBudget, InboundLimits, is_loopback
from note_compute.net.framing import FrameDecoder


async def handler(sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
    return {"echo": msg.get("x")}


# -- pure accounting ----------------------------------------------------------


def test_admission_counts_and_releases_once() -> None:
    adm = Admission(InboundLimits(max_inbound=3, max_inbound_per_ip=2, max_pending=2, max_pending_per_ip=1))
    a = adm.admit("10.0.0.1")
    assert a is not None
    assert adm.admit("10.0.0.1") is None  # one unfinished handshake per IP
    b = adm.admit("10.0.0.2")
    assert b is not None
    assert adm.admit("10.0.0.3") is None  # two unfinished handshakes in total
    adm.handshake_done(a)
    a2 = adm.admit("10.0.0.1")
    assert a2 is not None and adm.held_by("10.0.0.1") == (2, 1)
    adm.handshake_done(a2)
    assert adm.admit("10.0.0.1") is None  # two connections per IP
    assert adm.admit("10.0.0.4") is None  # three in total
    for t in (a, a, b, a2):  # release is idempotent
        adm.release(t)
    assert (adm.inbound, adm.pending) == (0, 0)
    assert adm.held_by("10.0.0.1") == (0, 0)
    assert adm.refused == 4
    assert adm.admit("10.0.0.4") is not None


def test_loopback_is_one_source_exempt_from_the_per_ip_caps_by_default() -> None:
    """A local network of many nodes all dials from 127.0.0.1: per-IP caps would cap the network's size.
    Loopback counts once (any 127.x.y.z, ::1) against the node-wide caps only, unless told otherwise."""
    lim = dict(max_inbound=100, max_inbound_per_ip=4, max_pending=100, max_pending_per_ip=2)
    adm = Admission(InboundLimits(**lim))
    local = [adm.admit(ip) for ip in ["127.0.0.1"] * 40 + ["127.0.0.2", "::1", "::ffff:127.0.0.1"] * 10]
    assert all(t is not None for t in local)
    assert adm.held_by("127.0.0.1") == adm.held_by("::1") == (70, 70)
    assert adm.admit("10.0.0.1") and adm.admit("10.0.0.1") and adm.admit("10.0.0.1") is None  # still capped
    assert adm.admit("::ffff:10.0.0.1") is None  # the same host spelled as IPv6
    for _ in range(28):
        assert adm.admit("127.0.0.1") is not None
    assert adm.inbound == 100 and adm.admit("127.0.0.1") is None  # the node-wide caps hold everyone
    strict = Admission(InboundLimits(**lim, loopback_per_ip=True))
    assert strict.admit("127.0.0.1") and strict.admit("127.0.0.2")
    assert strict.admit("::1") is None and strict.admit("127.9.9.9") is None  # one source, two pending
    assert strict.held_by("127.0.0.5") == (2, 2)
    assert not is_loopback("") and not is_loopback("not an ip") and not is_loopback("10.0.0.1")


def test_bad_limits_refused() -> None:
    with pytest.raises(ValueError):
        InboundLimits(max_pending=0)
    with pytest.raises(ValueError):
        InboundLimits(handshake_timeout=0)
    with pytest.raises(ValueError):
        FrameBudget(0, 1)


def test_frame_budget_per_peer_and_total() -> None:
    fb = FrameBudget(total=100, per_peer=60)
    assert fb.update("p", 0, 50)
    assert not fb.update("p", 50, 61)  # one peer over its share
    fb.update("p", 61, 0)
    assert fb.update("p", 0, 60) and fb.update("q", 0, 40)
    assert not fb.update("r", 0, 1)  # the node over its total
    fb.update("r", 1, 0)
    assert fb.held_by("p") == 60 and fb.used == 100 and fb.peak == 101


# -- real hosts ---------------------------------------------------------------


async def _short_lived_peer(info: Any) -> None:
    """A new identity connects (Noise, muxer), then goes away."""
    host, _ = _p2p.build_host(os.urandom(32), muxer="mplex", connect_timeout=10)
    async with host.run(listen_addrs=[]):
        await host.connect(info)
        for conn in list(host.get_network().get_connections(info.peer_id)):
            await conn.close()
        await host.close()


@pytest.mark.slow
async def test_a_node_accepts_new_peers_after_400_short_lived_connections() -> None:
    """Fails on plain py-libp2p 0.8.1: its swarm frees the ~250 inbound slots only when the host stops."""
    async with open_host(os.urandom(32), handler=handler) as node:
        info = _p2p.peer_info(node.listen_addrs[0], node.node_id)
        done = 0

        async def worker(count: int) -> None:
            nonlocal done
            for _ in range(count):
                with trio.fail_after(30):
                    await _short_lived_peer(info)
                done += 1

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(worker, 52)
        assert done == 416
        with trio.fail_after(30):  # the node has seen every close
            while node._host.get_network().get_connections():
                await trio.sleep(0.05)
        async with open_host(os.urandom(32), handler=handler) as newcomer:
            rep = await newcomer.request(node.peer_ref, {"x": 7}, timeout=10)
            assert rep == {"echo": 7}
        # Every slot came back.
        with trio.fail_after(30):
            while node.admission.inbound > 1:
                await trio.sleep(0.05)
        assert node.admission.admitted >= 417 and node.admission.refused == 0


@pytest.mark.slow
async def test_idle_sockets_are_capped_per_ip_and_closed_at_the_handshake_deadline() -> None:
    limits = InboundLimits(max_pending_per_ip=4, handshake_timeout=0.5, loopback_per_ip=True)
    async with open_host(os.urandom(32), handler=handler, config=NetConfig(inbound=limits)) as node:
        port = int(node.listen_addrs[0].split("/tcp/")[1].split("/")[0])
        idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(4)]
        with trio.fail_after(10):
            while node.admission.pending < 4:
                await trio.sleep(0.01)
        async with open_host(os.urandom(32), handler=handler) as newcomer:
            # While four silent sockets hold this IP's handshake slots, a fifth connection is refused ...
            with pytest.raises(PeerUnreachable):
                await newcomer.request(node.peer_ref, {"x": 1}, timeout=10)
            assert node.admission.refused >= 1
            # ... until the node closes them at the handshake deadline.
            with trio.fail_after(30):
                for sock in idle:
                    while await sock.receive_some(1024):
                        pass
            with trio.fail_after(10):
                while node.admission.pending:
                    await trio.sleep(0.01)
            rep = await newcomer.request(node.peer_ref, {"x": 2}, timeout=10)
            assert rep == {"echo": 2}
        for sock in idle:
            await sock.aclose()


def _partial_frame(n: int) -> bytes:
    """The header and all but the last byte of an n-byte frame (the node buffers it, waiting for the rest)."""
    payload = encoding.encode({"op": "x", "b": b"\0" * (n - 16)})
    return struct.pack(">I", len(payload)) + payload[:-1]


@pytest.mark.slow
async def test_unfinished_frames_are_bounded_per_peer() -> None:
    config = NetConfig(frame_budget_per_peer=300_000)
    async with open_host(os.urandom(32), handler=handler, config=config) as node:
        async with open_host(os.urandom(32), handler=handler) as hog:
            streams = []
            for _ in range(2):  # two 120 KB half-frames: within the peer's share
                s = await hog._open_stream(node.peer_ref)
                await s.write(_partial_frame(120_000))
                streams.append(s)
            with trio.fail_after(10):
                while node.frame_budget.held_by(hog.peer_id) < 2 * 119_000:
                    await trio.sleep(0.01)
            third = await hog._open_stream(node.peer_ref)
            await third.write(_partial_frame(120_000))
            frames = await _read_until_closed(third)
            assert frames and frames[0]["fatal"]["reason"] == "frame-budget"
            assert node.frame_budget.held_by(hog.peer_id) < 300_000
            # The peer's other streams and everyone else are still served.
            async with open_host(os.urandom(32), handler=handler) as bystander:
                assert await bystander.request(node.peer_ref, {"x": 3}, timeout=10) == {"echo": 3}
            for s in streams:
                await s.reset()
            with trio.fail_after(10):
                while node.frame_budget.used:
                    await trio.sleep(0.01)


async def _read_until_closed(stream: Any) -> list[dict[str, Any]]:
    decoder = FrameDecoder()
    frames: list[dict[str, Any]] = []
    with trio.fail_after(10):
        while True:
            try:
                chunk = await stream.read(65536)
            except Exception:
                break
            if not chunk:
                break
            try:
                frames += decoder.feed(chunk)
            except RemoteProtocolError:
                break
    return frames


@pytest.mark.slow
async def test_host_counts_admission_for_its_own_listener() -> None:
    """A request between two hosts takes one inbound slot at the callee, freed when the caller goes away."""
    async with open_host(os.urandom(32), handler=handler) as node:
        async with open_host(os.urandom(32), handler=handler) as caller:
            await caller.request(node.peer_ref, {"x": 1}, timeout=10)
            assert node.admission.inbound == 1 and node.admission.pending == 0
        with trio.fail_after(10):
            while node.admission.inbound:
                await trio.sleep(0.01)
        assert isinstance(node, NetHost)


@pytest.mark.slow
async def test_a_stream_that_fails_to_open_is_retried_once() -> None:
    """Simultaneous dials sometimes closed the connection a new stream was being opened on: PeerUnreachable."""
    async with open_host(os.urandom(32), handler=handler) as a, open_host(os.urandom(32), handler=handler) as b:
        real = a._host.new_stream
        failures = [1]

        async def flaky_new_stream(peer_id: Any, protocols: Any, *args: Any, **kw: Any) -> Any:
            if failures and PROTOCOL_ID in protocols:  # not libp2p's own identify streams
                failures.pop()
                raise RuntimeError("connection closed while opening the stream")
            return await real(peer_id, protocols, *args, **kw)

        a._host.new_stream = flaky_new_stream
        assert await a.request(b.peer_ref, {"x": 5}, timeout=10) == {"echo": 5}
        assert a.stream_retries == 1
        await a.forget(b.peer_ref)  # no pooled stream left: the next request opens one
        failures.extend([1, 1])  # twice in a row: a typed error, not a hang
        with pytest.raises(PeerUnreachable):
            await a.request(b.peer_ref, {"x": 6}, timeout=10)
