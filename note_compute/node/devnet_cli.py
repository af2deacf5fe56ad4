"""The async body of ``note-compute devnet`` and the helpers tests, demo and benchmarks share."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

import trio

from ..ring.ids import PeerRef
from .devnet import DEVNET_FILE, Devnet, ring_is_stable, wait_until
from .datadir import note_home

__all__ = ["run_devnet", "wait_stable", "devnet_peers", "DEVNET_NODE_ARGS"]

DEVNET_NODE_ARGS = ["--stabilize-interval", "0.5", "--replicate-interval", "2"]
"""Faster stabilization and anti-entropy than a real deployment: a devnet is small and local."""


def devnet_peers(net: Devnet) -> list[PeerRef]:
    """PeerRefs of the devnet's live nodes (from their node.json)."""
    return [PeerRef(int.from_bytes(n.node_id, "big"), n.addr) for n in net.live() if n.info]


async def wait_stable(net: Devnet, client: object, timeout: float) -> None:
    """Wait until the live nodes' successor/predecessor pointers form one correct ring."""
    from .cli_ops import collect_status

    async def stable() -> bool:
        peers = devnet_peers(net)
        statuses = await collect_status(client, peers, timeout=2.0)
        return len(statuses) == len(peers) and ring_is_stable(statuses)

    await wait_until(stable, timeout, interval=0.25, what="a stable ring")


async def run_devnet(n: int, base_dir: Path | None, timeout: float) -> None:
    """Start N nodes, wait for a stable ring, write devnet.json, run until SIGINT/SIGTERM."""
    from ..client import open_client

    home = note_home()
    home.mkdir(parents=True, exist_ok=True)
    if base_dir is None:
        base_dir = Path(tempfile.mkdtemp(prefix="devnet-", dir=home))
    net = Devnet(base_dir, n, node_args=DEVNET_NODE_ARGS)
    manifest = home / DEVNET_FILE
    t0 = time.monotonic()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            await net.start(timeout=timeout)
            async with open_client(net.bootstrap) as client:
                await wait_stable(net, client, timeout)
            net.write_manifest()
            print(f"devnet: {n} nodes stable in {time.monotonic() - t0:.1f} s; bootstrap {net.bootstrap[0]}; "
                  f"data in {base_dir}; {manifest} written; Ctrl-C to stop", flush=True)
            async for _ in signals:
                break
            print("devnet: stopping...", flush=True)
        finally:
            with trio.CancelScope(shield=True):
                try:
                    manifest.unlink()
                except FileNotFoundError:
                    pass
                await net.stop()
    print("devnet: stopped", flush=True)
