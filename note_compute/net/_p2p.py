"""py-libp2p 0.8.1 specifics: building the host, dialling, streams.

Everything that knows py-libp2p's internals lives here, so a libp2p upgrade
touches one file. See ``specs/transport.md`` section 1 for why each default
is changed, and its "Connection failures" part for the two py-libp2p defects
worked around below (Noise writes that a cancel could tear, and read-loop
errors that stopped the whole host).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from ..errors import LocalProtocolError
from ..ring.ids import node_id
from ._mplex import bulk_mplex  # py-libp2p's mplex with bulk-sized frames (its internals too)
from .admission import Admission, InboundLimits

__all__ = [
    "build_host",
    "peer_info",
    "prepare_dial",
    "quiet_reset",
    "stream_is_dead",
    "observed_addr",
    "remote_node_id",
    "dialable",
    "primary_ipv4",
    "parse_listen",
    "WRITE_STALL_TIMEOUT",
]

log = logging.getLogger(__name__)

WRITE_STALL_TIMEOUT = 10.0
"""Seconds one Noise message may take to reach the socket before its connection is declared dead."""

OUTBOUND_ALLOWANCE = 512
"""Outbound connections allowed on top of the inbound cap (py-libp2p counts both against one cap)."""

ConnFailureHook = Callable[[str, str], None]
"""``hook(peer_b58, reason)``: told when one connection failed and was closed (the host carries on)."""


def build_host(
    seed: bytes,
    *,
    muxer: str,
    connect_timeout: float,
    on_conn_failure: ConnFailureHook | None = None,
    admission: Admission | None = None,
) -> tuple[Any, bytes]:
    """A libp2p host (TCP, Noise only, one muxer) for the Ed25519 ``seed``; returns (host, public key).

    Its Noise sessions write atomically and its connections fail alone (see
    :func:`_safe_noise_transport` and :func:`_contained_muxer`);
    ``on_conn_failure`` is told about each connection closed that way. Its
    inbound connections are admitted by ``admission`` (default limits if
    None) and hold their slot exactly as long as they live (see
    :func:`_manage_inbound`).
    """
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as create_x25519
    from libp2p.network.config import ConnectionConfig, RetryConfig
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
    from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
    from libp2p.stream_muxer.yamux.yamux import Yamux

    hook = on_conn_failure or (lambda peer, reason: None)
    admission = admission or Admission(InboundLimits())
    key_pair = create_new_key_pair(seed)
    noise = _safe_noise_transport(hook)(key_pair, noise_privkey=create_x25519().private_key)
    mplex = (MPLEX_PROTOCOL_ID, _contained_muxer(bulk_mplex(Mplex), hook))  # bulk frames: _mplex.py
    yamux = (YAMUX_PROTOCOL_ID, _contained_muxer(Yamux, hook))
    muxers: dict[Any, type[Any]] = dict([mplex, yamux] if muxer == "mplex" else [yamux, mplex])
    host = new_host(
        key_pair=key_pair,
        # Noise only: no TLS, secio or plaintext fallback to negotiate down to.
        sec_opt={NOISE_ID: noise},
        # Preferred muxer first, the other as a fallback (py-libp2p's own order).
        muxer_opt=muxers,
        connection_config=ConnectionConfig(
            max_connections_per_peer=1,  # default 3: every dial stalls ~250 ms
            dial_timeout=connect_timeout,
            min_connections=0,  # the ring, not libp2p, decides whom to talk to
            low_watermark=0,
            # Inbound connections are counted by ``admission`` (_manage_inbound); this cap
            # (inbound + outbound) only has to stay out of its way.
            max_connections=admission.limits.max_inbound + OUTBOUND_ALLOWANCE,
            inbound_upgrade_timeout=admission.limits.handshake_timeout,
        ),
    )
    network: Any = host.get_network()  # a Swarm: retry_config is not on the INetworkService interface
    _manage_inbound(network, admission)
    _disable_auto_connect(network)
    # One dial attempt per request: the default retries 3 times with 0.1-0.4 s
    # backoff, which only delays the ring's own failure handling.
    network.retry_config = RetryConfig(max_retries=0)
    return host, key_pair.public_key.to_bytes()


# -- Noise sessions that survive cancellation, connections that fail alone --------
#
# py-libp2p 0.8.1's Noise session (security/noise/io.py) encrypts a message,
# which advances the session's send nonce, and only then awaits the socket's
# write lock and ``send_all``. Every writer on a connection (mplex stream
# data, NewStream/Close/Reset frames, multistream-select negotiation, yamux)
# goes through that one session. A writer cancelled in between (a request
# timeout while ``new_stream`` waits behind a bulk transfer holding the lock,
# ``MplexStream.close``'s own 5 s ``fail_after``, ...) has burnt a nonce it
# never sent, or sent half a Noise message; the peer's next decryption fails
# with "Failed authentication of message". That exception is not one mplex's
# read loop expects, so it escapes into the swarm's task manager, which
# cancels the whole host: every connection of the node dies, not one.
#
# Two narrow subclasses, handed to py-libp2p through ``new_host``'s own
# ``sec_opt`` / ``muxer_opt`` (nothing global is patched):
# * the Noise transport wraps each session's message I/O in _SafeNoiseIO:
#   writes are serialised by a per-connection lock (waiting for it stays
#   cancellable: nothing is encrypted yet) and encrypt + send run shielded,
#   so a message is either never started or entirely on the wire; one that
#   cannot reach the socket within WRITE_STALL_TIMEOUT closes the connection.
#   A message that fails to decrypt closes the connection and surfaces as
#   RawConnError, the muxers' normal "connection lost" signal.
# * the muxers' read loop (``start``) never lets an exception out: the
#   connection is closed and reported, the host keeps serving, and the next
#   request to that peer dials a new connection.


class _SafeNoiseIO:
    """A Noise transport-phase message reader/writer whose writes are atomic (see above)."""

    def __init__(self, inner: Any, peer: str, hook: ConnFailureHook) -> None:
        self._inner = inner
        self._peer = peer
        self._hook = hook
        self._write_lock = trio.Lock()
        self._failed: str | None = None

    def __getattr__(self, name: str) -> Any:  # get_remote_address, noise_state, ...
        if name == "_inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def write_msg(self, msg: bytes, prefix_encoded: bool = False) -> None:
        from libp2p.network.connection.exceptions import RawConnError

        async with self._write_lock:  # cancellable: nothing encrypted yet
            if self._failed is not None:
                raise RawConnError(f"noise session closed: {self._failed}")
            with trio.CancelScope(shield=True):
                with trio.move_on_after(WRITE_STALL_TIMEOUT) as stall:
                    await self._inner.write_msg(msg, prefix_encoded)
                if stall.cancelled_caught:
                    await self._fail(f"write stalled for {WRITE_STALL_TIMEOUT:g} s")
                    raise RawConnError(f"noise session closed: {self._failed}")

    async def read_msg(self, prefix_encoded: bool = False) -> bytes:
        from libp2p.io.exceptions import ConnectionClosedError, IncompleteReadError
        from libp2p.network.connection.exceptions import RawConnError

        try:
            msg: bytes = await self._inner.read_msg(prefix_encoded)
            return msg
        except (RawConnError, ConnectionClosedError, IncompleteReadError):
            raise
        except Exception as exc:  # authentication failure, nonce exhausted, ...
            with trio.CancelScope(shield=True):
                await self._fail(f"{type(exc).__name__}: {exc}")
            raise RawConnError(f"noise session closed: {self._failed}") from exc

    async def close(self) -> None:
        await self._inner.close()

    async def _fail(self, reason: str) -> None:
        """Close the socket (never half a message again) and report, once."""
        if self._failed is not None:
            return
        self._failed = reason
        log.warning("closing the connection to %s: %s", self._peer, reason)
        _report(self._hook, self._peer, reason)
        with trio.move_on_after(1):
            try:
                await self._inner.close()
            except Exception:
                pass


def _report(hook: ConnFailureHook, peer: str, reason: str) -> None:
    try:
        hook(peer, reason)
    except Exception:
        log.exception("connection-failure hook failed")


def _safe_noise_transport(hook: ConnFailureHook) -> type:
    """py-libp2p's Noise transport, its sessions' message I/O wrapped in :class:`_SafeNoiseIO`."""
    from libp2p.security.noise.transport import Transport as NoiseTransport

    class SafeNoiseTransport(NoiseTransport):
        async def secure_inbound(self, conn: Any) -> Any:
            return _wrap_session(await super().secure_inbound(conn), hook)

        async def secure_outbound(self, conn: Any, peer_id: Any) -> Any:
            return _wrap_session(await super().secure_outbound(conn, peer_id), hook)

    return SafeNoiseTransport


def _wrap_session(session: Any, hook: ConnFailureHook) -> Any:
    # SecureSession does all its I/O through ``.conn`` (a NoiseTransportReadWriter).
    session.conn = _SafeNoiseIO(session.conn, session.remote_peer.to_base58(), hook)
    return session


def _contained_muxer(base: type, hook: ConnFailureHook) -> type[Any]:
    """A muxer class whose read loop closes its own connection on any error instead of raising."""

    class Contained(base):  # type: ignore[misc]
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as exc:
                peer = self.peer_id.to_base58()
                log.warning("connection to %s failed (%s: %s); closing it", peer, type(exc).__name__, exc)
                _report(hook, peer, f"{type(exc).__name__}: {exc}")
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    try:
                        await self.close()
                    except Exception:
                        pass

    Contained.__name__ = Contained.__qualname__ = base.__name__  # py-libp2p reports muxers by class name
    return Contained


# -- inbound connections hold a slot exactly as long as they live -----------------
#
# py-libp2p 0.8.1's Swarm._handle_inbound_connection takes a slot of its
# ``_inbound_limiter`` (max_connections - min_connections tokens) for each
# accepted TCP connection and, after the upgrade, waits for
# ``self.manager.wait_finished()`` (the whole swarm stopping) before giving it
# back: every inbound connection a node ever accepted keeps its slot until the
# node stops, so after ~300 short-lived inbound connections the node refuses
# every new peer for good. Sockets that never finish the handshake hold a slot
# too, up to ``inbound_upgrade_timeout`` (10 s by default), with no per-source
# cap. The swarm looks the handler up on itself for every connection
# (``conn_handler`` calls ``self._handle_inbound_connection``), so one host's
# swarm gets its own handler as an instance attribute: nothing global changes.


def _manage_inbound(network: Any, admission: Admission) -> None:
    """Replace ``network``'s inbound handler with one that releases its slot when the connection ends."""
    from libp2p.network.connection.raw_connection import RawConnection

    limits = admission.limits

    async def handle_inbound(read_write_closer: Any, maddr: Any) -> None:
        ip = _remote_ip(read_write_closer)
        ticket = admission.admit(ip)
        if ticket is None:
            log.debug("refusing an inbound connection from %s (limits reached)", ip)
            await _close_quietly(read_write_closer)
            return
        raw_conn = None
        try:
            remote = network._build_remote_multiaddr(read_write_closer)
            if remote is not None and not await network.connection_gate.is_allowed(remote):
                await _close_quietly(read_write_closer)
                return
            raw_conn = RawConnection(read_write_closer, False)
            muxed = None
            # The swarm applies inbound_upgrade_timeout too; this deadline also covers
            # the connection gate and anything before the upgrade.
            with trio.move_on_after(limits.handshake_timeout):
                try:
                    muxed = await network.upgrade_inbound_raw_conn(raw_conn, maddr)
                except Exception as exc:
                    log.debug("inbound handshake from %s failed: %s", ip, exc)
            if muxed is None:
                await _close_quietly(raw_conn)
                return
            admission.handshake_done(ticket)
            await _wait_closed(network, muxed)
        finally:
            admission.release(ticket)

    network._handle_inbound_connection = handle_inbound


