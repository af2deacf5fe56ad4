"""The compute query protocol: message schemas, receipts, result digests (pure).

See ``specs/compute.md`` section 2 for the normative text. Every message is
a CBOR map; every check raises :class:`~note_compute.errors.RemoteProtocolError`
(reason ``bad-request`` / ``bad-response``) or a more specific typed error.

Messages
--------
``compute.query`` request::

    {"op": "compute.query", "program": URL, "program_hash": bytes32,
     "dataset": URL, "seq": uint, "shard": uint, "args": bytes (canonical CBOR),
     "range"?: [lo | null, hi | null],     # half-open [lo, hi) on the sort key
     "qc"?: true}                          # also endorse with BLS (see quorum.py)

reply (predicate query, no ``range``)::

    {"receipt": bytes, "indices": [uint], "extra": bytes,
     "records": [bytes], "proof": bytes (BatchProof over ``indices``)}

reply (range query): the same without ``records``/``proof`` and with
``"range_proof": bytes`` (a KeyRangeProof carrying *every* record of the
shard in [lo, hi)); the program ran over exactly those records.

``compute.batch`` request ``{"op", "queries": [compute.query request, ...]}`` (1..64)
-> ``{"replies": [reply or error reply, ...]}`` in the same order: one round
trip for all the shards a client asks of one peer.

``compute.records`` request ``{"op", "dataset", "seq", "shard", "indices"}``
-> ``{"records": [bytes], "proof": bytes}`` (audit sampling).

Receipt
-------
``Receipt.encode() = encode({"body": body, "sig": sig})`` where ``sig`` is
Ed25519 over ``SIG_RECEIPT || encode(body)`` by ``body["key"]`` and::

    body = {"v": 1, "peer": sha256(key), "key": bytes32, "program": bytes32,
            "dataset": URL, "seq": uint, "shard": uint, "shard_root": bytes32,
            "count": uint (records in the shard), "sort_key": [text], "args": HASH_ARGS(args), "range": [lo, hi] | null,
            "result": HASH_RESULT(canonical output), "fuel": uint}

    canonical output = encode({"indices": [leaf index, ...],   # program order
                               "digests": [sha256(record), ...],  # same order
                               "extra": bytes})
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .. import domains, encoding
from ..crypto import SigningKey, domain_hash, verify
from ..errors import InvalidEncoding, InvalidSignature, RemoteProtocolError

__all__ = [
    "OP_QUERY",
    "OP_RECORDS",
    "OP_BATCH",
    "MAX_BATCH",
    "parse_batch",
    "parse_batch_reply",
    "MAX_ARGS",
    "MAX_SAMPLE",
    "QueryRequest",
    "RecordsRequest",
    "Receipt",
    "canonical_output",
    "result_digest",
    "record_digests",
    "digest_of_claim",
    "args_digest",
    "make_receipt",
    "QueryResponse",
    "parse_query_response",
    "parse_records_response",
    "error_reply",
]

OP_QUERY = "compute.query"
OP_RECORDS = "compute.records"
OP_BATCH = "compute.batch"
MAX_BATCH = 64
MAX_ARGS = 64 * 1024
MAX_SAMPLE = 4096
MAX_URL = 2048


def _bad(msg: str, reason: str = "bad-request") -> RemoteProtocolError:
    return RemoteProtocolError(msg, reason=reason)


def _is_u(v: Any) -> bool:
    return type(v) is int and 0 <= v < 2**63


def _check_range(rng: Any, reason: str) -> None:
    if not (isinstance(rng, list) and len(rng) == 2):
        raise _bad("range is [lo, hi]", reason)
    for b in rng:
        if b is not None and not (isinstance(b, list) and len(b) <= 16):
            raise _bad("a range bound is null or a list of at most 16 values", reason)


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
            raise _bad("not a compute.query request")
        allowed = {"op", "program", "program_hash", "dataset", "seq", "shard", "args", "range", "qc"}
        extra = set(msg) - allowed
        if extra:
            raise _bad(f"unknown request fields {sorted(map(str, extra))}")
        for f in ("program", "dataset"):
            if not (isinstance(msg.get(f), str) and 0 < len(msg[f]) <= MAX_URL):
                raise _bad(f"{f} must be a note:// URL")
        if not (type(msg.get("program_hash")) is bytes and len(msg["program_hash"]) == 32):
            raise _bad("program_hash must be 32 bytes")
        for f in ("seq", "shard"):
            if not _is_u(msg.get(f)):
                raise _bad(f"{f} must be an unsigned integer")
        args = msg.get("args")
        if type(args) is not bytes or len(args) > MAX_ARGS:
            raise _bad(f"args must be at most {MAX_ARGS} bytes of canonical CBOR")
        try:
            encoding.decode(args, max_size=MAX_ARGS)
        except InvalidEncoding as exc:
            raise _bad(f"args are not canonical CBOR: {exc}") from exc
        rng = msg.get("range")
        if "range" in msg:
            _check_range(rng, "bad-request")
        if "qc" in msg and msg["qc"] is not True:
            raise _bad("qc, when present, is true")
        return cls(msg["program"], msg["program_hash"], msg["dataset"], msg["seq"], msg["shard"], args, rng,
                   "qc" in msg)


@dataclass(frozen=True)
class RecordsRequest:
    """A parsed ``compute.batch`` request ``{"op", "queries": [compute.query request, ...]}`` (1..64)
