"""``python -m note_compute.node ARGS``: the same as ``note-compute node ARGS`` (devnet uses it)."""

from __future__ import annotations

from ..cli.node import node_cmd

if __name__ == "__main__":
    node_cmd(prog_name="note-compute node")