async def _wait_closed(network: Any, muxed: Any) -> None:
    """Return when the connection over ``muxed`` is closed (its SwarmConn, or the muxer itself)."""
    peer_id = getattr(muxed, "peer_id", None)
    for conn in list(network.connections.get(peer_id, ())) if peer_id is not None else ():
        if getattr(conn, "muxed_conn", None) is muxed:
            await conn.event_closed.wait()
            return
    event = getattr(muxed, "event_closed", None)  # mplex
    if isinstance(event, trio.Event):
        await event.wait()
        return
    while not getattr(muxed, "is_closed", True):  # yamux without a SwarmConn: poll
        await trio.sleep(1)


def _remote_ip(read_write_closer: Any) -> str:
    try:
        addr = read_write_closer.get_remote_address()
        return str(addr[0]) if addr else "?"
    except Exception:
        return "?"


async def _close_quietly(conn: Any) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        try:
            await conn.close()
        except Exception:
            pass


def _disable_auto_connect(network: Any) -> None:
    """Stop py-libp2p's AutoConnector from dialling every peer in the peerstore.

    Left on, it aims for (low + high watermark) / 2 connections and re-dials
    known peers (dead ones included) on a timer and on every disconnect: about
    25 ms of CPU per connection, for peers the ring never asked for.
    """
    connector = getattr(network, "auto_connector", None)
    if connector is not None:

        async def _no_auto_connect() -> None:
            return None

        connector.maybe_connect = _no_auto_connect


