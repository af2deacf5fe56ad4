"""Build every contract in contracts/ to wasm32 reproducibly and check SHA256SUMS.

Usage::

    python contracts/build.py            # build, compare with SHA256SUMS (exit 1 on mismatch)
    python contracts/build.py --update   # build and rewrite SHA256SUMS
    python contracts/build.py --check    # build into a temp dir and compare; leaves files alone

The compiler is the pinned ``ziglang`` wheel from PyPI (``python -m ziglang
cc``); ``-g0 -s`` strip the debug info that would embed build paths. The
same sources and the same ziglang version give byte-identical ``.wasm`` files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTRACTS = ("shop_search", "shop_find", "psi_match", "echo", "dating_deck")
ZIGLANG_VERSION = "0.17.1"
CFLAGS = (
    "-target", "wasm32-freestanding",
    "-mcpu=mvp+bulk_memory+mutable_globals+sign_ext+nontrapping_fptoint",
    "-O2", "-g0", "-s",
    "-nostdlib",
    "-fno-builtin",
    "-ffreestanding",
    "-std=c11",
    "-Wall", "-Werror",
    "-Wl,--no-entry",
    "-Wl,--strip-all",
    "-Wl,-z,stack-size=65536",
)


def build_one(name: str, out_dir: Path, cache_dir: Path | None = None, src_dir: Path = HERE) -> Path:
    """Compile contracts/NAME.c to OUT_DIR/NAME.wasm; return the path.

    ``cache_dir``: zig's cache directories (default: a fresh temporary one,
    so a build never reuses objects from an earlier compiler or source).
    """
    src = src_dir / f"{name}.c"
    out = out_dir / f"{name}.wasm"
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(cache_dir or tmp)
        env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": cache, "ZIG_LOCAL_CACHE_DIR": cache}
        # Relative source path and cwd=src_dir: nothing about the checkout location reaches the compiler.
        cmd = [sys.executable, "-m", "ziglang", "cc", *CFLAGS, "-o", str(out), src.name]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=src_dir)
    if proc.returncode != 0:
        raise SystemExit(f"building {name} failed:\n{proc.stderr}")
    return out


def read_sums(path: Path) -> dict[str, str]:
    """Parse a SHA256SUMS file (``hex  name`` per line)."""
    sums: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                digest, name = line.split()
                sums[name] = digest
    return sums


def check_ziglang() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        got = version("ziglang")
    except PackageNotFoundError:
        raise SystemExit("ziglang is not installed: pip install 'note-compute[contracts]'") from None
    if got != ZIGLANG_VERSION:
        raise SystemExit(f"ziglang {got} installed, contracts are pinned to {ZIGLANG_VERSION}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--update", action="store_true", help="rewrite SHA256SUMS from this build")
    mode.add_argument("--check", action="store_true", help="build into a temp dir, compare, change nothing")
    args = ap.parse_args(argv)
    check_ziglang()
    sums_path = HERE / "SHA256SUMS"
    expected = read_sums(sums_path)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) if args.check else HERE
        built = {f"{n}.wasm": hashlib.sha256(build_one(n, out_dir).read_bytes()).hexdigest() for n in CONTRACTS}
    if args.update or not expected:
        sums_path.write_text("".join(f"{d}  {n}\n" for n, d in sorted(built.items())))
        for n, d in sorted(built.items()):
            print(f"{d}  {n}")
        return 0
    bad = [n for n, d in built.items() if expected.get(n) != d]
    for n, d in sorted(built.items()):
        print(f"{d}  {n}  {'OK' if n not in bad else 'MISMATCH (expected ' + str(expected.get(n)) + ')'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
