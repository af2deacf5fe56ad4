"""Lying matching peers for the demo and the tests: in-memory peers, or a real node on a local network.

``drop``: hide a match - the peer runs psi_match, leaves the matching index
out and signs the smaller output (the network's ``hide_one`` mode).
``invent``: fabricate a match - for a value that is *not* in the set, the
peer claims the record ``{"v": value}`` sits in the range, carries it in its
key-range proof and signs that output.

Either way the client's key-range proof check fails (a leaf that is not in
the owner's Merkle tree) or its re-run of psi_match on the proven range
disagrees with the signed output: the peer is convicted with a fraud proof
and the query goes to another replica.

:func:`lying_node` runs such a peer as a real ring member: a node process
(``python -m examples.dating.liar_node``: libp2p, real sockets, its own
store) joined to a running local network through its bootstrap addresses,
whose compute service tells the lie named in its data directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from note_compute import domains, encoding
from note_compute.compute.protocol import QueryRequest, Receipt, result_digest
from note_compute.merkle import KeyRangeProof

__all__ = ["LIES", "LIE_FILE", "LyingNode", "lying_node", "make_liar", "set_lie"]

LIES = ("drop", "invent")
LIE_FILE = "dating-lie"
"""In a lying node's data directory: the lie it tells (``honest`` when absent), read on every request."""


def make_liar(net: Any, peer: Any, lie: str) -> None:
    """Make ``peer`` (of a ComputeNetwork ``net``, or a :func:`lying_node`'s with ``net=None``) tell ``lie``
    on every PSI range query."""
    if lie == "drop":
        if net is None:
            peer.mode = "hide_one"
        else:
            net.set_mode(peer, "hide_one")
        return
    if lie != "invent":
        raise ValueError(f"unknown lie {lie!r}")
    peer.mode = "forge"  # only so that a liars-first network asks it first; ``handle`` below is the lie

    async def handle(msg: dict[str, Any]) -> dict[str, Any]:
        peer.calls += 1
        if msg.get("op") == "compute.batch" and isinstance(msg.get("queries"), list):
            return {"replies": [await handle(q) for q in msg["queries"]]}
        reply: dict[str, Any] = await peer.server.handle(None, msg)
        if msg.get("op") != "compute.query" or msg.get("range") is None or "error" in reply or reply.get("indices"):
            return reply
        return _invent(peer, QueryRequest.from_msg(msg), reply)

    peer.handle = handle


def _invent(peer: Any, req: QueryRequest, reply: dict[str, Any]) -> dict[str, Any]:
    krp = KeyRangeProof.decode(reply["range_proof"])
    value = req.range[0][0] if req.range and req.range[0] else None
    if not isinstance(value, bytes) or krp.start >= krp.size:
        return reply
    forged = encoding.encode({"v": value})
    left = [krp.leaves[0]] if krp.start > 0 else []
    right_start = len(left)
    right = list(krp.leaves[right_start:right_start + 1]) if krp.start + 1 < krp.size else []
    lie = replace(krp, end=krp.start + 1, leaves=tuple(left + [forged] + right))
    receipt = Receipt.decode(reply["receipt"])
    body = dict(receipt.body, result=result_digest([krp.start], [forged], reply["extra"]))
    signed = Receipt(body, peer.key.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()
    return dict(reply, receipt=signed, indices=[krp.start], range_proof=lie.encode())



def set_lie(peer: Any, lie: str) -> None:
    """Make a stand-alone ComputePeer (a lying node's) tell ``lie``, or ``honest``."""
    peer.__dict__.pop("handle", None)  # undo an ``invent`` handler
    peer.mode = "honest"
    if lie != "honest":
        make_liar(None, peer, lie)


@asynccontextmanager
async def lying_node(bootstrap: list[str], data_dir: Path, *, timeout: float = 60.0) -> AsyncIterator[LyingNode]:
    """Start ``python -m examples.dating.liar_node`` joined to the ring at ``bootstrap``; stop it on exit.

    Yields a :class:`LyingNode`: its ``peer`` (a PeerRef) and ``lie(name)`` to switch what it tells.
    """
    import os
    import subprocess
    import sys
    import time

    import trio

    from note_compute.client import peer_ref_from_multiaddr
    from note_compute.errors import NoteError
    from note_compute.node.datadir import DataDir

    root = Path(__file__).resolve().parents[2]
    dd = DataDir(data_dir)
    dd.create()
    dd.remove_info()
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "examples.dating.liar_node", "--data-dir", str(data_dir),
           "--parent-pid", str(os.getpid())]
    for b in bootstrap:
        cmd += ["--bootstrap", b]
    with open(data_dir / "node.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=root, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = dd.read_info()
            if info and info.get("pid") == proc.pid and info.get("addrs"):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NoteError(f"the lying node did not start (exit {proc.poll()}); see {data_dir / 'node.log'}")
            await trio.sleep(0.05)
        yield LyingNode(peer_ref_from_multiaddr(str(info["addrs"][0])), data_dir)
    finally:
        with trio.CancelScope(shield=True):
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: it leaves the ring gracefully
                deadline = time.monotonic() + 15
                while proc.poll() is None and time.monotonic() < deadline:
                    await trio.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class LyingNode:
    """A running lying node: its PeerRef, and the file through which it is told which lie to tell."""

    def __init__(self, peer: Any, data_dir: Path) -> None:
        self.peer = peer
        self.node_id: bytes = peer.id_bytes
        self.data_dir = data_dir

    def lie(self, name: str) -> None:
        """From the next request on, tell ``name`` (``drop``, ``invent`` or ``honest``)."""
        if name not in (*LIES, "honest"):
            raise ValueError(f"unknown lie {name!r}")
        tmp = self.data_dir / "dating-lie.tmp"
        tmp.write_text(name)
        tmp.replace(self.data_dir / LIE_FILE)
