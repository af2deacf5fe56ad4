"""Contracts build byte-for-byte reproducibly with the pinned ziglang."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("contracts_build", CONTRACTS / "build.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _build_module()


def test_committed_binaries_match_sha256sums() -> None:
    sums = build.read_sums(CONTRACTS / "SHA256SUMS")
    assert set(sums) == {f"{n}.wasm" for n in build.CONTRACTS}
    for name, digest in sums.items():
        assert hashlib.sha256((CONTRACTS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.slow
def test_rebuild_elsewhere_is_byte_identical(tmp_path: Path) -> None:
    # Build from a copy of the sources in a different directory, with fresh zig caches:
    # the bytes must still equal the committed SHA256SUMS.
    src = tmp_path / "some" / "other" / "checkout"
    src.mkdir(parents=True)
    for f in CONTRACTS.glob("*.[ch]"):
        shutil.copy(f, src)
    out = tmp_path / "out"
    out.mkdir()
    sums = build.read_sums(CONTRACTS / "SHA256SUMS")
    for name in build.CONTRACTS:
        built = build.build_one(name, out, cache_dir=tmp_path / f"cache-{name}", src_dir=src)
        assert hashlib.sha256(built.read_bytes()).hexdigest() == sums[f"{name}.wasm"], name
        assert built.read_bytes() == (CONTRACTS / f"{name}.wasm").read_bytes()


@pytest.mark.slow
def test_build_script_check_mode_passes_and_changes_nothing() -> None:
    before = {p.name: p.read_bytes() for p in CONTRACTS.iterdir() if p.is_file()}
    proc = subprocess.run([sys.executable, str(CONTRACTS / "build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" OK") == len(build.CONTRACTS)
    after = {p.name: p.read_bytes() for p in CONTRACTS.iterdir() if p.is_file()}
    assert before == after


@pytest.mark.slow
def test_check_mode_detects_a_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "SHA256SUMS"
    fake.write_text("".join(f"{'0' * 64}  {n}.wasm\n" for n in build.CONTRACTS))
    monkeypatch.setattr(build, "HERE", CONTRACTS)
    real_read = build.read_sums
    monkeypatch.setattr(build, "read_sums", lambda path: real_read(fake))
    assert build.main(["--check"]) == 1
