#!/usr/bin/env python3
"""Generate specs/vectors/ring.json: frozen encodings of every ring message.

Run from the repository root:  python specs/vectors/gen_ring.py [--check]

Each vector is a message built by ``note_compute.ring.messages`` (or the
reply the core sends) and its canonical CBOR (RFC 8949 4.2.1) in hex. Before
writing, the script checks two things independently of note_compute: the
node id of a fixed Ed25519 public key against ``hashlib.sha256`` of the raw
key, and the bytes of ``{"op": "ring.ping"}`` against a hand-assembled CBOR
encoding (map of 1, text "op", text "ring.ping").

``--check`` regenerates in memory and exits 1 if the file on disk differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute.encoding import encode  # noqa: E402
from note_compute.ring import messages as m  # noqa: E402
from note_compute.ring.ids import PeerRef, node_id  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).with_name("ring.json")

# RFC 8032 section 7.1 TEST 1 public key (any 32 bytes would do; this one is published).
PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
A = PeerRef(node_id(PK), "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWA")
B = PeerRef(int.from_bytes(bytes(range(32)), "big"), "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWB")
C = PeerRef(int.from_bytes(b"\xff" * 32, "big"), "/ip4/127.0.0.1/tcp/4003/p2p/12D3KooWC")
KEY = (1 << 255) + 12345


def vectors() -> list[dict[str, object]]:
    msgs = [
        ("ping, anonymous", m.ping(None)),
        ("ping", m.ping(A)),
        ("ping reply", {"op": "ring.ping.reply", "id": A.id_bytes}),
        ("find", m.find(A, KEY, 8)),
        ("find, anonymous", m.find(None, KEY, 3)),
        ("find reply, successors", {"op": "ring.find.reply", "successors": [B.to_wire(), C.to_wire()], "closer": []}),
        ("find reply, closer", {"op": "ring.find.reply", "successors": [], "closer": [C.to_wire()]}),
        ("neighbours", m.neighbours(A)),
        (
            "neighbours reply",
            {"op": "ring.neighbours.reply", "predecessors": [B.to_wire()], "successors": [C.to_wire()]},
        ),
        ("notify", m.notify(A)),
        ("notify reply", {"op": "ring.notify.reply"}),
        ("leave", m.leave(A, [B], [C])),
        ("leave reply", {"op": "ring.leave.reply"}),
    ]
    return [{"name": name, "encoded": encode(msg).hex()} for name, msg in msgs]


def build() -> dict[str, object]:
    assert A.id == int.from_bytes(hashlib.sha256(PK).digest(), "big")
    hand = bytes([0xA1, 0x62]) + b"op" + bytes([0x69]) + b"ring.ping"
    assert encode(m.ping(None)) == hand, "canonical CBOR of {'op': 'ring.ping'} differs from the hand encoding"
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_ring.py",
            "checked_against": [
                "node id: hashlib.sha256 of the RFC 8032 7.1 TEST 1 public key",
                "ring.ping: hand-assembled CBOR a1 62 'op' 69 'ring.ping'",
            ],
            "spec": "specs/ring.md",
        },
        "node_id": {"public_key": PK.hex(), "id": A.id_bytes.hex()},
        "messages": vectors(),
    }


def render() -> str:
    return vectorgen.json_text(build(), sort_keys=True)


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
