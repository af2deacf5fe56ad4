"""What the ring core asks its runtime to do, as plain frozen dataclasses.

The core never performs I/O: every method returns a list of these actions.
The runtime (``note_compute.node`` over libp2p, ``note_compute.testing`` in
memory) executes them and reports back through ``RingCore.on_reply`` /
``on_error`` / ``on_timeout`` (for :class:`Send`) and ``RingCore.tick`` (for
timers, see ``RingCore.next_tick``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ids import PeerRef, Range

__all__ = [
    "Action",
    "Send",
    "LookupDone",
    "Joined",
    "JoinFailed",
    "Transfer",
    "ResponsibilityChanged",
    "Handoff",
]


@dataclass(frozen=True)
class Send:
    """Send ``msg`` (a ring request) to ``peer``; report the reply under ``request_id``.

    The runtime must call exactly one of ``on_reply(request_id, reply, now)``,
    ``on_error(request_id, error, now)`` (the peer answered with an error
    reply) or ``on_timeout(request_id, now)`` (no answer within ``timeout``
    seconds, the peer is unreachable, or the connection failed).
    """

    request_id: int
    peer: PeerRef
    msg: dict[str, Any] = field(hash=False, compare=True)
    timeout: float


@dataclass(frozen=True)
class LookupDone:
    """A lookup started by ``RingCore.lookup`` finished.

    ``peers`` is the key's replica set, clockwise: the key's live successor
    first, then the next nodes (up to ``replicas``); empty when the lookup
    failed, and then ``error`` says why (``"exhausted"``, ``"left"``).
    ``hops`` is the length of the longest chain of sequential queries that
    led to the answer (0 when this node knew it).
    """

    lookup_id: int
    key: int
    peers: tuple[PeerRef, ...]
    hops: int
    error: str | None = None
    queries: int = field(default=0, compare=False)  # ring.find requests this lookup sent

    @property
    def ok(self) -> bool:
        """True when the lookup found the key's successor."""
        return self.error is None and bool(self.peers)


@dataclass(frozen=True)
class Joined:
    """This node found its place in the ring (its first successors are known)."""

    successors: tuple[PeerRef, ...]


@dataclass(frozen=True)
class JoinFailed:
    """Joining through the bootstrap peers failed (``reason``); call ``join`` again later."""

    reason: str


@dataclass(frozen=True)
class Transfer:
    """Push every record whose key lies in ``range`` to each of ``peers``."""

    range: Range
    peers: tuple[PeerRef, ...]


@dataclass(frozen=True)
class ResponsibilityChanged:
    """The replication plan of this node changed (predecessor or successor change).

    ``held`` is the arc of keys this node must now hold (keys whose replica
    set includes it), ``primary`` the arc whose keys' successor is this node,
    ``replicas`` this node plus its next live successors (where ``primary``
    keys must live), ``dropped`` the arcs this node held before and no longer
    must (keep them until ``transfers`` are done, then they may be deleted),
    and ``transfers`` the pushes that make the new plan true. ``None`` arcs
    mean "unknown yet" (no predecessor known).
    """

    held: Range | None
    primary: Range | None
    replicas: tuple[PeerRef, ...]
    dropped: tuple[Range, ...]
    transfers: tuple[Transfer, ...]


@dataclass(frozen=True)
class Handoff:
    """Graceful leave: push these records before going away (then stop)."""

    transfers: tuple[Transfer, ...]


Action = Send | LookupDone | Joined | JoinFailed | ResponsibilityChanged | Handoff
