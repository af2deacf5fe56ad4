#!/usr/bin/env python3
"""Generate specs/vectors/records.json: the frozen wire format of records.

Run from the repository root:  .venv/bin/python specs/vectors/gen_records.py
Re-running must reproduce the committed file byte for byte (Ed25519 signing
is deterministic); tests/test_records_vectors.py checks that and decodes and
verifies every vector. Change the file only with a deliberate wire-format
change.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from note_compute import urls  # noqa: E402
from note_compute.blobs import CHUNK_SIZE, split_blob  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.records import EquivocationProof, sign_record  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

SEED = hashlib.sha256(b"note-compute/test-vectors/records/key-1").digest()
BLOB_SIZE = CHUNK_SIZE + 1000


def blob_data() -> bytes:
    """The blob vector's bytes: byte i is i mod 251."""
    return bytes(i % 251 for i in range(BLOB_SIZE))


def build() -> dict[str, Any]:
    """The whole vector document, as written to records.json."""
    key = SigningKey(SEED)
    a = key.authority
    base = f"note://{a}"
    url_inputs = [
        base,
        f"{base}/",
        f"NOTE://{a.upper()}/Shop/Products/",
        f"{base}/a/./b/../c//d",
        f"{base}/%7euser/%2fslash/caf\u00e9",
        f"{base}/hello world",
        f"{base}/programs/search",
        f"{base}/datasets/products",
    ]
    url_vectors = [
        {"input": u, "normal": urls.normalize(u), "address": urls.address(u).hex()} for u in url_inputs
    ]
    refusals = [
        {"input": f"{base}/x?q=1", "reason": "query"},
        {"input": f"{base}/x#f", "reason": "fragment"},
        {"input": f"note://user@{a}/x", "reason": "userinfo"},
        {"input": f"note://{a}:1/x", "reason": "port"},
        {"input": f"{base}/../x", "reason": "dot-segment"},
        {"input": f"{base}/%zz", "reason": "percent-encoding"},
        {"input": f"note://{a[:-1]}b/x", "reason": "authority"},
        {"input": f"http://{a}/x", "reason": "scheme"},
    ]

    manifest, chunks = split_blob(blob_data(), "application/octet-stream")
    records = {
        "value": sign_record(key, f"{base}/notes/hello", seq=1, value=b"hello, ring", created=1_700_000_000),
        "empty-value": sign_record(key, f"{base}/", seq=0, value=b"", created=0),
        "refs": sign_record(
            key, f"{base}/files/pattern", seq=7, refs=[manifest.address], created=1_700_000_100
        ),
        "expiring": sign_record(
            key, f"{base}/status", seq=2**64 - 1, value=b"\x00\xff", created=1_700_000_000, expires=1_700_086_400
        ),
    }
    record_vectors = []
    for name, r in records.items():
        record_vectors.append(
            {
                "name": name,
                "url": r.url,
                "seq": str(r.seq),
                "created": str(r.created),
                "value": None if r.value is None else r.value.hex(),
                "refs": [h.hex() for h in r.refs],
                "expires": None if r.expires is None else str(r.expires),
                "address": r.address.hex(),
                "body": r.body().hex(),
                "encoded": r.encode().hex(),
            }
        )
    a1 = sign_record(key, f"{base}/status/now", seq=5, value=b"open", created=1_700_000_000)
    a2 = sign_record(key, f"{base}/status/now", seq=5, value=b"closed", created=1_700_000_001)
    proof = EquivocationProof(a1, a2)
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_records.py",
            "command": ".venv/bin/python specs/vectors/gen_records.py",
            "spec": "specs/records.md",
            "independent_checks": "signatures are Ed25519 (libsodium via PyNaCl, itself checked against RFC 8032 "
            "section 7.1 in specs/vectors/rfc8032_ed25519.json); record addresses are SHA-256 of the record address "
            "domain (address_domain) || the normal-form URL (specs/records.md 2.3.2)",
            "key": "seed = SHA-256('note-compute/test-vectors/records/key-1'); a test key, never use it for real data",
            "integers": "every integer is a decimal string (seq and times are u64: a JSON number would lose precision)",
        },
        "key": {"seed": SEED.hex(), "public_key": key.public_key.hex(), "authority": a},
        "signature_domain": "6e6f74652d636f6d707574652f76312f7265636f726400",
        "address_domain": b"note-compute/v1/addr-record\x00".hex(),
        "urls": url_vectors,
        "url_refusals": refusals,
        "records": record_vectors,
        "blob": {
            "data": f"{BLOB_SIZE} bytes, byte i = i mod 251",
            "size": str(BLOB_SIZE),
            "chunk_hashes": [hashlib.sha256(c).hexdigest() for c in chunks],
            "manifest": manifest.encode().hex(),
            "address": manifest.address.hex(),
        },
        "equivocation_proof": {"encoded": proof.encode().hex(), "url": a1.url, "seq": "5"},
    }


def render() -> str:
    """records.json's exact text."""
    return vectorgen.json_text(build(), indent=2)


if __name__ == "__main__":
    sys.exit(vectorgen.run(HERE / "records.json", render))
