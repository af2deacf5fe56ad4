"""Pure cores never import trio, libp2p or wasmtime (checked in a fresh interpreter)."""

import subprocess
import sys

PURE = [
    "note_compute.errors", "note_compute.domains", "note_compute.encoding", "note_compute.crypto",
    "note_compute.urls", "note_compute.records", "note_compute.blobs", "note_compute.merkle",
    "note_compute.ring", "note_compute.programs", "note_compute.sandbox.abi",
    "note_compute.compute.dataset", "note_compute.compute.protocol", "note_compute.compute.verify",
    "note_compute.compute.fraud", "note_compute.compute.audit", "note_compute.compute.evidence",
    "note_compute.inbox", "note_compute.compute.session", "note_compute.compute.actions",
    "note_compute.compute.reconcile", "note_compute.compute.result", "note_compute.compute.session_state",
    "note_compute.compute.session_fetch", "note_compute.program_interface", "note_compute.localnet",
]
FORBIDDEN = ("trio", "libp2p", "wasmtime")


def test_pure_cores_import_no_io_runtime():
    code = (
        "import importlib, sys\n"
        f"for m in {PURE!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure modules pulled in: {out.stdout.strip()}"
