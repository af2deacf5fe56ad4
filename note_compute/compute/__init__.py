"""Verifiable compute: datasets, the query protocol, receipts, proofs, audits, fraud proofs.

Pure parts (no trio, no wasmtime import): :mod:`.keys`, :mod:`.dataset`,
:mod:`.protocol`, :mod:`.verify`, :mod:`.fraud`, :mod:`.audit`, :mod:`.evidence`
(the ring-wide fraud evidence entry the store checks and merges). The peer side
is :mod:`.server` (:func:`.node_source.attach_compute` puts it on a node);
the querying side is :mod:`.client` (trio); :mod:`.registry` keeps fraud
proofs in the ring under the accused peer's id; :mod:`.quorum` makes BLS quorum certificates. Normative text:
``specs/compute.md``.
"""

from __future__ import annotations

from .dataset import BuiltDataset, Manifest, ShardInfo, build_dataset, parse_jsonl, parse_manifest
from .fraud import FraudProof, verify_fraud_proof
from .protocol import OP_BATCH, OP_QUERY, OP_RECORDS, QueryRequest, Receipt

__all__ = ["BuiltDataset", "Manifest", "ShardInfo", "build_dataset", "parse_jsonl", "parse_manifest",
           "FraudProof", "verify_fraud_proof", "OP_QUERY", "OP_BATCH", "OP_RECORDS", "QueryRequest", "Receipt"]
