"""On-disk cache of compiled modules this process compiled itself.

``Module.deserialize`` runs native code without validation, so it must only
ever see artifacts produced by ``Module.serialize`` on this machine, never
bytes from a peer. Each artifact is stored as ``<wasm sha256>.<tag>.cwasm``
next to ``<...>.sum``, which holds the SHA-256 of the artifact as written; a
load re-hashes the artifact and refuses (and deletes) it on any mismatch, so a
truncated or corrupted file is recompiled rather than loaded. The ``tag``
names the engine version and configuration, so an artifact from another
wasmtime or config is never offered to ``deserialize``. The directory is
created private (0700): it must not be writable by anyone but this node.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import wasmtime

__all__ = ["ArtifactCache"]


class ArtifactCache:
    """A directory of serialized modules keyed by the wasm binary's SHA-256."""

    def __init__(self, directory: Path, tag: str) -> None:
        self.directory = Path(directory)
        self.tag = tag
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _paths(self, digest: bytes) -> tuple[Path, Path]:
        stem = f"{digest.hex()}.{self.tag}"
        return self.directory / f"{stem}.cwasm", self.directory / f"{stem}.sum"

    def load(self, engine: wasmtime.Engine, digest: bytes) -> wasmtime.Module | None:
        """The cached module for ``digest``, or None (missing, corrupted or unusable)."""
        art_path, sum_path = self._paths(digest)
        try:
            artifact = art_path.read_bytes()
            expected = sum_path.read_text().strip()
        except OSError:
            return None
        if hashlib.sha256(artifact).hexdigest() != expected:
            self._drop(digest)
            return None
        try:
            return wasmtime.Module.deserialize(engine, artifact)
        except wasmtime.WasmtimeError:
            self._drop(digest)
            return None

    def save(self, digest: bytes, artifact: bytes | bytearray) -> None:
        """Store ``artifact`` atomically (write to a temp file, then rename). Errors are ignored."""
        art_path, sum_path = self._paths(digest)
        artifact = bytes(artifact)
        try:
            _atomic_write(art_path, artifact)
            _atomic_write(sum_path, hashlib.sha256(artifact).hexdigest().encode())
        except OSError:
            self._drop(digest)

    def _drop(self, digest: bytes) -> None:
        for p in self._paths(digest):
            try:
                p.unlink()
            except OSError:
                pass


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
