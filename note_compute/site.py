"""Web sites in the ring: the signed site manifest (pure, no I/O).

A site is a directory of files published by one authority. Every file is a
content-addressed blob (chunks stored at their content address) and a record
at ``note://AUTHORITY/path`` whose single ref is the blob's address, so
``note-compute get`` reads any file. One more record, at
``note://AUTHORITY/.note-site`` (:data:`MANIFEST_PATH`), holds the **site
manifest**: for every path, the SHA-256 of the file's bytes, its size, its
media type and its chunk addresses. With it a client (the gateway) fetches
all of a page's resources in parallel, one round trip each, verifies each
against the manifest the authority signed, and caches it by hash.

Wire form (canonical CBOR, ``specs/site.md``)::

    {"v": 1, "f": {path: {"h": sha256(bytes), "n": size, "m": media type,
                          "c": [chunk address, ...]}}}

``path`` is the file's path in normal form (``/`` first, as in the record
URL). The manifest goes inline in the record's value when it fits
(:data:`~note_compute.records.MAX_VALUE_SIZE`), else in a blob the record
refers to. :func:`SiteManifest.decode` is strict: every field checked, chunk
count consistent with the size, paths in normal form.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import blobs, encoding, urls
from .errors import InvalidRecord

__all__ = [
    "MANIFEST_PATH",
    "MAX_FILES",
    "SiteFile",
    "SiteManifest",
    "media_type_for",
    "resolve_path",
    "scan_directory",
]

MANIFEST_PATH = "/.note-site"
"""Path of the site manifest record; no site file may have it."""
MAX_FILES = 10_000
VERSION = 1
_HASH = 32


def _bad(message: str) -> InvalidRecord:
    return InvalidRecord(message, reason="site-manifest")


@dataclass(frozen=True)
class SiteFile:
    """One file of a site: content hash, size, media type, chunk addresses."""

    sha256: bytes
    size: int
    media_type: str
    chunks: tuple[bytes, ...]

    @property
    def blob(self) -> blobs.BlobManifest:
        """The blob manifest of this file (its address is the file record's ref)."""
        return blobs.BlobManifest(chunks=self.chunks, size=self.size, media_type=self.media_type)

    def to_map(self) -> dict[str, Any]:
        return {"h": self.sha256, "n": self.size, "m": self.media_type, "c": list(self.chunks)}

    @classmethod
    def from_map(cls, m: Any) -> SiteFile:
        if not isinstance(m, dict) or set(m) != {"h", "n", "m", "c"}:
            raise _bad("a site file entry must have exactly the keys h, n, m, c")
        h, n, mt, c = m["h"], m["n"], m["m"], m["c"]
        if type(h) is not bytes or len(h) != _HASH:
            raise _bad("a site file's hash must be 32 bytes")
        if type(n) is not int or not 0 <= n <= blobs.MAX_BLOB_SIZE:
            raise _bad("a site file's size is out of range")
        if type(mt) is not str:
            raise _bad("a site file's media type must be text")
        if not isinstance(c, list) or not all(type(x) is bytes and len(x) == _HASH for x in c):
            raise _bad("a site file's chunks must be 32-byte addresses")
        f = cls(sha256=h, size=n, media_type=mt, chunks=tuple(c))
        try:
            f.blob.encode()  # checks the chunk count against the size and the media type grammar
        except InvalidRecord as exc:
            raise _bad(f"inconsistent site file entry: {exc}") from exc
        return f

    @classmethod
    def of_bytes(cls, data: bytes, media_type: str) -> tuple[SiteFile, list[bytes]]:
        """The entry for ``data`` and its chunks (to store at their content addresses)."""
        manifest, chunks = blobs.split_blob(data, media_type)
        return cls(hashlib.sha256(data).digest(), len(data), media_type, tuple(manifest.chunks)), chunks


@dataclass(frozen=True)
class SiteManifest:
    """The signed list of a site's files, keyed by normal-form path."""

    files: Mapping[str, SiteFile]

    def __post_init__(self) -> None:
        if len(self.files) > MAX_FILES:
            raise _bad(f"a site has at most {MAX_FILES} files")
        for path in self.files:
            check_path(path)

    def encode(self) -> bytes:
        return encoding.encode({"v": VERSION, "f": {p: f.to_map() for p, f in self.files.items()}})

    @classmethod
    def decode(cls, data: bytes) -> SiteManifest:
        m = encoding.decode(data)
        if not isinstance(m, dict) or set(m) != {"v", "f"} or m["v"] != VERSION or type(m["v"]) is not int:
            raise _bad("not a version-1 site manifest")
        if not isinstance(m["f"], dict):
            raise _bad("a site manifest's files must be a map")
        files: dict[str, SiteFile] = {}
        for path, entry in m["f"].items():
            if type(path) is not str:
                raise _bad("site paths must be text")
            files[path] = SiteFile.from_map(entry)
        return cls(files)

    def changed(self, previous: SiteManifest | None) -> list[str]:
        """Paths whose content or media type differ from ``previous`` (all when None)."""
        if previous is None:
            return sorted(self.files)
        return sorted(p for p, f in self.files.items() if previous.files.get(p) != f)


def check_path(path: str) -> None:
    """Refuse a path that is not a normal-form note URL path, or is reserved."""
    if not path.startswith("/") or path == "/":
        raise _bad(f"site path {path!r} must start with / and name a file")
    if not urls.is_normal(f"{urls.SCHEME}://{'a' * 52}{path}"):
        raise _bad(f"site path {path!r} is not in normal form")
    if path == MANIFEST_PATH:
        raise _bad(f"{MANIFEST_PATH} is reserved for the site manifest")


_TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")


def media_type_for(name: str) -> str:
    """The media type to publish a file under, from its name (UTF-8 for text)."""
    guess, _ = mimetypes.guess_type(name, strict=False)
    if name.endswith((".js", ".mjs")):
        guess = "application/javascript"
    mt = (guess or blobs.DEFAULT_MEDIA_TYPE).lower()
    if mt.startswith(_TEXT_TYPES):
        mt += "; charset=utf-8"
    return mt


def url_path(rel: str) -> str:
    """The normal-form URL path of a file at relative path ``rel`` (percent-encoded as URLs are)."""
    authority = "a" * 52
    return urls.normalize(f"{urls.SCHEME}://{authority}/{rel}")[len(urls.SCHEME) + 3 + len(authority):]


def scan_directory(root: Path) -> dict[str, Path]:
    """Map every regular file under ``root`` (hidden files skipped) to its URL path."""
    if not root.is_dir():
        raise _bad(f"{root} is not a directory")
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        path = url_path(rel.as_posix())
        if path in out:
            raise _bad(f"two files map to the path {path}")
        out[path] = p
    if not out:
        raise _bad(f"{root} holds no files to publish")
    if len(out) > MAX_FILES:
        raise _bad(f"{root} holds more than {MAX_FILES} files")
    return out


def resolve_path(manifest: SiteManifest, request_path: str) -> str | None:
    """The manifest path that serves an HTTP request path, or None.

    ``/`` and paths ending in ``/`` serve their ``index.html``; a path
    without a match that names a directory serves its ``index.html`` too.
    """
    path = request_path or "/"
    candidates: Iterable[str]
    if path.endswith("/"):
        candidates = (path + "index.html",)
    else:
        candidates = (path, path + "/index.html")
    for c in candidates:
        if c in manifest.files:
            return c
    return None
