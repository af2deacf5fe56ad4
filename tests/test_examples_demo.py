"""`make demo` (python -m examples.demo): the shop then the dating demo on one real local network."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_examples_demo_runs_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "examples.demo", "--nodes", "4", "--products", "300"],
                         check=False, capture_output=True, text=True, timeout=400, cwd=ROOT,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
                              "NOTE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for expected in ("the ring of 4 nodes is stable", "proven-complete text search (word index)",
                     "audited predicate search", "refused: search 'lamp'", "cart saved as a signed record",
                     "order processor: confirmed", "was already processed (replayed)", "over-stock order rejected",
                     "fraud proof(s) (hidden-match)", "answer still complete: True", "network stopped",
                     "demo finished"):
        assert expected in text, f"missing {expected!r} in demo output:\n{text}"
