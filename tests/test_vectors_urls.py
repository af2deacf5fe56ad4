"""specs/vectors/urls.json: URL normal-form edge cases and media types (records.md 2.3, 2.3.1, 5.1)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from note_compute import blobs, urls
from note_compute.errors import InvalidRecord, InvalidURL

VECTORS_DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "urls.json").read_text())


ADDR_RECORD = b"note-compute/v1/addr-record\x00"  # specs/records.md 2.3.2, written out


def _input(vec: dict[str, Any]) -> str:
    if "input" in vec:
        return str(vec["input"])
    p = vec["input_parts"]
    return str(p["prefix"] + p["repeat"] * int(p["times"]) + p["suffix"])


@pytest.mark.parametrize("vec", DOC["urls"], ids=lambda v: v["name"][:50])
def test_url_vector(vec: dict[str, Any]) -> None:
    raw = _input(vec)
    if "code_points" in vec:
        assert len(raw) == int(vec["code_points"])
        assert len(raw.encode("utf-8", "surrogatepass")) == int(vec["utf8_bytes"])
    if "reason" in vec:
        with pytest.raises(InvalidURL) as e:
            urls.normalize(raw)
        assert e.value.reason == vec["reason"]
        return
    normal = urls.normalize(raw)
    if isinstance(vec["normal"], str):
        assert normal == vec["normal"]
    else:
        assert str(len(normal)) == vec["normal"]["length"]
        assert hashlib.sha256(normal.encode()).hexdigest() == vec["normal"]["sha256"]
    assert urls.address(raw).hex() == vec["address"] == hashlib.sha256(ADDR_RECORD + normal.encode()).hexdigest()
    assert urls.is_normal(normal) and urls.normalize(normal) == normal


def test_url_rules_each_have_vectors() -> None:
    reasons = {v.get("reason") for v in DOC["urls"]}
    assert reasons >= {"scheme", "fragment", "query", "userinfo", "port", "authority", "dot-segment",
                       "percent-encoding", "control-character", "unicode", "too-long"}
    names = " ".join(v["name"] for v in DOC["urls"])
    for phrase in ("not folded", "fragment before query", "userinfo beats port", "code points"):
        assert phrase in names
    assert DOC["limits"] == {"input_code_points": str(urls.MAX_INPUT_LENGTH),
                             "normal_form_bytes": str(urls.MAX_URL_LENGTH)}


@pytest.mark.parametrize("vec", DOC["media_types"]["cases"], ids=lambda v: repr(v["media_type"])[:40])
def test_media_type_vector(vec: dict[str, Any]) -> None:
    mt = vec["media_type"]
    assert len(mt) == int(vec["length"])
    if vec["expected"] == "accept":
        m = blobs.BlobManifest((), 0, mt)
        assert blobs.BlobManifest.decode(m.encode()).media_type == mt
    else:
        with pytest.raises(InvalidRecord) as e:
            blobs.BlobManifest((), 0, mt)
        assert e.value.reason == "media-type"


def test_media_type_defaults_and_api_folding() -> None:
    doc = DOC["media_types"]
    assert doc["api_default"] == blobs.DEFAULT_MEDIA_TYPE == "application/octet-stream"
    assert doc["cli_put_default"] == "application/octet-stream"
    for case in doc["api_folding"]:
        if case["stored"] is None:
            with pytest.raises(InvalidRecord):
                blobs.split_blob(b"x", case["given"])
        else:
            assert blobs.split_blob(b"x", case["given"])[0].media_type == case["stored"]


def test_cli_put_default_is_the_documented_one() -> None:
    from click.testing import CliRunner

    from note_compute.cli import main

    out = CliRunner().invoke(main, ["put", "--help"]).output
    assert "--media-type" in out and DOC["media_types"]["cli_put_default"] in out


def test_generator_reproduces_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_urls", VECTORS_DIR / "gen_urls.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (VECTORS_DIR / "urls.json").read_text()
