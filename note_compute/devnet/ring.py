"""Looking at a ring from outside: node statuses, ring correctness, replica sets.

Used by ``note-compute ring status``, the devnet supervisor (waiting for a
stable ring) and the tests, demo and benchmarks that run real nodes.
"""

from __future__ import annotations

from typing import Any

import trio

from ..errors import NoteError
from ..ring.ids import PeerRef
from .supervisor import Devnet, wait_until

__all__ = ["ring_is_stable", "describe_ring", "expected_replicas", "collect_status", "discover", "holders",
           "wait_stable", "devnet_peers"]


def ring_is_stable(statuses: dict[bytes, dict[str, Any]], replicas: int | None = None) -> bool:
    """True when the ``node.status`` replies of all nodes form one correct ring.

    ``statuses`` maps node id to that node's status reply; each reply has
    ``successor`` and ``predecessor`` (32-byte ids or None). The ring is
    correct when, in sorted id order, every node's successor is the next
    node and its predecessor the previous one (wrapping around). With
    ``replicas`` (r), each node must also know its ``held`` arc exactly,
    ``(p_r, me]`` (so replication pushes exactly the right keys), and, when
    the reply lists ``successors``, its first r successors must be the next r
    live nodes (a graceful leave hands records to exactly those).
    """
    ids = sorted(statuses)
    n = len(ids)
    if n == 1:
        return True
    for i, nid in enumerate(ids):
        st = statuses[nid]
        if st.get("successor") != ids[(i + 1) % n] or st.get("predecessor") != ids[i - 1]:
            return False
        if replicas is not None and n > replicas:
            if st.get("held") != [ids[(i - replicas) % n], nid]:
                return False
            if not _successors_ok(ids, i, st, replicas):
                return False
    return True


def _successors_ok(ids: list[bytes], i: int, st: dict[str, Any], replicas: int) -> bool:
    """True unless the reply lists ``successors`` and its first r are not the next r nodes."""
    succs = st.get("successors")
    if succs is None:
        return True
    want = [ids[(i + k) % len(ids)] for k in range(1, min(replicas, len(ids) - 1) + 1)]
    return [p.get("id") if isinstance(p, dict) else None for p in succs[: len(want)]] == want


def devnet_peers(net: Devnet) -> list[PeerRef]:
    """PeerRefs of the devnet's live nodes (from their node.json)."""
    return [PeerRef(int.from_bytes(n.node_id, "big"), n.addr) for n in net.live() if n.info]


async def wait_stable(net: Devnet, client: object, timeout: float, replicas: int = 3) -> None:
    """Wait until the live nodes' successor/predecessor pointers form one correct ring
    and every node knows the arc it must hold. The Timeout says which nodes are off."""
    from ..errors import Timeout

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
        if want == got and not _successors_ok(ids, i, st, replicas):
            bad.append(f"{nid.hex()[:8]}: successor list {[_short(p.get('id')) for p in st['successors']]}")
        elif want != got:
            bad.append(f"{nid.hex()[:8]} ({st.get('state')}): succ {_short(got[0])} want {_short(want[0])}, "
                       f"pred {_short(got[1])} want {_short(want[1])}"
                       + ("" if got[2] == want[2]
                          else f", held from {_short((got[2] or [None])[0])} "
                               f"want {_short(want[2][0] if want[2] else None)}"))
    return "; ".join(bad) or "all nodes agree"


def expected_replicas(node_ids: list[bytes], key: bytes, r: int = 3) -> list[bytes]:
    """The r node ids responsible for ``key`` on a ring of ``node_ids``: its successor and the next r - 1."""
    ids = sorted(node_ids)
    start = next((i for i, nid in enumerate(ids) if nid >= key), 0)
    return [ids[(start + j) % len(ids)] for j in range(min(r, len(ids)))]


async def holders(client: object, peers: list[PeerRef], key: bytes, timeout: float = 2.0) -> set[bytes]:
    """Ids of the peers that answer ``store.get`` for ``key`` with an entry."""
    from ..wire.storage import get_msg

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


async def collect_status(client: Any, peers: list[PeerRef], timeout: float = 2.0) -> dict[bytes, dict[str, Any]]:
    """``node.status`` of every peer that answers, by 32-byte node id."""
    out: dict[bytes, dict[str, Any]] = {}

    async def one(p: PeerRef) -> None:
        try:
            st = await client.request(p, {"op": "node.status"}, timeout)
        except NoteError:
            return
        if isinstance(st, dict) and isinstance(st.get("id"), bytes):
            out[st["id"]] = st

    async with trio.open_nursery() as nursery:
        for p in peers:
            nursery.start_soon(one, p)
    return out


async def discover(client: Any, timeout: float = 2.0, limit: int = 256) -> list[PeerRef]:
    """Walk successor lists from the bootstrap peers to find every node (up to ``limit``)."""
    seen: dict[int, PeerRef] = {p.id: p for p in client._seeds}
    frontier = list(seen.values())
    while frontier and len(seen) < limit:
        statuses = await collect_status(client, frontier, timeout)
        frontier = []
        for st in statuses.values():
            for w in st.get("successors") or []:
                try:
                    p = PeerRef.from_wire(w)
                except NoteError:
                    continue
                if p.id not in seen:
                    seen[p.id] = p
                    frontier.append(p)
    return list(seen.values())
