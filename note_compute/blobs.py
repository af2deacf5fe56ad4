"""Content-addressed blobs: chunks plus a manifest.

Large or immutable bytes are cut into chunks of exactly :data:`CHUNK_SIZE`
bytes (the last one shorter, never empty); each chunk is stored at
``SHA-256(chunk)``. A :class:`BlobManifest` lists the chunk hashes in order,
the total size and a media type; it is canonical CBOR::

    {"c": [hash, ...], "n": size, "m": media_type}

and is itself stored at ``SHA-256(its encoding)`` (:attr:`BlobManifest.address`),
which is the blob's address. The chunk count must be exactly
``ceil(size / CHUNK_SIZE)``, so one byte string has one manifest per media
type. :func:`join_blob` checks every chunk hash, every chunk length and the
total size, and raises :class:`~note_compute.errors.InvalidRecord` on any
mismatch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import encoding
from .errors import InvalidRecord

__all__ = [
    "CHUNK_SIZE",
    "MAX_CHUNKS",
    "MAX_BLOB_SIZE",
    "MAX_MANIFEST_SIZE",
    "DEFAULT_MEDIA_TYPE",
    "BlobManifest",
    "split_blob",
    "join_blob",
    "content_address",
    "verify_chunk",
]

CHUNK_SIZE = 256 * 1024
MAX_CHUNKS = 16384  # 4 GiB per blob
MAX_BLOB_SIZE = CHUNK_SIZE * MAX_CHUNKS
MAX_MANIFEST_SIZE = MAX_CHUNKS * 35 + 512
MAX_MEDIA_TYPE_LENGTH = 255
DEFAULT_MEDIA_TYPE = "application/octet-stream"
HASH_SIZE = 32

# RFC 6838 type/subtype (lower case), optional "; key=value" parameters in
# printable ASCII without quotes or backslashes.
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE_RE = re.compile(
    _TOKEN + "/" + _TOKEN + r"(?:; ?[a-z0-9][a-z0-9!#$&^_.+-]*=[\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]+)*\Z"
)


def content_address(data: bytes) -> bytes:
    """The content address of ``data``: plain SHA-256."""
    return hashlib.sha256(data).digest()


def verify_chunk(address: bytes, chunk: bytes) -> None:
    """Raise InvalidRecord unless ``SHA-256(chunk) == address``."""
    if hashlib.sha256(chunk).digest() != address:
        raise InvalidRecord("chunk does not match its content address", reason="hash")


def _invalid(message: str, reason: str = "schema") -> InvalidRecord:
    return InvalidRecord(message, reason=reason)


@dataclass(frozen=True)
class BlobManifest:
    """Ordered chunk hashes, total size and media type of one blob."""

    chunks: tuple[bytes, ...]
    size: int
    media_type: str

    def __post_init__(self) -> None:
        if type(self.chunks) is not tuple:
            raise _invalid("chunks must be a tuple of 32-byte hashes")
        if type(self.size) is not int or self.size < 0:
            raise _invalid(f"size must be an integer in [0, {MAX_BLOB_SIZE}]")
        if self.size > MAX_BLOB_SIZE:  # a size over its cap is too-large, as everywhere (records.md 1.3)
            raise _invalid(f"size {self.size} is over the {MAX_BLOB_SIZE}-byte cap", "too-large")
        for h in self.chunks:
            if type(h) is not bytes or len(h) != HASH_SIZE:
                raise _invalid("each chunk hash must be 32 bytes")
        expected = -(-self.size // CHUNK_SIZE)
        if len(self.chunks) != expected:
            raise _invalid(
                f"{len(self.chunks)} chunks for {self.size} bytes; expected {expected} chunks of {CHUNK_SIZE} bytes"
            )
        if (
            type(self.media_type) is not str
            or len(self.media_type) > MAX_MEDIA_TYPE_LENGTH
            or _MEDIA_TYPE_RE.match(self.media_type) is None
        ):
            raise _invalid(f"bad media type {str(self.media_type)[:80]!r} (lower-case type/subtype)", "media-type")

    def encode(self) -> bytes:
        """Canonical CBOR ``{"c": [...], "n": size, "m": media_type}``."""
        return encoding.encode({"c": list(self.chunks), "n": self.size, "m": self.media_type})

    @classmethod
    def decode(cls, data: bytes) -> BlobManifest:
        """Decode a manifest; raises InvalidEncoding or InvalidRecord."""
        m = encoding.decode(data, max_size=MAX_MANIFEST_SIZE, max_depth=2)
        if type(m) is not dict or set(m) != {"c", "n", "m"}:
            raise _invalid('a blob manifest is a map with exactly the keys "c", "n", "m"')
        if type(m["c"]) is not list:
            raise _invalid("chunks must be an array")
        return cls(tuple(m["c"]), m["n"], m["m"])

    @property
    def address(self) -> bytes:
        """The blob's address: SHA-256 of the manifest's encoding."""
        return hashlib.sha256(self.encode()).digest()

    def chunk_size(self, index: int) -> int:
        """Expected length in bytes of chunk ``index``."""
        if not 0 <= index < len(self.chunks):
            raise IndexError(index)
        if index < len(self.chunks) - 1:
            return CHUNK_SIZE
        return self.size - CHUNK_SIZE * (len(self.chunks) - 1)


def split_blob(data: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> tuple[BlobManifest, list[bytes]]:
    """Cut ``data`` into chunks; return the manifest and the chunks in order.

    Store each chunk at ``content_address(chunk)`` and the manifest's encoding
    at ``manifest.address``. Raises InvalidRecord (too large, bad media type).
    """
    if len(data) > MAX_BLOB_SIZE:
        raise _invalid(f"blob of {len(data)} bytes is over the {MAX_BLOB_SIZE}-byte cap", "too-large")
    data = bytes(data)
    if type(media_type) is str and media_type.isascii():
        media_type = media_type.lower()  # ASCII-only folding (records.md 5.1): non-ASCII is refused below
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    manifest = BlobManifest(tuple(content_address(c) for c in chunks), len(data), media_type)
    return manifest, chunks


def join_blob(manifest: BlobManifest, chunks: list[bytes]) -> bytes:
    """Reassemble and verify a blob; raises InvalidRecord on any mismatch.

    Checks the chunk count, each chunk's length and hash, and the total size.
    """
    if len(chunks) != len(manifest.chunks):
        raise _invalid(f"got {len(chunks)} chunks, the manifest lists {len(manifest.chunks)}", "chunk-count")
    for i, (expected, chunk) in enumerate(zip(manifest.chunks, chunks, strict=False)):
        if type(chunk) is not bytes:
            raise _invalid(f"chunk {i} is not bytes")
        if len(chunk) != manifest.chunk_size(i):
            raise _invalid(f"chunk {i} is {len(chunk)} bytes, expected {manifest.chunk_size(i)}", "size")
        if hashlib.sha256(chunk).digest() != expected:
            raise _invalid(f"chunk {i} does not match its hash", "hash")
    data = b"".join(chunks)
    if len(data) != manifest.size:  # implied by the per-chunk lengths; kept as a guard
        raise _invalid(f"blob is {len(data)} bytes, the manifest says {manifest.size}", "size")
    return data
