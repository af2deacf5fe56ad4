"""The async body of ``note-compute devnet`` and the helpers tests, demo and benchmarks share."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from ..ring.ids import PeerRef
from .datadir import note_home
from .devnet import DEVNET_FILE, Devnet, ring_is_stable, wait_until

__all__ = ["run_devnet", "wait_stable", "devnet_peers", "expected_replicas", "holders", "DEVNET_NODE_ARGS"]

DEVNET_NODE_ARGS = ["--stabilize-interval", "0.5", "--replicate-interval", "2", "--request-timeout", "1"]
"""Faster stabilization and anti-entropy than a real deployment: a devnet is small and local."""


def devnet_peers(net: Devnet) -> list[PeerRef]:
    """PeerRefs of the devnet's live nodes (from their node.json)."""
    return [PeerRef(int.from_bytes(n.node_id, "big"), n.addr) for n in net.live() if n.info]


async def wait_stable(net: Devnet, client: object, timeout: float, replicas: int = 3) -> None:
    """Wait until the live nodes' successor/predecessor pointers form one correct ring
    and every node knows the arc it must hold. The Timeout says which nodes are off."""
    from ..errors import Timeout
    from .cli_ops import collect_status

    last: dict[bytes, dict[str, Any]] = {}
    peers: list[PeerRef] = []

    async def stable() -> bool:
        nonlocal last, peers
        peers = devnet_peers(net)
        last = await collect_status(client, peers, timeout=2.0)
        return len(last) == len(peers) and ring_is_stable(last, replicas)

    try:
        await wait_until(stable, timeout, interval=0.25, what="a stable ring")
    except Timeout as exc:
        raise Timeout(f"{exc.message}: {describe_ring(peers, last, replicas)}") from None


def _short(b: object) -> str:
    return b.hex()[:8] if isinstance(b, bytes) else str(b)


def describe_ring(peers: list[PeerRef], statuses: dict[bytes, dict[str, Any]], replicas: int = 3) -> str:
    """Which nodes disagree with the correct ring (for error messages)."""
    ids = sorted(p.id_bytes for p in peers)
    n = len(ids)
    bad = []
    for i, nid in enumerate(ids):
        st = statuses.get(nid)
        if st is None:
            bad.append(f"{nid.hex()[:8]}: no status")
            continue
        want = (ids[(i + 1) % n], ids[i - 1], [ids[(i - replicas) % n], nid] if n > replicas else None)
        got = (st.get("successor"), st.get("predecessor"), st.get("held") if n > replicas else None)
        if want != got:
            bad.append(
                f"{nid.hex()[:8]} ({st.get('state')}): succ {_short(got[0])} want {_short(want[0])}, "
                f"pred {_short(got[1])} want {_short(want[1])}"
                + ("" if got[2] == want[2] or want[2] is None
                   else f", held from {_short((got[2] or [None])[0])} want {_short(want[2][0])}")
            )
    return "; ".join(bad) or "all nodes agree"


async def run_devnet(n: int, base_dir: Path | None, timeout: float) -> None:
    """Start N nodes, wait for a stable ring, write devnet.json, run until SIGINT/SIGTERM."""
    from ..client import open_client

    home = note_home()
    home.mkdir(parents=True, exist_ok=True)
    keep = base_dir is not None
    if base_dir is None:
        base_dir = Path(tempfile.mkdtemp(prefix="devnet-", dir=home))
    net = Devnet(base_dir, n, node_args=DEVNET_NODE_ARGS)
    manifest = home / DEVNET_FILE
    t0 = time.monotonic()
    wrote = False
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:
                async def watch() -> None:
                    async for _ in signals:
                        break
                    print("devnet: stopping...", flush=True)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                await net.start(timeout=timeout)
                async with open_client(net.bootstrap) as client:
                    await wait_stable(net, client, timeout)
                net.write_manifest()
                wrote = True
                print(f"devnet: {n} nodes stable in {time.monotonic() - t0:.1f} s; bootstrap {net.bootstrap[0]}; "
                      f"data in {base_dir}; {manifest} written; Ctrl-C to stop", flush=True)
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                if wrote:
                    manifest.unlink(missing_ok=True)
                await net.stop()
                if not keep:
                    shutil.rmtree(base_dir, ignore_errors=True)
    print("devnet: stopped" + ("" if not keep else f"; data kept in {base_dir}"), flush=True)


def expected_replicas(node_ids: list[bytes], key: bytes, r: int = 3) -> list[bytes]:
    """The r node ids responsible for ``key`` on a ring of ``node_ids``: its successor and the next r - 1."""
    ids = sorted(node_ids)
    start = next((i for i, nid in enumerate(ids) if nid >= key), 0)
    return [ids[(start + j) % len(ids)] for j in range(min(r, len(ids)))]


async def holders(client: object, peers: list[PeerRef], key: bytes, timeout: float = 2.0) -> set[bytes]:
    """Ids of the peers that answer ``store.get`` for ``key`` with an entry."""
    from ..errors import NoteError
    from .storage import get_msg

    out: set[bytes] = set()

    async def one(p: PeerRef) -> None:
        try:
            await client.request(p, get_msg(key), timeout)  # type: ignore[attr-defined]
            out.add(p.id_bytes)
        except NoteError:
            pass

    async with trio.open_nursery() as nursery:
        for p in peers:
            nursery.start_soon(one, p)
    return out
