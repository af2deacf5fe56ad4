"""The lying node's pieces that need no process: id grinding, liars-first ordering, lie names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from note_compute.devnet import expected_replicas
from note_compute.testing.lying_node import AskFirst, _mode_setter, grind_seed, node_id_of_seed, write_lie


def test_a_ground_seed_makes_the_node_a_replica_of_the_key() -> None:
    ring = [bytes([i * 40]) + bytes(31) for i in range(6)]
    for key in (bytes(32), b"\x55" * 32, b"\xff" * 32):
        seed = grind_seed(ring, key)
        nid = node_id_of_seed(seed)
        assert nid not in ring and nid in expected_replicas([*ring, nid], key, 3)
        assert grind_seed(ring, key) == seed  # deterministic
    with pytest.raises(ValueError, match="no seed among 0"):
        grind_seed(ring, bytes(32), tries=0)


async def test_ask_first_puts_the_named_peers_first() -> None:
    class Peer:
        def __init__(self, i: int) -> None:
            self.node_id = bytes([i]) * 32

    class Ring:
        other = "kept"

        async def replicas(self, key: bytes, count: int | None = None) -> list[Any]:
            return [Peer(i) for i in range(count or 3)]

    t = AskFirst(Ring(), {bytes([2]) * 32})
    assert [p.node_id[0] for p in await t.replicas(b"k")] == [2, 0, 1]
    assert [p.node_id[0] for p in await t.replicas(b"k", count=4)] == [2, 0, 1, 3]
    assert t.other == "kept"


def test_lie_names_are_checked(tmp_path: Path) -> None:
    class Peer:
        mode = "honest"

    set_mode, peer = _mode_setter(None), Peer()
    set_mode(peer, "hide_one")
    assert peer.mode == "hide_one"
    for bad in ("stale", "newer_hint", "nonsense"):  # the in-memory-only lies, and no lie at all
        with pytest.raises(ValueError, match="unknown lie"):
            set_mode(peer, bad)
    assert peer.mode == "hide_one"
    for bad in ("", "hide_one\nforge"):
        with pytest.raises(ValueError, match="not a lie name"):
            write_lie(tmp_path, bad)
    write_lie(tmp_path, "truncate")
    assert (tmp_path / "lie").read_text() == "truncate" and not (tmp_path / "lie.tmp").exists()
