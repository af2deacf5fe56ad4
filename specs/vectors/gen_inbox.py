#!/usr/bin/env python3
"""Generate specs/vectors/inbox.json: the frozen wire format of inboxes (specs/storage-rpc.md, "Inboxes").

Run from the repository root:  .venv/bin/python specs/vectors/gen_inbox.py
Re-running must reproduce the committed file byte for byte (Ed25519 signing is
deterministic); tests/test_inbox_vectors.py checks that and decodes and
verifies every vector. Change the file only with a deliberate wire change.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from note_compute import inbox  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OWNER = SigningKey(hashlib.sha256(b"note-compute/test-vectors/inbox/owner").digest())
SENDER = SigningKey(hashlib.sha256(b"note-compute/test-vectors/inbox/sender").digest())
NAME = "orders"
T = 1_796_000_000


def build() -> dict[str, Any]:
    key = inbox.inbox_key(OWNER.public_key, NAME)
    a = inbox.make_item(SENDER, OWNER.public_key, NAME, b"sealed order bytes", T)
    b = inbox.make_item(SENDER, OWNER.public_key, NAME, b"another", T + 1)
    r = inbox.make_removal(OWNER, NAME, [b.id], T + 2)
    merged = inbox.merge(inbox.InboxSet(OWNER.public_key, NAME, (a, b), ()),
                         inbox.InboxSet(OWNER.public_key, NAME, (), (r,)))
    return {
        "provenance": "specs/vectors/gen_inbox.py (deterministic Ed25519 keys from SHA-256 of fixed labels)",
        "owner_public_key": OWNER.public_key.hex(),
        "sender_public_key": SENDER.public_key.hex(),
        "name": NAME,
        "inbox_key": key.hex(),
        "item": {"hex": a.raw.hex(), "id": a.id.hex()},
        "removed_item": {"hex": b.raw.hex(), "id": b.id.hex()},
        "removal": {"hex": r.raw.hex()},
        "merged_set": {"hex": inbox.encode_set(merged).hex(), "live_ids": [x.id.hex() for x in merged.items]},
    }


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(HERE / "inbox.json", render))
