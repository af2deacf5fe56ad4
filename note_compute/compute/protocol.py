"""The compute query protocol: receipts, result digests, typed replies (pure).

See ``specs/compute.md`` section 2 for the normative text. The message
schemas are declared in :mod:`note_compute.wire.compute` (re-exported here);
every check raises :class:`~note_compute.errors.RemoteProtocolError`
(reason ``bad-request`` / ``bad-reply`` / ``bad-receipt``) or the peer's
typed error (:func:`note_compute.wire.envelope.raise_if_error`).

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
from dataclasses import dataclass, field
from typing import Any

import cbor2

from .. import domains, encoding
from ..crypto import SigningKey, domain_hash, verify
from ..errors import InvalidEncoding, InvalidSignature, NoteError
from ..wire import compute as _wc
from ..wire.compute import (
    MAX_ARGS,
    MAX_BATCH,
    MAX_SAMPLE,
    MAX_URL,
    OP_BATCH,
    OP_QUERY,
    OP_RECORDS,
    QueryRequest,
    RecordsRequest,
    parse_batch,
    parse_batch_reply,
    parse_records_response,
)
from ..wire.envelope import error_reply as _error_reply
from ..wire.envelope import raise_if_error
from ..wire.schema import bad as _wire_bad
from ..wire.schema import validate

__all__ = [
    "OP_QUERY",
    "OP_RECORDS",
    "OP_BATCH",
    "MAX_BATCH",
    "MAX_URL",
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


def _bad(msg: str, reason: str = "bad-request") -> Exception:
    return _wire_bad(msg, reason)


def args_digest(args: bytes) -> bytes:
    """HASH_ARGS over the canonical CBOR argument bytes."""
    return domain_hash(domains.HASH_ARGS, args)


def record_digests(records: list[bytes]) -> list[bytes]:
    """SHA-256 of each record (what the canonical output lists)."""
    return [hashlib.sha256(r).digest() for r in records]


_U64 = 2**64 - 1


def canonical_output(indices: list[int], digests: list[bytes], extra: bytes) -> bytes:
    """The byte string a receipt's result digest covers (``digests`` = :func:`record_digests`)."""
    indices, digests = list(indices), list(digests)
    if type(extra) is bytes and all(type(i) is int and 0 <= i <= _U64 for i in indices) \
            and all(type(d) is bytes for d in digests):
        # Only unsigned integers and byte strings, under text keys given in their canonical order ("extra" <
        # "digests" < "indices" by encoded bytes): cbor2's plain encoding is then the canonical one, bytewise.
        return cbor2.dumps({"extra": extra, "digests": digests, "indices": indices})
    return encoding.encode({"indices": indices, "digests": digests, "extra": bytes(extra)})


def result_digest(indices: list[int], records: list[bytes], extra: bytes) -> bytes:
    """HASH_RESULT over :func:`canonical_output` of the returned records."""
    return digest_of_claim(indices, record_digests(records), extra)


def digest_of_claim(indices: list[int], digests: list[bytes], extra: bytes) -> bytes:
    """HASH_RESULT over :func:`canonical_output` given the record digests."""
    return domain_hash(domains.HASH_RESULT, canonical_output(indices, digests, extra))


_BODY_FIELDS = frozenset(_wc.RECEIPT_BODY.fields)
_SIG_HEAD = b"\xa2\x63sig\x58\x40"  # map(2), text "sig", bytes(64)
_BODY_KEY = b"\x64body"


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
        return cls.decode_signed(data)[0]

    @classmethod
    def decode_signed(cls, data: Any) -> tuple[Receipt, bytes | None]:
        """:meth:`decode`, and the signed body bytes exactly as received (``encode(body)``: strict decoding
        proved ``data`` canonical, so its tail after the signature is the body's canonical encoding; None in
        the never-expected case that the layout differs). A verifier may check the signature over these
        bytes instead of re-encoding the body (:func:`.verify.verify_answer`)."""
        if type(data) is not bytes:
            raise _bad("receipt must be bytes", "bad-receipt")
        v = _plain_receipt(data)
        if v is None:
            v = _strict_receipt(data)
        sig = v["sig"]
        # Canonical key order puts "sig" (0x63 ...) before "body" (0x64 ...): {"sig": <64 bytes>, "body": ...}.
        tail = len(_SIG_HEAD) + 64 + len(_BODY_KEY)
        signed = data[tail:] if data[:tail] == _SIG_HEAD + sig + _BODY_KEY else None
        return cls(v["body"], sig), signed

    def verify(self) -> None:
        """Check the signature and that ``peer == sha256(key)``; raises InvalidSignature."""
        self._verify_over(encoding.encode(self.body))

    def _verify_over(self, signed: bytes) -> None:
        """:meth:`verify` with ``signed`` standing for ``encoding.encode(self.body)``: only ever the bytes
        :meth:`decode_signed` returned with this receipt (equal to that encoding by strict decoding)."""
        if hashlib.sha256(self.body["key"]).digest() != self.body["peer"]:
            raise InvalidSignature("receipt peer id is not the hash of its key", reason="peer-id")
        verify(domains.SIG_RECEIPT, self.body["key"], signed, self.sig)


