"""keystore: file modes, no silent overwrite, clear refusals."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from note_compute import keystore
from note_compute.crypto import SigningKey
from note_compute.errors import KeyStoreError


def _reason(fn, *args, **kw) -> str | None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyStoreError) as e:
        fn(*args, **kw)
    assert str(e.value)
    return e.value.reason


def test_create_load_list(tmp_path: Path) -> None:
    k = keystore.create_key("site", home=tmp_path)
    assert keystore.load_key("site", home=tmp_path).public_key == k.public_key
    keystore.create_key("a-2.b_c", home=tmp_path, seed=bytes(32))
    assert keystore.list_keys(home=tmp_path) == ["a-2.b_c", "site"]
    assert keystore.load_key("a-2.b_c", home=tmp_path).authority == SigningKey(bytes(32)).authority


def test_modes(tmp_path: Path) -> None:
    old = os.umask(0)  # the file mode must not depend on a permissive umask
    try:
        keystore.create_key("site", home=tmp_path)
    finally:
        os.umask(old)
    path = keystore.key_path("site", tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["site.key"]  # no temporary left behind


def test_file_format(tmp_path: Path) -> None:
    k = keystore.create_key("site", home=tmp_path, seed=bytes(range(32)))
    doc = json.loads(keystore.key_path("site", tmp_path).read_text())
    assert doc == {"version": 1, "algorithm": "ed25519", "seed": bytes(range(32)).hex(), "authority": k.authority}


def test_never_overwrites(tmp_path: Path) -> None:
    k = keystore.create_key("site", home=tmp_path)
    assert _reason(keystore.create_key, "site", home=tmp_path) == "exists"
    assert keystore.load_key("site", home=tmp_path).public_key == k.public_key


def test_env_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path / "h"))
    keystore.create_key("x")
    assert (tmp_path / "h" / "keys" / "x.key").exists()
    monkeypatch.delenv("NOTE_HOME")
    assert keystore.note_home() == Path.home() / ".note-compute"


@pytest.mark.parametrize("name", ["", "-x", ".x", "..", "a/b", "A", "x" * 65, "a b", "é", "a\x00"])
def test_bad_names(tmp_path: Path, name: str) -> None:
    assert _reason(keystore.create_key, name, home=tmp_path) == "name"
    assert _reason(keystore.load_key, name, home=tmp_path) == "name"
    assert not (tmp_path / "keys").exists() or list((tmp_path / "keys").iterdir()) == []


def test_missing(tmp_path: Path) -> None:
    assert _reason(keystore.load_key, "nope", home=tmp_path) == "missing"
    assert keystore.list_keys(home=tmp_path) == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_other_access_is_refused(tmp_path: Path, mode: int) -> None:
    keystore.create_key("site", home=tmp_path)
    path = keystore.key_path("site", tmp_path)
    os.chmod(path, mode)
    with pytest.raises(KeyStoreError) as e:
        keystore.load_key("site", home=tmp_path)
    assert e.value.reason == "permissions" and "chmod 600" in str(e.value)


def test_symlink_is_refused(tmp_path: Path) -> None:
    keystore.create_key("real", home=tmp_path)
    os.symlink(keystore.key_path("real", tmp_path), keystore.key_path("link", tmp_path))
    assert _reason(keystore.load_key, "link", home=tmp_path) in ("io", "malformed")
    assert _reason(keystore.create_key, "link", home=tmp_path) == "exists"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "algorithm": "ed25519"}',
        b'{"version": 1, "algorithm": "ed25519", "seed": "00"}',
        json.dumps({"version": 1, "algorithm": "ed25519", "seed": "00" * 32, "authority": "x"}).encode(),
        json.dumps({"version": 1, "algorithm": "ed25519", "seed": "AA" * 32}).encode(),
        b"{" + b" " * 5000 + b"}",
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes) -> None:
    d = tmp_path / "keys"
    d.mkdir(mode=0o700)
    path = d / "bad.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    assert _reason(keystore.load_key, "bad", home=tmp_path) == "malformed"


def test_list_ignores_other_files(tmp_path: Path) -> None:
    keystore.create_key("ok", home=tmp_path)
    (tmp_path / "keys" / "README").write_text("x")
    (tmp_path / "keys" / "Bad Name.key").write_text("x")
    assert keystore.list_keys(home=tmp_path) == ["ok"]


def test_group_writable_key_directory_is_refused(tmp_path: Path) -> None:
    keystore.create_key("site", home=tmp_path)
    os.chmod(tmp_path / "keys", 0o775)
    with pytest.raises(KeyStoreError) as e:
        keystore.load_key("site", home=tmp_path)
    assert e.value.reason == "permissions" and "chmod 700" in str(e.value)
    os.chmod(tmp_path / "keys", 0o755)  # readable is fine: the file itself is 0600
    keystore.load_key("site", home=tmp_path)
