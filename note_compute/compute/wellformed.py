"""Well-formed data, checked where it is held, and proofs of a publisher's fault (pure).

Theory of operation
-------------------
A shard is **well formed** for its manifest when (:func:`check_shard`):

1. its blob decodes to exactly the manifest's ``count`` records whose
   RFC 6962 root is the manifest's shard ``root``;
2. every record is a canonical CBOR map whose sort-key fields are sortable
   (strict decode: the comparison below is the canonical one);
3. the records are in **strictly** increasing ``(sort key, record bytes)``
   order (the dataset order of ``specs/compute.md`` 1.2: no duplicates, no
   inversions);
4. every record's key lies inside the shard's declared bounds
   ``lo <= key <= hi`` (the manifest reader already checked that the bounds
   are ordered and that shard i's ``hi`` is ``<=`` shard i+1's ``lo``).

On a well-formed shard every key range ``[lo, hi)`` has exactly one window of
leaves (the key-range proof of a range is unique), so re-running a program on
"the records of that range" means one thing. A peer runs this check when it
loads a shard (:func:`~.server.load_shard`) and refuses to serve or sign over
a shard that fails it (:class:`MalformedDataset`, reason
``malformed-dataset``, sent to the client as the error reply).

A failure of (2)-(4) is the **publisher's** fault and is provable with a few
records: a :class:`PublisherFault` carries the signed manifest record (and
the shard-table blob when the table is not inline), the shard index, the
offending records with one batch inclusion proof against the shard root, and
the defect's name:

``order``    two adjacent leaves ``i, i+1`` with ``(key_i, rec_i) >= (key_i+1, rec_i+1)``
``bounds``   one leaf whose key is outside the shard's declared ``[lo, hi]``
``record``   one leaf that is not a canonical CBOR map with sortable key fields

:func:`verify_publisher_fault` checks one with nothing else (signature by
the dataset's authority, manifest, proof, defect). It never names a peer: a
malformed dataset is evidence against its publisher, never against the peers
that hold it. A failure of (1) (count or root) is not a publisher fault: the
blob is simply not the shard (the ring served the wrong bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding, InvalidProof, InvalidRecord, NoteError
from ..merkle import BatchProof, MerkleTree, verify_batch
from ..records import Record, verify_record
from .dataset import Manifest, key_of_record, parse_manifest
from .keys import Key

__all__ = [
    "DEFECTS",
    "MALFORMED",
    "MAX_FAULT_SIZE",
    "MalformedDataset",
    "PublisherFault",
    "check_order",
    "check_shard",
    "fault_from_reply",
    "verify_publisher_fault",
]

MALFORMED = "malformed-dataset"
"""The reason of every error about a malformed dataset (wire: ``invalid-record`` / ``malformed-dataset``)."""
DEFECTS = ("order", "bounds", "record")
MAX_FAULT_SIZE = 1024 * 1024
"""Largest encoded publisher-fault proof accepted (two records, a proof, a manifest and its table)."""


@dataclass(frozen=True)
class PublisherFault:
    """A proof that the publisher of a dataset signed a malformed shard (see the module docstring)."""

    manifest: bytes          # the signed dataset record (Record.encode())
    table: bytes             # the shard-table blob, or b"" when the table is inline
    shard: int
    defect: str
    indices: list[int]
    records: list[bytes]
    proof: bytes             # BatchProof over ``indices`` against the shard root

    def encode(self) -> bytes:
        return encoding.encode({"type": "publisher-fault", "v": 1, "manifest": self.manifest, "table": self.table,
                                "shard": self.shard, "defect": self.defect, "indices": list(self.indices),
                                "records": list(self.records), "proof": self.proof})

    @classmethod
    def decode(cls, data: bytes) -> PublisherFault:
        """Strict structural decode; raises InvalidEncoding / InvalidProof (reason ``malformed``)."""
        if type(data) is not bytes or len(data) > MAX_FAULT_SIZE:
            raise InvalidProof("a publisher-fault proof is at most 1 MiB of bytes", reason="malformed")
        v = encoding.decode(data, max_size=MAX_FAULT_SIZE, max_depth=4)
        fields = {"type", "v", "manifest", "table", "shard", "defect", "indices", "records", "proof"}
        ok = (isinstance(v, dict) and set(v) == fields and v["type"] == "publisher-fault" and type(v["v"]) is int
              and v["v"] == 1 and all(type(v[f]) is bytes for f in ("manifest", "table", "proof"))
              and type(v["shard"]) is int and v["shard"] >= 0 and v["defect"] in DEFECTS
              and isinstance(v["indices"], list) and isinstance(v["records"], list)
              and len(v["indices"]) == len(v["records"]) == (2 if v["defect"] == "order" else 1)
              and all(type(i) is int and i >= 0 for i in v["indices"])
              and all(type(r) is bytes for r in v["records"]))
        if not ok:
            raise InvalidProof("malformed publisher-fault proof", reason="malformed")
        return cls(v["manifest"], v["table"], v["shard"], v["defect"], list(v["indices"]), list(v["records"]),
                   v["proof"])

    @property
    def url(self) -> str:
        """The dataset URL (from the signed manifest record; not verified here)."""
        return Record.decode(self.manifest).url


class MalformedDataset(InvalidRecord):
    """A shard is not well formed for its manifest; ``fault`` proves it when the publisher is to blame."""

    def __init__(self, message: str, *, fault: PublisherFault | None = None) -> None:
        super().__init__(message, reason=MALFORMED)
        self.fault = fault


def _order_key(record: bytes, fields: Sequence[str]) -> tuple[Key, bytes]:
    return key_of_record(record, fields), record


def check_order(records: Sequence[bytes], fields: Sequence[str], *, first: int = 0) -> list[Key]:
    """Keys of ``records`` (strict canonical decode) if they are strictly increasing by ``(key, bytes)``.

    Raises MalformedDataset (no ``fault``: the caller knows where the records
    came from) naming the first bad leaf (``first`` + position).
    """
    keys: list[Key] = []
    prev: tuple[Key, bytes] | None = None
    for j, rec in enumerate(records):
        try:
            cur = _order_key(rec, fields)
        except InvalidRecord as exc:
            raise MalformedDataset(f"leaf {first + j} is not a sortable canonical record: {exc.message}") from exc
        if prev is not None and not prev < cur:
            raise MalformedDataset(f"leaves {first + j - 1} and {first + j} are out of (sort key, bytes) order")
        keys.append(cur[0])
        prev = cur
    return keys


def _fault(manifest: Manifest, index: int, defect: str, tree: MerkleTree, indices: list[int],
           records: list[bytes]) -> PublisherFault | None:
    if not manifest.record:
        return None
    return PublisherFault(manifest.record, manifest.table_data or b"", index, defect, indices,
                          [records[i] for i in indices], tree.batch_proof(indices).encode())


def check_shard(manifest: Manifest, index: int, records: Sequence[bytes], tree: MerkleTree | None = None) -> list[Key]:
    """Check shard ``index``'s ``records`` against ``manifest`` (see the module docstring); return their keys.

    Raises InvalidRecord (reasons ``shard-count`` / ``shard-root``) when the
    records are not the shard, and MalformedDataset (reason
    ``malformed-dataset``, with a :class:`PublisherFault` when the manifest
    carries its signed record) when the shard is the publisher's and malformed.
    """
    info = manifest.shards[index]
    if len(records) != info.count:
        raise InvalidRecord(f"shard holds {len(records)} records, manifest says {info.count}", reason="shard-count")
    tree = tree if tree is not None else MerkleTree(list(records))
    if tree.root != info.root:
        raise InvalidRecord("shard records do not hash to the manifest's shard root", reason="shard-root")
    lo, hi = manifest.shard_range_keys(index)
    fields = manifest.sort_key
    keys: list[Key] = []
    prev: tuple[Key, bytes] | None = None
    where = f"dataset {manifest.url or manifest.name} seq {manifest.seq} shard {index}"
    for i, rec in enumerate(records):
        try:
            cur = _order_key(rec, fields)
        except InvalidRecord as exc:
            raise MalformedDataset(f"{where}: leaf {i} is not a sortable canonical record: {exc.message}",
                                   fault=_fault(manifest, index, "record", tree, [i], list(records))) from exc
        if prev is not None and not prev < cur:
            raise MalformedDataset(f"{where}: leaves {i - 1} and {i} are out of (sort key, bytes) order",
                                   fault=_fault(manifest, index, "order", tree, [i - 1, i], list(records)))
        if not lo <= cur[0] <= hi:
            raise MalformedDataset(f"{where}: leaf {i}'s key lies outside the declared shard bounds",
                                   fault=_fault(manifest, index, "bounds", tree, [i], list(records)))
        keys.append(cur[0])
        prev = cur
    return keys


def _malformed_check_failed(msg: str) -> InvalidProof:
    return InvalidProof(f"not a publisher fault: {msg}", reason="not-fault")


def verify_publisher_fault(fault: PublisherFault) -> str:
    """Check ``fault`` alone; return the defect's name or raise.

    Raises InvalidSignature (the manifest record is not signed by its
    authority) or InvalidProof (reason ``not-fault``: the records are not
    the shard's, or they show no defect).
    """
    try:
        record = Record.decode(fault.manifest)
    except NoteError as exc:
        raise _malformed_check_failed(f"bad manifest record: {exc}") from exc
    verify_record(record)  # InvalidSignature: not the publisher's
    if record.value is None:
        raise _malformed_check_failed("the record carries no manifest")
    try:
        manifest = parse_manifest(record.value, table=fault.table or None, url=record.url, seq=record.seq)
    except NoteError as exc:
        raise _malformed_check_failed(f"bad manifest: {exc}") from exc
    if fault.shard >= len(manifest.shards):
        raise _malformed_check_failed("no such shard")
    info = manifest.shards[fault.shard]
    if any(i >= info.count for i in fault.indices):
        raise _malformed_check_failed("an index lies outside the shard")
    if fault.defect == "order" and fault.indices[1] != fault.indices[0] + 1:
        raise _malformed_check_failed("an order defect names two adjacent leaves")
    try:
        verify_batch(
            info.root, info.count, dict(zip(fault.indices, fault.records, strict=False)), BatchProof.decode(fault.proof)
        )
    except (InvalidProof, InvalidEncoding) as exc:
        raise _malformed_check_failed(f"the records are not the shard's: {exc}") from exc
    fields = manifest.sort_key
    try:
        keyed = [_order_key(r, fields) for r in fault.records]
    except InvalidRecord:
        if fault.defect == "record":
            return "record"
        raise _malformed_check_failed("a record is unsortable but the defect named is not 'record'") from None
    if fault.defect == "order" and not keyed[0] < keyed[1]:
        return "order"
    if fault.defect == "bounds":
        lo, hi = manifest.shard_range_keys(fault.shard)
        if not lo <= keyed[0][0] <= hi:
            return "bounds"
    raise _malformed_check_failed(f"the records show no {fault.defect} defect")


def fault_from_reply(msg: Any) -> PublisherFault | None:
    """The publisher-fault proof a peer attached to a ``malformed-dataset`` error reply (unverified), if any."""
    if not isinstance(msg, dict) or type(msg.get("fault")) is not bytes:
        return None
    try:
        return PublisherFault.decode(msg["fault"])
    except NoteError:
        return None

