"""The libp2p adapter: one host per node, the ``/note/1.0.0`` request protocol.

Theory of operation
-------------------
A node owns one :class:`NetHost` (one py-libp2p 0.8.1 host: TCP, Noise,
mplex by default). Its identity is a 32-byte Ed25519 *seed* kept by the node,
so a restarted node keeps its libp2p peer id and its ring position
(``node_id = SHA-256(raw Ed25519 public key)``).

Requests travel on ``/note/1.0.0`` streams as frames
(:mod:`~note_compute.net.framing`) in the envelope of
:mod:`~note_compute.wire.envelope`. The opener of a stream sends requests,
one at a time; the acceptor answers each. Streams are **long-lived and
pooled**: a request takes an idle stream to the peer (or opens one), writes,
reads its one reply and gives the stream back, so a request on a warm
connection costs one round trip, not a new stream. (A pipelined stream with
a background reader is not possible: py-libp2p 0.8.1's mplex stream makes a
write wait while another task is blocked reading the same stream.) A stream
that failed, timed out or broke the protocol is reset, never reused.

A handler raising :class:`~note_compute.errors.NoteError` becomes
``{"error": {"code", "message", "reason"}}``; the requester raises the same
typed error again. Any other exception is logged and answered with code
``"internal"``. Garbage from a peer gets a ``fatal`` frame and that stream
is closed; nothing a peer sends can stop the host. A connection that fails
below the streams (a Noise message that does not authenticate, a broken
mplex frame) is closed alone and counted in ``connection_failures``; the
next request to that peer dials again (``_p2p`` explains why py-libp2p
needs help for both, and makes every Noise write atomic).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import trio

from .. import transport as _transport
from ..errors import InternalError, LocalProtocolError, NoteError, PeerUnreachable, RemoteProtocolError, Timeout
from ..ring.ids import PeerRef, id_to_bytes, node_id
from ..wire.envelope import (
    ENVELOPE_OVERHEAD,
    error_reply,
    fatal_frame,
    hello_addr,
    hello_frame,
    parse_reply,
    parse_request,
    raise_if_error,
    reply_frame,
    request_frame,
)
from . import _p2p
from .admission import Admission, FrameBudget, InboundLimits
from .framing import MAX_FRAME_SIZE, MAX_REQUEST_FRAME_SIZE, FrameDecoder, encode_frame

__all__ = ["PROTOCOL_ID", "NetConfig", "NetHost", "Handler", "open_host", "node_id_of_public_key", "error_reply"]

log = logging.getLogger(__name__)

PROTOCOL_ID = "/note/1.0.0"
"""The libp2p protocol id of every note_compute request stream."""

Handler = _transport.Handler
"""``async handler(sender, msg) -> reply``: serves every incoming request (see :mod:`note_compute.transport`)."""

_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class NetConfig:
    """Transport knobs. Defaults are what the node runs with."""

    muxer: Literal["mplex", "yamux"] = "mplex"
    """Stream muxer (mplex measured faster; see benchmarks/results/net.md)."""
    stream_mode: Literal["long-lived", "per-request"] = "long-lived"
    """``long-lived``: pooled streams reused; ``per-request``: a new stream each time (for comparison)."""
    max_request_size: int = MAX_REQUEST_FRAME_SIZE
    """Largest request message sent, and accepted from a peer."""
    max_reply_size: int = MAX_FRAME_SIZE
    """Largest reply frame accepted from (and sent to) a peer."""
    max_streams_per_peer: int = 16
    """Pooled outbound streams per peer = requests in flight to it; more wait their turn."""
    max_inbound_streams_per_peer: int = 64
    """Concurrent incoming streams accepted from one peer; more are reset."""
    connect_timeout: float = 10.0
    """Upper bound on one dial (a request's own timeout applies as well)."""
    handler_timeout: float = 30.0
    """A handler still running after this many seconds is cancelled; the peer gets a ``timeout`` error."""
    frame_timeout: float = 30.0
    """A peer that starts a frame must finish it within this many seconds, or the stream is closed."""
    inbound: InboundLimits = field(default_factory=InboundLimits)
    """Caps on inbound connections and unfinished handshakes, in total and per source IP."""
    frame_budget: int = 64 * 1024 * 1024
    """Bytes of unfinished request frames buffered across all inbound streams; a stream past it is closed."""
    frame_budget_per_peer: int = 17 * 1024 * 1024
    """The same, for the streams of one peer (room for 16 maximal requests in flight, a peer's pool size)."""


def node_id_of_public_key(public_key: bytes) -> int:
    """The ring id of a node: SHA-256 of its 32-byte raw Ed25519 public key, as an int."""
    return node_id(public_key)


class _Conn:
    """One pooled request stream to a peer, with its frame decoder."""

    __slots__ = ("stream", "decoder", "uses")

    def __init__(self, stream: Any, max_reply: int) -> None:
        self.stream = stream
        self.decoder = FrameDecoder(max_reply)
        self.uses = 0  # requests sent on it; also the next request id - 1


class _Pool:
    """Idle request streams to one peer, and a cap on requests in flight to it."""

    __slots__ = ("idle", "slots", "users")

    def __init__(self, size: int) -> None:
        self.idle: list[_Conn] = []
        self.slots = trio.Semaphore(size)
        self.users = 0  # requests using or waiting for the pool


class NetHost:
    """One node's libp2p host. Create it with :func:`open_host`.

    Attributes: ``seed`` (32 bytes, the node's Ed25519 identity; sign
    receipts with it), ``public_key`` (32 bytes), ``node_id`` (int, the
    ring id), ``node_id_bytes`` (the same, 32 bytes big-endian),
    ``peer_id`` (base58 libp2p peer id), ``listen_addrs`` (full multiaddrs
    ending in ``/p2p/<peer id>``), ``peer_ref`` (this node as a PeerRef),
    ``requests_served``, ``protocol_errors`` and ``connection_failures``
    (counters; the last counts connections closed because they failed, for
    example a Noise message that did not authenticate: the host carries on),
    ``admission`` (inbound connections held and refused, see
    :mod:`~note_compute.net.admission`) and ``frame_budget`` (bytes of
    unfinished request frames buffered).
    """

    def __init__(self, seed: bytes, config: NetConfig) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("the host seed is 32 bytes")
        self.seed = seed
        self.config = config
        self.admission = Admission(config.inbound)
        self.frame_budget = FrameBudget(config.frame_budget, config.frame_budget_per_peer)
        self._host, self.public_key = _p2p.build_host(
            seed,
            muxer=config.muxer,
            connect_timeout=config.connect_timeout,
            on_conn_failure=self._conn_failed,
            admission=self.admission,
        )
        self.node_id: int = node_id(self.public_key)
        self.node_id_bytes: bytes = id_to_bytes(self.node_id)
        self.peer_id: str = self._host.get_id().to_base58()
        self.listen_addrs: list[str] = []
        self._handler: Handler | None = None
        self._pools: dict[str, _Pool] = {}
        self._inbound: dict[str, int] = {}
        self._closed = False
        self.requests_served = 0
        self.protocol_errors = 0
        self.connection_failures = 0
        self.stream_retries = 0

    # -- public API ---------------------------------------------------------

    @property
    def peer_ref(self) -> PeerRef:
        """This node as a PeerRef (its first listen address)."""
        return PeerRef(self.node_id, self.listen_addrs[0])

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
        protocol, :class:`~note_compute.errors.LocalProtocolError` if ``msg``
        is not encodable or over the request size cap, or ``peer.addr`` is
        not a ``/p2p/`` multiaddr matching ``peer.id``.
        """
        if self._closed:
            raise LocalProtocolError("host is closed", reason="closed")
        encode_frame(msg, max_size=self.config.max_request_size)  # refuse locally, before dialling
        with trio.move_on_after(timeout) as scope:
            return await self._request(peer, msg)
        assert scope.cancelled_caught
        raise Timeout(f"no reply from {peer.addr} within {timeout:g} s", reason="request-timeout")

    async def forget(self, peer: PeerRef) -> None:
        """Drop pooled streams to ``peer`` and close our connection to it (the ring let it go)."""
        pool = self._pools.pop(peer.addr, None)
        if pool is not None:
            idle, pool.idle = pool.idle, []
            for conn in idle:
                await self._discard(conn.stream)
        try:
            info = _p2p.peer_info(peer.addr, peer.id)
        except LocalProtocolError:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            try:
                await self._host.disconnect(info.peer_id)
            except Exception:
                pass

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
                        await _p2p.quiet_reset(conn.stream)
            with trio.move_on_after(5):
                await self._host.close()

    def _conn_failed(self, peer_b58: str, reason: str) -> None:
        """One connection failed and was closed (``_p2p`` hook); the next request to that peer redials."""
        self.connection_failures += 1

    # -- outbound -----------------------------------------------------------

    async def _open_stream(self, peer: PeerRef) -> Any:
        info = _p2p.peer_info(peer.addr, peer.id)
        if info.peer_id == self._host.get_id():
            raise LocalProtocolError("refusing to dial ourselves", reason="self-dial")
        _p2p.prepare_dial(self._host, info.peer_id)
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
        pool.users += 1
        try:
            async with pool.slots:
                for attempt in (0, 1):
                    conn = None
                    while long_lived and pool.idle and conn is None:
                        conn = pool.idle.pop()
                        if _p2p.stream_is_dead(conn.stream):  # its connection failed or closed
                            await self._discard(conn.stream)
                            conn = None
                    reused = conn is not None
                    if conn is None:
                        try:
                            conn = _Conn(await self._open_stream(peer), self.config.max_reply_size)
                        except PeerUnreachable:
                            # Simultaneous dials: both sides dialled, one connection was closed under the
                            # stream being opened. The surviving connection (or a new dial) serves a retry.
                            if attempt == 0:
                                self.stream_retries += 1
                                continue
                            raise
                    ok = False
                    try:
                        reply = await self._exchange(conn, peer, msg, hello=long_lived and conn.uses == 0)
                        ok = True
                    except PeerUnreachable:
                        # The connection is gone: so are the other idle streams on it.
                        stale, pool.idle = pool.idle, []
                        for other in stale:
                            await self._discard(other.stream)
                        if reused and attempt == 0:
                            continue  # a pooled stream went stale (peer restarted?): one fresh try
                        raise
                    finally:
                        if ok and long_lived and not self._closed and pool is self._pools.get(peer.addr):
                            pool.idle.append(conn)
                        else:
                            await self._discard(conn.stream)
                    return raise_if_error(reply)
        finally:
            pool.users -= 1
            if pool.users == 0 and not pool.idle and self._pools.get(peer.addr) is pool:
                del self._pools[peer.addr]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, conn: _Conn, peer: PeerRef, msg: dict[str, Any], *, hello: bool) -> dict[str, Any]:
        conn.uses += 1
        rid = conn.uses
        data = encode_frame(request_frame(rid, msg), max_size=self.config.max_request_size + ENVELOPE_OVERHEAD)
        if hello:  # a fresh stream starts with where we can be dialled back, in the same write
            data = encode_frame(hello_frame(self.listen_addrs[0] if self.listen_addrs else "")) + data
        try:
            # Not shielded: the Noise layer (_p2p._SafeNoiseIO) makes each encrypted message atomic, so a
            # timeout here only stops between mplex messages; the half-sent frame dies with the reset stream.
            await conn.stream.write(data)
        except trio.Cancelled:
            raise
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise PeerUnreachable(f"stream to {peer.addr} failed: {detail}", reason="stream-failed") from exc
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
            return parse_reply(frames[0], rid)

    async def _discard(self, stream: Any) -> None:
        """Reset a stream we will not reuse (shielded: also runs on timeout)."""
        with trio.CancelScope(shield=True), trio.move_on_after(0.25):
            await _p2p.quiet_reset(stream)

    # -- inbound ------------------------------------------------------------

    async def _on_stream(self, stream: Any) -> None:
        """libp2p stream handler for PROTOCOL_ID: serve requests, one at a time, until EOF."""
        remote = stream.muxed_conn.peer_id
        remote_b58 = remote.to_base58()
        sender_id = _p2p.remote_node_id(remote)
        count = self._inbound.get(remote_b58, 0)
        if sender_id is None or count >= self.config.max_inbound_streams_per_peer:
            log.info("refusing a stream from %s (%s)", remote_b58, "no key" if sender_id is None else "too many")
            await _p2p.quiet_reset(stream)
            return
        self._inbound[remote_b58] = count + 1
        sender = PeerRef(sender_id, _p2p.observed_addr(stream, remote_b58))
        decoder = FrameDecoder(self.config.max_request_size + ENVELOPE_OVERHEAD)
        first = True
        frame_started: float | None = None  # when the partial frame in the decoder began
        try:
            while not self._closed:
                # An idle pooled stream may wait forever; a started frame may not.
                deadline = float("inf") if frame_started is None else frame_started + self.config.frame_timeout
                with trio.CancelScope(deadline=deadline) as scope:
                    try:
                        data = await stream.read(_READ_SIZE)
                    except trio.Cancelled:
                        raise
                    except Exception:
                        break
                if scope.cancelled_caught:
                    self.protocol_errors += 1
                    exc = RemoteProtocolError(
                        f"frame not completed within {self.config.frame_timeout:g} s", reason="frame-timeout"
                    )
                    await self._send_fatal(stream, exc)
                    break
                if not data:
                    break
                try:
                    before = decoder.buffered
                    try:
                        frames = decoder.feed(data)
                    finally:
                        within = self.frame_budget.update(remote_b58, before, decoder.buffered)
                    if not within:
                        raise RemoteProtocolError(
                            "too many bytes of unfinished frames buffered for this peer or node",
                            reason="frame-budget",
                        )
                    if frame_started is None and not decoder.at_boundary and not frames:
                        frame_started = trio.current_time()
                    for frame in frames:
                        if first and "hello" in frame:
                            first = False
                            addr = hello_addr(frame["hello"], remote_b58)
                            if addr is not None:
                                sender = PeerRef(sender_id, addr)
                            continue
                        first = False
                        rid, req = parse_request(frame)
                        reply = await self._dispatch(sender, req)
                        await stream.write(self._encode_reply(sender, rid, reply))
                    if decoder.at_boundary:
                        frame_started = None
                    elif frames:  # a new frame began in this chunk: its clock starts after serving
                        frame_started = trio.current_time()
                except RemoteProtocolError as exc:
                    log.info("bad input from %s: %s", remote_b58, exc)
                    self.protocol_errors += 1
                    await self._send_fatal(stream, exc)
                    break
                except trio.Cancelled:
                    raise
                except Exception:  # the stream failed under us (peer went away)
                    break
        finally:
            self.frame_budget.update(remote_b58, decoder.buffered, 0)
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

    @staticmethod
    async def _send_fatal(stream: Any, exc: NoteError) -> None:
        with trio.move_on_after(1):
            try:
                await stream.write(encode_frame(fatal_frame(exc)))
            except Exception:
                pass

    def _encode_reply(self, sender: PeerRef, rid: int, reply: dict[str, Any]) -> bytes:
        try:
            return encode_frame(reply_frame(rid, reply), max_size=self.config.max_reply_size)
        except LocalProtocolError as exc:
            log.error("reply to %s not sendable: %s", sender.addr, exc)
            err = InternalError(f"reply not sendable: {exc.message}", reason=exc.reason)
            return encode_frame(reply_frame(rid, error_reply(err)))

    async def _dispatch(self, sender: PeerRef, req: dict[str, Any]) -> dict[str, Any]:
        self.requests_served += 1
        if self._handler is None:
            return error_reply(InternalError("node has no handler yet", reason="no-handler"))
        try:
            with trio.fail_after(self.config.handler_timeout):
                reply = await self._handler(sender, req)
        except trio.TooSlowError:
            log.warning("handler still busy after %g s on a request from %s", self.config.handler_timeout, sender.addr)
            return error_reply(Timeout("the node did not finish serving the request in time", reason="handler-timeout"))
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


@asynccontextmanager
async def open_host(
    seed: bytes,
    listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",),
    *,
    config: NetConfig | None = None,
    handler: Handler | None = None,
    announce: Sequence[str] | None = None,
) -> AsyncIterator[NetHost]:
    """Start a host listening on ``listen`` (multiaddrs); always closed on exit.

    ``seed`` is the node's 32-byte Ed25519 identity seed. ``listen_addrs`` on
    the yielded host are the addresses others should dial, each ending in
    ``/p2p/<peer id>``: ``announce`` if given (for a node behind NAT or a
    port mapping), else the bound addresses with their actual ports
    (``tcp/0`` picks a free one) and an unspecified ``0.0.0.0`` replaced by
    this machine's primary IPv4 address. An exception raised in the block
    propagates unchanged (not wrapped, not lost).
    """
    addrs = _p2p.parse_listen(listen)
    net = NetHost(seed, config or NetConfig())
    if handler is not None:
        net.set_handler(handler)
    err: BaseException | None = None
    announced = None if announce is None else [_p2p.dialable(a, net.peer_id) for a in announce]
    try:
        async with net._host.run(listen_addrs=addrs):
            net._host.set_stream_handler(PROTOCOL_ID, net._on_stream)
            net.listen_addrs = announced or [_p2p.dialable(str(a), net.peer_id) for a in net._host.get_addrs()]
            try:
                yield net
            except BaseException as exc:
                err = exc
                raise
            finally:
                await net.close()
    except BaseExceptionGroup as group:
        # py-libp2p's run() nests nurseries, which wrap the block's exception: unwrap it.
        leaves = _leaves(group)
        if err is not None and any(x is err for x in leaves) and all(
            x is err or isinstance(x, trio.Cancelled) for x in leaves
        ):
            raise err from None
        raise
    finally:
        if not net._closed:
            await net.close()
    if err is not None and not isinstance(err, trio.Cancelled):
        # ... or absorb it while shutting down: never let it be lost.
        raise err


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]
