"""RFC 6962 Merkle trees with inclusion, batch, range and key-range proofs.

Hashing follows RFC 6962 (Certificate Transparency) exactly: leaf =
SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), the empty tree's
root = SHA-256(b""), and the tree over n leaves splits at the largest power of
two smaller than n. Roots and audit paths therefore match every CT
implementation (checked against the published vectors in the tests).

Prover side: :func:`merkle_root`, :class:`MerkleTree` (``inclusion_proof``,
``batch_proof``, ``range_proof``, ``key_range_proof``). Verifier side:
:func:`verify_inclusion`, :func:`verify_batch`, :func:`verify_key_range`;
they raise :class:`~note_compute.errors.InvalidProof` with a ``reason`` and
never return a bool. Every proof type has ``encode()`` / strict
``decode(bytes)`` (canonical CBOR). Normative text: ``specs/merkle.md``.
"""

from ._math import (
    audit_path_length,
    audit_path_positions,
    batch_sibling_positions,
    largest_power_of_two_below,
    level_sizes,
)
from ._proofs import (
    MAX_BATCH_LEAVES,
    MAX_INCLUSION_PROOF_BYTES,
    MAX_PROOF_BYTES,
    MAX_TREE_SIZE,
    BatchProof,
    InclusionProof,
    KeyRangeProof,
)
from ._tree import EMPTY_ROOT, HASH_SIZE, MerkleTree, leaf_hash, merkle_root, node_hash
from ._verify import root_from_batch, verify_batch, verify_inclusion, verify_key_range

__all__ = [
    "merkle_root",
    "MerkleTree",
    "InclusionProof",
    "BatchProof",
    "KeyRangeProof",
    "verify_inclusion",
    "verify_batch",
    "verify_key_range",
    "root_from_batch",
    "leaf_hash",
    "node_hash",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "MAX_BATCH_LEAVES",
    "MAX_INCLUSION_PROOF_BYTES",
    "MAX_PROOF_BYTES",
    "audit_path_length",
    "audit_path_positions",
    "batch_sibling_positions",
    "largest_power_of_two_below",
    "level_sizes",
]