-> ``{"replies": [reply or error reply, ...]}`` in the same order: one round
trip for all the shards a client asks of one peer.

``compute.records`` request (records by leaf index, with a batch proof)."""

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
            raise _bad("not a compute.records request")
        if set(msg) - {"op", "dataset", "seq", "shard", "indices"}:
            raise _bad("unknown request fields")
        if not (isinstance(msg.get("dataset"), str) and 0 < len(msg["dataset"]) <= MAX_URL):
            raise _bad("dataset must be a note:// URL")
        if not (_is_u(msg.get("seq")) and _is_u(msg.get("shard"))):
            raise _bad("seq and shard must be unsigned integers")
        idx = msg.get("indices")
        if not (isinstance(idx, list) and 0 < len(idx) <= MAX_SAMPLE and all(_is_u(i) for i in idx)
                and len(set(idx)) == len(idx)):
            raise _bad(f"indices must be 1..{MAX_SAMPLE} distinct unsigned integers")
        return cls(msg["dataset"], msg["seq"], msg["shard"], list(idx))


def args_digest(args: bytes) -> bytes:
    """HASH_ARGS over the canonical CBOR argument bytes."""
    return domain_hash(domains.HASH_ARGS, args)


def record_digests(records: list[bytes]) -> list[bytes]:
    """SHA-256 of each record (what the canonical output lists)."""
    return [hashlib.sha256(r).digest() for r in records]


def canonical_output(indices: list[int], digests: list[bytes], extra: bytes) -> bytes:
    """The byte string a receipt's result digest covers (``digests`` = :func:`record_digests`)."""
    return encoding.encode({"indices": list(indices), "digests": list(digests), "extra": bytes(extra)})


def result_digest(indices: list[int], records: list[bytes], extra: bytes) -> bytes:
    """HASH_RESULT over :func:`canonical_output` of the returned records."""
    return digest_of_claim(indices, record_digests(records), extra)


def digest_of_claim(indices: list[int], digests: list[bytes], extra: bytes) -> bytes:
    """HASH_RESULT over :func:`canonical_output` given the record digests."""
    return domain_hash(domains.HASH_RESULT, canonical_output(indices, digests, extra))


_BODY_FIELDS = {"v", "peer", "key", "program", "dataset", "seq", "shard", "shard_root", "count", "sort_key", "args",
                "range",
                "result", "fuel"}


@dataclass(frozen=True)
class Receipt:
    """A peer's signed execution receipt. :meth:`verify` checks the signature only."""

    body: dict[str, Any]
    sig: bytes

    @property
    def peer(self) -> bytes:
        peer: bytes = self.body["peer"]
        return peer

    def __getitem__(self, name: str) -> Any:
        return self.body[name]

    def encode(self) -> bytes:
        return encoding.encode({"body": self.body, "sig": self.sig})

    @classmethod
    def decode(cls, data: Any) -> Receipt:
        """Parse a receipt's structure (raises RemoteProtocolError reason ``bad-receipt``)."""
        if type(data) is not bytes:
            raise _bad("receipt must be bytes", "bad-receipt")
        try:
            v = encoding.decode(data, max_size=8192, max_depth=8)
        except InvalidEncoding as exc:
            raise _bad(f"receipt is not canonical CBOR: {exc}", "bad-receipt") from exc
        if not (isinstance(v, dict) and set(v) == {"body", "sig"} and isinstance(v["body"], dict)
                and type(v["sig"]) is bytes and len(v["sig"]) == 64):
            raise _bad("receipt is {body, sig}", "bad-receipt")
        b = v["body"]
        if set(b) != _BODY_FIELDS or type(b["v"]) is not int or b["v"] != 1:
            raise _bad("receipt body fields are wrong", "bad-receipt")
        for f in ("peer", "key", "program", "shard_root", "args", "result"):
            if not (type(b[f]) is bytes and len(b[f]) == 32):
                raise _bad(f"receipt {f} must be 32 bytes", "bad-receipt")
        if not (isinstance(b["dataset"], str) and _is_u(b["seq"]) and _is_u(b["shard"]) and _is_u(b["fuel"])
                and _is_u(b["count"]) and isinstance(b["sort_key"], list)
                and all(isinstance(f, str) for f in b["sort_key"])):
            raise _bad("receipt dataset/seq/shard/fuel malformed", "bad-receipt")
        if b["range"] is not None:
            _check_range(b["range"], "bad-receipt")
        return cls(b, v["sig"])

    def verify(self) -> None:
        """Check the signature and that ``peer == sha256(key)``; raises InvalidSignature."""
        if hashlib.sha256(self.body["key"]).digest() != self.body["peer"]:
            raise InvalidSignature("receipt peer id is not the hash of its key", reason="peer-id")
        verify(domains.SIG_RECEIPT, self.body["key"], encoding.encode(self.body), self.sig)