def peer_info(addr: str, expected_id: int) -> Any:
    """libp2p PeerInfo for a ``/p2p/`` multiaddr whose key hashes to ``expected_id``.

    Raises LocalProtocolError (``bad-addr``, ``peer-id-mismatch``).
    """
    import multiaddr
    from libp2p.peer.peerinfo import info_from_p2p_addr

    try:
        info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise LocalProtocolError(f"not a dialable /p2p/ multiaddr: {addr!r}", reason="bad-addr") from exc
    if remote_node_id(info.peer_id) != expected_id:
        raise LocalProtocolError("the peer id in the address does not match the node id", reason="peer-id-mismatch")
    return info


def remote_node_id(peer_id: Any) -> int | None:
    """Node id of a libp2p peer id (Ed25519 ids embed the key), or None."""
    try:
        pk = peer_id.extract_public_key()
        raw = pk.to_bytes() if pk is not None else b""
        return node_id(raw) if len(raw) == 32 else None
    except Exception:
        return None


def prepare_dial(host: Any, peer_id: Any) -> None:
    """Before dialling a peer we hold no connection to: dial exactly the address given, now.

    Forgets stale addresses (a restarted peer listens elsewhere) and lifts
    py-libp2p's 60 s "negative cache" of peers whose last dial failed.
    """
    network = host.get_network()
    if network.get_connections(peer_id):
        return
    try:
        host.get_peerstore().clear_addrs(peer_id)
    except Exception:
        pass
    unblock = getattr(network, "unblock_peer", None)
    if unblock is not None:
        unblock(peer_id)


