"""Ring messages: builders and strict validators (schemas in specs/ring.md).

Every message is a map of CBOR-encodable values with an ``"op"`` text field.
Requests: ``ring.ping``, ``ring.find``, ``ring.neighbours``, ``ring.notify``,
``ring.leave``. The reply to request ``X`` has op ``X + ".reply"``. Peers
travel as ``{"id": <32 bytes>, "addr": <text>}``.

Each request and its reply are built here, side by side (``ping`` /
``ping_reply``, ...), and checked by the schemas of
:mod:`note_compute.wire.ring`, so a message changes in one place.

``parse_request`` / ``parse_reply`` accept only exactly the documented fields
with the documented types and limits; anything else raises
:class:`~note_compute.errors.RemoteProtocolError` with a ``reason``. No other
exception escapes them, whatever the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RemoteProtocolError
from ..wire import ring as wr
from .ids import ID_BYTES, PeerRef, peer_from_checked

__all__ = [
    "PING",
    "FIND",
    "NEIGHBOURS",
    "NOTIFY",
    "LEAVE",
    "REQUEST_OPS",
    "MAX_PEERS",
    "MAX_FIND_COUNT",
    "Request",
    "parse_request",
    "parse_reply",
    "ping",
    "find",
    "neighbours",
    "notify",
    "leave",
    "ping_reply",
    "find_reply",
    "neighbours_reply",
    "notify_reply",
    "leave_reply",
    "reply_op",
]

# The schemas live in note_compute.wire.ring; these names stay for the ring's users.
PING, FIND, NEIGHBOURS, NOTIFY, LEAVE = wr.PING, wr.FIND, wr.NEIGHBOURS, wr.NOTIFY, wr.LEAVE
REQUEST_OPS = wr.REQUEST_OPS
MAX_PEERS = wr.MAX_PEERS
MAX_FIND_COUNT = wr.MAX_FIND_COUNT
reply_op = wr.reply_op


@dataclass(frozen=True)
class Request:
    """A validated message: ``op`` plus its typed fields (ids as int, peers as PeerRef)."""

    op: str
    fields: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        """A field's typed value."""
        return self.fields.get(name, default)


def _typed(op: str, raw: dict[str, Any]) -> Request:
    kinds = wr.KINDS[op]
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        kind = kinds[name]
        if kind == "peer":
            fields[name] = peer_from_checked(*value)
        elif kind == "peers":
            fields[name] = tuple(peer_from_checked(*p) for p in value)
        elif kind == "id":
            fields[name] = int.from_bytes(value, "big")
        else:
            fields[name] = value
    return Request(op, fields)


def parse_request(msg: Any) -> Request:
    """Validate a received ring request; raises RemoteProtocolError(reason=...)."""
    return _typed(*wr.parse(msg, wr.REQUESTS, "request"))


def parse_reply(msg: Any, request_op: str | None = None) -> Request:
    """Validate a received ring reply (to ``request_op`` when given); raises RemoteProtocolError."""
    rep = _typed(*wr.parse(msg, wr.REPLIES, "reply"))
    if request_op is not None and rep.op != reply_op(request_op):
        raise RemoteProtocolError(f"expected {reply_op(request_op)}, got {rep.op}", reason="wrong-reply")
    return rep


def _with_from(msg: dict[str, Any], sender: PeerRef | None) -> dict[str, Any]:
    if sender is not None:
        msg["from"] = sender.to_wire()
    return msg


def ping(sender: PeerRef | None) -> dict[str, Any]:
    """``ring.ping``: are you alive? Reply ``{"op": "ring.ping.reply", "id": <32 bytes>}``."""
    return _with_from({"op": PING}, sender)


def find(sender: PeerRef | None, key: int, count: int) -> dict[str, Any]:
    """``ring.find``: the successors of ``key`` if you know them, else peers closer to it."""
    return _with_from({"op": FIND, "key": key.to_bytes(ID_BYTES, "big"), "count": count}, sender)


def neighbours(sender: PeerRef | None) -> dict[str, Any]:
    """``ring.neighbours``: your predecessor list and successor list."""
    return _with_from({"op": NEIGHBOURS}, sender)


def notify(sender: PeerRef) -> dict[str, Any]:
    """``ring.notify``: I think I am your predecessor."""
    return _with_from({"op": NOTIFY}, sender)


def leave(sender: PeerRef, predecessors: Sequence[PeerRef], successors: Sequence[PeerRef]) -> dict[str, Any]:
    """``ring.leave``: I am leaving; here are my neighbours so you can close the gap."""
    return _with_from(
        {
            "op": LEAVE,
            "predecessors": _peers(predecessors),
            "successors": _peers(successors),
        },
        sender,
    )


# -- replies (built by the answering core; the schemas are wire.ring.REPLIES) ---------------------


def _peers(peers: Sequence[PeerRef]) -> list[dict[str, Any]]:
    return [p.to_wire() for p in peers[:MAX_PEERS]]


def ping_reply(me: PeerRef) -> dict[str, Any]:
    """``ring.ping.reply``: the responder's id."""
    return {"op": reply_op(PING), "id": me.id_bytes}


def find_reply(successors: Sequence[PeerRef], closer: Sequence[PeerRef]) -> dict[str, Any]:
    """``ring.find.reply``: the key's successors if the responder knows them, else peers closer to it."""
    return {"op": reply_op(FIND), "successors": _peers(successors), "closer": _peers(closer)}


def neighbours_reply(predecessors: Sequence[PeerRef], successors: Sequence[PeerRef]) -> dict[str, Any]:
    """``ring.neighbours.reply``: the responder's predecessor and successor lists."""
    return {"op": reply_op(NEIGHBOURS), "predecessors": _peers(predecessors), "successors": _peers(successors)}


def notify_reply() -> dict[str, Any]:
    """``ring.notify.reply`` (empty: the notice was taken, or ignored)."""
    return {"op": reply_op(NOTIFY)}


def leave_reply() -> dict[str, Any]:
    """``ring.leave.reply`` (empty)."""
    return {"op": reply_op(LEAVE)}
