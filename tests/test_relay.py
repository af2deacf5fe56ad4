"""The local relay: a ring request and its typed error cross the unix socket unchanged; bad input refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from note_compute.errors import NotFound, PeerUnreachable, RemoteProtocolError
from note_compute.net.framing import FrameDecoder, encode_frame
from note_compute.relay import RelayHost, serve_relay
from note_compute.ring.ids import PeerRef
from note_compute.wire import envelope

PEER = PeerRef(12345, "/ip4/127.0.0.1/tcp/1/p2p/x")
PEER_WIRE = {"id": (12345).to_bytes(32, "big"), "addr": PEER.addr}


async def _raw(sock: Path, frame: dict[str, Any]) -> dict[str, Any]:
    """Send one frame to the relay by hand; its one reply frame."""
    stream = await trio.open_unix_socket(str(sock))
    async with stream:
        await stream.send_all(encode_frame(frame))
        dec = FrameDecoder()
        while True:
            data = await stream.receive_some(1 << 16)
            assert data, "the relay closed without answering"
            got = dec.feed(data)
            if got:
                return got[0]


class FakeHost:
    def __init__(self) -> None:
        self.seen: list[tuple[PeerRef, dict[str, Any], float]] = []

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.seen.append((peer, msg, timeout))
        if msg.get("op") == "missing":
            raise NotFound("no record at that key", reason="missing-key")
        if msg.get("op") == "bug":
            raise ZeroDivisionError("a bug in the host")
        if msg.get("op") == "hint":  # an error reply with a field beside "error" (a seq hint's record)
            exc = RemoteProtocolError("this peer holds seq 3, not 2", reason="seq-mismatch")
            exc.attached = {"manifest": b"signed record bytes"}
            raise exc
        return {"op": "pong", "echo": msg.get("data", b"")}


async def test_request_reply_and_typed_errors(tmp_path: Path) -> None:
    host = FakeHost()
    sock = tmp_path / "r.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_relay, sock, host)
        assert sock.stat().st_mode & 0o777 == 0o600
        relay = RelayHost(sock)
        big = bytes(range(256)) * 4096  # 1 MiB crosses in pieces
        assert await relay.request(PEER, {"op": "ping", "data": big}, 2.0) == {"op": "pong", "echo": big}
        assert host.seen[0][0] == PEER and host.seen[0][2] == 2.0
        with pytest.raises(NotFound) as ei:
            await relay.request(PEER, {"op": "missing"}, 1.0)
        assert ei.value.reason == "missing-key" and ei.value.message == "no record at that key"
        assert ei.value.attached == {}
        with pytest.raises(RemoteProtocolError) as eh:  # the attached hint crosses the relay too
            await relay.request(PEER, {"op": "hint"}, 1.0)
        assert eh.value.reason == "seq-mismatch" and eh.value.attached == {"manifest": b"signed record bytes"}
        with pytest.raises(Exception) as ei2:  # a host bug becomes an error reply; the relay stays up
            await relay.request(PEER, {"op": "bug"}, 1.0)
        assert "a bug in the host" in str(ei2.value)
        # Garbage and an oversized length prefix: refused, the relay keeps serving.
        stream = await trio.open_unix_socket(str(sock))
        await stream.send_all((5).to_bytes(4, "big") + b"\xff\xff\xff\xff\xff")
        await stream.aclose()
        stream = await trio.open_unix_socket(str(sock))
        await stream.send_all((2**31).to_bytes(4, "big"))
        await stream.aclose()
        # Not a request envelope (the old relay's own format): a fatal frame, as a node sends.
        reply = await _raw(sock, {"id": b"short", "addr": 7, "msg": {}, "ms": 1})
        assert reply["fatal"]["code"] == "remote-protocol" and reply["fatal"]["reason"] == "bad-envelope"
        # A request envelope around a bad relay.forward: an error reply, reason relay; nothing forwarded.
        seen = len(host.seen)
        for bad in ({"op": "relay.forward", "peer": {"id": b"short", "addr": "a"}, "msg": {}, "ms": 1},
                    {"op": "relay.forward", "peer": PEER_WIRE, "msg": [], "ms": 1},
                    {"op": "relay.forward", "peer": PEER_WIRE, "msg": {}, "ms": 0},
                    {"op": "relay.forward", "peer": PEER_WIRE, "msg": {}, "ms": 1, "extra": 1},
                    {"op": "ring.ping"}):
            reply = await _raw(sock, envelope.request_frame(1, bad))
            assert reply["id"] == 1 and reply["rep"]["error"]["reason"] == "relay", bad
        assert len(host.seen) == seen
        assert await relay.request(PEER, {"op": "ping"}, 1.0) == {"op": "pong", "echo": b""}
        nursery.cancel_scope.cancel()
    assert not sock.exists()


async def test_no_relay_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(PeerUnreachable) as ei:
        await RelayHost(tmp_path / "none.sock").request(PEER, {"op": "ping"}, 1.0)
    assert ei.value.reason == "relay"


@pytest.mark.parametrize(("sent", "reason"), [
    ({"weird": 1}, "bad-envelope"),                                   # not a reply frame
    ({"id": 2, "rep": {"op": "pong"}}, "bad-envelope"),               # another request's id
    ({"id": 1, "rep": {"error": "boom"}}, "bad-error-reply"),         # a malformed error reply
    ({"fatal": {"code": "internal", "message": "x", "reason": None}}, "peer-fatal"),
])
async def test_malformed_reply_refused(tmp_path: Path, sent: dict[str, Any], reason: str) -> None:
    sock = tmp_path / "bad.sock"

    async def liar(stream: trio.SocketStream) -> None:
        await stream.send_all(encode_frame(sent))

    s = trio.socket.socket(trio.socket.AF_UNIX)
    await s.bind(str(sock))
    s.listen(1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, liar, [trio.SocketListener(s)])
        with pytest.raises(RemoteProtocolError) as ei:
            await RelayHost(sock).request(PEER, {"op": "ping"}, 1.0)
        assert ei.value.reason == reason
        nursery.cancel_scope.cancel()


def test_commands_import_libp2p_only_for_their_own_host() -> None:
    """What a relayed command imports (the ring client, the compute client, the CLI) pulls in no libp2p."""
    import subprocess
    import sys

    # Everything the network commands import, at the top or inside the command (query, put/get, ring status,
    # program publish/show/run, dataset publish/show/export, site publish).
    modules = ["note_compute.cli", "note_compute.cli.ops", "note_compute.cli.describe", "note_compute.cli.ranges",
               "note_compute.client", "note_compute.relay", "note_compute.compute.client",
               "note_compute.compute.publish", "note_compute.compute.dataset", "note_compute.compute.registry",
               "note_compute.compute.freshness", "note_compute.compute.source", "note_compute.compute.keys",
               "note_compute.sandbox", "note_compute.sandbox.abi", "note_compute.programs",
               "note_compute.program_interface", "note_compute.keystore", "note_compute.site",
               "note_compute.gateway.publish", "note_compute.devnet.ring"]
    code = (f"import sys, {', '.join(modules)}\n"
            "print(sorted(m for m in sys.modules if m.startswith('libp2p'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
