"""The shop demo's lying-peer round on real node processes (``examples.shop.liar``).

A lying node process (``note_compute.testing.lying_node``) joins a local network
of 4 nodes with an id that makes it a replica of the word-index shard of 'lamp';
asked first, it hides a match and signs it: the buyer's client convicts it,
blocks it, the ring keeps the proof, and the answer equals the honest one. The
node is stopped gracefully after the round, and also when the block fails.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

pytestmark = pytest.mark.slow


def test_the_shop_liar_round_convicts_a_real_lying_node(tmp_path: Path) -> None:
    trio.run(_round, tmp_path)


async def _round(tmp: Path) -> None:
    from examples.demo import embedded_network
    from examples.shop.catalog import generate
    from examples.shop.liar import ring_liar_round
    from examples.shop.shop import publish_shop
    from note_compute.crypto import SigningKey
    from note_compute.devnet import devnet_peers
    from note_compute.sandbox import Sandbox
    from note_compute.testing.lying_node import lying_node

    key = SigningKey(hashlib.sha256(b"shop-liar-ring-test").digest())
    with Sandbox() as sandbox:
        async with embedded_network(4, tmp, lambda s: None) as net:
            await publish_shop(net.client, key, generate(200, seed=3), ready_timeout=60.0)
            r = await ring_liar_round(net, sandbox, key.authority)
            assert r["frauds"] >= 1 and r["lies"] == ["hidden-match"], r
            assert r["convicted"] and r["blocked"] and r["complete"], r
            assert r["stored"] >= 1, r  # the nodes re-checked the proof before keeping it under the liar's id
            assert r["exit"] == 0, r  # SIGTERM: it left the ring gracefully
            with pytest.raises(ProcessLookupError):
                os.kill(r["pid"], 0)
            assert r["liar"] not in {p.id_bytes.hex() for p in devnet_peers(net.devnet)}

            # an error inside the block still stops the node
            with pytest.raises(RuntimeError, match="boom"):
                async with lying_node(net.devnet.bootstrap, tmp / "again", lie="forge") as liar:
                    proc = liar.proc
                    assert proc.poll() is None
                    raise RuntimeError("boom")
            assert proc.returncode == 0 and not (tmp / "again" / "node.json").exists()
            assert (tmp / "again" / "lie").read_text() == "forge"
