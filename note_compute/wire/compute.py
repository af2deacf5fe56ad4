"""Compute query messages (``specs/compute.md`` section 2): schemas as data, request types (pure).

Requests (closed: an unknown field is refused, reason ``bad-request``)::

    {"op": "compute.query", "program": URL, "program_hash": bytes32, "dataset": URL, "seq": uint,
     "shard": uint, "args": bytes (canonical CBOR), "range"?: [lo | null, hi | null], "qc"?: true}
    {"op": "compute.records", "dataset", "seq", "shard", "indices": [uint, ...]}   (1..4096 distinct)
    {"op": "compute.batch", "queries": [compute.query request, ...]}              (1..64)
    {"op": "compute.prepare", "record": bytes, "wait"?: true}   (a signed dataset record: load your shards now;
                                                                  with wait, reply once they are loaded)

Replies carry no ``op`` and are open (a newer peer may add fields such as
``qc``); a defect is reason ``bad-reply``; an error reply is handled by
:func:`note_compute.wire.envelope.raise_if_error` like every other reply::

    query, predicate: {"receipt": bytes, "indices": [uint], "extra": bytes, "records": [bytes], "proof": bytes}
    query, range:     {"receipt": bytes, "indices": [uint], "extra": bytes, "range_proof": bytes}
    records:          {"records": [bytes], "proof": bytes}
    batch:            {"replies": [query reply or error reply, ...]}   (same order as the queries)
    prepare:          {"queued": bool, "ready": bool}

An error reply may carry fields beside ``"error"``: a ``seq-mismatch``
refusal from a peer holding a *newer* version carries that version's signed
dataset record, the self-proving hint (``specs/compute.md`` 3.3)::

    {"error": {"code": "remote-protocol", "message": "this peer holds seq N, not S", "reason": "seq-mismatch"},
     "manifest": bytes (Record.encode() of the dataset record at seq N)}

and a ``malformed-dataset`` refusal a publisher-fault proof (``"fault": bytes``).

The signed receipt's body (``RECEIPT_BODY``, reason ``bad-receipt``) is
declared here too; signing and verifying it is :mod:`note_compute.compute.protocol`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding
from .envelope import raise_if_error
from .schema import Field, Schema, any_bytes, bad, exact_bytes, list_of, one_of, text, true, uint, validate

__all__ = [
    "OP_QUERY",
    "OP_RECORDS",
    "OP_BATCH",
    "OP_PREPARE",
    "MAX_PREPARE_RECORD",
    "PREPARE",
    "PREPARE_REPLY",
    "prepare_msg",
    "parse_prepare",
    "prepare_reply",
    "parse_prepare_reply",
    "MAX_BATCH",
    "MAX_ARGS",
    "MAX_SAMPLE",
    "MAX_URL",
    "QUERY",
    "RECORDS",
    "BATCH",
    "QUERY_REPLY",
    "RANGE_REPLY",
    "RECORDS_REPLY",
    "BATCH_REPLY",
    "RECEIPT_BODY",
    "QueryRequest",
    "RecordsRequest",
    "HINT_FIELD",
    "MAX_HINT",
    "SEQ_MISMATCH",
    "check_range",
    "parse_hint",
    "parse_batch",
    "parse_batch_reply",
    "parse_reply_fields",
    "parse_records_response",
]

OP_QUERY = "compute.query"
OP_RECORDS = "compute.records"
OP_BATCH = "compute.batch"
OP_PREPARE = "compute.prepare"
MAX_PREPARE_RECORD = 80 * 1024
"""Largest signed record a ``compute.prepare`` carries (a record's value is at most 64 KiB)."""
MAX_BATCH = 64
MAX_ARGS = 64 * 1024
MAX_SAMPLE = 4096
MAX_URL = 2048
MAX_LIST = 1 << 20
_U63 = (1 << 63) - 1
SEQ_MISMATCH = "seq-mismatch"
HINT_FIELD = "manifest"
"""The field of a ``seq-mismatch`` error reply that carries the newer signed dataset record."""
MAX_HINT = 64 * 1024 + 2048 + 1024
"""Largest hint record accepted: ``records.MAX_RECORD_SIZE`` (64 KiB inline value, URL, header, signature)."""


def check_range(rng: Any, reason: str) -> list[Any]:
    """``[lo, hi]``, each bound null or a list of at most 16 sort-key values."""
    if not (isinstance(rng, list) and len(rng) == 2):
        raise bad("range is [lo, hi]", reason)
    for b in rng:
        if b is not None and not (isinstance(b, list) and len(b) <= 16):
            raise bad("a range bound is null or a list of at most 16 values", reason)
    return rng


def _args(v: Any, name: str) -> bytes:
    if type(v) is not bytes or len(v) > MAX_ARGS:
        raise bad(f"args must be at most {MAX_ARGS} bytes of canonical CBOR", "bad-request")
    try:
        encoding.decode(v, max_size=MAX_ARGS)
    except InvalidEncoding as exc:
        raise bad(f"args are not canonical CBOR: {exc}", "bad-request") from exc
    return v


_URL = text("bad-request", max_len=MAX_URL)
_UINT = uint("bad-request", bits=63)


def _query_map(v: Any, name: str) -> dict[str, Any]:
    if not isinstance(v, dict) or v.get("op") != OP_QUERY:
        raise bad("a batch carries only compute.query requests", "bad-request")
    return v


QUERY = Schema(OP_QUERY, {
    "program": Field(_URL),
    "dataset": Field(_URL),
    "program_hash": Field(exact_bytes(32, "bad-request")),
    "seq": Field(_UINT),
    "shard": Field(_UINT),
    "args": Field(_args),
    "range": Field(lambda v, n: check_range(v, "bad-request"), required=False),
    "qc": Field(true("bad-request"), required=False),
}, op=OP_QUERY, reason="bad-request", what="request")
RECORDS = Schema(OP_RECORDS, {
    "dataset": Field(_URL),
    "seq": Field(_UINT),
    "shard": Field(_UINT),
    "indices": Field(list_of(_UINT, "bad-request", min_len=1, max_len=MAX_SAMPLE, distinct=True)),
}, op=OP_RECORDS, reason="bad-request", what="request")
PREPARE = Schema(OP_PREPARE, {"record": Field(any_bytes("bad-request", max_len=MAX_PREPARE_RECORD)),
                              "wait": Field(true("bad-request"), required=False)},
                 op=OP_PREPARE, reason="bad-request", what="request")
BATCH = Schema(OP_BATCH, {"queries": Field(list_of(_query_map, "bad-request", min_len=1, max_len=MAX_BATCH))},
               op=OP_BATCH, reason="bad-request", what="request")

_RU = uint("bad-reply", bits=63)
_RBYTES = any_bytes("bad-reply")
_INDICES = list_of(_RU, "bad-reply", max_len=MAX_LIST, distinct=True)
_BLOBS = list_of(_RBYTES, "bad-reply", max_len=MAX_LIST)
_RECEIPT = Field(lambda v, n: v)  # bytes of a signed receipt: decoded (reason bad-receipt) by compute.protocol
QUERY_REPLY = Schema("compute.query reply", {"receipt": _RECEIPT, "indices": Field(_INDICES),
                                             "extra": Field(_RBYTES), "records": Field(_BLOBS),
                                             "proof": Field(_RBYTES)}, open=True, reason="bad-reply",
                     what="reply")
RANGE_REPLY = Schema("compute.query range reply", {"receipt": _RECEIPT,
                                                   "indices": Field(_INDICES), "extra": Field(_RBYTES),
                                                   "range_proof": Field(_RBYTES)}, open=True,
                     reason="bad-reply", what="reply")
RECORDS_REPLY = Schema("compute.records reply", {"records": Field(_BLOBS), "proof": Field(_RBYTES)}, open=True,
                       reason="bad-reply", what="reply")
def _bool(v: Any, name: str) -> bool:
    if type(v) is not bool:
        raise bad(f"field {name!r} must be true or false", "bad-reply")
    return v


PREPARE_REPLY = Schema("compute.prepare reply", {"queued": Field(_bool), "ready": Field(_bool)},
                       open=True, reason="bad-reply", what="reply")
BATCH_REPLY = Schema("compute.batch reply", {"replies": Field(list_of(lambda v, n: v, "bad-reply",
                                                                      max_len=MAX_BATCH))},
                     open=True, reason="bad-reply", what="reply")

_B32 = exact_bytes(32, "bad-receipt")
_RCU = uint("bad-receipt", bits=63)
RECEIPT_BODY = Schema("receipt body", {
    "v": Field(one_of((1,), "bad-receipt")),
    "peer": Field(_B32), "key": Field(_B32), "program": Field(_B32),
    "dataset": Field(text("bad-receipt", max_len=1 << 20, nonempty=False)),
    "seq": Field(_RCU), "shard": Field(_RCU), "shard_root": Field(_B32), "count": Field(_RCU),
    "sort_key": Field(list_of(text("bad-receipt", max_len=1 << 20, nonempty=False), "bad-receipt",
                              max_len=MAX_LIST)),
    "args": Field(_B32),
    "range": Field(lambda v, n: None if v is None else check_range(v, "bad-receipt")),
    "result": Field(_B32), "fuel": Field(_RCU),
}, reason="bad-receipt", what="map")


@dataclass(frozen=True)
class QueryRequest:
    """A parsed ``compute.query`` request."""

    program: str
    program_hash: bytes
    dataset: str
    seq: int
    shard: int
    args: bytes
    range: list[Any] | None = None
    qc: bool = False  # ask for a BLS endorsement (quorum certificates; slow, opt-in)

    def to_msg(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"op": OP_QUERY, "program": self.program, "program_hash": self.program_hash,
                               "dataset": self.dataset, "seq": self.seq, "shard": self.shard, "args": self.args}
        if self.range is not None:
            msg["range"] = self.range
        if self.qc:
            msg["qc"] = True
        return msg

    @classmethod
    def from_msg(cls, msg: Any) -> QueryRequest:
        """Check a request's shape (raises RemoteProtocolError reason ``bad-request``)."""
        if not isinstance(msg, dict) or msg.get("op") != OP_QUERY:
            raise bad("not a compute.query request", "bad-request")
        m = validate(msg, QUERY)
        return cls(m["program"], m["program_hash"], m["dataset"], m["seq"], m["shard"], m["args"], m.get("range"),
                   "qc" in m)


@dataclass(frozen=True)
class RecordsRequest:
    """A parsed ``compute.records`` request (records by leaf index, with a batch proof)."""

    dataset: str
    seq: int
    shard: int
    indices: list[int]

    def to_msg(self) -> dict[str, Any]:
        return {"op": OP_RECORDS, "dataset": self.dataset, "seq": self.seq, "shard": self.shard,
                "indices": list(self.indices)}

    @classmethod
    def from_msg(cls, msg: Any) -> RecordsRequest:
        if not isinstance(msg, dict) or msg.get("op") != OP_RECORDS:
            raise bad("not a compute.records request", "bad-request")
        m = validate(msg, RECORDS)
        return cls(m["dataset"], m["seq"], m["shard"], m["indices"])


def parse_batch(msg: Any) -> list[Any]:
    """The sub-requests of a ``compute.batch`` request (shape only; each is checked when served)."""
    if not isinstance(msg, dict) or msg.get("op") != OP_BATCH:
        raise bad("a compute.batch request is {op, queries}", "bad-request")
    queries: list[Any] = validate(msg, BATCH)["queries"]
    return queries


def parse_reply_fields(msg: Any, *, ranged: bool) -> dict[str, Any]:
    """The checked fields of a ``compute.query`` reply (the peer's typed error raises; receipt not decoded)."""
    if isinstance(msg, dict):
        raise_if_error(msg)
    m = validate(msg, RANGE_REPLY if ranged else QUERY_REPLY)
    if not ranged and len(m["records"]) != len(m["indices"]):
        raise bad("a predicate reply carries one record per index and a batch proof", "bad-reply")
    return m


def parse_records_response(msg: Any, n: int) -> tuple[list[bytes], bytes]:
    """Check a ``compute.records`` reply: ``n`` records and a proof."""
    if isinstance(msg, dict):
        raise_if_error(msg)
    m = validate(msg, RECORDS_REPLY)
    if len(m["records"]) != n:
        raise bad(f"expected {n} records and a proof", "bad-reply")
    return m["records"], m["proof"]


def parse_batch_reply(msg: Any, n: int) -> list[Any]:
    """The ``n`` sub-replies of a ``compute.batch`` reply (or the peer's typed error)."""
    if isinstance(msg, dict):
        raise_if_error(msg)
    replies: list[Any] = validate(msg, BATCH_REPLY)["replies"]
    if len(replies) != n:
        raise bad(f"a batch reply carries {n} replies", "bad-reply")
    return replies


def prepare_msg(record: bytes, *, wait: bool = False) -> dict[str, Any]:
    """``compute.prepare``: the signed dataset record (``Record.encode()``) whose shards the receiver should load;
    ``wait``: the reply comes once they are loaded (or the receiver's wait bound passed)."""
    msg: dict[str, Any] = {"op": OP_PREPARE, "record": record}
    if wait:
        msg["wait"] = True
    return msg


def parse_prepare(msg: Any) -> tuple[bytes, bool]:
    """``(record bytes, wait)`` of a ``compute.prepare`` request (raises RemoteProtocolError, ``bad-request``)."""
    m = validate(msg, PREPARE)
    return m["record"], bool(m.get("wait", False))


def prepare_reply(queued: bool, ready: bool) -> dict[str, Any]:
    """The ``compute.prepare`` reply: taken up now (``queued``); the load has ended (``ready``)."""
    return {"queued": queued, "ready": ready}


def parse_prepare_reply(msg: Any) -> tuple[bool, bool]:
    """``(queued, ready)`` of a ``compute.prepare`` reply (or the peer's typed error; ``bad-reply``)."""
    if isinstance(msg, dict):
        raise_if_error(msg)
    m = validate(msg, PREPARE_REPLY)
    return m["queued"], m["ready"]


def parse_hint(v: Any) -> bytes:
    """The bytes of a hint's record (``HINT_FIELD``): bytes, at most :data:`MAX_HINT` (reason ``bad-hint``).

    Shape only; the record is decoded and checked against the dataset by
    :func:`note_compute.compute.hints.check_hint`.
    """
    if type(v) is not bytes or not 0 < len(v) <= MAX_HINT:
        raise bad(f"a seq hint's record is 1..{MAX_HINT} bytes", "bad-hint")
    return v
