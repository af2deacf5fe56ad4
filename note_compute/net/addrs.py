"""Node addresses: the ring's PeerRef of a libp2p multiaddr (libp2p imported only when called)."""

from __future__ import annotations

from ..errors import InvalidURL
from ..ring.ids import PeerRef, node_id

__all__ = ["peer_ref_from_multiaddr"]


def peer_ref_from_multiaddr(addr: str) -> PeerRef:
    """The PeerRef of a node from its multiaddr ending in ``/p2p/<peer id>`` (Ed25519 ids only)."""
    from libp2p.peer.id import ID

    if "/p2p/" not in addr:
        raise InvalidURL(f"bootstrap address {addr!r} lacks /p2p/<peer id>", reason="no-peer-id")
    try:
        pk = ID.from_base58(addr.rsplit("/p2p/", 1)[1]).extract_public_key()
    except Exception as exc:
        raise InvalidURL(f"bad peer id in {addr!r}: {exc}", reason="bad-peer-id") from exc
    if pk is None:
        raise InvalidURL(f"peer id in {addr!r} does not embed an Ed25519 key", reason="bad-peer-id")
    return PeerRef(node_id(pk.to_bytes()), addr)
