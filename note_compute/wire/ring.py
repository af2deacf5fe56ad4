"""Ring messages (``specs/ring.md``): schemas as data and raw builders (pure).

Requests ``ring.ping``, ``ring.find``, ``ring.neighbours``, ``ring.notify``,
``ring.leave``; the reply to request ``X`` has op ``X + ".reply"``. A peer
travels as ``{"id": <32 bytes>, "addr": <text>}``. Each field carries a
``kind`` tag (``peer``, ``peers``, ``id``, ``count``) so the typed layer
(:mod:`note_compute.ring.messages`) turns ids into ints and peers into
``PeerRef`` without restating the schema.
"""

from __future__ import annotations

from typing import Any

from .schema import Check, Field, Schema, bad, exact_bytes, uint, validate

__all__ = [
    "PING",
    "FIND",
    "NEIGHBOURS",
    "NOTIFY",
    "LEAVE",
    "REQUEST_OPS",
    "MAX_PEERS",
    "MAX_FIND_COUNT",
    "MAX_ADDR_LEN",
    "ID_BYTES",
    "REQUESTS",
    "REPLIES",
    "KINDS",
    "reply_op",
    "check_peer",
    "parse",
]

PING = "ring.ping"
FIND = "ring.find"
NEIGHBOURS = "ring.neighbours"
NOTIFY = "ring.notify"
LEAVE = "ring.leave"
REQUEST_OPS = (PING, FIND, NEIGHBOURS, NOTIFY, LEAVE)

ID_BYTES = 32
MAX_PEERS = 32  # longest peer list in any message
MAX_FIND_COUNT = 32  # largest "count" a ring.find may ask for
MAX_ADDR_LEN = 512  # bytes of UTF-8 in a peer's addr


def reply_op(op: str) -> str:
    """The op of the reply to a request with op ``op``."""
    return op + ".reply"


def check_peer(v: Any, name: str = "peer") -> tuple[bytes, str]:
    """A peer's wire form ``{"id": 32 bytes, "addr": text}``; returns ``(id, addr)``."""
    if not isinstance(v, dict):
        raise bad("a peer is a map {id, addr}", "bad-peer")
    if len(v) != 2 or "id" not in v or "addr" not in v:
        raise bad("a peer has exactly the fields id and addr", "bad-peer")
    pid, addr = v["id"], v["addr"]
    if not isinstance(pid, bytes) or len(pid) != ID_BYTES:
        raise bad("peer id must be 32 bytes", "bad-peer-id")
    if (
        not isinstance(addr, str)
        or not addr
        or len(addr) > MAX_ADDR_LEN
        or len(addr.encode("utf-8", "surrogatepass")) > MAX_ADDR_LEN
    ):
        raise bad(f"peer addr must be non-empty text of at most {MAX_ADDR_LEN} bytes", "bad-peer-addr")
    return pid, addr


def _peers(v: Any, name: str) -> list[tuple[bytes, str]]:
    if not isinstance(v, list) or len(v) > MAX_PEERS:
        raise bad(f"field {name!r} must be a list of at most {MAX_PEERS} peers", "bad-peers")
    return [check_peer(p, name) for p in v]


_ID = exact_bytes(ID_BYTES, "bad-id")
_COUNT = uint("bad-count", lo=1, hi=MAX_FIND_COUNT)

KINDS: dict[str, dict[str, str]] = {}
"""``KINDS[schema name][field] -> kind`` (``peer``, ``peers``, ``id``, ``count``) for the typed layer."""


def _schema(op: str, **fields: tuple[str, bool]) -> Schema:
    checks: dict[str, Check] = {"peer": check_peer, "peers": _peers, "id": _ID, "count": _COUNT}
    KINDS[op] = {name: kind for name, (kind, _) in fields.items()}
    reply = op.endswith(".reply")  # any defect in a reply is the caller's bad-reply (transport.md 4.1)
    return Schema(op, {name: Field(checks[kind], req) for name, (kind, req) in fields.items()}, op=op,
                  what="reply" if reply else "request", reason="bad-reply" if reply else None)


# "from" is the requester's own peer (absent for clients that are not ring members).
REQUESTS: dict[str, Schema] = {
    PING: _schema(PING, **{"from": ("peer", False)}),
    FIND: _schema(FIND, **{"from": ("peer", False), "key": ("id", True), "count": ("count", True)}),
    NEIGHBOURS: _schema(NEIGHBOURS, **{"from": ("peer", False)}),
    NOTIFY: _schema(NOTIFY, **{"from": ("peer", True)}),
    LEAVE: _schema(LEAVE, **{"from": ("peer", True), "predecessors": ("peers", True),
                             "successors": ("peers", True)}),
}
REPLIES: dict[str, Schema] = {
    reply_op(PING): _schema(reply_op(PING), id=("id", True)),
    reply_op(FIND): _schema(reply_op(FIND), successors=("peers", True), closer=("peers", True)),
    reply_op(NEIGHBOURS): _schema(reply_op(NEIGHBOURS), predecessors=("peers", True), successors=("peers", True)),
    reply_op(NOTIFY): _schema(reply_op(NOTIFY)),
    reply_op(LEAVE): _schema(reply_op(LEAVE)),
}


def parse(msg: Any, schemas: dict[str, Schema], what: str) -> tuple[str, dict[str, Any]]:
    """``(op, raw checked fields)`` of a ring request or reply (``what``); raises RemoteProtocolError.

    A request's defects carry their step's reason; a reply's are all ``bad-reply``."""
    one = "bad-reply" if what == "reply" else None
    if not isinstance(msg, dict):
        raise bad(f"a ring {what} is a map", one or "not-a-map")
    op = msg.get("op")
    if not isinstance(op, str):
        raise bad(f"a ring {what} needs a text op", one or "no-op")
    schema = schemas.get(op)
    if schema is None:
        raise bad(f"unknown ring {what} op {op[:64]!r}", one or "unknown-op")
    return op, validate(msg, schema)
