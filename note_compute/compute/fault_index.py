"""Publisher faults indexed in the ring under the dataset (pure).

A malformed shard yields a :class:`~.wellformed.PublisherFault`: a
self-contained proof that the dataset's publisher signed a manifest over
a shard whose records are out of order, outside their declared bounds, or
not sortable. So that other clients find it, it is stored in the ring at

    K = SHA-256(PUBLISHER_FAULTS || normal-form dataset URL)

as an item of an ``evidence`` store entry (the same kind and merge rule as
fraud proofs against peers, :mod:`.evidence`: first seen, never evicted;
a put is admitted while the set holds fewer than 16 items, fewer than 4 for
one *version* (the manifest record's seq: the "pair" of a fault) and a
third of an entry; replicas converge on the union). Every node checks an
item fully before storing it (:func:`check_fault`: canonical, at most
:data:`MAX_INDEXED_FAULT` bytes, :func:`~.wellformed.verify_publisher_fault`
re-checks the signed manifest, the records' batch proof against the
shard's root and the defect itself, and the manifest's URL derives ``K``):
no program runs, and nobody can index a fault against a dataset whose
publisher did not sign the malformed shard. A reader re-checks every item
the same way (:func:`faults_for`) before believing it.

Bound: the publisher can flood its *own* dataset's key with faults of other
versions it signs malformed on purpose; a held fault is never evicted, and
each is a true proof against that publisher, so the flood only adds proof of
its fault. A fault for the version a client uses that arrives after the key
is full is not indexed; the client still finds it by itself when a peer
refuses the shard (``session_faults``).
"""

from __future__ import annotations

from typing import Any

from .. import domains, encoding, urls
from ..crypto import domain_hash
from ..errors import InvalidEncoding, InvalidProof, NoteError
from ..records import Record
from ..wire.storage import MAX_ENTRY_SIZE
from .dataset import Manifest
from .wellformed import PublisherFault, verify_publisher_fault

__all__ = ["FAULT_TYPE", "MAX_INDEXED_FAULT", "check_fault", "fault_key", "fault_pair", "faults_for", "is_fault"]

FAULT_TYPE = "publisher-fault"
MAX_INDEXED_FAULT = MAX_ENTRY_SIZE // 3 - 64 - 8
"""Largest fault proof the index stores (one fits the third of an entry a put may fill, ``evidence.PUT_BYTES``).
Larger ones (a big shard table carried inline in the proof) are refused: each client finds those itself."""


def fault_key(dataset_url: str) -> bytes:
    """The ring key of the publisher faults indexed against the dataset at ``dataset_url``."""
    return domain_hash(domains.PUBLISHER_FAULTS, urls.normalize(dataset_url).encode("ascii"))


def is_fault(item: Any) -> bool:
    """Whether an evidence item is a publisher-fault proof (by its ``type``; not checked)."""
    if type(item) is not bytes:
        return False
    try:
        v = encoding.decode(item, max_size=MAX_ENTRY_SIZE, max_depth=4)
    except NoteError:
        return False
    return isinstance(v, dict) and v.get("type") == FAULT_TYPE


def check_fault(item: bytes, key: bytes) -> tuple[PublisherFault, str]:
    """Check one indexed fault for the entry at ``key`` (see the module docstring); returns it and its
    defect, or raises.

    Raises InvalidProof (``proof-too-large``, ``malformed``, ``not-fault``, ``wrong-dataset``),
    InvalidSignature (the manifest is not the publisher's), InvalidEncoding.
    """
    if type(item) is not bytes:
        raise InvalidProof("a publisher-fault proof is sent as bytes", reason="malformed")
    if len(item) > MAX_INDEXED_FAULT:
        raise InvalidProof(f"publisher-fault proof is {len(item)} bytes, over the index's {MAX_INDEXED_FAULT}",
                           reason="proof-too-large")
    fault = PublisherFault.decode(item)
    if fault.encode() != item:
        raise InvalidProof("publisher-fault proof is not in its canonical encoding", reason="malformed")
    defect = verify_publisher_fault(fault)
    if fault_key(Record.decode(fault.manifest).url) != key:
        raise InvalidProof("the fault is against another dataset than this index entry's", reason="wrong-dataset")
    return fault, defect


def fault_pair(item: bytes) -> tuple[bytes, str]:
    """A fault's slot group in an evidence set: its dataset version (the signed manifest's seq)."""
    try:
        seq = Record.decode(PublisherFault.decode(item).manifest).seq
    except (NoteError, InvalidEncoding) as exc:
        raise InvalidProof(f"not a publisher-fault proof: {exc}", reason="malformed") from exc
    return FAULT_TYPE.encode(), f"seq {seq}"


def faults_for(items: list[bytes], manifest: Manifest) -> list[tuple[PublisherFault, str]]:
    """The indexed faults that hold for exactly this version (``(fault, defect)``), each re-checked here."""
    key = fault_key(manifest.url)
    out = []
    for item in items:
        try:
            fault, defect = check_fault(item, key)
            record = Record.decode(fault.manifest)
        except NoteError:
            continue  # not a fault, or not against this dataset: ignored
        if record.seq == manifest.seq and (not manifest.record or record.encode() == manifest.record):
            out.append((fault, defect))
    return out
