"""Ring messages: builders and strict validators (schemas in specs/ring.md).

Every message is a map of CBOR-encodable values with an ``"op"`` text field.
Requests: ``ring.ping``, ``ring.find``, ``ring.neighbours``, ``ring.notify``,
``ring.leave``. The reply to request ``X`` has op ``X + ".reply"``. Peers
travel as ``{"id": <32 bytes>, "addr": <text>}``.

``parse_request`` / ``parse_reply`` accept only exactly the documented fields
with the documented types and limits; anything else raises
:class:`~note_compute.errors.RemoteProtocolError` with a ``reason``. No other
exception escapes them, whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RemoteProtocolError
from .ids import ID_BYTES, PeerRef

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
    "reply_op",
]

PING = "ring.ping"
FIND = "ring.find"
NEIGHBOURS = "ring.neighbours"
NOTIFY = "ring.notify"
LEAVE = "ring.leave"
REQUEST_OPS = (PING, FIND, NEIGHBOURS, NOTIFY, LEAVE)

MAX_PEERS = 32  # longest peer list in any message
MAX_FIND_COUNT = 32  # largest "count" a ring.find may ask for


def reply_op(op: str) -> str:
    """The op of the reply to a request with op ``op``."""
    return op + ".reply"


# Request schemas: field -> (kind, required). "from" is the requester's own
# PeerRef (absent for clients that are not ring members).
_REQUEST_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    PING: {"from": ("peer", False)},
    FIND: {"from": ("peer", False), "key": ("id", True), "count": ("count", True)},
    NEIGHBOURS: {"from": ("peer", False)},
    NOTIFY: {"from": ("peer", True)},
    LEAVE: {"from": ("peer", True), "predecessors": ("peers", True), "successors": ("peers", True)},
}
_REPLY_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    reply_op(PING): {"id": ("id", True)},
    reply_op(FIND): {"successors": ("peers", True), "closer": ("peers", True)},
    reply_op(NEIGHBOURS): {"predecessors": ("peers", True), "successors": ("peers", True)},
    reply_op(NOTIFY): {},
    reply_op(LEAVE): {},
}


@dataclass(frozen=True)
class Request:
    """A validated message: ``op`` plus its typed fields (ids as int, peers as PeerRef)."""

    op: str
    fields: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        """A field's typed value."""
        return self.fields.get(name, default)


def _field(kind: str, name: str, value: Any) -> Any:
    if kind == "peer":
        return PeerRef.from_wire(value)
    if kind == "id":
        if not isinstance(value, bytes) or len(value) != ID_BYTES:
            raise RemoteProtocolError(f"field {name!r} must be 32 bytes", reason="bad-id")
        return int.from_bytes(value, "big")
    if kind == "count":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FIND_COUNT:
            raise RemoteProtocolError(f"field {name!r} must be an integer in [1, {MAX_FIND_COUNT}]", reason="bad-count")
        return value
    if kind == "peers":
        if not isinstance(value, list) or len(value) > MAX_PEERS:
            raise RemoteProtocolError(f"field {name!r} must be a list of at most {MAX_PEERS} peers", reason="bad-peers")
        return tuple(PeerRef.from_wire(p) for p in value)
    raise AssertionError(kind)  # pragma: no cover - schema tables are static


def _parse(msg: Any, schemas: dict[str, dict[str, tuple[str, bool]]], what: str) -> Request:
    if not isinstance(msg, dict):
        raise RemoteProtocolError(f"a ring {what} is a map", reason="not-a-map")
    op = msg.get("op")
    if not isinstance(op, str):
        raise RemoteProtocolError(f"a ring {what} needs a text op", reason="no-op")
    schema = schemas.get(op)
    if schema is None:
        raise RemoteProtocolError(f"unknown ring {what} op {op[:64]!r}", reason="unknown-op")
    extra = [k for k in msg if k != "op" and k not in schema]
    if extra:
        raise RemoteProtocolError(f"unexpected field in {op}: {str(extra[0])[:64]!r}", reason="unexpected-field")
    fields: dict[str, Any] = {}
    for name, (kind, required) in schema.items():
        if name not in msg:
            if required:
                raise RemoteProtocolError(f"{op} lacks field {name!r}", reason="missing-field")
            continue
        fields[name] = _field(kind, name, msg[name])
    return Request(op, fields)


def parse_request(msg: Any) -> Request:
    """Validate a received ring request; raises RemoteProtocolError(reason=...)."""
    return _parse(msg, _REQUEST_FIELDS, "request")


def parse_reply(msg: Any, request_op: str | None = None) -> Request:
    """Validate a received ring reply (to ``request_op`` when given); raises RemoteProtocolError."""
    rep = _parse(msg, _REPLY_FIELDS, "reply")
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


def leave(sender: PeerRef, predecessors: list[PeerRef], successors: list[PeerRef]) -> dict[str, Any]:
    """``ring.leave``: I am leaving; here are my neighbours so you can close the gap."""
    return _with_from(
        {
            "op": LEAVE,
            "predecessors": [p.to_wire() for p in predecessors[:MAX_PEERS]],
            "successors": [p.to_wire() for p in successors[:MAX_PEERS]],
        },
        sender,
    )
