"""The transport interface the ring client, the node and the compute client run over (pure).

A transport sends one request map to a peer and returns its reply map
(raising the peer's typed error, :class:`~note_compute.errors.Timeout` or
:class:`~note_compute.errors.PeerUnreachable`). The libp2p host
(:class:`note_compute.net.NetHost`) implements :class:`Transport`; the
in-memory networks under ``note_compute.testing`` implement the parts their
users need. Declared here, below every user, so nothing above has to import
the libp2p adapter to name it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .ring.ids import PeerRef

__all__ = ["Handler", "Requester", "Transport"]

Handler = Callable[[PeerRef, dict[str, Any]], Awaitable[dict[str, Any]]]
"""``async handler(sender, msg) -> reply``: serves every incoming request."""


class Requester(Protocol):
    """What a client needs: one request, one reply."""

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``msg`` to ``peer``; its reply map (typed errors raise)."""
        ...


class Transport(Requester, Protocol):
    """What a ring member needs: its identity, its addresses, and a handler for what it is asked."""

    public_key: bytes
    peer_id: str
    listen_addrs: list[str]

    @property
    def peer_ref(self) -> PeerRef:
        """This node as a PeerRef (its first listen address)."""
        ...

    def set_handler(self, handler: Handler) -> None:
        """Install the function that answers every incoming request."""
        ...
