"""`note-compute devnet` and `note-compute node` as processes, the way a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute.cli import main as cli_main

pytestmark = pytest.mark.slow


def test_devnet_command_runs_writes_manifest_and_stops_cleanly(tmp_path: Path) -> None:
    """`note-compute devnet --nodes 3` as a user runs it: manifest, put/get with no flags, SIGTERM stops all."""
    home = tmp_path / "home"
    env = {**os.environ, "NOTE_HOME": str(home)}
    exe = str(Path(sys.executable).with_name("note-compute"))
    proc = subprocess.Popen([exe, "devnet", "--nodes", "3", "--dir",
                             str(tmp_path / "nodes")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        manifest = home / "devnet.json"
        deadline = time.monotonic() + 60
        while not manifest.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "devnet did not become stable"
            time.sleep(0.2)
        info = json.loads(manifest.read_text())
        assert len(info["nodes"]) == 3 and info["bootstrap"]
        pids = [n["pid"] for n in info["nodes"]]
        runner = CliRunner()
        cenv = {"NOTE_HOME": str(home)}
        authority = runner.invoke(cli_main, ["key", "new", "k"], env=cenv).output.strip().splitlines()[-1]
        f = tmp_path / "v.txt"
        f.write_bytes(b"via the devnet command")
        assert runner.invoke(cli_main, ["put", f"note://{authority}/v", str(f), "--key", "k"], env=cenv).exit_code == 0
        res = runner.invoke(cli_main, ["get", f"note://{authority}/v"], env=cenv)
        assert res.exit_code == 0 and res.stdout_bytes == b"via the devnet command"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert b"stable" in out and b"stopped" in out
        assert not manifest.exists()
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert (tmp_path / "nodes" / "node-00" / "node.key").exists()  # --dir keeps the data
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
