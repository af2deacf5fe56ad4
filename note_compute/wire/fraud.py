"""The fraud proof map (``specs/compute.md`` section 5): its shape, declared as data (pure).

::

    {"type": "fraud", "v": 1, "kind": "range" | "subset" | "shard",
     "receipt": bytes, "args": bytes, "indices": [uint], "digests": [bytes32], "extra": bytes,
     "evidence": [{"indices": [uint], "records": [bytes], "proof": bytes}],
     "range_proof": bytes, "blob"?: bytes32}

Closed (an unknown field is refused); every defect is reason ``malformed``
(:func:`parse_fraud_proof` raises RemoteProtocolError; the fraud module turns
it into InvalidProof with the same reason and message). After the field
checks (in :data:`FRAUD_PROOF` order), the cross-field rules: ``blob`` is
required for ``shard`` and refused for ``subset``; ``digests`` pairs with
``indices``; each evidence item carries one record per index. What a proof
*proves* is :mod:`note_compute.compute.fraud`'s.
"""

from __future__ import annotations

from typing import Any

from .schema import Field, Schema, any_bytes, bad, exact_bytes, list_of, one_of, uint, validate

__all__ = [
    "KIND_RANGE",
    "KIND_SUBSET",
    "KIND_SHARD",
    "KINDS",
    "MAX_FRAUD_PROOF",
    "EVIDENCE_ITEM",
    "FRAUD_PROOF",
    "parse_fraud_proof",
]

KIND_RANGE = "range"
KIND_SUBSET = "subset"
KIND_SHARD = "shard"
KINDS = (KIND_RANGE, KIND_SUBSET, KIND_SHARD)
MAX_FRAUD_PROOF = 8 * 1024 * 1024
"""Largest fraud proof encoding (the evidence index stores at most 60 KiB of it)."""

_R = "malformed"
_MAX_ITEMS = MAX_FRAUD_PROOF  # the byte cap bounds every list first
_BYTES = any_bytes(_R)
_INDICES = list_of(uint(_R), _R, max_len=_MAX_ITEMS)

EVIDENCE_ITEM = Schema("fraud proof evidence", {
    "indices": Field(_INDICES),
    "records": Field(list_of(_BYTES, _R, max_len=_MAX_ITEMS)),
    "proof": Field(_BYTES),
}, reason=_R, what="item")


def _evidence_item(v: Any, name: str) -> dict[str, Any]:
    item = validate(v, EVIDENCE_ITEM)
    if len(item["indices"]) != len(item["records"]):
        raise bad("a fraud proof evidence item carries one record per index", _R)
    return item


FRAUD_PROOF = Schema("fraud proof", {
    "type": Field(one_of(("fraud",), _R)),
    "v": Field(one_of((1,), _R)),
    "kind": Field(one_of(KINDS, _R)),
    "receipt": Field(_BYTES),
    "args": Field(_BYTES),
    "indices": Field(_INDICES),
    "digests": Field(list_of(exact_bytes(32, _R), _R, max_len=_MAX_ITEMS)),
    "extra": Field(_BYTES),
    "evidence": Field(list_of(_evidence_item, _R, max_len=_MAX_ITEMS)),
    "range_proof": Field(_BYTES),
    "blob": Field(exact_bytes(32, _R), required=False),
}, reason=_R, what="map")


def parse_fraud_proof(v: Any) -> dict[str, Any]:
    """The checked fields of a decoded fraud proof map (raises RemoteProtocolError reason ``malformed``)."""
    m = validate(v, FRAUD_PROOF)
    if m["kind"] == KIND_SHARD and "blob" not in m:
        raise bad("a shard fraud proof names its shard blob", _R)
    if m["kind"] == KIND_SUBSET and "blob" in m:
        raise bad("a subset fraud proof carries no blob", _R)
    if len(m["digests"]) != len(m["indices"]):
        raise bad("a fraud proof carries one digest per claimed index", _R)
    return m