_MAX_RECEIPT, _MAX_DEPTH = 8192, 8
_BODY_ORDER = tuple(sorted(_BODY_FIELDS, key=lambda k: (len(k.encode()), k.encode())))  # canonical key order
_INT_MIN, _INT_MAX = -(2**64), 2**64 - 1


def _strict_receipt(data: bytes) -> dict[str, Any]:
    """The receipt map by strict decoding (:func:`note_compute.encoding.decode`), shape and body checked."""
    try:
        v = encoding.decode(data, max_size=_MAX_RECEIPT, max_depth=_MAX_DEPTH)
    except InvalidEncoding as exc:
        raise _bad(f"receipt is not canonical CBOR: {exc}", "bad-receipt") from exc
    if not (isinstance(v, dict) and set(v) == {"body", "sig"} and isinstance(v["body"], dict)
            and type(v["sig"]) is bytes and len(v["sig"]) == 64):
        raise _bad("receipt is {body, sig}", "bad-receipt")
    validate(v["body"], _wc.RECEIPT_BODY)  # every field, exactly (reason bad-receipt)
    out: dict[str, Any] = v
    return out


def _plain_value(v: Any, depth: int) -> bool:
    """Only what :func:`note_compute.encoding.decode` lets through (no float, tag, map or other type; integers in
    the 64-bit range; nesting within its depth limit), and nothing whose canonical form needs a map sorted."""
    if depth > _MAX_DEPTH:
        return False
    t = type(v)
    if t is list:
        return all(_plain_value(x, depth + 1) for x in v)
    if t is int:
        return bool(_INT_MIN <= v <= _INT_MAX)
    return t is str or t is bytes or t is bool or v is None


def _plain_receipt(data: bytes) -> dict[str, Any] | None:
    """The receipt map, when a cheaper check proves it is exactly what :func:`_strict_receipt` returns; else None
    (the caller then runs :func:`_strict_receipt`, which accepts or refuses as it always did).

    The proof: the value holds only plain items (text-keyed maps in canonical key order, the body's fields
    checked by its schema, the range's values by :func:`_plain_value`), and cbor2's plain encoding of it gives
    back ``data`` byte for byte. With no float and no map left to sort, the plain encoding *is* the canonical
    one, so strict decoding (decode, re-encode canonically, compare) would return this same value; and since a
    plain encoding never writes a tag, an indefinite length or a duplicate key, ``data`` held none either.
    """
    if len(data) > _MAX_RECEIPT:
        return None
    try:
        v = cbor2.loads(data, max_depth=_MAX_DEPTH + 1)
    except Exception:  # cbor2 raises several types on garbage: the strict path names the fault
        return None
    if type(v) is not dict or list(v) != ["sig", "body"]:
        return None
    body, sig = v["body"], v["sig"]
    if type(sig) is not bytes or len(sig) != 64 or type(body) is not dict or tuple(body) != _BODY_ORDER:
        return None
    try:
        validate(body, _wc.RECEIPT_BODY)
    except NoteError:
        return None
    if body["range"] is not None and not _plain_value(body["range"], 2):
        return None
    if cbor2.dumps(v) != data:
        return None
    out: dict[str, Any] = v
    return out


def make_receipt(key: SigningKey, req: QueryRequest, *, shard_root: bytes, count: int, sort_key: list[str],
                 result: bytes, fuel: int) -> Receipt:
    """Sign a receipt for ``req`` with the node's key."""
    body = {"v": 1, "peer": hashlib.sha256(key.public_key).digest(), "key": key.public_key,
            "program": req.program_hash, "dataset": req.dataset, "seq": req.seq, "shard": req.shard,
            "shard_root": shard_root, "count": count, "sort_key": list(sort_key),
            "args": args_digest(req.args), "range": req.range, "result": result,
            "fuel": fuel}
    return Receipt(body, key.sign(domains.SIG_RECEIPT, encoding.encode(body)))


def error_reply(exc: NoteError) -> dict[str, Any]:
    """An error reply map for a typed error (:func:`note_compute.wire.envelope.error_reply`)."""
    return _error_reply(exc)


@dataclass(frozen=True)
class QueryResponse:
    receipt: Receipt
    indices: list[int]
    extra: bytes
    records: list[bytes] | None
    proof: bytes | None
    range_proof: bytes | None
    signed: bytes | None = field(default=None, repr=False, compare=False)  # the receipt body as received


def parse_query_response(msg: Any, *, ranged: bool) -> QueryResponse:
    """Check a reply's shape (not its proofs); raises RemoteProtocolError / the peer's typed error.

    An error reply raises the error it carries, or RemoteProtocolError reason ``bad-error-reply``
    when it is malformed (:func:`note_compute.wire.envelope.raise_if_error`, as for every reply).
    """
    if isinstance(msg, dict):
        raise_if_error(msg)
    else:
        raise _bad("reply must be a map", "bad-reply")
    receipt, signed = Receipt.decode_signed(msg.get("receipt"))
    m = _wc.parse_reply_fields(msg, ranged=ranged)
    if ranged:
        return QueryResponse(receipt, m["indices"], m["extra"], None, None, m["range_proof"], signed)
    return QueryResponse(receipt, m["indices"], m["extra"], m["records"], m["proof"], None, signed)
