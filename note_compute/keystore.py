"""Signing keys on disk under ``$NOTE_HOME/keys/NAME.key``.

``$NOTE_HOME`` defaults to ``~/.note-compute``. The ``keys`` directory is
created with mode 0700 and each key file with mode 0600 (``os.open`` with
that mode, written to a temporary file and hard-linked into place, so a key
is never overwritten and never half-written). Loading refuses a file that
group or others can read or write, a ``keys`` directory that group or
others can write, a symlink, or a malformed file.

A key file is UTF-8 JSON::

    {"version": 1, "algorithm": "ed25519", "seed": "<64 hex>", "authority": "<52 base32>"}

``authority`` is redundant (derived from the seed) and checked on load.
Key names: 1 to 64 characters from ``a-z 0-9 . _ -``, starting with a letter
or digit.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from .crypto import SigningKey
from .errors import KeyStoreError

__all__ = ["note_home", "keys_dir", "key_path", "validate_name", "create_key", "load_key", "list_keys"]

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_SUFFIX = ".key"
_MAX_FILE_SIZE = 4096


def note_home(home: Path | str | None = None) -> Path:
    """``home`` if given, else ``$NOTE_HOME``, else ``~/.note-compute``."""
    if home is not None:
        return Path(home)
    env = os.environ.get("NOTE_HOME")
    return Path(env) if env else Path.home() / ".note-compute"


def keys_dir(home: Path | str | None = None) -> Path:
    """The directory holding key files."""
    return note_home(home) / "keys"


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid key name, else raise KeyStoreError."""
    if type(name) is not str or _NAME_RE.match(name) is None:
        raise KeyStoreError(
            f"invalid key name {str(name)[:80]!r}: "
            "use 1-64 characters from a-z 0-9 . _ - starting with a letter or digit",
            reason="name",
        )
    return name


def key_path(name: str, home: Path | str | None = None) -> Path:
    """Path of key ``name``'s file (validated name; the file may not exist)."""
    return keys_dir(home) / (validate_name(name) + _SUFFIX)


def _ensure_dir(home: Path | str | None) -> Path:
    d = keys_dir(home)
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(d)
    except OSError as exc:
        raise KeyStoreError(f"cannot create key directory {d}: {exc.strerror}", reason="io") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise KeyStoreError(f"{d} is not a directory", reason="io")
    return d


def _serialize(key: SigningKey) -> bytes:
    doc = {"version": 1, "algorithm": "ed25519", "seed": key.seed.hex(), "authority": key.authority}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def create_key(name: str, *, home: Path | str | None = None, seed: bytes | None = None) -> SigningKey:
    """Create key ``name`` (random unless ``seed`` is given) and write it with mode 0600.

    Raises KeyStoreError (reason ``"exists"``) if the key already exists.
    """
    path = key_path(name, home)
    key = SigningKey(seed) if seed is not None else SigningKey.generate()
    d = _ensure_dir(home)
    if path.exists() or path.is_symlink():
        raise KeyStoreError(f"key {name!r} already exists ({path}); refusing to overwrite it", reason="exists")
    tmp = d / f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)  # in case the umask or filesystem widened it
            os.write(fd, _serialize(key))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists
        except FileExistsError as exc:
            raise KeyStoreError(
                f"key {name!r} already exists ({path}); refusing to overwrite it", reason="exists"
            ) from exc
    except OSError as exc:
        raise KeyStoreError(f"cannot write key {name!r}: {exc.strerror}", reason="io") from exc
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return key


def load_key(name: str, *, home: Path | str | None = None) -> SigningKey:
    """Load key ``name``; raises KeyStoreError (missing, permissions, malformed)."""
    path = key_path(name, home)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError as exc:
        raise KeyStoreError(
            f"no key named {name!r} (looked for {path}); create it with 'note-compute key new {name}'", reason="missing"
        ) from exc
    except OSError as exc:
        raise KeyStoreError(f"cannot open key {name!r} ({path}): {exc.strerror}", reason="io") from exc
    try:
        st = os.fstat(fd)
        dir_mode = os.stat(path.parent).st_mode
        if dir_mode & 0o022:
            raise KeyStoreError(
                f"key directory {path.parent} is writable by group or others (mode {stat.S_IMODE(dir_mode):04o}), "
                f"so its keys could be swapped; run 'chmod 700 {path.parent}'",
                reason="permissions",
            )
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"key file {path} is not a regular file", reason="malformed")
        if st.st_mode & 0o077:
            raise KeyStoreError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run 'chmod 600 {path}'",
                reason="permissions",
            )
        raw = os.read(fd, _MAX_FILE_SIZE + 1)
    finally:
        os.close(fd)
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> SigningKey:
    def bad(why: str) -> KeyStoreError:
        return KeyStoreError(f"key file {path} is malformed: {why}", reason="malformed")

    if len(raw) > _MAX_FILE_SIZE:
        raise bad("too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad("not JSON") from exc
    if type(doc) is not dict:
        raise bad("not a JSON object")
    if doc.get("version") != 1 or doc.get("algorithm") != "ed25519":
        raise bad("unsupported version or algorithm")
    seed_hex = doc.get("seed")
    if type(seed_hex) is not str or re.fullmatch(r"[0-9a-f]{64}", seed_hex) is None:
        raise bad("seed must be 64 lower-case hex digits")
    key = SigningKey(bytes.fromhex(seed_hex))
    if doc.get("authority") != key.authority:
        raise bad("authority does not match the seed")
    return key


def list_keys(*, home: Path | str | None = None) -> list[str]:
    """Names of the keys in the store, sorted (no key is loaded)."""
    d = keys_dir(home)
    try:
        entries = os.listdir(d)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise KeyStoreError(f"cannot list {d}: {exc.strerror}", reason="io") from exc
    names = []
    for entry in entries:
        if entry.endswith(_SUFFIX):
            name = entry[: -len(_SUFFIX)]
            if _NAME_RE.match(name):
                names.append(name)
    return sorted(names)