def make_receipt(key: SigningKey, req: QueryRequest, *, shard_root: bytes, count: int, sort_key: list[str],
                 result: bytes, fuel: int) -> Receipt:
    """Sign a receipt for ``req`` with the node's key."""
    body = {"v": 1, "peer": hashlib.sha256(key.public_key).digest(), "key": key.public_key,
            "program": req.program_hash, "dataset": req.dataset, "seq": req.seq, "shard": req.shard,
            "shard_root": shard_root, "count": count, "sort_key": list(sort_key),
            "args": args_digest(req.args), "range": req.range, "result": result,
            "fuel": fuel}
    return Receipt(body, key.sign(domains.SIG_RECEIPT, encoding.encode(body)))


def error_reply(exc: Exception) -> dict[str, Any]:
    """An error reply map for a typed error."""
    code = getattr(exc, "code", "error")
    return {"error": {"code": code, "message": str(getattr(exc, "message", exc)),
                      "reason": getattr(exc, "reason", None)}}


def _bytes_list(v: Any, what: str, limit: int = 1 << 20) -> list[bytes]:
    if not (isinstance(v, list) and len(v) <= limit and all(type(x) is bytes for x in v)):
        raise _bad(f"{what} must be a list of byte strings", "bad-response")
    return v


@dataclass(frozen=True)
class QueryResponse:
    receipt: Receipt
    indices: list[int]
    extra: bytes
    records: list[bytes] | None
    proof: bytes | None
    range_proof: bytes | None


def parse_query_response(msg: Any, *, ranged: bool) -> QueryResponse:
    """Check a reply's shape (not its proofs); raises RemoteProtocolError / typed remote error."""
    from ..errors import error_from_code

    if isinstance(msg, dict) and "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise error_from_code(str(err.get("code", "error")), str(err.get("message", "peer error")),
                              err.get("reason") if isinstance(err.get("reason"), str) else None)
    if not isinstance(msg, dict):
        raise _bad("reply must be a map", "bad-response")
    receipt = Receipt.decode(msg.get("receipt"))
    idx = msg.get("indices")
    if not (isinstance(idx, list) and all(_is_u(i) for i in idx) and len(set(idx)) == len(idx)):
        raise _bad("indices must be distinct unsigned integers", "bad-response")
    extra = msg.get("extra")
    if type(extra) is not bytes:
        raise _bad("extra must be bytes", "bad-response")
    if ranged:
        rp = msg.get("range_proof")
        if type(rp) is not bytes:
            raise _bad("a range query reply carries range_proof", "bad-response")
        return QueryResponse(receipt, idx, extra, None, None, rp)
    records = _bytes_list(msg.get("records"), "records")
    proof = msg.get("proof")
    if type(proof) is not bytes or len(records) != len(idx):
        raise _bad("a predicate reply carries one record per index and a batch proof", "bad-response")
    return QueryResponse(receipt, idx, extra, records, proof, None)


def parse_records_response(msg: Any, n: int) -> tuple[list[bytes], bytes]:
    """Check a ``compute.records`` reply: ``n`` records and a proof."""
    from ..errors import error_from_code

    if isinstance(msg, dict) and "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise error_from_code(str(err.get("code", "error")), str(err.get("message", "peer error")))
    if not isinstance(msg, dict):
        raise _bad("reply must be a map", "bad-response")
    records = _bytes_list(msg.get("records"), "records")
    if len(records) != n or type(msg.get("proof")) is not bytes:
        raise _bad(f"expected {n} records and a proof", "bad-response")
    return records, msg["proof"]


def parse_batch(msg: Any) -> list[Any]:
    """The sub-requests of a ``compute.batch`` request (shape only; each is checked when served)."""
    if not isinstance(msg, dict) or msg.get("op") != OP_BATCH or set(msg) != {"op", "queries"}:
        raise _bad("a compute.batch request is {op, queries}")
    qs = msg["queries"]
    if not (isinstance(qs, list) and 0 < len(qs) <= MAX_BATCH and all(isinstance(q, dict) for q in qs)):
        raise _bad(f"queries must be 1..{MAX_BATCH} compute.query requests")
    if any(q.get("op") != OP_QUERY for q in qs):
        raise _bad("a batch carries only compute.query requests")
    return qs


def parse_batch_reply(msg: Any, n: int) -> list[Any]:
    """The ``n`` sub-replies of a ``compute.batch`` reply (or the peer's typed error)."""
    from ..errors import error_from_code

    if isinstance(msg, dict) and "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise error_from_code(str(err.get("code", "error")), str(err.get("message", "peer error")),
                              err.get("reason") if isinstance(err.get("reason"), str) else None)
    if not (isinstance(msg, dict) and isinstance(msg.get("replies"), list) and len(msg["replies"]) == n):
        raise _bad(f"a batch reply carries {n} replies", "bad-response")
    replies: list[Any] = msg["replies"]
    return replies
