"""Frozen ring wire formats (specs/vectors/ring.json): decode and validate every vector."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from note_compute.encoding import decode, encode
from note_compute.ring import messages as m
from note_compute.ring.ids import node_id

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "specs" / "vectors" / "ring.json").read_text())


def test_node_id_vector() -> None:
    pk = bytes.fromhex(VECTORS["node_id"]["public_key"])
    assert node_id(pk).to_bytes(32, "big").hex() == VECTORS["node_id"]["id"]
    assert hashlib.sha256(pk).hexdigest() == VECTORS["node_id"]["id"]


def test_every_message_vector_decodes_validates_and_reencodes() -> None:
    names = set()
    for v in VECTORS["messages"]:
        raw = bytes.fromhex(v["encoded"])
        msg = decode(raw)
        assert encode(msg) == raw
        if msg["op"].endswith(".reply"):
            m.parse_reply(msg)
        else:
            m.parse_request(msg)
        names.add(msg["op"])
    # Every request and its reply is frozen.
    assert names == set(m.REQUEST_OPS) | {m.reply_op(op) for op in m.REQUEST_OPS}


def test_generator_is_current() -> None:
    import subprocess
    import sys

    gen = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "gen_ring.py"
    assert subprocess.run([sys.executable, str(gen), "--check"]).returncode == 0
