"""A node's data directory.

Layout (created on first use)::

    DATA_DIR/node.key       the node's 32-byte Ed25519 seed, mode 0600
    DATA_DIR/store.sqlite   the record store (see specs/store.md)
    DATA_DIR/node.json      written while the node runs: listen addrs, pid, node id

The seed fixes the node's libp2p identity and therefore its place on the
ring (node id = SHA-256 of the public key), so a node restarted on the same
directory comes back at the same position and serves what it stored.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KeyStoreError

__all__ = ["DataDir", "note_home"]

_SEED_SIZE = 32


def note_home(home: Path | None = None) -> Path:
    """``home`` if given, else ``$NOTE_HOME``, else ``~/.note-compute`` (as the key store)."""
    from ..keystore import note_home as _home

    return _home(home)


@dataclass(frozen=True)
class DataDir:
    """Paths and small files of one node's data directory."""

    path: Path

    @property
    def key_path(self) -> Path:
        return self.path / "node.key"

    @property
    def store_path(self) -> Path:
        return self.path / "store.sqlite"

    @property
    def info_path(self) -> Path:
        return self.path / "node.json"

    def create(self) -> None:
        """Create the directory (mode 0700) if it does not exist."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load_or_create_seed(self) -> bytes:
        """Return the node's seed, creating ``node.key`` (0600) on first use.

        Raises :class:`KeyStoreError` if the file exists but is malformed or
        readable by group/others.
        """
        self.create()
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read_seed()
        seed = os.urandom(_SEED_SIZE)
        with os.fdopen(fd, "wb") as f:
            f.write(seed)
        return seed

    def _read_seed(self) -> bytes:
        mode = self.key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyStoreError(
                f"{self.key_path} is readable by group or others (mode {oct(mode & 0o777)}); chmod 600 it",
                reason="bad-permissions",
            )
        seed = self.key_path.read_bytes()
        if len(seed) != _SEED_SIZE:
            raise KeyStoreError(f"{self.key_path} is not a 32-byte seed", reason="malformed")
        return seed

    def write_info(self, info: dict[str, Any]) -> None:
        """Atomically write ``node.json`` (so a reader never sees half a file)."""
        tmp = self.info_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True))
        os.replace(tmp, self.info_path)

    def read_info(self) -> dict[str, Any] | None:
        """The running node's ``node.json``, or None if absent or unreadable."""
        try:
            info: dict[str, Any] | None = json.loads(self.info_path.read_text())
            return info
        except (OSError, ValueError):
            return None

    def remove_info(self) -> None:
        try:
            self.info_path.unlink()
        except FileNotFoundError:
            pass
