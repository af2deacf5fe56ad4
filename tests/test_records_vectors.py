"""Frozen wire format: specs/vectors/records.json decoded, verified and re-encoded every run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import cbor2
import nacl.signing
import pytest

from note_compute import domains, urls
from note_compute.blobs import BlobManifest, join_blob
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidURL
from note_compute.records import EquivocationProof, Record, decode_verified

VECTORS_DIR = Path(__file__).parent.parent / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "records.json").read_text())


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_records", VECTORS_DIR / "gen_records.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_provenance_and_key() -> None:
    assert DOC["_provenance"]["generator"] == "specs/vectors/gen_records.py"
    key = SigningKey(bytes.fromhex(DOC["key"]["seed"]))
    assert key.public_key.hex() == DOC["key"]["public_key"]
    assert key.authority == DOC["key"]["authority"]
    assert bytes.fromhex(DOC["signature_domain"]) == domains.SIG_RECORD


def test_generator_reproduces_the_committed_file() -> None:
    assert _generator().render() == (VECTORS_DIR / "records.json").read_text()


@pytest.mark.parametrize("vec", DOC["urls"], ids=lambda v: v["input"][-24:])
def test_url_vectors(vec: dict[str, str]) -> None:
    assert urls.normalize(vec["input"]) == vec["normal"]
    assert urls.address(vec["input"]).hex() == vec["address"]
    domain = bytes.fromhex(DOC["address_domain"])
    assert domain == b"note-compute/v1/addr-record\x00"  # specs/records.md 2.3.2
    assert hashlib.sha256(domain + vec["normal"].encode()).hexdigest() == vec["address"]


@pytest.mark.parametrize("vec", DOC["url_refusals"], ids=lambda v: v["reason"])
def test_url_refusal_vectors(vec: dict[str, str]) -> None:
    with pytest.raises(InvalidURL) as e:
        urls.parse(vec["input"])
    assert e.value.reason == vec["reason"]


@pytest.mark.parametrize("vec", DOC["records"], ids=lambda v: v["name"])
def test_record_vectors(vec: dict) -> None:  # type: ignore[type-arg]
    data = bytes.fromhex(vec["encoded"])
    r = decode_verified(data)
    assert r.encode() == data
    assert r.body().hex() == vec["body"]
    # u64 fields are decimal strings in the vector file (exact in any JSON parser).
    assert (r.url, str(r.seq), str(r.created)) == (vec["url"], vec["seq"], vec["created"])
    assert (None if r.expires is None else str(r.expires)) == vec["expires"]
    assert (r.value.hex() if r.value is not None else None) == vec["value"]
    assert [h.hex() for h in r.refs] == vec["refs"]
    assert r.address.hex() == vec["address"]
    # Independent check with plain cbor2 + PyNaCl: body = map without "sig".
    m = cbor2.loads(data)
    sig = m.pop("sig")
    assert cbor2.dumps(m, canonical=True).hex() == vec["body"]
    pk = bytes.fromhex(DOC["key"]["public_key"])
    nacl.signing.VerifyKey(pk).verify(domains.SIG_RECORD + bytes.fromhex(vec["body"]), sig)


def test_blob_vector() -> None:
    blob = DOC["blob"]
    manifest = BlobManifest.decode(bytes.fromhex(blob["manifest"]))
    assert manifest.encode().hex() == blob["manifest"]
    assert manifest.address.hex() == blob["address"]
    assert [h.hex() for h in manifest.chunks] == blob["chunk_hashes"]
    data = _generator().blob_data()
    assert len(data) == int(blob["size"]) == manifest.size
    chunks = [data[i : i + 262144] for i in range(0, len(data), 262144)]
    assert join_blob(manifest, chunks) == data


def test_equivocation_proof_vector() -> None:
    enc = bytes.fromhex(DOC["equivocation_proof"]["encoded"])
    proof = EquivocationProof.decode(enc)
    proof.verify()
    assert proof.encode() == enc
    assert proof.first.url == DOC["equivocation_proof"]["url"]
    assert proof.first.seq == proof.second.seq == int(DOC["equivocation_proof"]["seq"])


def test_refs_record_points_at_the_blob() -> None:
    refs = next(v for v in DOC["records"] if v["name"] == "refs")
    assert refs["refs"] == [DOC["blob"]["address"]]
    assert Record.decode(bytes.fromhex(refs["encoded"])).refs[0].hex() == DOC["blob"]["address"]
