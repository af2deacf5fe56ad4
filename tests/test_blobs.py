"""blobs: chunking, manifests, verified reassembly."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import encoding
from note_compute.blobs import (
    CHUNK_SIZE,
    MAX_CHUNKS,
    BlobManifest,
    content_address,
    join_blob,
    split_blob,
    verify_chunk,
)
from note_compute.errors import InvalidEncoding, InvalidRecord, NoteError


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_split_join(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    manifest, chunks = split_blob(data, "text/plain")
    assert manifest.size == size and manifest.media_type == "text/plain"
    assert len(chunks) == -(-size // CHUNK_SIZE)
    assert all(0 < len(c) <= CHUNK_SIZE for c in chunks)
    assert all(len(c) == CHUNK_SIZE for c in chunks[:-1])
    assert manifest.chunks == tuple(hashlib.sha256(c).digest() for c in chunks)
    assert join_blob(manifest, chunks) == data
    enc = manifest.encode()
    assert BlobManifest.decode(enc) == manifest
    assert manifest.address == hashlib.sha256(enc).digest()
    assert encoding.decode(enc) == {"c": list(manifest.chunks), "n": size, "m": "text/plain"}


def test_default_media_type_and_case_folding() -> None:
    assert split_blob(b"x")[0].media_type == "application/octet-stream"
    assert split_blob(b"x", "Text/HTML; charset=utf-8")[0].media_type == "text/html; charset=utf-8"


def _two_chunk_blob() -> tuple[BlobManifest, list[bytes]]:
    return split_blob(b"a" * CHUNK_SIZE + b"b" * 100)


def test_join_refuses_wrong_chunks() -> None:
    m, chunks = _two_chunk_blob()
    cases = {
        "chunk-count": [chunks[0]],
        "hash": [chunks[0], b"c" * 100],
        "size": [chunks[0], chunks[1] + b"x"],
    }
    for reason, bad in cases.items():
        with pytest.raises(InvalidRecord) as e:
            join_blob(m, bad)
        assert e.value.reason == reason
    with pytest.raises(InvalidRecord):
        join_blob(m, [chunks[1], chunks[0]])  # order matters
    # moving bytes between chunks keeps the total but breaks lengths
    with pytest.raises(InvalidRecord):
        join_blob(m, [chunks[0][:-1], chunks[0][-1:] + chunks[1]])


def test_verify_chunk() -> None:
    verify_chunk(content_address(b"abc"), b"abc")
    with pytest.raises(InvalidRecord):
        verify_chunk(content_address(b"abc"), b"abd")


@pytest.mark.parametrize(
    "doc",
    [
        {"c": [], "n": 1, "m": "a/b"},  # size needs one chunk
        {"c": [bytes(32)], "n": 0, "m": "a/b"},
        {"c": [bytes(32)] * 2, "n": CHUNK_SIZE, "m": "a/b"},
        {"c": [bytes(31)], "n": 1, "m": "a/b"},
        {"c": [bytes(32)], "n": -1, "m": "a/b"},
        {"c": [bytes(32)], "n": 1, "m": "nonsense"},
        {"c": [bytes(32)], "n": 1, "m": "Text/Plain"},
        {"c": [bytes(32)], "n": 1, "m": "a/b\n"},
        {"c": [bytes(32)], "n": 1, "m": ""},
        {"c": [bytes(32)], "n": 1},
        {"c": [bytes(32)], "n": 1, "m": "a/b", "x": 0},
        {"c": bytes(32), "n": 1, "m": "a/b"},
        [bytes(32)],
    ],
)
def test_manifest_decode_refusals(doc: object) -> None:
    with pytest.raises(InvalidRecord):
        BlobManifest.decode(encoding.encode(doc))


def test_manifest_limits() -> None:
    with pytest.raises(InvalidRecord):
        BlobManifest((bytes(32),) * (MAX_CHUNKS + 1), CHUNK_SIZE * (MAX_CHUNKS + 1), "a/b")
    with pytest.raises(InvalidEncoding):
        BlobManifest.decode(b"\x00" * 10_000_000)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_manifest_decode_any_bytes(data: bytes) -> None:
    try:
        BlobManifest.decode(data)
    except NoteError:
        pass


@settings(max_examples=200)
@given(st.data())
def test_tampered_manifest_or_chunk_is_refused(data: st.DataObject) -> None:
    blob = data.draw(st.binary(min_size=1, max_size=2000))
    manifest, chunks = split_blob(blob)
    enc = bytearray(manifest.encode())
    bit = data.draw(st.integers(0, len(enc) * 8 - 1))
    enc[bit // 8] ^= 1 << (bit % 8)
    try:
        tampered = BlobManifest.decode(bytes(enc))
    except NoteError:
        tampered = None
    if tampered is not None:
        assert tampered.address != manifest.address
        if tampered.media_type == manifest.media_type:  # the flip hit a hash or the size
            with pytest.raises(InvalidRecord):
                join_blob(tampered, chunks)
    chunk = bytearray(chunks[0])
    i = data.draw(st.integers(0, len(chunk) - 1))
    chunk[i] ^= 0xFF
    with pytest.raises(InvalidRecord):
        join_blob(manifest, [bytes(chunk)])
