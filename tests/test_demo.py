"""`make demo` (the README's first command) runs end to end and says what it showed."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "note_compute.demo"], capture_output=True, text=True,
                         timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for expected in ("is a stable ring", "signature verified", "verified=True", "completeness proven",
                     "fraud proof(s) (hidden-match)", "answer still right: True", "blob of 900000 bytes intact",
                     "demo finished"):
        assert expected in text, f"missing {expected!r} in demo output:\n{text}"
