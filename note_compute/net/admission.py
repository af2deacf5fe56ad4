"""Who may hold an inbound connection, and how many bytes of unfinished frames a node buffers (pure).

Theory of operation
-------------------
Every inbound TCP connection asks :class:`Admission` for a :class:`Ticket`
before the node spends anything on it (no Noise handshake, no muxer). A
ticket is *pending* until the handshake (multistream-select, Noise, muxer
negotiation) finishes, then *established* until the connection closes, and
is released exactly once in every case. Four counters bound what peers can
hold:

* pending handshakes, in total (``max_pending``) and per source IP
  (``max_pending_per_ip``): an idle socket that never speaks costs one
  pending slot until the handshake deadline closes it;
* inbound connections, in total (``max_inbound``) and per source IP
  (``max_inbound_per_ip``), pending ones included.

A connection that would pass a limit is closed at once, before the
handshake (nothing can be said to a peer we have no session with).

Loopback (127.0.0.0/8, ::1, and IPv4-mapped forms of them) is one source:
any local process can bind any 127.x.y.z, so counting 127.0.0.2 apart from
127.0.0.1 would only invite the bypass. By default that source is exempt
from the two per-IP caps (``loopback_per_ip=False``) and bounded by the
node-wide caps alone: every node of a local network dials from it, and a
local process can already do anything a remote one can. A node that serves
untrusted local users sets ``loopback_per_ip=True``.

:class:`FrameBudget` bounds the bytes of partial request frames buffered
across all inbound streams (``total``) and per peer (``per_peer``): without
it one identity may hold 64 streams x 1 MiB of half-sent frames.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["Admission", "FrameBudget", "InboundLimits", "Ticket", "LOOPBACK", "is_loopback", "source"]


@dataclass(frozen=True)
class InboundLimits:
    """Caps on inbound connections (see the module docstring and ``specs/limits.md``)."""

    max_inbound: int = 256
    """Inbound connections held at once (pending handshakes included)."""
    max_inbound_per_ip: int = 64
    """Inbound connections held at once from one source IP."""
    max_pending: int = 64
    """Inbound connections that have not finished the Noise + muxer handshake."""
    max_pending_per_ip: int = 32
    """Unfinished handshakes from one source IP."""
    handshake_timeout: float = 5.0
    """Seconds an inbound connection has to finish its handshake before it is closed."""
    loopback_per_ip: bool = False
    """Apply the per-IP caps to loopback connections too (all of 127.0.0.0/8 and ::1 count as one IP)."""

    def __post_init__(self) -> None:
        for name in ("max_inbound", "max_inbound_per_ip", "max_pending", "max_pending_per_ip"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.handshake_timeout > 0:
            raise ValueError("handshake_timeout must be positive")


class Ticket:
    """One admitted inbound connection (see :class:`Admission`)."""

    __slots__ = ("ip", "pending", "released")

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.pending = True
        self.released = False


class Admission:
    """Counts inbound connections per state and source IP; refuses those over a limit."""

    def __init__(self, limits: InboundLimits) -> None:
        self.limits = limits
        self.pending = 0
        self.inbound = 0
        self.refused = 0
        self.admitted = 0
        self._pending_ip: dict[str, int] = {}
        self._inbound_ip: dict[str, int] = {}

    def admit(self, ip: str) -> Ticket | None:
        """A ticket for a new connection from ``ip``, or None (close it now) if a limit is reached."""
        lim = self.limits
        ip = source(ip)
        local = ip == LOOPBACK
        per_ip = lim.loopback_per_ip or not local
        if (
            self.inbound >= lim.max_inbound
            or self.pending >= lim.max_pending
            or (per_ip and self._inbound_ip.get(ip, 0) >= lim.max_inbound_per_ip)
            or (per_ip and self._pending_ip.get(ip, 0) >= lim.max_pending_per_ip)
        ):
            self.refused += 1
            return None
        self.admitted += 1
        self.inbound += 1
        self.pending += 1
        _inc(self._inbound_ip, ip, 1)
        _inc(self._pending_ip, ip, 1)
        return Ticket(ip)

    def handshake_done(self, ticket: Ticket) -> None:
        """The connection finished its handshake: it no longer holds a pending slot."""
        if ticket.pending and not ticket.released:
            ticket.pending = False
            self.pending -= 1
            _inc(self._pending_ip, ticket.ip, -1)

    def release(self, ticket: Ticket) -> None:
        """The connection ended (any way): free its slots. Idempotent."""
        if ticket.released:
            return
        self.handshake_done(ticket)
        ticket.released = True
        self.inbound -= 1
        _inc(self._inbound_ip, ticket.ip, -1)

    def held_by(self, ip: str) -> tuple[int, int]:
        """(inbound, pending) connections currently held from ``ip`` (every loopback address is one)."""
        ip = source(ip)
        return self._inbound_ip.get(ip, 0), self._pending_ip.get(ip, 0)


LOOPBACK = "loopback"
"""The one source every loopback address is counted as."""


def source(ip: str) -> str:
    """The source an address is counted as: :data:`LOOPBACK`, an IPv4-mapped IPv6 address as its IPv4
    address (one host, two spellings), anything else as given."""
    if is_loopback(ip):
        return LOOPBACK
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return ip


def is_loopback(ip: str) -> bool:
    """True for 127.0.0.0/8, ::1 and their IPv4-mapped IPv6 forms; False for anything unparsable."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _inc(counts: dict[str, int], key: str, delta: int) -> None:
    n = counts.get(key, 0) + delta
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)


class FrameBudget:
    """Bytes of partial inbound frames buffered, in total and per peer, against two caps."""

    def __init__(self, total: int, per_peer: int) -> None:
        if total < 1 or per_peer < 1:
            raise ValueError("frame budgets must be positive")
        self.total = total
        self.per_peer = per_peer
        self.used = 0
        self.peak = 0
        self._peer: dict[str, int] = {}

    def update(self, peer: str, before: int, after: int) -> bool:
        """A stream of ``peer`` went from ``before`` to ``after`` buffered bytes; False if now over a cap.

        The change is recorded either way; the caller closes the stream and
        calls ``update(peer, after, 0)`` when it goes over.
        """
        delta = after - before
        self.used += delta
        _inc(self._peer, peer, delta)
        self.peak = max(self.peak, self.used)
        return self.used <= self.total and self._peer.get(peer, 0) <= self.per_peer

    def held_by(self, peer: str) -> int:
        """Partial-frame bytes buffered for ``peer`` right now."""
        return self._peer.get(peer, 0)
