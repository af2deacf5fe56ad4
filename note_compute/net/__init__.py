"""The libp2p adapter: framing, one host per node, request/reply RPC.

Public surface (see ``specs/transport.md``)::

    async with open_host(seed, ["/ip4/127.0.0.1/tcp/0"]) as host:
        host.set_handler(handler)            # async handler(sender: PeerRef, msg: dict) -> dict
        reply = await host.request(peer, {"op": "ping"}, timeout=2.0)

``framing`` is pure (no trio, no libp2p; the envelope is in ``wire``); ``host`` imports
libp2p lazily (in ``_p2p``, the one module that knows py-libp2p's internals)
so ``import note_compute.net`` stays cheap.
"""

from __future__ import annotations

from ..wire.envelope import error_reply, raise_if_error
from .framing import (
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_REQUEST_FRAME_SIZE,
    FrameDecoder,
    decode_payload,
    encode_frame,
)
from .host import PROTOCOL_ID, Handler, NetConfig, NetHost, node_id_of_public_key, open_host

__all__ = [
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_REQUEST_FRAME_SIZE",
    "FrameDecoder",
    "decode_payload",
    "encode_frame",
    "PROTOCOL_ID",
    "Handler",
    "NetConfig",
    "NetHost",
    "error_reply",
    "raise_if_error",
    "node_id_of_public_key",
    "open_host",
]
