"""The local relay's one message (``specs/transport.md`` section 8), on the transport's frames and envelope (pure).

A short-lived command hands a ring request to the local network's
supervisor over a unix socket, one request per connection, in the frames
of ``transport.md`` section 2 and the envelope of section 3::

    command -> {"id": 1, "req": {"op": "relay.forward", "peer": {"id": bytes32, "addr": text},
                                 "msg": {...the ring request...}, "ms": timeout in ms (1 .. 2^32-1)}}
    relay   <- {"id": 1, "rep": {...the peer's reply...}}
    relay   <- {"id": 1, "rep": {"error": {...}, ...}}   the peer's (or the relay's) typed error, with any fields
                                                         the peer's error reply carried beside "error"
    relay   <- {"fatal": {...}}                          the frame was not a request envelope

A defect in the ``relay.forward`` message is an error reply with reason
``relay``; the reply is read like any other (:func:`.envelope.parse_reply`,
then :func:`.envelope.raise_if_error`).
"""

from __future__ import annotations

from typing import Any

from .ring import check_peer
from .schema import Field, Schema, bad, uint, validate

__all__ = ["OP_FORWARD", "MAX_MS", "FORWARD", "forward_msg", "parse_forward"]

OP_FORWARD = "relay.forward"
MAX_MS = 2**32 - 1
_R = "relay"


def _map(v: Any, name: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise bad(f"field {name!r} must be a map (the ring request)", _R)
    return v


FORWARD = Schema(OP_FORWARD, {
    "peer": Field(check_peer),
    "msg": Field(_map),
    "ms": Field(uint(_R, lo=1, hi=MAX_MS)),
}, op=OP_FORWARD, reason=_R, what="request")


def forward_msg(peer_id: bytes, addr: str, msg: dict[str, Any], ms: int) -> dict[str, Any]:
    """The ``relay.forward`` request: send ``msg`` to the peer ``(peer_id, addr)``, wait at most ``ms``."""
    return {"op": OP_FORWARD, "peer": {"id": peer_id, "addr": addr}, "msg": msg, "ms": max(1, min(ms, MAX_MS))}


def parse_forward(msg: Any) -> tuple[bytes, str, dict[str, Any], int]:
    """``(peer id, addr, ring request, ms)`` of a ``relay.forward`` request; raises RemoteProtocolError (``relay``)."""
    if not isinstance(msg, dict) or msg.get("op") != OP_FORWARD:
        raise bad("a relay request is {op: relay.forward, peer, msg, ms}", _R)
    m = validate(msg, FORWARD)
    pid, addr = m["peer"]
    return pid, addr, m["msg"], m["ms"]
