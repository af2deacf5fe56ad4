"""specs/vectors/refusals.json: CBOR depth, refusal precedence, too-large (records.md 1.1-1.3, 3.1.1)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from note_compute import encoding
from note_compute.blobs import BlobManifest
from note_compute.errors import InvalidEncoding, NoteError
from note_compute.records import Record

VECTORS_DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "refusals.json").read_text())


def _raw(vec: dict[str, Any]) -> bytes:
    if "encoded" in vec:
        return bytes.fromhex(vec["encoded"])
    p = vec["encoded_parts"]
    return bytes.fromhex(p["prefix"]) + bytes.fromhex(p["repeat"]) * int(p["times"]) + bytes.fromhex(p["suffix"])


@pytest.mark.parametrize("vec", DOC["cbor"], ids=lambda v: v["name"][:50])
def test_cbor_vector(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["input"])
    opts: dict[str, Any] = {k: v if k == "allow_float" else int(v) for k, v in vec.get("options", {}).items()}
    if vec["expected"] == "accept":
        assert encoding.encode(encoding.decode(data, **opts)) == data
    else:
        with pytest.raises(InvalidEncoding) as e:
            encoding.decode(data, **opts)
        assert e.value.reason == vec["expected"]


@pytest.mark.parametrize("vec", DOC["records"], ids=lambda v: v["name"][:50])
def test_record_vector(vec: dict[str, Any]) -> None:
    data = _raw(vec)
    if vec["expected_code"] == "accept":
        Record.decode(data)
        return
    with pytest.raises(NoteError) as e:
        Record.decode(data)
    assert (e.value.code, e.value.reason) == (vec["expected_code"], vec["expected_reason"])


@pytest.mark.parametrize("vec", DOC["manifests"], ids=lambda v: v["name"][:50])
def test_manifest_vector(vec: dict[str, Any]) -> None:
    data = _raw(vec)
    if vec["expected_code"] == "accept":
        assert BlobManifest.decode(data).encode() == data
        return
    with pytest.raises(NoteError) as e:
        BlobManifest.decode(data)
    assert (e.value.code, e.value.reason) == (vec["expected_code"], vec["expected_reason"])


def test_every_reason_and_every_too_large_case_is_covered() -> None:
    reasons = {v["expected"] for v in DOC["cbor"]}
    assert reasons >= {"accept", "non-canonical", "indefinite", "duplicate-key", "tag", "type", "float",
                       "key-type", "trailing-data", "too-large", "too-deep", "truncated", "malformed"}
    too_large = {(v["expected_code"], v["name"]) for v in DOC["records"] + DOC["manifests"]
                 if v["expected_reason"] == "too-large"}
    assert {c for c, _ in too_large} == {"invalid-encoding", "invalid-record"}
    # Several-defect cases exist in both sections.
    assert sum(", then" in v["name"] for v in DOC["cbor"]) >= 10


def test_generator_reproduces_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_refusals", VECTORS_DIR / "gen_refusals.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (VECTORS_DIR / "refusals.json").read_text()
