"""The README's "first hour" runs verbatim: its commands are read from README.md, not copied here.

The block runs in bash (``set -e``) from the repository root, with
``note-compute`` of this interpreter on PATH and a fresh NOTE_HOME, against
the local network it starts itself (``devnet -d``) and stops at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def first_hour_commands() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## The first hour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "README's first-hour section has no ```sh block"
    return blocks[0]


def test_first_hour_block_is_what_we_expect_to_run() -> None:
    block = first_hour_commands()
    assert block.strip().splitlines()[0].startswith("note-compute devnet -d")
    assert "note-compute devnet stop" in block.strip().splitlines()[-1]
    assert "examples/data/products.jsonl" in block and (ROOT / "examples/data/products.jsonl").exists()


@pytest.mark.slow
def test_readme_first_hour_runs_verbatim(tmp_path: Path) -> None:
    block = first_hour_commands()
    work = tmp_path / "clone"
    work.mkdir()
    # The commands name repository files (contracts/, examples/data/); run them from a directory
    # that holds exactly those, so outputs (products-copy.jsonl, hello.txt) land in tmp.
    for rel in ("contracts", "examples"):
        os.symlink(ROOT / rel, work / rel)
    home = tmp_path / "home"
    env = {**os.environ, "NOTE_HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    script = "set -euo pipefail\nset -x\n" + block
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run([sys.executable, "-m", "note_compute.cli", "devnet", "stop"], env=env, capture_output=True,
                       timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    # stderr holds the shell's trace (set -x) and the commands' own words: no log line of any library.
    said = [line for line in proc.stderr.splitlines() if not line.startswith("+")]
    assert said == ["exported 300 verified records to products-copy.jsonl"], said
    assert "Failed to open TCP stream" not in out  # no third-party log lines without -v
    assert "unknown argument" in (ROOT / "README.md").read_text()
    assert out.count("verified") >= 2, out[-4000:]
    assert "300 records in 3 shard(s)" in out
    assert "hello ring" in proc.stdout
    exported = [json.loads(line) for line in (work / "products-copy.jsonl").read_text().splitlines()]
    original = [json.loads(line) for line in (ROOT / "examples/data/products.jsonl").read_text().splitlines()]
    assert sorted(exported, key=lambda p: p["id"]) == sorted(original, key=lambda p: p["id"])
    assert "stopped the local network" in out
