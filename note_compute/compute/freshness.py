"""The newest dataset seq this client has seen, remembered across runs (no rollback).

A client never accepts a manifest older than the newest it has seen for the
same dataset URL (``specs/compute.md``, "Freshness"). :class:`Freshness`
keeps that map in memory; with a ``path`` it is also a small JSON file
(``$NOTE_HOME/freshness.json`` from :meth:`Freshness.at_home`), read once
and rewritten atomically (temporary file, fsync, rename) on every change, so
a crash leaves the old file or the new one, never a torn one. A corrupt or
unreadable file is refused loudly (KeyStoreError-like InvalidRecord), not
silently reset: resetting would re-open the rollback it guards against.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import InvalidRecord

__all__ = ["FRESHNESS_FILE", "MAX_ENTRIES", "Freshness"]

FRESHNESS_FILE = "freshness.json"
MAX_ENTRIES = 100_000


class Freshness:
    """Dataset URL -> newest seq seen (see the module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._seen: dict[str, int] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise InvalidRecord(f"{path}: unreadable freshness file: {exc}", reason="freshness-file") from exc
            if not (isinstance(data, dict) and all(isinstance(k, str) and type(v) is int and 0 <= v < 2**63
                                                   for k, v in data.items())):
                raise InvalidRecord(f"{path}: freshness file is not a map of URL to seq", reason="freshness-file")
            self._seen = dict(data)

    @classmethod
    def at_home(cls, home: Path | None = None) -> Freshness:
        """The store under ``home`` (default ``$NOTE_HOME``, else ``~/.note-compute``)."""
        if home is None:
            env = os.environ.get("NOTE_HOME")
            home = Path(env) if env else Path.home() / ".note-compute"
        return cls(home / FRESHNESS_FILE)

    def newest(self, url: str) -> int | None:
        return self._seen.get(url)

    def saw(self, url: str, seq: int) -> None:
        """Remember ``seq`` for ``url`` if it is newer than what was seen."""
        if seq <= self._seen.get(url, -1):
            return
        self._seen[url] = seq
        if len(self._seen) > MAX_ENTRIES:  # keep the file bounded: drop the oldest-inserted entries
            for k in list(self._seen)[: len(self._seen) - MAX_ENTRIES]:
                del self._seen[k]
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".freshness-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._seen, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
