"""A local relay: the running local network's supervisor carries ring requests for short-lived commands.

Why: every process that speaks libp2p first pays ``import libp2p`` (about
1.3 s of CPU here, BENCHMARKS.md), more than a ``get`` on a local network
needs in all. The ``note-compute devnet`` supervisor already has a libp2p
host; it listens on ``$NOTE_HOME/devnet/relay.sock`` (mode 0600: this user
only) and forwards each request to the peer named in it. A command that has
no ``--bootstrap`` and finds the local network running uses
:class:`RelayHost` instead of its own libp2p host: same ``request(peer, msg,
timeout)``, no libp2p import.

Trust: none is added. The relay only moves bytes; the command verifies
every record, proof and receipt exactly as it does over its own host (a
lying relay is a lying network, which verification exists for).

Wire (one request per connection): the transport's frames and envelope
(``specs/transport.md`` sections 2, 3 and 8) carrying one ``relay.forward``
request (:mod:`note_compute.wire.relay`); the reply is the peer's reply or
typed error reply, whole (fields beside ``"error"``, such as a seq hint's
signed record, included), read like any other reply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio

from .errors import InternalError, NoteError, PeerUnreachable, RemoteProtocolError, Timeout
from .net.framing import HEADER_SIZE, decode_payload, encode_frame
from .ring.ids import PeerRef
from .wire.envelope import (
    error_reply,
    fatal_frame,
    parse_reply,
    parse_request,
    raise_if_error,
    reply_frame,
    request_frame,
)
from .wire.relay import forward_msg, parse_forward

__all__ = ["RELAY_SOCKET", "RelayHost", "serve_relay", "MAX_MESSAGE"]

RELAY_SOCKET = "relay.sock"
MAX_MESSAGE = 64 * 1024 * 1024 + 4096
"""Largest relayed frame (a shard blob chunk reply is far below)."""
_RID = 1  # one request per connection


async def _answer(stream: trio.SocketStream, frame: dict[str, Any]) -> None:
    try:
        await _send(stream, frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError, NoteError):
        pass


async def _send(stream: trio.abc.Stream, frame: dict[str, Any]) -> None:
    await stream.send_all(encode_frame(frame, max_size=MAX_MESSAGE))


async def _recv_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.receive_some(min(n - len(buf), 1 << 20))
        if not chunk:
            raise RemoteProtocolError("relay connection closed mid-frame", reason="frame-truncated")
        buf += chunk
    return bytes(buf)


async def _recv(stream: trio.abc.ReceiveStream) -> dict[str, Any]:
    n = int.from_bytes(await _recv_exactly(stream, HEADER_SIZE), "big")
    if n > MAX_MESSAGE:
        raise RemoteProtocolError(f"relay frame of {n} bytes is over the cap", reason="frame-too-large")
    return decode_payload(await _recv_exactly(stream, n), max_size=MAX_MESSAGE)


class RelayHost:
    """The ``request`` side of a host, carried by the local network's supervisor (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        req = request_frame(_RID, forward_msg(peer.id.to_bytes(32, "big"), peer.addr, msg, int(timeout * 1000)))
        try:
            with trio.fail_after(timeout + 2.0):
                stream = await trio.open_unix_socket(str(self.path))
                async with stream:
                    await _send(stream, req)
                    frame = await _recv(stream)
        except trio.TooSlowError:
            raise Timeout("the local network's relay did not answer in time", reason="timeout") from None
        except OSError as exc:
            raise PeerUnreachable(f"the local network's relay ({self.path}) is not answering: {exc.strerror}",
                                  reason="relay") from None
        return raise_if_error(parse_reply(frame, _RID))  # the peer's typed error (attached fields kept) raises


async def serve_relay(path: Path, host: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Listen on unix socket ``path`` and forward each request through ``host`` (until cancelled)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is created 0600: this user only
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(64)

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            try:
                rid, body = parse_request(await _recv(stream))
            except NoteError as exc:  # not a frame, or not a request envelope: a fatal frame, as a node sends
                await _answer(stream, fatal_frame(exc))
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the command went away
            try:
                pid, addr, msg, ms = parse_forward(body)
                reply = await host.request(PeerRef(int.from_bytes(pid, "big"), addr), msg, ms / 1000)
            except NoteError as exc:  # the peer's typed error (with what it attached), or a bad relay.forward
                reply = {**exc.attached, **error_reply(exc)}
            except Exception as exc:  # a bug here must not take the local network down with it
                reply = error_reply(InternalError(f"relay failed: {type(exc).__name__}: {exc}", reason="relay"))
            await _answer(stream, reply_frame(rid, reply))

    try:
        await trio.serve_listeners(handle, [trio.SocketListener(sock)], task_status=task_status)
    finally:
        path.unlink(missing_ok=True)