def stream_is_dead(stream: Any) -> bool:
    """True if ``stream``'s connection is closed (a pooled stream not worth trying)."""
    muxed = getattr(stream, "muxed_conn", None)
    return bool(getattr(muxed, "is_closed", False))


async def quiet_reset(stream: Any) -> None:
    """Reset a stream, ignoring errors (it may be dead already)."""
    try:
        await stream.reset()
    except Exception:
        pass


def observed_addr(stream: Any, peer_b58: str) -> str:
    """The remote end of an incoming stream as a multiaddr (not necessarily dialable)."""
    try:
        ip, port = stream.get_remote_address()
        return f"/ip4/{ip}/tcp/{port}/p2p/{peer_b58}"
    except Exception:
        return f"/p2p/{peer_b58}"


def primary_ipv4() -> str:
    """This machine's IPv4 address on its default route (no packet is sent), or 127.0.0.1."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def dialable(addr: str, peer_b58: str) -> str:
    """``addr`` as others should dial it: ``0.0.0.0`` made concrete, ``/p2p/<id>`` appended."""
    if addr.startswith("/ip4/0.0.0.0/"):
        addr = f"/ip4/{primary_ipv4()}/" + addr[len("/ip4/0.0.0.0/") :]
    suffix = "/p2p/" + peer_b58
    if "/p2p/" in addr:
        if not addr.endswith(suffix):
            raise LocalProtocolError(f"announced address {addr!r} names another peer", reason="bad-addr")
        return addr
    return addr + suffix


def parse_listen(addrs: Any) -> list[Any]:
    """Parse listen multiaddrs; refuse bad ones and TCP ports already taken (LocalProtocolError).

    py-libp2p listens with SO_REUSEPORT, so a second node on a taken port would
    silently share it (and its connections) with the first: probe-bind first.
    """
    import socket

    import multiaddr

    if isinstance(addrs, str) or not addrs:
        raise LocalProtocolError("give a list of one or more listen multiaddrs", reason="bad-addr")
    out = []
    for a in addrs:
        try:
            ma = multiaddr.Multiaddr(a)
            protos = [p.name for p in ma.protocols()]
        except Exception as exc:
            raise LocalProtocolError(f"not a multiaddr: {a!r} ({exc})", reason="bad-addr") from exc
        if protos[:2] not in (["ip4", "tcp"], ["ip6", "tcp"]) or len(protos) != 2:
            raise LocalProtocolError(f"listen on /ip4/.../tcp/PORT or /ip6/.../tcp/PORT, not {a!r}", reason="bad-addr")
        ip, port = ma.value_for_protocol(protos[0]), int(ma.value_for_protocol("tcp"))
        if port:
            family = socket.AF_INET if protos[0] == "ip4" else socket.AF_INET6
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    # SO_REUSEADDR: a port left in TIME_WAIT by a node that just stopped is
                    # fine; one with a live listener still fails on Linux.
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind((ip, port))
            except OSError as exc:
                raise LocalProtocolError(f"cannot listen on {a}: {exc.strerror or exc}", reason="addr-in-use") from exc
        out.append(ma)
    return out
