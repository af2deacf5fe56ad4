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

Wire (one request per connection): 4-byte big-endian length, then canonical
CBOR. Request ``{"id": bytes(32), "addr": multiaddr, "msg": map, "ms":
timeout in ms}``; reply ``{"ok": map}`` or ``{"err": [code, message,
reason or null]}`` (the peer's or the relay host's typed error); an error
reply that carries fields beside ``"error"`` (a seq hint's signed record)
comes whole as ``{"ok": error reply}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio

from . import encoding
from .errors import NoteError, PeerUnreachable, RemoteProtocolError, Timeout, error_from_code
from .ring.ids import PeerRef
from .wire.envelope import raise_if_error

__all__ = ["RELAY_SOCKET", "RelayHost", "serve_relay", "MAX_MESSAGE"]

RELAY_SOCKET = "relay.sock"
MAX_MESSAGE = 64 * 1024 * 1024 + 4096
"""Largest relayed message (a shard blob chunk reply is far below)."""


async def _send(stream: trio.abc.Stream, value: Any) -> None:
    data = encoding.encode(value)
    await stream.send_all(len(data).to_bytes(4, "big") + data)


async def _recv_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.receive_some(min(n - len(buf), 1 << 20))
        if not chunk:
            raise RemoteProtocolError("relay connection closed mid-message", reason="relay")
        buf += chunk
    return bytes(buf)


async def _recv(stream: trio.abc.ReceiveStream) -> Any:
    n = int.from_bytes(await _recv_exactly(stream, 4), "big")
    if n > MAX_MESSAGE:
        raise RemoteProtocolError(f"relay message of {n} bytes is over the cap", reason="relay")
    return encoding.decode(await _recv_exactly(stream, n), max_size=MAX_MESSAGE)


class RelayHost:
    """The ``request`` side of a host, carried by the local network's supervisor (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        req = {"id": peer.id.to_bytes(32, "big"), "addr": peer.addr, "msg": msg, "ms": max(1, int(timeout * 1000))}
        try:
            with trio.fail_after(timeout + 2.0):
                stream = await trio.open_unix_socket(str(self.path))
                async with stream:
                    await _send(stream, req)
                    reply = await _recv(stream)
        except trio.TooSlowError:
            raise Timeout("the local network's relay did not answer in time", reason="timeout") from None
        except OSError as exc:
            raise PeerUnreachable(f"the local network's relay ({self.path}) is not answering: {exc.strerror}",
                                  reason="relay") from None
        if isinstance(reply, dict) and isinstance(reply.get("ok"), dict):
            ok: dict[str, Any] = reply["ok"]
            return raise_if_error(ok)  # an error reply with attached fields comes whole
        err = reply.get("err") if isinstance(reply, dict) else None
        if isinstance(err, list) and len(err) == 3 and isinstance(err[0], str) and isinstance(err[1], str):
            raise error_from_code(err[0], err[1], err[2] if isinstance(err[2], str) else None)
        raise RemoteProtocolError("malformed relay reply", reason="relay")


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
                req = await _recv(stream)
                peer = PeerRef(int.from_bytes(req["id"], "big"), req["addr"])
                msg, timeout = req["msg"], req["ms"] / 1000
                if not isinstance(msg, dict) or len(req["id"]) != 32:
                    raise ValueError("bad request")
            except (NoteError, KeyError, TypeError, ValueError, AttributeError):
                reply: Any = {"err": ["remote-protocol", "malformed relay request", "relay"]}
            else:
                try:
                    reply = {"ok": await host.request(peer, msg, timeout)}
                except NoteError as exc:
                    reply = {"err": [exc.code, exc.message, exc.reason]}
                    if exc.attached:  # fields beside "error" (a seq hint's record): the error reply, whole
                        reply = {"ok": {**exc.attached, "error": {"code": exc.code, "message": exc.message,
                                                                  "reason": exc.reason}}}
                except Exception as exc:  # a bug here must not take the local network down with it
                    reply = {"err": ["internal", f"relay failed: {type(exc).__name__}: {exc}", "relay"]}
            try:
                await _send(stream, reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError, NoteError):
                pass

    try:
        await trio.serve_listeners(handle, [trio.SocketListener(sock)], task_status=task_status)
    finally:
        path.unlink(missing_ok=True)
