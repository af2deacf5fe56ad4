#!/usr/bin/env python3
"""Generate specs/vectors/merkle.json: RFC 6962 roots and note_compute proofs.

Run from the repository root:  python specs/vectors/gen_merkle.py [--check]

Inputs are the eight leaf inputs of the Certificate Transparency test suite.
Before writing anything, this script checks the implementation against two
independent sources and refuses to write if either disagrees:

1. the values published by transparency-dev/merkle (the Go library behind
   Certificate Transparency and Trillian): the roots for sizes 0..8 in
   ``testonly/constants.go`` (``RootHashes``) and the inclusion proofs in
   ``proof/verify_test.go`` (``inclusionProofs``), copied below by hand;
2. a small recursive implementation written here straight from the text of
   RFC 6962 section 2.1 (MTH and PATH), sharing no code with note_compute.

``--check`` regenerates in memory and exits 1 if the file on disk differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute.merkle import (  # noqa: E402
    BatchProof,
    InclusionProof,
    KeyRangeProof,
    MerkleTree,
    merkle_root,
    verify_batch,
    verify_inclusion,
    verify_key_range,
)
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "merkle.json"

# The CT test-suite leaf inputs (transparency-dev/merkle testonly/constants.go, LeafInputs).
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]

# Published roots for sizes 0..8 (transparency-dev/merkle testonly/constants.go, RootHashes).
PUBLISHED_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# Published inclusion proofs (transparency-dev/merkle proof/verify_test.go, inclusionProofs).
# That file numbers leaves from 1; here they are 0-based indices.
PUBLISHED_INCLUSION = [
    (0, 1, []),
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]

PROVENANCE = {
    "generator": "specs/vectors/gen_merkle.py",
    "hashing": "RFC 6962 section 2.1: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || l || r), empty = SHA-256('')",
    "leaf_inputs": (
        "Certificate Transparency test-suite inputs (transparency-dev/merkle testonly/constants.go LeafInputs)"
    ),
    "checked_against": [
        "https://github.com/transparency-dev/merkle testonly/constants.go RootHashes (roots for sizes 0..8), "
        "as of commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1",
        "https://github.com/transparency-dev/merkle proof/verify_test.go inclusionProofs (audit paths; "
        "1-based leaf numbers there), as of commit 02194e9afb6c1d95b5381350007963aa70fff472",
        "an independent recursive MTH/PATH implementation from the RFC 6962 text, in the generator",
    ],
    "integers": "sizes, indices and positions are decimal strings (u64 on the wire; exact in any JSON parser)",
    "note": "batch, range and key-range proofs are note_compute formats (specs/merkle.md); "
    "their roots are checked against the recursive reference implementation",
}


# --- independent reference, straight from RFC 6962 section 2.1 -------------

def _ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:])).digest()


def _ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _ref_path(m, d[:k]) + [_ref_mth(d[k:])]
    return _ref_path(m - k, d[k:]) + [_ref_mth(d[:k])]


# --- generation -----------------------------------------------------------

def _hx(items: object) -> object:
    if isinstance(items, bytes):
        return items.hex()
    if isinstance(items, (list, tuple)):
        return [_hx(x) for x in items]
    return items


def _identity(d: bytes) -> bytes:
    return d


def build() -> dict:
    """Build the vector document, checking every value against the independent sources."""
    roots = []
    for n in range(len(LEAVES) + 1):
        got = merkle_root(LEAVES[:n])
        assert got.hex() == PUBLISHED_ROOTS[n], f"root of size {n} differs from the published value"
        assert got == _ref_mth(LEAVES[:n]), f"root of size {n} differs from the reference"
        roots.append({"size": str(n), "root": got.hex()})

    published = {(i, n): p for i, n, p in PUBLISHED_INCLUSION}
    inclusion = []
    for n in range(1, len(LEAVES) + 1):
        tree = MerkleTree(LEAVES[:n])
        for i in range(n):
            proof = tree.inclusion_proof(i)
            assert list(proof.path) == _ref_path(i, LEAVES[:n]), f"path ({i}, {n}) differs from the reference"
            if (i, n) in published:
                assert _hx(proof.path) == published[(i, n)], f"path ({i}, {n}) differs from the published one"
            verify_inclusion(tree.root, n, i, LEAVES[i], InclusionProof.decode(proof.encode()))
            inclusion.append(
                {
                    "index": str(i),
                    "size": str(n),
                    "path": _hx(proof.path),
                    "published": (i, n) in published,
                    "encoded": proof.encode().hex(),
                }
            )

    tree = MerkleTree(LEAVES)
    batch = []
    for indices in ([1, 4, 5], [0, 7], [2, 3, 4, 5], list(range(8))):
        proof = tree.batch_proof(indices)
        verify_batch(tree.root, 8, {i: LEAVES[i] for i in indices}, BatchProof.decode(proof.encode()))
        assert tree.root == _ref_mth(LEAVES)
        batch.append(
            {
                "size": "8",
                "indices": [str(i) for i in indices],
                "hashes": _hx(proof.hashes),
                "encoded": proof.encode().hex(),
            }
        )

    # Key-range proofs: the sort key of a leaf is the leaf bytes themselves (the
    # CT inputs happen to be in bytewise order). null = unbounded side.
    key_range = []
    cases = [
        (bytes.fromhex("10"), bytes.fromhex("41"), "inner range, both neighbours"),
        (bytes.fromhex("11"), bytes.fromhex("20"), "empty range between two leaves (non-membership)"),
        (None, bytes.fromhex("10"), "range at the left edge"),
        (bytes.fromhex("50"), None, "range at the right edge"),
        (bytes.fromhex("70"), None, "empty range past the right edge"),
        (None, None, "the whole tree"),
    ]
    for lo, hi, desc in cases:
        proof = tree.key_range_proof(LEAVES, lo, hi)
        start, got = verify_key_range(tree.root, 8, lo, hi, KeyRangeProof.decode(proof.encode()), _identity)
        expect = [d for d in LEAVES if (lo is None or d >= lo) and (hi is None or d < hi)]
        assert got == expect, desc
        key_range.append(
            {
                "desc": desc,
                "size": "8",
                "lo": _hx(lo),
                "hi": _hx(hi),
                "start": str(proof.start),
                "end": str(proof.end),
                "leaves": _hx(proof.leaves),
                "hashes": _hx(proof.hashes),
                "returned": _hx(got),
                "encoded": proof.encode().hex(),
            }
        )
    empty = MerkleTree([]).key_range_proof([], None, None)
    key_range.append(
        {
            "desc": "empty tree",
            "size": "0",
            "lo": None,
            "hi": None,
            "start": "0",
            "end": "0",
            "leaves": [],
            "hashes": [],
            "returned": [],
            "encoded": empty.encode().hex(),
        }
    )

    return {
        "_provenance": PROVENANCE,
        "leaves": _hx(LEAVES),
        "roots": roots,
        "inclusion": inclusion,
        "batch": batch,
        "key_range": key_range,
    }


def render() -> str:
    return vectorgen.json_text(build(), sort_keys=True)


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
