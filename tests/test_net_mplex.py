"""Bulk-sized mplex frames (``net/_mplex.py``): fewer frames, same wire, stock mplex peers still served."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio

from note_compute.net import _p2p, open_host
from note_compute.net._mplex import FRAME_BODY
from note_compute.ring.ids import PeerRef

pytestmark = pytest.mark.slow

BIG = os.urandom(3 * 1024 * 1024 + 12_345)  # under the 4 MiB reply cap, many frames of either size


async def serve(sender: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
    if msg.get("op") == "big":
        return {"b": BIG}
    return {"echo": msg.get("x")}


def _count_frames(conn: Any) -> list[int]:
    """Wrap one Mplex connection's ``send_message``: the body sizes of the frames it writes."""
    sizes: list[int] = []
    inner = conn.send_message

    async def counted(flag: Any, data: bytes | None, stream_id: Any) -> None:
        sizes.append(len(data or b""))
        await inner(flag, data, stream_id)

    conn.send_message = counted
    return sizes


def _muxed(host: Any, peer: Any) -> Any:
    conns = host._host.get_network().get_connections(peer)
    assert len(conns) == 1
    return conns[0].muxed_conn


async def test_a_large_reply_goes_out_in_bulk_frames() -> None:
    async with open_host(os.urandom(32), handler=serve) as b, open_host(os.urandom(32)) as a:
        assert (await a.request(b.peer_ref, {"x": 1}, 10))["echo"] == 1
        sizes = _count_frames(_muxed(b, a._host.get_id()))
        reply = await a.request(b.peer_ref, {"op": "big"}, 30)
        assert reply["b"] == BIG
        body = [s for s in sizes if s > 100]
        assert max(body) == FRAME_BODY
        # py-libp2p's stock mplex writes 4,076-byte frames: about 16 times as many.
        assert len(body) <= len(BIG) // FRAME_BODY + 2
        assert len(body) < len(BIG) // 4076 // 10


@pytest.mark.parametrize("stock_side", ["requester", "server"])
async def test_stock_mplex_peers_interoperate(monkeypatch: pytest.MonkeyPatch, stock_side: str) -> None:
    """The frames are ordinary mplex frames (at most 1 MiB): a peer running py-libp2p's own mplex
    reads them, and its 4 KiB frames are read too, in both directions."""

    def stock(base: type) -> type:
        return base

    with monkeypatch.context() as m:
        m.setattr(_p2p, "bulk_mplex", stock)
        stock_cm = open_host(os.urandom(32), handler=serve)
        stock_host = await stock_cm.__aenter__()
    try:
        async with open_host(os.urandom(32), handler=serve) as bulk_host:
            a, b = (stock_host, bulk_host) if stock_side == "requester" else (bulk_host, stock_host)
            for _ in range(2):
                reply = await a.request(b.peer_ref, {"op": "big"}, 30)
                assert reply["b"] == BIG
            big_request = {"x": BIG[: 1024 * 1024 - 100]}  # requests up to one store entry, many frames
            assert (await a.request(b.peer_ref, big_request, 30))["echo"] == big_request["x"]
            assert (await b.request(a.peer_ref, {"op": "big"}, 30))["b"] == BIG
    finally:
        await stock_cm.__aexit__(None, None, None)


async def test_oversized_and_stray_frames_close_one_connection_only() -> None:
    """A peer writing a frame over mplex's 1 MiB maximum loses that connection (not the host), and a
    frame for a stream that does not exist is dropped; the host keeps serving."""
    from libp2p.stream_muxer.mplex.constants import HeaderTags
    from libp2p.stream_muxer.mplex.datastructures import StreamID

    async with open_host(os.urandom(32), handler=serve) as b, open_host(os.urandom(32)) as a:
        assert (await a.request(b.peer_ref, {"x": 1}, 10))["echo"] == 1
        conn = _muxed(a, b._host.get_id())
        await conn.send_message(HeaderTags.MessageInitiator, b"stray", StreamID(9999, True))
        assert (await a.request(b.peer_ref, {"x": 2}, 10))["echo"] == 2
        assert b.connection_failures == 0
        stream = await a._open_stream(b.peer_ref)
        with trio.move_on_after(5):
            try:
                await conn.send_message(HeaderTags.MessageInitiator, b"\0" * (1024 * 1024 + 1),
                                        stream.muxed_stream.stream_id)
            except Exception:
                pass  # b may close the connection while the frame is still going out
        with trio.fail_after(10):
            while not conn.is_closed:
                await trio.sleep(0.01)
        assert b.connection_failures == 0  # mplex's own "message too large": the connection ends cleanly
        assert (await a.request(b.peer_ref, {"x": 3}, 10))["echo"] == 3  # a new connection
