"""The libp2p adapter: one host per node, the ``/note/1.0.0`` request protocol.

Theory of operation
-------------------
A node owns one :class:`NetHost` (one py-libp2p 0.8.1 host: TCP, Noise,
mplex by default). Its identity is a 32-byte Ed25519 *seed* kept by the node,
so a restarted node keeps its libp2p peer id and its ring position
(``node_id = SHA-256(raw Ed25519 public key)``).

Requests travel on ``/note/1.0.0`` streams as frames (see
:mod:`note_compute.net.framing`). By default each host opens **one
long-lived outbound stream per remote peer** and pipelines requests on it,
each tagged with a request id; a reader task routes replies back to their
waiters. A request therefore costs one round trip on an open connection,
not a new stream (measured in ``benchmarks/bench_net.py``). Each direction
has its own stream: the opener sends requests, the acceptor sends replies.

Stream, in frames (``->`` opener to acceptor)::

    -> {"hello": {"v": 1, "addr": "/ip4/.../tcp/N/p2p/Qm..."}}   optional, first
    -> {"id": 7, "req": {...}}          any number, pipelined
    <- {"id": 7, "rep": {...}}          in any order; {"error": {...}} on failure
    <- {"fatal": {"code", "message", "reason"}}  framing broken: stream is reset

A handler raising :class:`~note_compute.errors.NoteError` becomes
``{"error": {"code", "message", "reason"}}``; the requester raises the
typed error again (:func:`~note_compute.errors.error_from_code`). Any other
exception is logged and answered with code ``"internal"``. Nothing a peer
sends can stop the host.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import trio

from ..errors import (
    InternalError,
    LocalProtocolError,
    NoteError,
    PeerUnreachable,
    RemoteProtocolError,
    Timeout,
    error_from_code,
)
from .framing import MAX_FRAME_SIZE, MAX_REQUEST_FRAME_SIZE, FrameDecoder, encode_frame

from ..ring.ids import PeerRef, id_to_bytes, node_id

__all__ = [
    "PROTOCOL_ID",
    "NetConfig",
    "NetHost",
    "Handler",
    "open_host",
    "node_id_of_public_key",
    "error_reply",
]

log = logging.getLogger(__name__)

PROTOCOL_ID = "/note/1.0.0"
"""The libp2p protocol id of every note_compute request stream."""

Handler = Callable[[PeerRef, dict[str, Any]], Awaitable[dict[str, Any]]]
"""``async handler(sender, msg) -> reply``: serves every incoming request."""

_READ_SIZE = 64 * 1024
_ENVELOPE = 64  # room for {"id": n, "req"/"rep": ...} around a message
_MAX_REQUEST_ID = 2**63 - 1


@dataclass(frozen=True)
class NetConfig:
    """Transport knobs. Defaults are what the node runs with."""

    muxer: Literal["mplex", "yamux"] = "mplex"
    """Stream muxer (mplex measured faster; see benchmarks/results/net.md)."""
    stream_mode: Literal["long-lived", "per-request"] = "long-lived"
    """``long-lived``: one pipelined stream per peer; ``per-request``: a new stream each time."""
    max_request_size: int = MAX_REQUEST_FRAME_SIZE
    """Largest request frame accepted from a peer."""
    max_reply_size: int = MAX_FRAME_SIZE
    """Largest reply frame accepted from (and sent to) a peer."""
    max_streams_per_peer: int = 16
    """Pooled outbound streams per peer = requests in flight to it; more wait their turn."""
    max_inbound_streams_per_peer: int = 64
    """Concurrent incoming streams accepted from one peer; more are reset."""
    connect_timeout: float = 10.0
    """Upper bound on one dial (a request's own timeout applies as well)."""


def node_id_of_public_key(public_key: bytes) -> int:
    """The ring id of a node: SHA-256 of its 32-byte raw Ed25519 public key, as an int."""
    return node_id(public_key)


def error_reply(exc: NoteError) -> dict[str, Any]:
    """The wire form of a typed error: ``{"error": {"code", "message", "reason"}}``."""
    return {"error": {"code": exc.code, "message": exc.message, "reason": exc.reason}}


def _raise_if_error(reply: dict[str, Any]) -> dict[str, Any]:
    err = reply.get("error")
    if err is None:
        return reply
    if (
        not isinstance(err, dict)
        or not isinstance(err.get("code"), str)
        or not isinstance(err.get("message", ""), str)
        or not isinstance(err.get("reason"), (str, type(None)))
    ):
        raise RemoteProtocolError("malformed error reply", reason="bad-error-reply")
    raise error_from_code(err["code"], err.get("message", ""), err.get("reason"))


async def _quiet_reset(stream: Any) -> None:
    try:
        await stream.reset()
    except Exception:
        pass


def _make_peer_ref(nid: int, addr: str) -> PeerRef:
    return PeerRef(nid, addr)


class _Conn:
    """One pooled request stream to a peer, with its frame decoder."""

    __slots__ = ("stream", "decoder", "uses")

    def __init__(self, stream: Any, max_reply: int) -> None:
        self.stream = stream
        self.decoder = FrameDecoder(max_reply)
        self.uses = 0


class _Pool:
    """Idle request streams to one peer, and a cap on requests in flight to it."""

    __slots__ = ("idle", "slots")

    def __init__(self, size: int) -> None:
        self.idle: list[_Conn] = []
        self.slots = trio.Semaphore(size)


class NetHost:
    """One node's libp2p host. Create it with :func:`open_host`.

    Attributes: ``seed`` (32 bytes, the node's Ed25519 identity; sign
    receipts with it), ``public_key`` (32 bytes), ``node_id`` (int, the
    ring id), ``node_id_bytes`` (the same, 32 bytes big-endian),
    ``peer_id`` (base58 libp2p peer id), ``listen_addrs`` (full multiaddrs
    ending in ``/p2p/<peer id>``), ``peer_ref`` (this node as a PeerRef).
    """

    def __init__(self, seed: bytes, config: NetConfig) -> None:
        from libp2p import new_host
        from libp2p.crypto.ed25519 import create_new_key_pair
        from libp2p.crypto.x25519 import create_new_key_pair as create_x25519
        from libp2p.network.config import ConnectionConfig
        from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
        from libp2p.security.noise.transport import Transport as NoiseTransport

        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("the host seed is 32 bytes")
        self.seed = seed
        self.config = config
        key_pair = create_new_key_pair(seed)
        self.public_key: bytes = key_pair.public_key.to_bytes()
        self.node_id: int = node_id_of_public_key(self.public_key)
        self.node_id_bytes: bytes = id_to_bytes(self.node_id)
        self._host = new_host(
            key_pair=key_pair,
            sec_opt={NOISE_ID: NoiseTransport(key_pair, noise_privkey=create_x25519().private_key)},
            muxer_preference="MPLEX" if config.muxer == "mplex" else "YAMUX",
            connection_config=ConnectionConfig(
                max_connections_per_peer=1, dial_timeout=config.connect_timeout
            ),
        )
        self.peer_id: str = self._host.get_id().to_base58()
        self.listen_addrs: list[str] = []
        self._handler: Handler | None = None
        self._pools: dict[str, _Pool] = {}
        self._inbound: dict[str, int] = {}
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self.requests_served = 0
        self.protocol_errors = 0

    # -- public API ---------------------------------------------------------

    @property
    def peer_ref(self) -> PeerRef:
        """This node as a PeerRef (its first listen address)."""
        return _make_peer_ref(self.node_id, self.listen_addrs[0])

    def set_handler(self, handler: Handler) -> None:
        """Install the function that answers every incoming request."""
        self._handler = handler

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``msg`` to ``peer`` and return its reply.

        Raises the peer's typed error if it answered with an error reply,
        :class:`~note_compute.errors.Timeout` after ``timeout`` seconds
        (dial included), :class:`~note_compute.errors.PeerUnreachable` if it
        cannot be dialled or the connection drops,
        :class:`~note_compute.errors.RemoteProtocolError` if it breaks the
        protocol (bad frames, wrong identity),
        :class:`~note_compute.errors.LocalProtocolError` if ``msg`` is not
        encodable or over the request size cap, or ``peer.addr`` is not a
        ``/p2p/`` multiaddr matching ``peer.id``.
        """
        if self._closed:
            raise LocalProtocolError("host is closed", reason="closed")
        frame_body = {"id": 0, "req": msg}
        encode_frame(frame_body, max_size=self.config.max_request_size)  # fail early, locally
        with trio.move_on_after(timeout) as scope:
            return await self._request(peer, msg)
        assert scope.cancelled_caught
        raise Timeout(f"no reply from {peer.addr} within {timeout:g} s", reason="request-timeout")

    def connected_peers(self) -> list[str]:
        """Base58 peer ids we hold a connection to."""
        return [p.to_base58() for p in self._host.get_connected_peers()]

    async def close(self) -> None:
        """Close every stream and the libp2p host (no sockets leak). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            pools, self._pools = self._pools, {}
            for pool in pools.values():
                for conn in pool.idle:
                    with trio.move_on_after(0.2):
                        await _quiet_reset(conn.stream)
            with trio.move_on_after(5):
                await self._host.close()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # -- outbound -----------------------------------------------------------

    def _peer_info(self, peer: PeerRef) -> Any:
        import multiaddr
        from libp2p.peer.peerinfo import info_from_p2p_addr

        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(peer.addr))
        except Exception as exc:
            raise LocalProtocolError(f"not a dialable /p2p/ multiaddr: {peer.addr!r}", reason="bad-addr") from exc
        try:
            pk = info.peer_id.extract_public_key()
        except Exception:
            pk = None
        if pk is None or len(pk.to_bytes()) != 32 or node_id_of_public_key(pk.to_bytes()) != peer.id:
            raise LocalProtocolError(
                "the peer id in the address does not match the node id", reason="peer-id-mismatch"
            )
        return info

    async def _open_stream(self, peer: PeerRef) -> Any:
        info = self._peer_info(peer)
        if info.peer_id == self._host.get_id():
            raise LocalProtocolError("refusing to dial ourselves", reason="self-dial")
        try:
            await self._host.connect(info)
            return await self._host.new_stream(info.peer_id, [PROTOCOL_ID])
        except trio.Cancelled:
            raise
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise PeerUnreachable(f"cannot reach {peer.addr}: {detail}", reason="dial-failed") from exc

    async def _request(self, peer: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        long_lived = self.config.stream_mode == "long-lived"
        pool = self._pools.get(peer.addr)
        if pool is None:
            pool = self._pools[peer.addr] = _Pool(self.config.max_streams_per_peer)
        async with pool.slots:
            for attempt in (0, 1):
                reused = bool(pool.idle) and long_lived
                conn = pool.idle.pop() if reused else None
                if conn is None:
                    conn = _Conn(await self._open_stream(peer), self.config.max_reply_size)
                # A fresh long-lived stream starts with our hello (sent in the same write).
                hello = self._hello() if long_lived and conn.uses == 0 else None
                ok = False
                try:
                    reply = await self._exchange(conn, peer, msg, hello)
                    ok = True
                except PeerUnreachable:
                    if reused and attempt == 0:
                        continue  # the pooled stream went stale (peer restarted?): one fresh try
                    raise
                finally:
                    if ok and long_lived and not self._closed and pool is self._pools.get(peer.addr):
                        pool.idle.append(conn)
                    else:
                        self._discard(conn.stream)
                return _raise_if_error(reply)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, conn: _Conn, peer: PeerRef, msg: dict[str, Any], hello: dict[str, Any] | None
    ) -> dict[str, Any]:
        conn.uses += 1
        rid = conn.uses
        data = encode_frame({"id": rid, "req": msg}, max_size=self.config.max_request_size + _ENVELOPE)
        if hello is not None:
            data = encode_frame(hello) + data
        try:
            await conn.stream.write(data)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise PeerUnreachable(f"stream to {peer.addr} failed: {exc or type(exc).__name__}", reason="stream-failed") from exc
        while True:
            try:
                chunk = await conn.stream.read(_READ_SIZE)
            except trio.Cancelled:
                raise
            except Exception:
                chunk = b""
            if not chunk:
                raise PeerUnreachable(f"{peer.addr} closed the stream before replying", reason="closed")
            frames = conn.decoder.feed(chunk)
            if not frames:
                continue
            if len(frames) > 1 or conn.decoder.buffered:
                raise RemoteProtocolError("peer sent more than one reply", reason="unexpected-frame")
            frame = frames[0]
            if "fatal" in frame:
                try:
                    _raise_if_error({"error": frame["fatal"]})
                except NoteError as exc:
                    raise RemoteProtocolError(f"peer closed the stream: {exc}", reason="peer-fatal") from exc
                raise RemoteProtocolError("fatal frame without an error", reason="bad-envelope")
            got, rep = frame.get("id"), frame.get("rep")
            if got != rid or not isinstance(rep, dict):
                raise RemoteProtocolError("reply frame needs the request's id and a map rep", reason="bad-envelope")
            return rep

    def _hello(self) -> dict[str, Any]:
        return {"hello": {"v": 1, "addr": self.listen_addrs[0] if self.listen_addrs else ""}}

    def _discard(self, stream: Any) -> None:
        if self._nursery is not None and not self._closed:
            self._nursery.start_soon(_quiet_reset, stream)

    # -- inbound ------------------------------------------------------------

    async def _on_stream(self, stream: Any) -> None:
        """libp2p stream handler for PROTOCOL_ID: serve requests, one at a time, until EOF."""
        remote = stream.muxed_conn.peer_id
        remote_b58 = remote.to_base58()
        try:
            pk = remote.extract_public_key()
            sender_id = node_id_of_public_key(pk.to_bytes()) if pk is not None else None
        except Exception:
            sender_id = None
        count = self._inbound.get(remote_b58, 0)
        if sender_id is None or count >= self.config.max_inbound_streams_per_peer:
            log.info("refusing a stream from %s (%s)", remote_b58, "no key" if sender_id is None else "too many")
            await _quiet_reset(stream)
            return
        self._inbound[remote_b58] = count + 1
        sender = _make_peer_ref(sender_id, self._observed_addr(stream, remote_b58))
        decoder = FrameDecoder(self.config.max_request_size + _ENVELOPE)
        first = True
        try:
            while not self._closed:
                try:
                    data = await stream.read(_READ_SIZE)
                except trio.Cancelled:
                    raise
                except Exception:
                    break
                if not data:
                    break
                try:
                    frames = decoder.feed(data)
                    for frame in frames:
                        if first and "hello" in frame:
                            addr = self._hello_addr(frame["hello"], remote_b58)
                            if addr is not None:
                                sender = _make_peer_ref(sender_id, addr)
                            first = False
                            continue
                        first = False
                        rid, req = frame.get("id"), frame.get("req")
                        if type(rid) is not int or not 0 < rid <= _MAX_REQUEST_ID or not isinstance(req, dict):
                            raise RemoteProtocolError(
                                "a request frame is {id: positive int, req: map}", reason="bad-envelope"
                            )
                        reply = await self._dispatch(sender, req)
                        await stream.write(self._reply_frame(sender, rid, reply))
                except RemoteProtocolError as exc:
                    log.info("bad input from %s: %s", remote_b58, exc)
                    self.protocol_errors += 1
                    with trio.move_on_after(1):
                        try:
                            await stream.write(encode_frame({"fatal": error_reply(exc)["error"]}))
                        except Exception:
                            pass
                    break
                except trio.Cancelled:
                    raise
                except Exception:  # the stream failed under us (peer went away)
                    break
        finally:
            n = self._inbound.get(remote_b58, 1) - 1
            if n > 0:
                self._inbound[remote_b58] = n
            else:
                self._inbound.pop(remote_b58, None)
            with trio.CancelScope(shield=True), trio.move_on_after(0.5):
                try:
                    await stream.close()
                except Exception:
                    pass

    def _reply_frame(self, sender: PeerRef, rid: int, reply: dict[str, Any]) -> bytes:
        try:
            return encode_frame({"id": rid, "rep": reply}, max_size=self.config.max_reply_size)
        except LocalProtocolError as exc:
            log.error("reply to %s not sendable: %s", sender.addr, exc)
            err = InternalError(f"reply not sendable: {exc.message}", reason=exc.reason)
            return encode_frame({"id": rid, "rep": error_reply(err)})

    async def _dispatch(self, sender: PeerRef, req: dict[str, Any]) -> dict[str, Any]:
        self.requests_served += 1
        if self._handler is None:
            return error_reply(InternalError("node has no handler yet", reason="no-handler"))
        try:
            reply = await self._handler(sender, req)
        except NoteError as exc:
            return error_reply(exc)
        except trio.Cancelled:
            raise
        except Exception:
            log.exception("handler failed on a request from %s", sender.addr)
            return error_reply(InternalError("internal error while serving the request", reason="handler-crashed"))
        if not isinstance(reply, dict):
            log.error("handler returned %s, not a dict", type(reply).__name__)
            return error_reply(InternalError("internal error while serving the request", reason="bad-reply"))
        return reply

    def _observed_addr(self, stream: Any, peer_b58: str) -> str:
        try:
            host, port = stream.get_remote_address()
            return f"/ip4/{host}/tcp/{port}/p2p/{peer_b58}"
        except Exception:
            return f"/p2p/{peer_b58}"

    @staticmethod
    def _hello_addr(hello: Any, peer_b58: str) -> str | None:
        """The opener's advertised listen address, if it names the authenticated peer."""
        if not isinstance(hello, dict):
            return None
        addr = hello.get("addr")
        if not isinstance(addr, str) or len(addr) > 512 or not addr.endswith("/p2p/" + peer_b58):
            return None
        return addr


@asynccontextmanager
async def open_host(
    seed: bytes,
    listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",),
    *,
    config: NetConfig | None = None,
    handler: Handler | None = None,
) -> AsyncIterator[NetHost]:
    """Start a host listening on ``listen`` (multiaddrs); always closed on exit.

    ``seed`` is the node's 32-byte Ed25519 identity seed. ``listen_addrs`` on
    the yielded host hold the actual ports (``tcp/0`` picks a free one).
    """
    import multiaddr

    net = NetHost(seed, config or NetConfig())
    if handler is not None:
        net.set_handler(handler)
    try:
        async with trio.open_nursery() as nursery:
            net._nursery = nursery
            async with net._host.run(listen_addrs=[multiaddr.Multiaddr(a) for a in listen]):
                net._host.set_stream_handler(PROTOCOL_ID, net._on_stream)  # type: ignore[arg-type]
                net.listen_addrs = [f"{a}/p2p/{net.peer_id}" if "/p2p/" not in str(a) else str(a)
                                    for a in net._host.get_addrs()]
                try:
                    yield net
                finally:
                    await net.close()
    finally:
        if not net._closed:
            await net.close()
